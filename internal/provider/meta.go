package provider

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"time"

	"github.com/hooklane/hooklane"
)

// meta speaks the WhatsApp Cloud API's webhooks. One delivery batches up to
// 1000 updates across entry[], changes[], messages[] and statuses[], and has
// no id of its own; Events returns every update, each under its natural key.
type meta struct{}

var metaSignature = hmacSignature{header: "X-Hub-Signature-256", prefix: "sha256="}

// metaMessagesField is the field of the changes that carry messages[] and
// statuses[]; every other field is stored as one event per change.
const metaMessagesField = "messages"

// metaDelivery is a delivery down to its changes, kept raw so that each
// change or item is stored as the bytes Meta sent.
type metaDelivery struct {
	Object scalar `json:"object"`
	Entry  []struct {
		ID      scalar            `json:"id"`
		Time    scalar            `json:"time"`
		Changes []json.RawMessage `json:"changes"`
	} `json:"entry"`
}

// metaChange is one entry[].changes[] item.
type metaChange struct {
	Field scalar `json:"field"`
	Value struct {
		Metadata struct {
			PhoneNumberID      scalar `json:"phone_number_id"`
			DisplayPhoneNumber scalar `json:"display_phone_number"`
		} `json:"metadata"`
		Contacts      []metaContact     `json:"contacts"`
		Messages      []json.RawMessage `json:"messages"`
		Statuses      []json.RawMessage `json:"statuses"`
		MessageEchoes []json.RawMessage `json:"message_echoes"` // smb_message_echoes
		StateSync     []metaStateSync   `json:"state_sync"`     // smb_app_state_sync
		History       []struct {
			Threads []struct {
				ID       scalar            `json:"id"`
				Messages []json.RawMessage `json:"messages"`
			} `json:"threads"`
		} `json:"history"`
	} `json:"value"`
}

// metaStateSync is one smb_app_state_sync item: a contact of the Business
// app's address book added or changed.
type metaStateSync struct {
	Type    scalar `json:"type"`
	Action  scalar `json:"action"`
	Contact struct {
		FullName    scalar `json:"full_name"`
		PhoneNumber scalar `json:"phone_number"`
	} `json:"contact"`
	Metadata struct {
		Timestamp scalar `json:"timestamp"`
	} `json:"metadata"`
}

// metaContact is one value.contacts[] item: the user a change is about.
type metaContact struct {
	Profile struct {
		Name     scalar `json:"name"`
		Username scalar `json:"username"`
	} `json:"profile"`
	WaID   scalar `json:"wa_id"`
	UserID scalar `json:"user_id"`
}

// metaUpdate holds the fields Events reads from a messages[] or statuses[]
// item; each kind of item fills its own.
type metaUpdate struct {
	ID          scalar `json:"id"` // the wamid, in both kinds
	Timestamp   scalar `json:"timestamp"`
	From        scalar `json:"from"`
	FromUserID  scalar `json:"from_user_id"`
	To          scalar `json:"to"`         // message_echoes
	ToUserID    scalar `json:"to_user_id"` // message_echoes
	GroupID     scalar `json:"group_id"`
	Status      scalar `json:"status"`
	RecipientID scalar `json:"recipient_id"`
	// RecipientUserID replaces recipient_id for a user with a username.
	RecipientUserID            scalar          `json:"recipient_user_id"`
	RecipientType              scalar          `json:"recipient_type"` // "group"
	RecipientParticipantID     scalar          `json:"recipient_participant_id"`
	RecipientParticipantUserID scalar          `json:"recipient_participant_user_id"`
	Errors                     json.RawMessage `json:"errors"`
	HistoryContext             struct {
		Status scalar `json:"status"`
	} `json:"history_context"`
	metaContent
	Edit struct {
		OriginalMessageID scalar      `json:"original_message_id"`
		Message           metaContent `json:"message"`
	} `json:"edit"`
	Revoke struct {
		OriginalMessageID scalar `json:"original_message_id"`
	} `json:"revoke"`
}

// metaContent is a message's content, in a message or in an edit.
type metaContent struct {
	Type    scalar `json:"type"`
	Context struct {
		ID scalar `json:"id"`
	} `json:"context"`
	Text struct {
		Body scalar `json:"body"`
	} `json:"text"`
	Image    metaMedia `json:"image"`
	Video    metaMedia `json:"video"`
	Audio    metaMedia `json:"audio"`
	Document metaMedia `json:"document"`
	Sticker  metaMedia `json:"sticker"`
	Reaction struct {
		MessageID scalar `json:"message_id"`
		Emoji     scalar `json:"emoji"`
	} `json:"reaction"`
	Button struct {
		Text scalar `json:"text"`
	} `json:"button"`
	Interactive struct {
		ButtonReply struct {
			Title scalar `json:"title"`
		} `json:"button_reply"`
		ListReply struct {
			Title scalar `json:"title"`
		} `json:"list_reply"`
		NfmReply struct {
			Body scalar `json:"body"`
		} `json:"nfm_reply"`
	} `json:"interactive"`
	System struct {
		Body scalar `json:"body"`
	} `json:"system"`
}

// metaMedia is an attachment of any kind.
type metaMedia struct {
	ID       scalar `json:"id"`
	URL      scalar `json:"url"`
	MimeType scalar `json:"mime_type"`
	SHA256   scalar `json:"sha256"`
	Filename scalar `json:"filename"`
	Caption  scalar `json:"caption"`
}

func (meta) Name() string { return "meta" }

func (meta) Verify(h http.Header, body []byte, secrets [][]byte) error {
	return metaSignature.verify(h, body, secrets)
}

// Inspect names the delivery after its changes' field (see metaEventType).
// The dedupe key is the body's SHA-256: Meta repeats the same bytes on a retry.
func (meta) Inspect(body []byte) (hooklane.Summary, error) {
	var d struct {
		Object scalar `json:"object"`
		Entry  []struct {
			Changes []struct {
				Field scalar `json:"field"`
			} `json:"changes"`
		} `json:"entry"`
	}
	if err := decodeObject(body, &d); err != nil {
		return hooklane.Summary{}, err
	}
	var fields []string
	for _, entry := range d.Entry {
		for _, change := range entry.Changes {
			fields = append(fields, orUnknown(change.Field))
		}
	}
	return hooklane.Summary{EventType: metaEventType(d.Object, fields), DedupeKey: bodyHash(body)}, nil
}

// metaEventType is the field that all of a delivery's changes share (e.g.
// "messages"), "mixed" when they differ, or, when there are none, the
// delivery's object (e.g. "whatsapp_business_account").
func metaEventType(object scalar, fields []string) string {
	if len(fields) == 0 {
		return orUnknown(object)
	}
	for _, f := range fields[1:] {
		if f != fields[0] {
			return "mixed"
		}
	}
	return fields[0]
}

// Events fans the delivery out over every entry and change: one event per
// message and per status in a messages change, one per any other change, and
// one for the whole delivery when it has no change at all.
func (meta) Events(body []byte) ([]hooklane.Event, error) {
	var d metaDelivery
	if err := decodeObject(body, &d); err != nil {
		return nil, err
	}
	var events []hooklane.Event
	for _, entry := range d.Entry {
		for _, change := range entry.Changes {
			var err error
			if events, err = appendMetaChange(events, string(entry.ID), unixTime(entry.Time), change); err != nil {
				return nil, err
			}
		}
	}
	if len(events) == 0 {
		events = append(events, hooklane.Event{
			Type:    metaEventType(d.Object, nil),
			Key:     naturalKey("delivery", body),
			Payload: bytes.Clone(body),
		})
	}
	return events, nil
}

// Meta's fields whose changes carry messages, fanned out one event each.
const (
	metaEchoesField  = "smb_message_echoes" // sent from the WhatsApp Business app
	metaHistoryField = "history"            // the Business app's past chats
)

// appendMetaChange appends the events of one change of the entry entryID,
// whose time is entryTime: one per message (in messages, echoes and history)
// and per status, or one for the change when it carries none. It fails,
// before building any, when they would pass MaxEvents.
func appendMetaChange(events []hooklane.Event, entryID string, entryTime time.Time, raw json.RawMessage) ([]hooklane.Event, error) {
	var c metaChange
	decodeItem(raw, &c)
	field := orUnknown(c.Field)
	items := len(c.Value.Messages) + len(c.Value.Statuses) + len(c.Value.MessageEchoes)
	for _, h := range c.Value.History {
		for _, thread := range h.Threads {
			items += len(thread.Messages)
		}
	}
	if n := len(events) + max(items, 1); n > MaxEvents {
		return nil, tooMany(n)
	}
	mc := metaContext{
		account:  cmp.Or(string(c.Value.Metadata.PhoneNumberID), entryID),
		business: string(c.Value.Metadata.DisplayPhoneNumber),
		contacts: c.Value.Contacts,
	}
	before := len(events)
	switch field {
	case metaMessagesField:
		events = mc.appendMessages(events, c.Value.Messages, "", hooklane.DirectionIn)
		events = mc.appendStatuses(events, c.Value.Statuses)
	case metaEchoesField:
		events = mc.appendMessages(events, c.Value.MessageEchoes, "", hooklane.DirectionOut)
	case metaHistoryField:
		events = mc.appendMessages(events, c.Value.Messages, "", "")
		for _, h := range c.Value.History {
			for _, thread := range h.Threads {
				events = mc.appendMessages(events, thread.Messages, string(thread.ID), "")
			}
		}
	}
	if len(events) == before {
		events = append(events, hooklane.Event{Type: field, Key: naturalKey(field, raw), OccurredAt: entryTime,
			Account: mc.account, Payload: raw, Facts: metaStateSyncFacts(c.Value.StateSync)})
	}
	return events, nil
}

// metaStateSyncFacts is a contact fact for each address-book contact added
// or changed in the Business app.
func metaStateSyncFacts(items []metaStateSync) []hooklane.Fact {
	var facts []hooklane.Fact
	for _, it := range items {
		phone := phoneOf(string(it.Contact.PhoneNumber))
		if it.Type != "contact" || it.Action == "remove" || phone == "" {
			continue
		}
		facts = append(facts, hooklane.Fact{Kind: hooklane.FactContact, At: unixTime(it.Metadata.Timestamp),
			Contact: hooklane.Contact{ID: phone, Phone: phone, Name: string(it.Contact.FullName)}})
	}
	return facts
}

// metaContext is what a change's items share.
type metaContext struct {
	account  string // the business's phone number id
	business string // the business's display phone number
	contacts []metaContact
}

// contact is the contact with phone or user id, with what contacts[] adds
// (a name, a username, the phone of a user id). A group's own id is no contact.
func (mc metaContext) contact(phone, userID string) hooklane.Contact {
	c := hooklane.Contact{Phone: phoneOf(phone), UserID: userID}
	for _, k := range mc.contacts {
		if (phone != "" && string(k.WaID) == phone) || (userID != "" && string(k.UserID) == userID) ||
			(len(mc.contacts) == 1 && phone == "" && userID == "") {
			c.Name, c.Username = string(k.Profile.Name), string(k.Profile.Username)
			c.Phone = cmp.Or(c.Phone, phoneOf(string(k.WaID)))
			c.UserID = cmp.Or(c.UserID, string(k.UserID))
			break
		}
	}
	c.ID = cmp.Or(c.Phone, phone, c.UserID)
	return c
}

// conversation is the chat of the business number with a contact, or a group.
func (mc metaContext) conversation(groupID string, c hooklane.Contact) string {
	if id := cmp.Or(groupID, c.ID); id != "" {
		return mc.account + ":" + id
	}
	return ""
}

// appendMessages appends one event per message item. The direction is dir,
// or, when empty (history), "out" for what the business number sent. A
// history thread names its contact by thread.
func (mc metaContext) appendMessages(events []hooklane.Event, items []json.RawMessage, thread, dir string) []hooklane.Event {
	for _, item := range items {
		var m metaUpdate
		decodeItem(item, &m)
		direction := dir
		if direction == "" {
			direction = hooklane.DirectionIn
			if mc.business != "" && string(m.From) == mc.business {
				direction = hooklane.DirectionOut
			}
		}
		var contact hooklane.Contact
		switch {
		case thread != "":
			contact = mc.contact(thread, "")
		case direction == hooklane.DirectionOut:
			contact = mc.contact(string(m.To), string(m.ToUserID))
		default:
			contact = mc.contact(string(m.From), string(m.FromUserID))
		}
		f := hooklane.Fact{
			Kind:           hooklane.FactMessage,
			At:             unixTime(m.Timestamp),
			MessageID:      string(m.ID),
			ConversationID: mc.conversation(string(m.GroupID), contact),
			Direction:      direction,
			Contact:        contact,
			Message:        m.metaContent.message(),
			Status:         statusWord(string(m.HistoryContext.Status)),
		}
		switch m.Type {
		case "edit":
			f.Kind, f.MessageID, f.Text = hooklane.FactEdit, string(m.Edit.OriginalMessageID), m.Edit.Message.message().Text
			f.Message = hooklane.Message{}
		case "revoke":
			f.Kind, f.MessageID, f.Message = hooklane.FactDelete, string(m.Revoke.OriginalMessageID), hooklane.Message{}
		}
		if f.Kind == hooklane.FactMessage && f.Status == "" && direction == hooklane.DirectionIn {
			f.Status = hooklane.StatusReceived
		}
		if f.Kind == hooklane.FactMessage && f.Status == "" {
			f.Status = hooklane.StatusSent
		}
		events = append(events, hooklane.Event{
			Type:         "message",
			Key:          naturalKey("message", item, string(m.ID)),
			OccurredAt:   f.At,
			Account:      mc.account,
			ResourceType: "message",
			ResourceID:   string(m.ID),
			Phone:        cmp.Or(string(m.From), string(m.FromUserID)),
			Payload:      item,
			Facts:        factsOf(f),
		})
	}
	return events
}

// appendStatuses appends one event per status item.
func (mc metaContext) appendStatuses(events []hooklane.Event, items []json.RawMessage) []hooklane.Event {
	for _, item := range items {
		var s metaUpdate
		decodeItem(item, &s)
		var contact hooklane.Contact
		group := ""
		if s.RecipientType == "group" {
			group = string(s.RecipientID)
			contact = mc.contact(string(s.RecipientParticipantID), string(s.RecipientParticipantUserID))
		} else {
			contact = mc.contact(string(s.RecipientID), string(s.RecipientUserID))
		}
		f := hooklane.Fact{
			Kind:           hooklane.FactStatus,
			At:             unixTime(s.Timestamp),
			MessageID:      string(s.ID),
			ConversationID: mc.conversation(group, contact),
			Direction:      hooklane.DirectionOut, // Meta reports statuses of what the business sent
			Contact:        contact,
			Status:         statusWord(string(s.Status)),
			Error:          rawOrNil(s.Errors),
		}
		events = append(events, hooklane.Event{
			Type:         "status",
			Key:          naturalKey("status", item, string(s.ID), string(s.Status)),
			OccurredAt:   f.At,
			Account:      mc.account,
			ResourceType: "message",
			ResourceID:   string(s.ID),
			Phone:        cmp.Or(string(s.RecipientID), string(s.RecipientUserID)),
			Payload:      item,
			Facts:        factsOf(f),
		})
	}
	return events
}

// message is the content's type, text, attachment and the message it
// answers.
func (c metaContent) message() hooklane.Message {
	m := hooklane.Message{Type: string(c.Type), ReplyTo: string(c.Context.ID)}
	for _, media := range []metaMedia{c.Image, c.Video, c.Audio, c.Document, c.Sticker} {
		if raw := mediaJSON(string(media.ID), string(media.URL), string(media.MimeType), string(media.SHA256), string(media.Filename)); raw != nil {
			m.Media, m.Text = raw, string(media.Caption)
			break
		}
	}
	m.Text = string(cmp.Or(scalar(m.Text), c.Text.Body, c.Button.Text, c.Interactive.ButtonReply.Title,
		c.Interactive.ListReply.Title, c.Interactive.NfmReply.Body, c.Reaction.Emoji, c.System.Body))
	if c.Type == "reaction" {
		m.ReplyTo = string(c.Reaction.MessageID)
	}
	return m
}

func (meta) KeepHeaders() []string { return metaHeaders }

// metaHeaders are the headers meta deliveries keep, shared by every
// request: callers do not modify them.
var metaHeaders = []string{"Content-Type", "User-Agent", "X-Hub-Signature-256", "X-Request-Id"}
