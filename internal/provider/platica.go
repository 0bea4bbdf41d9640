package provider

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/hooklane/hooklane"
)

// platica speaks Platica's webhooks: one event per delivery, in an envelope
// whose id names the delivery and repeats on a retry.
type platica struct{}

var platicaSignature = hmacSignature{header: "X-Webhook-Signature", prefix: "sha256="}

// platicaFlowPrefix starts the events that wait for a synchronous answer:
// whatsapp.flows.init, .screen_advance and .back.
const platicaFlowPrefix = "whatsapp.flows."

// platicaEnvelope is what every Platica event carries. The data of the
// conversation.*, message.*, client.* and referral.received events is
// UNCONFIRMED (only the whatsapp.flows.* data is documented), so the fields
// read from data are optional and any other shape leaves them empty.
type platicaEnvelope struct {
	ID           scalar `json:"id"`
	Event        scalar `json:"event"`
	WorkspaceID  scalar `json:"workspaceId"`
	Timestamp    scalar `json:"timestamp"`
	ResourceType scalar `json:"resourceType"`
	ResourceID   scalar `json:"resourceId"`
	Data         struct {
		ConversationID scalar              `json:"conversationId"`
		Conversation   platicaConversation `json:"conversation"`
		Client         platicaClient       `json:"client"`
		Message        platicaMessage      `json:"message"`
		// A conversation.* or client.* event may carry the resource as
		// data itself: these are its fields.
		platicaConversation
		Email        scalar          `json:"email"`
		Name         scalar          `json:"name"`
		CustomFields json.RawMessage `json:"customFields"`
	} `json:"data"`
}

// platicaConversation is a conversation as Platica's payloads show it.
type platicaConversation struct {
	ID          scalar          `json:"id"`
	PhoneNumber scalar          `json:"phoneNumber"`
	ContactName scalar          `json:"contactName"`
	Status      scalar          `json:"status"`
	Operation   scalar          `json:"operation"`
	Owners      json.RawMessage `json:"owners"`
	Tags        json.RawMessage `json:"tags"`
	ExpiredAt   scalar          `json:"expiredAt"`
}

// platicaClient is a client (a contact) as Platica's payloads show it.
type platicaClient struct {
	ID           scalar          `json:"id"`
	PhoneNumber  scalar          `json:"phoneNumber"`
	Name         scalar          `json:"name"`
	Email        scalar          `json:"email"`
	Tags         json.RawMessage `json:"tags"`
	Owners       json.RawMessage `json:"owners"`
	CustomFields json.RawMessage `json:"customFields"`
}

// platicaMessage is a message as Platica's payloads show it.
type platicaMessage struct {
	ID             scalar          `json:"id"`
	ConversationID scalar          `json:"conversationId"`
	Direction      scalar          `json:"direction"` // inbound or outbound
	Type           scalar          `json:"type"`
	Text           scalar          `json:"text"`
	Body           scalar          `json:"body"`
	Caption        scalar          `json:"caption"`
	Media          json.RawMessage `json:"media"`
	ReplyTo        scalar          `json:"replyTo"`
	Status         scalar          `json:"status"`
	Error          json.RawMessage `json:"error"`
	CreationDate   scalar          `json:"creationDate"`
	EditedAt       scalar          `json:"editedAt"`
}

// contact is the client's contact: its phone's digits as the key, else
// its client id.
func (c *platicaClient) contact() hooklane.Contact {
	phone := phoneOf(string(c.PhoneNumber))
	return hooklane.Contact{
		ID: cmp.Or(phone, string(c.ID)), Name: string(c.Name), Phone: phone,
		ClientID: string(c.ID), Email: string(c.Email),
		Tags: rawOrNil(c.Tags), Owners: rawOrNil(c.Owners), CustomFields: rawOrNil(c.CustomFields),
	}
}

// platicaFacts is what a conversation.*, message.* or client.* event says;
// the shapes being unconfirmed, it reads only what is there.
func platicaFacts(e *platicaEnvelope, conversationID string) []hooklane.Fact {
	at := isoTime(e.Timestamp)
	event := string(e.Event)
	switch {
	case strings.HasPrefix(event, "message."):
		m := &e.Data.Message
		f := hooklane.Fact{
			At:             cmp.Or(isoTime(m.CreationDate), at),
			MessageID:      string(cmp.Or(m.ID, e.ResourceID)),
			ConversationID: string(cmp.Or(m.ConversationID, scalar(conversationID))),
			Contact:        e.Data.Client.contact(),
			Error:          rawOrNil(m.Error),
		}
		switch m.Direction {
		case "inbound", "in":
			f.Direction = hooklane.DirectionIn
		case "outbound", "out":
			f.Direction = hooklane.DirectionOut
		}
		switch event {
		case "message.created":
			f.Kind = hooklane.FactMessage
			f.Message = hooklane.Message{Type: string(m.Type), Text: string(cmp.Or(m.Text, m.Body, m.Caption)),
				Media: rawOrNil(m.Media), ReplyTo: string(m.ReplyTo)}
			f.Status = statusWord(string(m.Status))
			if f.Status == "" && f.Direction == hooklane.DirectionIn {
				f.Status = hooklane.StatusReceived
			}
		case "message.deleted":
			f.Kind, f.At = hooklane.FactDelete, at
		case "message.updated":
			// An update with an edit time is an edit; one with a status, a
			// receipt; anything else says nothing the model keeps.
			switch {
			case m.EditedAt != "":
				f.Kind, f.At, f.Text = hooklane.FactEdit, cmp.Or(isoTime(m.EditedAt), at), string(cmp.Or(m.Text, m.Body, m.Caption))
			case statusWord(string(m.Status)) != "":
				f.Kind, f.At, f.Status = hooklane.FactStatus, at, statusWord(string(m.Status))
			default:
				return nil
			}
		default:
			return nil
		}
		return factsOf(f)
	case strings.HasPrefix(event, "client."):
		c := e.Data.Client
		if c.ID == "" && c.PhoneNumber == "" && e.ResourceType == "client" {
			d := &e.Data
			c = platicaClient{ID: cmp.Or(d.ID, e.ResourceID), PhoneNumber: d.PhoneNumber, Name: d.Name,
				Email: d.Email, Tags: d.Tags, Owners: d.Owners, CustomFields: d.CustomFields}
		}
		if contact := c.contact(); contact.ID != "" {
			return []hooklane.Fact{{Kind: hooklane.FactContact, At: at, Contact: contact}}
		}
	case strings.HasPrefix(event, "conversation.") && conversationID != "":
		c := e.Data.Conversation
		if c.ID == "" {
			c = e.Data.platicaConversation
		}
		f := hooklane.Fact{
			Kind: hooklane.FactConversation, At: at, ConversationID: conversationID,
			Conversation: hooklane.Conversation{Status: string(c.Status), Operation: string(c.Operation),
				Owners: rawOrNil(c.Owners), Tags: rawOrNil(c.Tags), ExpiredAt: isoTime(c.ExpiredAt)},
		}
		if phone := phoneOf(string(c.PhoneNumber)); phone != "" {
			f.Contact = hooklane.Contact{ID: phone, Phone: phone, Name: string(c.ContactName)}
		}
		if event == "conversation.expired" && f.Conversation.ExpiredAt.IsZero() {
			f.Conversation.ExpiredAt = at
		}
		return []hooklane.Fact{f}
	}
	return nil
}

func (platica) Name() string { return "platica" }

func (platica) Verify(h http.Header, body []byte, secrets [][]byte) error {
	return platicaSignature.verify(h, body, secrets)
}

func (platica) Inspect(body []byte) (hooklane.Summary, error) {
	// Only what ingest needs: decoding the whole envelope costs more.
	var e struct {
		ID    scalar `json:"id"`
		Event scalar `json:"event"`
	}
	if err := decodeObject(body, &e); err != nil {
		return hooklane.Summary{}, err
	}
	key := string(e.ID)
	if key == "" {
		key = bodyHash(body)
	}
	return hooklane.Summary{
		EventType: orUnknown(e.Event),
		DedupeKey: key,
		Flow:      strings.HasPrefix(string(e.Event), platicaFlowPrefix),
	}, nil
}

func (platica) Events(body []byte) ([]hooklane.Event, error) {
	var e platicaEnvelope
	if err := decodeObject(body, &e); err != nil {
		return nil, err
	}
	conversationID := cmp.Or(e.Data.Conversation.ID, e.Data.ConversationID)
	if conversationID == "" && e.ResourceType == "conversation" {
		conversationID = cmp.Or(e.ResourceID, e.Data.ID)
	}
	return []hooklane.Event{{
		Type:           orUnknown(e.Event),
		Key:            naturalKey("delivery", body, string(e.ID)),
		OccurredAt:     isoTime(e.Timestamp),
		Account:        string(e.WorkspaceID),
		ResourceType:   string(e.ResourceType),
		ResourceID:     string(e.ResourceID),
		ConversationID: string(conversationID),
		Phone:          string(cmp.Or(e.Data.Client.PhoneNumber, e.Data.Conversation.PhoneNumber)),
		Payload:        bytes.Clone(body),
		Facts:          platicaFacts(&e, string(conversationID)),
	}}, nil
}

func (platica) KeepHeaders() []string { return platicaHeaders }

// platicaHeaders are the headers platica deliveries keep, shared by every
// request: callers do not modify them.
var platicaHeaders = []string{
	"Content-Type", "User-Agent",
	"X-Webhook-Event", "X-Webhook-Id", "X-Webhook-Event-Id",
	"X-Webhook-Resource-Type", "X-Webhook-Resource-Id",
	"X-Webhook-Timestamp", "X-Webhook-Signature", "X-Request-Id",
}
