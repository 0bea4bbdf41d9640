package operate_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hooklane/hooklane/internal/operate"
)

func TestTailSeesOnlyNewMatchingDeliveries(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	// The workers' durable consumer, which the tail must leave alone.
	if _, err := r.js.CreateOrUpdateConsumer(t.Context(), r.stream, jetstream.ConsumerConfig{
		Durable: "workers", AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	r.post(t, "whapi", whapiMessage("BEFORE", "573001112233", "sent before the tail"))

	entries, err := operate.Tail(t.Context(), r.js, operate.TailConfig{
		Stream: r.stream, SubjectPrefix: r.prefix,
		Filter: operate.Filter{Source: "whapi", Type: "message", Contact: "+57 300 111 2233"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.post(t, "whapi", whapiMessage("MATCH", "573001112233", "Hola,\n¿tienen menú?"))
	r.post(t, "other", whapiMessage("OTHER-SOURCE", "573001112233", "another source"))
	r.post(t, "whapi", whapiMessage("OTHER-CONTACT", "573009998877", "another contact"))
	r.post(t, "whapi", `{"event_type":"ack_update","id":"MATCH","ack":"read"}`) // a status, no contact
	r.post(t, "whapi", whapiMessage("LAST", "573001112233@c.us", "the last one"))

	var got []operate.Entry
	for e, err := range entries {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
		if e.Key == "message:LAST" {
			break
		}
	}
	if len(got) != 2 || got[0].Key != "message:MATCH" {
		b, _ := json.Marshal(got)
		t.Fatalf("tail saw %s, want message:MATCH then message:LAST", b)
	}
	e := got[0]
	if e.Source != "whapi" || e.Provider != "whapi" || e.Type != "message" || e.DeliveryType != "message_received" ||
		e.Contact != "573001112233@c.us" || e.Summary != "Hola, ¿tienen menú?" || e.Time.IsZero() || e.StreamSeq == 0 {
		t.Errorf("entry = %+v", e)
	}

	info, err := r.js.Consumer(t.Context(), r.stream, "workers")
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().NumPending; n != 6 {
		t.Errorf("the workers' consumer has %d messages pending, want all 6", n)
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ payload, want string }{
		{`{"type":"text","text":{"body":"Hi, is my order ready?"}}`, "Hi, is my order ready?"},
		{`{"type":"image","image":{"caption":"the receipt"}}`, "image: the receipt"},
		{`{"id":"wamid.1","status":"read"}`, "read"},
		{`{"key":{"id":"X"},"message":{"conversation":"Oi"}}`, "Oi"},
		{`{"event":"message.created","data":{"message":{"text":"Hola"}}}`, "Hola"},
		{`{"event_type":"ack_update","id":"W","ack":"delivered"}`, "delivered"},
		{`{"body":"x\ty  z"}`, "x y z"},
		{`[1,2]`, ""},
	} {
		if got := operate.Summarize(json.RawMessage(tt.payload)); got != tt.want {
			t.Errorf("Summarize(%s) = %q, want %q", tt.payload, got, tt.want)
		}
	}
	long := `{"body":"` + strings.Repeat("ab ", 50) + `"}`
	if got := []rune(operate.Summarize(json.RawMessage(long))); len(got) != 80 || got[79] != '…' {
		t.Errorf("a long text summarized to %d runes: %q", len(got), string(got))
	}
}

func TestContactMatches(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		want, contact string
		match         bool
	}{
		{"+52 1 55 5555 5555", "5215555555555", true},
		{"5215555555555", "5215555555555@s.whatsapp.net", true},
		{"521555", "5215555555555", false},
		{"juan", "Juan Pérez", true},
		{"573001112233", "", false},
	} {
		if got := operate.ContactMatches(tt.want, tt.contact); got != tt.match {
			t.Errorf("ContactMatches(%q, %q) = %v", tt.want, tt.contact, got)
		}
	}
}
