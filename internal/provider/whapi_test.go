package provider

import (
	"testing"

	"github.com/hooklane/hooklane"
)

func TestWhapiInspect(t *testing.T) {
	for _, tt := range []struct {
		file, want string
	}{
		{"whapi/message_received.json", "message_received"},
		{"whapi/message_sent.json", "message_sent"},
		{"whapi/ack_update.json", "ack_update"},
		{"whapi/message_reaction.json", "message_reaction"},
		{"whapi/test_webhook.json", "test_webhook"},
	} {
		body := readPayload(t, tt.file)
		want := hooklane.Summary{EventType: tt.want, DedupeKey: sha(body)}
		if got := mustInspect(t, mustLookup(t, "whapi"), body); got != want {
			t.Errorf("%s: Inspect = %+v, want %+v", tt.file, got, want)
		}
	}
}

func TestWhapiEvents(t *testing.T) {
	const contact = "573001112233@c.us"
	reaction := readPayload(t, "whapi/message_reaction.json")
	test := readPayload(t, "whapi/test_webhook.json")
	numericInstance := []byte(`{"event_type":"message_received","id":"N1","instance_id":123,"chat_id":"1@c.us","from":"1@c.us","timestamp":1724716800}`)
	unknown := []byte(`{"event_type":"chat_archived","instance_id":"123"}`)
	noType := []byte(`{"id":"X"}`)
	ackNoID := []byte(`{"event_type":"ack_update","ack":"read"}`)

	tests := []struct {
		name string
		body []byte
		want hooklane.Event
	}{
		{"received", readPayload(t, "whapi/message_received.json"), hooklane.Event{Type: "message", Key: "message:ABCD1234", OccurredAt: unix(1724716800), Account: "123", ResourceType: "message", ResourceID: "ABCD1234", ConversationID: contact, Phone: contact}},
		// The contact of a sent message is its recipient, not the sender.
		{"sent", readPayload(t, "whapi/message_sent.json"), hooklane.Event{Type: "message", Key: "message:WXYZ5678", OccurredAt: unix(1724716890), Account: "123", ResourceType: "message", ResourceID: "WXYZ5678", ConversationID: contact, Phone: contact}},
		{"ack delivered", readPayload(t, "whapi/ack_update.json"), hooklane.Event{Type: "status", Key: "ack:WXYZ5678:delivered", ResourceType: "message", ResourceID: "WXYZ5678"}},
		{"ack read", readPayload(t, "whapi/ack_update_read.json"), hooklane.Event{Type: "status", Key: "ack:WXYZ5678:read", ResourceType: "message", ResourceID: "WXYZ5678"}},
		{"reaction", reaction, hooklane.Event{Type: "reaction", Key: "reaction:" + sha(reaction), OccurredAt: unix(1724717000), Account: "123", ResourceType: "message", ResourceID: "WXYZ5678", Phone: contact}},
		{"test webhook", test, hooklane.Event{Type: "test_webhook", Key: "test_webhook:" + sha(test), OccurredAt: unix(1724717100), Account: "123"}},
		{"numeric instance_id", numericInstance, hooklane.Event{Type: "message", Key: "message:N1", OccurredAt: unix(1724716800), Account: "123", ResourceType: "message", ResourceID: "N1", ConversationID: "1@c.us", Phone: "1@c.us"}},
		{"unknown event type", unknown, hooklane.Event{Type: "chat_archived", Key: "chat_archived:" + sha(unknown), Account: "123"}},
		{"no event type", noType, hooklane.Event{Type: "unknown", Key: "unknown:" + sha(noType)}},
		{"ack without id", ackNoID, hooklane.Event{Type: "status", Key: "ack:" + sha(ackNoID), ResourceType: "message"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustLookup(t, "whapi").Events(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.Payload = tt.body
			checkEvents(t, tt.body, got, []hooklane.Event{want})
		})
	}
}
