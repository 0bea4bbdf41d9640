package provider

import (
	"bytes"
	"cmp"
	"encoding/json"
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
	// What the model reads.
	FromMe          scalar          `json:"from_me"`  // 0 or 1
	IsGroup         scalar          `json:"is_group"` // 0 or 1
	SenderName      scalar          `json:"sender_name"`
	GroupSender     scalar          `json:"group_sender"` // the member who wrote in a group
	Body            scalar          `json:"body"`
	MsgType         scalar          `json:"type"`
	QuotedMessageID scalar          `json:"quoted_message_id"`
	Reaction        scalar          `json:"reaction"`
	MediaURL        scalar          `json:"media_url"`
	Status          scalar          `json:"status"`
	Error           json.RawMessage `json:"error"`
}

// whapiAck maps an ack_update's ack to the status vocabulary: the words
// pending, sent, delivered, read (and played, error), or whatsapp-web's
// numbers (-1 error, 0 pending, 1 server, 2 device, 3 read, 4 played).
func whapiAck(ack scalar) string {
	switch ack {
	case "-1":
		return hooklane.StatusFailed
	case "0":
		return hooklane.StatusPending
	case "1":
		return hooklane.StatusSent
	case "2":
		return hooklane.StatusDelivered
	case "3":
		return hooklane.StatusRead
	case "4":
		return hooklane.StatusPlayed
	}
	return statusWord(string(ack))
}

// whapiTypes maps whapi's message types to the model's where they differ.
var whapiTypes = map[scalar]string{"vcard": "contacts", "chat": "text", "ptt": "audio", "voice": "audio"}

// fact is what a message_received or message_sent event says.
func (w *whapiEvent) fact() hooklane.Fact {
	in := w.EventType == "message_received" && w.FromMe != "1" && w.FromMe != "true"
	group := w.IsGroup == "1" || w.IsGroup == "true" || isGroupJID(string(w.ChatID))
	f := hooklane.Fact{
		Kind:           hooklane.FactMessage,
		At:             unixTime(w.Timestamp),
		MessageID:      string(w.ID),
		ConversationID: string(w.ChatID),
		Direction:      hooklane.DirectionOut,
		Status:         hooklane.StatusSent,
		Message: hooklane.Message{
			Type:    cmp.Or(whapiTypes[w.MsgType], string(w.MsgType)),
			Text:    string(cmp.Or(w.Body, w.Reaction)),
			Media:   mediaJSON("", string(w.MediaURL), "", "", ""),
			ReplyTo: string(w.QuotedMessageID),
		},
	}
	switch {
	case in && group:
		f.Contact = jidContact(string(cmp.Or(w.GroupSender, w.From)), string(w.SenderName))
	case in:
		f.Contact = jidContact(string(cmp.Or(w.From, w.ChatID)), string(w.SenderName))
	case !group:
		f.Contact = jidContact(string(cmp.Or(w.To, w.ChatID)), "")
	}
	if in {
		f.Direction, f.Status = hooklane.DirectionIn, hooklane.StatusReceived
	}
	if s := statusWord(string(w.Status)); !in && s != "" {
		f.Status = s
	}
	return f
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
			e.Phone = string(cmp.Or(w.GroupSender, w.From, w.ChatID))
		} else {
			e.Phone = string(cmp.Or(w.To, w.ChatID))
		}
		e.Facts = factsOf(w.fact())
	case "ack_update":
		e.Type = "status"
		e.Key = naturalKey("ack", body, string(w.ID), string(w.Ack))
		e.ResourceType, e.ResourceID = "message", string(w.ID)
		e.ConversationID = string(w.ChatID)
		e.Facts = factsOf(hooklane.Fact{
			Kind: hooklane.FactStatus, At: e.OccurredAt, MessageID: string(w.ID), ConversationID: string(w.ChatID),
			Status: whapiAck(w.Ack), Error: rawOrNil(w.Error),
		})
	case "message_reaction":
		e.Type = "reaction"
		e.Key = naturalKey("reaction", body)
		e.ResourceType, e.ResourceID = "message", string(w.MessageID)
		e.Phone = string(w.FromNumber)
		// A reaction has no id of its own: its message is named by its key.
		e.Facts = factsOf(hooklane.Fact{
			Kind: hooklane.FactMessage, At: e.OccurredAt, MessageID: e.Key, ConversationID: string(cmp.Or(w.ChatID, w.FromNumber)),
			Direction: hooklane.DirectionIn, Status: hooklane.StatusReceived, Contact: jidContact(string(w.FromNumber), ""),
			Message: hooklane.Message{Type: "reaction", Text: string(w.Reaction), ReplyTo: string(w.MessageID)},
		})
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
