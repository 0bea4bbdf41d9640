package provider

import (
	"testing"
	"time"
)

func TestPlaticaInspect(t *testing.T) {
	noID := []byte(`{"event":"client.updated","workspaceId":"ws_456"}`)
	tests := []struct {
		name string
		body []byte
		want Summary
	}{
		{"flows init", readPayload(t, "platica/flows_init.json"), Summary{"whatsapp.flows.init", "5e3a1b9c-7d12-4a8e-9c5f-1e6b8d0a2c4f", true}},
		{"flows screen_advance", readPayload(t, "platica/flows_screen_advance.json"), Summary{"whatsapp.flows.screen_advance", "8f2c4d6a-1b3e-4f5d-8a9c-2e7b6d1a3f4e", true}},
		{"flows back", readPayload(t, "platica/flows_back.json"), Summary{"whatsapp.flows.back", "3a5b7c9d-2e4f-4a6b-8c1d-5e7f9a2b4c6d", true}},
		{"message.created", readPayload(t, "platica/message_created.json"), Summary{"message.created", "0b6f1c2e-9a4d-4e7b-8c3f-5d2a1e9b7c60", false}},
		{"conversation.created", readPayload(t, "platica/conversation_created.json"), Summary{"conversation.created", "c41d8e2a-6f3b-4a9e-b7d5-0e1f2a3b4c5d", false}},
		{"no id", noID, Summary{"client.updated", sha(noID), false}},
		{"not a flows event", []byte(`{"id":"1","event":"whatsapp.flowsx"}`), Summary{"whatsapp.flowsx", "1", false}},
		{"no event", []byte(`{"id":"1"}`), Summary{"unknown", "1", false}},
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
		want Event
	}{
		{file: "platica/flows_init.json", want: Event{Type: "whatsapp.flows.init", Key: "delivery:5e3a1b9c-7d12-4a8e-9c5f-1e6b8d0a2c4f", OccurredAt: iso("2026-05-06T19:00:00Z"), Account: "ws_456", ResourceType: "flow_response", ResourceID: "ZmxvdyQwMQ=="}},
		{file: "platica/flows_screen_advance.json", want: Event{Type: "whatsapp.flows.screen_advance", Key: "delivery:8f2c4d6a-1b3e-4f5d-8a9c-2e7b6d1a3f4e", OccurredAt: iso("2026-05-06T19:00:30Z"), Account: "ws_456", ResourceType: "flow_response", ResourceID: "ZmxvdyQwMQ=="}},
		{file: "platica/flows_back.json", want: Event{Type: "whatsapp.flows.back", Key: "delivery:3a5b7c9d-2e4f-4a6b-8c1d-5e7f9a2b4c6d", OccurredAt: iso("2026-05-06T19:01:00Z"), Account: "ws_456", ResourceType: "flow_response", ResourceID: "ZmxvdyQwMQ=="}},
		{file: "platica/flows_screen_advance_full.json", want: Event{Type: "whatsapp.flows.screen_advance", Key: "delivery:8f2c4d6a-1b3e-4f5d-8a9c-2e7b6d1a3f4e", OccurredAt: iso("2026-05-06T19:00:30Z"), Account: "ws_456", ResourceType: "flow_response", ResourceID: "ZmxvdyQwMQ==", ConversationID: "conv_123", Phone: "+5215555555555"}},
		{file: "platica/message_created.json", want: Event{Type: "message.created", Key: "delivery:0b6f1c2e-9a4d-4e7b-8c3f-5d2a1e9b7c60", OccurredAt: iso("2026-05-06T19:05:12Z"), Account: "ws_456", ResourceType: "message", ResourceID: "msg_789", ConversationID: "conv_123", Phone: "+5215555555555"}},
		// The conversation's own id is the envelope's resourceId.
		{file: "platica/conversation_created.json", want: Event{Type: "conversation.created", Key: "delivery:c41d8e2a-6f3b-4a9e-b7d5-0e1f2a3b4c5d", OccurredAt: iso("2026-05-06T20:10:00Z"), Account: "ws_456", ResourceType: "conversation", ResourceID: "conv_124", ConversationID: "conv_124"}},
		{body: noID, want: Event{Type: "brand.new.event", Key: "delivery:" + sha(noID)}},
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
			checkEvents(t, body, got, []Event{want})
		})
	}
}
