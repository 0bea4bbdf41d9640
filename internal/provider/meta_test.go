package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hooklane/hooklane"
)

const (
	metaWABA1  = "102290129340398"
	metaPhone1 = "106540352242922"
	metaPhone2 = "106540352242923"
	metaStatus = "wamid.HBgLMTYzMTU1NTEyMzQVAgARGBI4QjY2NDJGNjEwRDlGMEM1RDYA"
)

// metaChanges returns the raw changes of a delivery, decoded here rather than
// by the package, to compute the keys of whole-change events.
func metaChanges(t *testing.T, body []byte) []json.RawMessage {
	t.Helper()
	var d struct {
		Entry []struct {
			Changes []json.RawMessage `json:"changes"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	var changes []json.RawMessage
	for _, e := range d.Entry {
		changes = append(changes, e.Changes...)
	}
	return changes
}

// metaBatch builds a delivery of entries × changes, each change carrying
// messages and statuses, every one with a distinct wamid.
func metaBatch(entries, changes, messages, statuses int) []byte {
	var b strings.Builder
	b.WriteString(`{"object":"whatsapp_business_account","entry":[`)
	for e := range entries {
		if e > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"WABA%d","changes":[`, e)
		for c := range changes {
			if c > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1555000%d","phone_number_id":"PN%d"},"messages":[`, e, e)
			for m := range messages {
				if m > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"from":"5215555%06d","id":"wamid.E%dC%dM%d","timestamp":"1749416383","type":"text","text":{"body":"message %d"}}`, m, e, c, m, m)
			}
			b.WriteString(`],"statuses":[`)
			for s := range statuses {
				if s > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"id":"wamid.E%dC%dS%d","status":"delivered","timestamp":"1749416390","recipient_id":"5215555%06d"}`, e, c, s, s)
			}
			b.WriteString(`]}}`)
		}
		b.WriteString(`]}`)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func TestMetaInspect(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"batch", readPayload(t, "meta/messages_batch.json"), "messages"},
		{"statuses", readPayload(t, "meta/statuses.json"), "messages"},
		{"flow completion", readPayload(t, "meta/flow_completion.json"), "messages"},
		{"template status", readPayload(t, "meta/template_status.json"), "message_template_status_update"},
		{"no entries", readPayload(t, "meta/vector.json"), "whatsapp_business_account"},
		{"mixed", []byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages"}]},{"changes":[{"field":"account_update"}]}]}`), "mixed"},
		{"nothing", []byte(`{}`), "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustInspect(t, mustLookup(t, "meta"), tt.body)
			want := hooklane.Summary{EventType: tt.want, DedupeKey: sha(tt.body)}
			if got != want {
				t.Errorf("Inspect = %+v, want %+v", got, want)
			}
		})
	}
}

func TestMetaEvents(t *testing.T) {
	vector := readPayload(t, "meta/vector.json")
	template := readPayload(t, "meta/template_status.json")
	emptyMessages := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"P"},"messages":[],"errors":[{"code":131051}]}}]}]}`)
	noIDs := []byte(`{"entry":[{"id":"W","changes":[{"field":"messages","value":{"messages":[{"from":"1","type":"text"},{"from":"2","type":"text"}],"statuses":[{"id":"wamid.X"}]}}]}]}`)

	tests := []struct {
		name string
		body []byte
		want []hooklane.Event
	}{
		{"three messages across two entries", readPayload(t, "meta/messages_batch.json"), []hooklane.Event{
			{Type: "message", Key: "message:wamid.HBgLMTYzMTU1NTEyMzQVAgASGBQzQTNCNjVFOEE5OTQ3QjVGQkEwMgA=", OccurredAt: unix(1749416383), Account: metaPhone1, ResourceType: "message", ResourceID: "wamid.HBgLMTYzMTU1NTEyMzQVAgASGBQzQTNCNjVFOEE5OTQ3QjVGQkEwMgA=", Phone: "16315551234"},
			{Type: "message", Key: "message:wamid.HBgLMTYzMTU1NTEyMzQVAgASGBQzQTdFNzRGMjY2QUI4NzJFRkMwNgA=", OccurredAt: unix(1749416391), Account: metaPhone1, ResourceType: "message", ResourceID: "wamid.HBgLMTYzMTU1NTEyMzQVAgASGBQzQTdFNzRGMjY2QUI4NzJFRkMwNgA=", Phone: "16315551234"},
			{Type: "message", Key: "message:wamid.HBgNNTIxNTU1NTU1NTU1NRUCABIYFDNBRkQ0NzMyQkI4RjFCMzA5RkM0AA==", OccurredAt: unix(1749416402), Account: metaPhone2, ResourceType: "message", ResourceID: "wamid.HBgNNTIxNTU1NTU1NTU1NRUCABIYFDNBRkQ0NzMyQkI4RjFCMzA5RkM0AA==", Phone: "5215555555555"},
		}},
		{"sent, delivered and read of one message", readPayload(t, "meta/statuses.json"), []hooklane.Event{
			{Type: "status", Key: "status:" + metaStatus + ":sent", OccurredAt: unix(1749416500), Account: metaPhone1, ResourceType: "message", ResourceID: metaStatus, Phone: "16315551234"},
			{Type: "status", Key: "status:" + metaStatus + ":delivered", OccurredAt: unix(1749416501), Account: metaPhone1, ResourceType: "message", ResourceID: metaStatus, Phone: "16315551234"},
			{Type: "status", Key: "status:" + metaStatus + ":read", OccurredAt: unix(1749416530), Account: metaPhone1, ResourceType: "message", ResourceID: metaStatus, Phone: "16315551234"},
		}},
		{"flow completion is a message", readPayload(t, "meta/flow_completion.json"), []hooklane.Event{
			{Type: "message", Key: "message:wamid.HBgNNTIxNTU1NTU1NTU1NRUCABIYFDNBMDk4QzE2NEJFNDQ3RjVBRjM1AA==", OccurredAt: unix(1749416620), Account: metaPhone1, ResourceType: "message", ResourceID: "wamid.HBgNNTIxNTU1NTU1NTU1NRUCABIYFDNBMDk4QzE2NEJFNDQ3RjVBRjM1AA==", Phone: "5215555555555"},
		}},
		{"another field is one event per change, at the entry's time", template, []hooklane.Event{
			{Type: "message_template_status_update", Key: "message_template_status_update:" + sha(metaChanges(t, template)[0]), OccurredAt: unix(1749416700), Account: metaWABA1, Payload: metaChanges(t, template)[0]},
		}},
		{"messages change without items", emptyMessages, []hooklane.Event{
			{Type: "messages", Key: "messages:" + sha(metaChanges(t, emptyMessages)[0]), Account: "P", Payload: metaChanges(t, emptyMessages)[0]},
		}},
		{"items without ids are keyed by their bytes", noIDs, []hooklane.Event{
			{Type: "message", Key: "message:" + sha([]byte(`{"from":"1","type":"text"}`)), Account: "W", ResourceType: "message", Phone: "1"},
			{Type: "message", Key: "message:" + sha([]byte(`{"from":"2","type":"text"}`)), Account: "W", ResourceType: "message", Phone: "2"},
			{Type: "status", Key: "status:" + sha([]byte(`{"id":"wamid.X"}`)), Account: "W", ResourceType: "message", ResourceID: "wamid.X"},
		}},
		{"no entries", vector, []hooklane.Event{
			{Type: "whatsapp_business_account", Key: "delivery:" + sha(vector), Payload: vector},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustLookup(t, "meta").Events(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			checkEvents(t, tt.body, got, tt.want)
		})
	}
}

// TestMetaFlowCompletionPayload checks that the payload keeps Meta's bytes,
// escapes included, so the flow's response_json reaches storage unchanged.
func TestMetaFlowCompletionPayload(t *testing.T) {
	events, err := mustLookup(t, "meta").Events(readPayload(t, "meta/flow_completion.json"))
	if err != nil {
		t.Fatal(err)
	}
	if p := string(events[0].Payload); !strings.Contains(p, `"type":"nfm_reply"`) || !strings.Contains(p, `jos\\u00e9@empresa.com`) {
		t.Errorf("payload was re-encoded or truncated: %s", p)
	}
}

// TestMetaThousandItems checks that a full batch loses nothing: 1000 updates
// across 10 entries and 20 changes make 1000 events, in order.
func TestMetaThousandItems(t *testing.T) {
	events, err := mustLookup(t, "meta").Events(metaBatch(10, 2, 30, 20))
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1000 {
		t.Fatalf("got %d events, want 1000", len(events))
	}
	seen := map[string]bool{}
	for _, e := range events {
		if seen[e.Key] {
			t.Fatalf("duplicate key %s", e.Key)
		}
		seen[e.Key] = true
	}
	first, last := events[0], events[999]
	if first.Key != "message:wamid.E0C0M0" || first.Account != "PN0" {
		t.Errorf("first event = %+v", first)
	}
	if last.Key != "status:wamid.E9C1S19:delivered" || last.Account != "PN9" {
		t.Errorf("last event = %+v", last)
	}
}

func BenchmarkEvents(b *testing.B) {
	p := mustLookup(b, "meta")
	for _, bench := range []struct {
		name string
		body []byte
	}{
		{"batch", readPayload(b, "meta/messages_batch.json")},
		{"1000-items", metaBatch(10, 2, 30, 20)},
	} {
		b.Run(bench.name, func(b *testing.B) {
			b.SetBytes(int64(len(bench.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Events(bench.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestMetaEventsBounded: a delivery fans out to MaxEvents at most; past
// it, Events refuses it whole rather than hold millions of events.
func TestMetaEventsBounded(t *testing.T) {
	t.Parallel()
	body := func(n int) []byte {
		return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages","value":{"statuses":[` +
			strings.TrimSuffix(strings.Repeat(`{},`, n), ",") + `]}}]}]}`)
	}
	events, err := Lookup("meta")
	if !err {
		t.Fatal("no meta provider")
	}
	if got, err := events.Events(body(MaxEvents)); err != nil || len(got) != MaxEvents {
		t.Errorf("Events of MaxEvents statuses = %d events, %v", len(got), err)
	}
	if _, err := events.Events(body(MaxEvents + 1)); !errors.Is(err, ErrTooManyEvents) {
		t.Errorf("Events of MaxEvents+1 statuses: %v, want ErrTooManyEvents", err)
	}
}
