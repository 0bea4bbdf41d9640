package provider

import (
	"testing"
	"time"

	"github.com/hooklane/hooklane"
)

func TestPlaticaInspect(t *testing.T) {
	noID := []byte(`{"event":"client.updated","workspaceId":"ws_456"}`)
	tests := []struct {
		name string
		body []byte
		want hooklane.Summary
	}{
		{"flows init", readPayload(t, "platica/flows_init.json"), hooklane.Summary{EventType: "whatsapp.flows.init", DedupeKey: "5e3a1b9c-7d12-4a8e-9c5f-1e6b8d0a2c4f", Flow: true}},
		{"flows screen_advance", readPayload(t, "platica/flows_screen_advance.json"), hooklane.Summary{EventType: "whatsapp.flows.screen_advance", DedupeKey: "8f2c4d6a-1b3e-4f5d-8a9c-2e7b6d1a3f4e", Flow: true}},
		{"flows back", readPayload(t, "platica/flows_back.json"), hooklane.Summary{EventType: "whatsapp.flows.back", DedupeKey: "3a5b7c9d-2e4f-4a6b-8c1d-5e7f9a2b4c6d", Flow: true}},
		{"message.created", readPayload(t, "platica/message_created.json"), hooklane.Summary{EventType: "message.created", DedupeKey: "0b6f1c2e-9a4d-4e7b-8c3f-5d2a1e9b7c60", Flow: false}},
		{"conversation.created", readPayload(t, "platica/conversation_created.json"), hooklane.Summary{EventType: "conversation.created", DedupeKey: "c41d8e2a-6f3b-4a9e-b7d5-0e1f2a3b4c5d", Flow: false}},
		{"no id", noID, hooklane.Summary{EventType: "client.updated", DedupeKey: sha(noID), Flow: false}},
		{"not a flows event", []byte(`{"id":"1","event":"whatsapp.flowsx"}`), hooklane.Summary{EventType: "whatsapp.flowsx", DedupeKey: "1", Flow: false}},
		{"no event", []byte(`{"id":"1"}`), hooklane.Summary{EventType: "unknown", DedupeKey: "1", Flow: false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustInspect(t, mustLookup(t, "platica"), tt.body); got != tt.want {
				t.Errorf("Inspect = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPlaticaEvents(t *testing.T) {
	iso := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	noID := []byte(`{"event":"brand.new.event","data":[1,2]}`)
	tests := []struct {
		file string // or body
		body []byte
		want hooklane.Event
	}{
		{file: "platica/flows_init.json", want: hooklane.Event{Type: "whatsapp.flows.init", Key: "delivery:5e3a1b9c-7d12-4a8e-9c5f-1e6b8d0a2c4f", OccurredAt: iso("2026-05-06T19:00:00Z"), Account: "ws_456", ResourceType: "flow_response", ResourceID: "ZmxvdyQwMQ=="}},
		{file: "platica/flows_screen_advance.json", want: hooklane.Event{Type: "whatsapp.flows.screen_advance", Key: "delivery:8f2c4d6a-1b3e-4f5d-8a9c-2e7b6d1a3f4e", OccurredAt: iso("2026-05-06T19:00:30Z"), Account: "ws_456", ResourceType: "flow_response", ResourceID: "ZmxvdyQwMQ=="}},
		{file: "platica/flows_back.json", want: hooklane.Event{Type: "whatsapp.flows.back", Key: "delivery:3a5b7c9d-2e4f-4a6b-8c1d-5e7f9a2b4c6d", OccurredAt: iso("2026-05-06T19:01:00Z"), Account: "ws_456", ResourceType: "flow_response", ResourceID: "ZmxvdyQwMQ=="}},
		{file: "platica/flows_screen_advance_full.json", want: hooklane.Event{Type: "whatsapp.flows.screen_advance", Key: "delivery:8f2c4d6a-1b3e-4f5d-8a9c-2e7b6d1a3f4e", OccurredAt: iso("2026-05-06T19:00:30Z"), Account: "ws_456", ResourceType: "flow_response", ResourceID: "ZmxvdyQwMQ==", ConversationID: "conv_123", Phone: "+5215555555555"}},
		{file: "platica/message_created.json", want: hooklane.Event{Type: "message.created", Key: "delivery:0b6f1c2e-9a4d-4e7b-8c3f-5d2a1e9b7c60", OccurredAt: iso("2026-05-06T19:05:12Z"), Account: "ws_456", ResourceType: "message", ResourceID: "msg_789", ConversationID: "conv_123", Phone: "+5215555555555"}},
		// The conversation's own id is the envelope's resourceId.
		{file: "platica/conversation_created.json", want: hooklane.Event{Type: "conversation.created", Key: "delivery:c41d8e2a-6f3b-4a9e-b7d5-0e1f2a3b4c5d", OccurredAt: iso("2026-05-06T20:10:00Z"), Account: "ws_456", ResourceType: "conversation", ResourceID: "conv_124", ConversationID: "conv_124"}},
		{body: noID, want: hooklane.Event{Type: "brand.new.event", Key: "delivery:" + sha(noID)}},
	}
	for _, tt := range tests {
		name := tt.file
		if name == "" {
			name = string(tt.body)
		}
		t.Run(name, func(t *testing.T) {
			body := tt.body
			if tt.file != "" {
				body = readPayload(t, tt.file)
			}
			got, err := mustLookup(t, "platica").Events(body)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.Payload = body
			checkEvents(t, body, got, []hooklane.Event{want})
		})
	}
}
