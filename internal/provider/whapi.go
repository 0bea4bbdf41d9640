package provider

import (
	"bytes"
	"cmp"
	"net/http"

	"github.com/hooklane/hooklane"
)

// whapi speaks whapi.co's webhooks: one event per delivery, named by
// event_type. Its signature is bare hex, without a "sha256=" prefix.
type whapi struct{}

var whapiSignature = hmacSignature{header: "X-Whapi-Signature"}

// whapiEvent holds the fields Events reads; each event_type fills its own.
type whapiEvent struct {
	EventType  scalar `json:"event_type"`
	ID         scalar `json:"id"`
	InstanceID scalar `json:"instance_id"` // a string or a number
	ChatID     scalar `json:"chat_id"`
	From       scalar `json:"from"`
	To         scalar `json:"to"`
	Ack        scalar `json:"ack"`
	MessageID  scalar `json:"message_id"`  // message_reaction
	FromNumber scalar `json:"from_number"` // message_reaction
	Timestamp  scalar `json:"timestamp"`   // unix seconds
}

func (whapi) Name() string { return "whapi" }

func (whapi) Verify(h http.Header, body []byte, secrets [][]byte) error {
	return whapiSignature.verify(h, body, secrets)
}

// Inspect keys the delivery by its body's SHA-256, not by its id: every
// ack_update of a message repeats the message's id.
func (whapi) Inspect(body []byte) (hooklane.Summary, error) {
	var e struct {
		EventType scalar `json:"event_type"`
	}
	if err := decodeObject(body, &e); err != nil {
		return hooklane.Summary{}, err
	}
	return hooklane.Summary{EventType: orUnknown(e.EventType), DedupeKey: bodyHash(body)}, nil
}

// Events returns the delivery's one event. A message is keyed by its id, an
// acknowledgement by the message id and the ack it reports, and a reaction,
// which has no id of its own, by the body's SHA-256.
func (whapi) Events(body []byte) ([]hooklane.Event, error) {
	var w whapiEvent
	if err := decodeObject(body, &w); err != nil {
		return nil, err
	}
	e := hooklane.Event{
		OccurredAt: unixTime(w.Timestamp),
		Account:    string(w.InstanceID),
		Payload:    bytes.Clone(body),
	}
	switch w.EventType {
	case "message_received", "message_sent":
		e.Type = "message"
		e.Key = naturalKey("message", body, string(w.ID))
		e.ResourceType, e.ResourceID = "message", string(w.ID)
		e.ConversationID = string(w.ChatID)
		// The contact is the sender of what arrives and the recipient of
		// what is sent; in a group, from is the member who wrote.
		if w.EventType == "message_received" {
			e.Phone = string(cmp.Or(w.From, w.ChatID))
		} else {
			e.Phone = string(cmp.Or(w.To, w.ChatID))
		}
	case "ack_update":
		e.Type = "status"
		e.Key = naturalKey("ack", body, string(w.ID), string(w.Ack))
		e.ResourceType, e.ResourceID = "message", string(w.ID)
		e.ConversationID = string(w.ChatID)
	case "message_reaction":
		e.Type = "reaction"
		e.Key = naturalKey("reaction", body)
		e.ResourceType, e.ResourceID = "message", string(w.MessageID)
		e.Phone = string(w.FromNumber)
	default:
		e.Type = orUnknown(w.EventType)
		e.Key = naturalKey(e.Type, body)
	}
	return []hooklane.Event{e}, nil
}

func (whapi) KeepHeaders() []string { return whapiHeaders }

// whapiHeaders are the headers whapi deliveries keep, shared by every
// request: callers do not modify them.
var whapiHeaders = []string{"Content-Type", "User-Agent", "X-Whapi-Signature", "X-Request-Id"}
