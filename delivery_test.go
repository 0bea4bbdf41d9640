package hooklane

import (
	"errors"
	"net/http"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestMsgRoundTrip(t *testing.T) {
	d := Delivery{
		Source: "wa", Provider: "meta", EventType: "messages", DedupeKey: "abc123",
		ReceivedAt: time.Date(2026, 5, 6, 19, 0, 30, 123456789, time.FixedZone("CST", -6*3600)),
		RequestID:  "req-1",
		Headers:    http.Header{"Content-Type": {"application/json"}, "X-Hub-Signature-256": {"sha256=00"}},
		Body:       []byte(`{"object":"whatsapp_business_account"}`),
	}
	msg := d.Msg("hooklane")
	if msg.Subject != "hooklane.events.wa.messages" {
		t.Errorf("subject = %q", msg.Subject)
	}
	if got := msg.Header.Get(nats.MsgIdHdr); got != "wa:abc123" {
		t.Errorf("%s = %q, want wa:abc123", nats.MsgIdHdr, got)
	}
	for name := range msg.Header {
		if name != textproto.CanonicalMIMEHeaderKey(name) {
			t.Errorf("header %q is not in canonical form", name)
		}
	}
	back, err := FromMsg(msg.Header, msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if !back.ReceivedAt.Equal(d.ReceivedAt) {
		t.Errorf("received at %v, want %v", back.ReceivedAt, d.ReceivedAt)
	}
	back.ReceivedAt = d.ReceivedAt
	if !reflect.DeepEqual(back, d) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, d)
	}
}

func TestFromMsgNamesWhatIsMissing(t *testing.T) {
	full := (&Delivery{Source: "s", Provider: "whapi", EventType: "x", DedupeKey: "k", ReceivedAt: time.Now()}).Msg("p").Header
	for _, name := range []string{HeaderSource, HeaderProvider, HeaderDedupeKey, HeaderReceivedAt} {
		h := nats.Header{}
		for k, v := range full {
			if k != name {
				h[k] = v
			}
		}
		if _, err := FromMsg(h, nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("without %s: err = %v, want ErrMalformed", name, err)
		}
	}
}

// FuzzTokens checks that the fast path of Tokens returns only what the
// general one would, and that every result is a valid run of subject tokens.
func FuzzTokens(f *testing.F) {
	for _, s := range []string{"message.created", "whatsapp.flows.data_exchange", "", ".", "a..b", "a.", ".a",
		"conversation.status.updated", "ñ", "a b", strings.Repeat("x", 129), strings.Repeat("x.", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Tokens(s)
		if safeTokens(s) && splitTokens(s) != s {
			t.Fatalf("safeTokens(%q) but splitTokens gives %q", s, splitTokens(s))
		}
		for part := range strings.SplitSeq(got, ".") {
			if part == "" || Token(part) != part {
				t.Fatalf("Tokens(%q) = %q: part %q is not a safe token", s, got, part)
			}
		}
	})
}
