package provider

import (
	"testing"
	"time"

	"github.com/hooklane/hooklane"
)

func TestWhatzmeapiInspect(t *testing.T) {
	for _, tt := range []struct {
		file, want string
	}{
		{"whatzmeapi/messages_upsert.json", "messages.upsert"},
		{"whatzmeapi/messages_update.json", "messages.update"},
		{"whatzmeapi/evolution_upsert.json", "messages.upsert"},
		{"whatzmeapi/evolution_update.json", "messages.update"},
	} {
		body := readPayload(t, tt.file)
		want := hooklane.Summary{EventType: tt.want, DedupeKey: sha(body)}
		if got := mustInspect(t, mustLookup(t, "whatzmeapi"), body); got != want {
			t.Errorf("%s: Inspect = %+v, want %+v", tt.file, got, want)
		}
	}
}

func TestWhatzmeapiEvents(t *testing.T) {
	const (
		seedJID = "52155...@s.whatsapp.net"
		evoJID  = "5511987654321@s.whatsapp.net"
	)
	connection := []byte(`{"event":"connection.update","instance":"loja-centro","data":{"state":"open"},"date_time":"2024-06-06T12:00:00.000Z"}`)
	emptyUpsert := []byte(`{"event":"messages.upsert","messages":[]}`)
	noEvent := []byte(`{"messages":[{"key":{"id":"A"}}]}`)
	noIDs := []byte(`{"event":"messages.update","statuses":[{"status":"read"},{"status":"delivered"}]}`)

	tests := []struct {
		name string
		body []byte
		want []hooklane.Event
	}{
		{"seed upsert", readPayload(t, "whatzmeapi/messages_upsert.json"), []hooklane.Event{
			{Type: "message", Key: "message:ID", ResourceType: "message", ResourceID: "ID", ConversationID: seedJID, Phone: seedJID},
		}},
		{"seed update: two statuses of one id are two events", readPayload(t, "whatzmeapi/messages_update.json"), []hooklane.Event{
			{Type: "status", Key: "status:ID:delivered", ResourceType: "message", ResourceID: "ID"},
			{Type: "status", Key: "status:ID:read", ResourceType: "message", ResourceID: "ID"},
		}},
		{"evolution upsert", readPayload(t, "whatzmeapi/evolution_upsert.json"), []hooklane.Event{
			{Type: "message", Key: "message:3EB0C431C26A1916E07E", OccurredAt: unix(1717689097), Account: "loja-centro", ResourceType: "message", ResourceID: "3EB0C431C26A1916E07E", ConversationID: evoJID, Phone: evoJID},
		}},
		{"evolution flat update", readPayload(t, "whatzmeapi/evolution_update.json"), []hooklane.Event{
			{Type: "status", Key: "status:3EB0A7F2D94C18B6E5A1:READ", OccurredAt: time.Date(2024, 6, 6, 12, 52, 10, 4e6, time.UTC), Account: "loja-centro", ResourceType: "message", ResourceID: "3EB0A7F2D94C18B6E5A1", ConversationID: evoJID, Phone: evoJID},
		}},
		{"unknown event", connection, []hooklane.Event{
			{Type: "connection.update", Key: "delivery:" + sha(connection), OccurredAt: time.Date(2024, 6, 6, 12, 0, 0, 0, time.UTC), Account: "loja-centro", Payload: connection},
		}},
		{"upsert without messages", emptyUpsert, []hooklane.Event{
			{Type: "messages.upsert", Key: "delivery:" + sha(emptyUpsert), Payload: emptyUpsert},
		}},
		{"no event", noEvent, []hooklane.Event{
			{Type: "unknown", Key: "delivery:" + sha(noEvent), Payload: noEvent},
		}},
		{"statuses without ids", noIDs, []hooklane.Event{
			{Type: "status", Key: "status:" + sha([]byte(`{"status":"read"}`)), ResourceType: "message"},
			{Type: "status", Key: "status:" + sha([]byte(`{"status":"delivered"}`)), ResourceType: "message"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustLookup(t, "whatzmeapi").Events(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			checkEvents(t, tt.body, got, tt.want)
		})
	}
}
