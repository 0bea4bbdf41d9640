package provider

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/hooklane/hooklane"
)

// whatzmeapi speaks WhatzMeAPI's webhooks and, since they share event names,
// the Evolution API envelope that many Baileys gateways send.
//
// WhatzMeAPI batches: messages.upsert carries messages[], and messages.update
// carries statuses[], where one message id can appear once per status
// (delivered, then read). Evolution API carries one item in data, and its
// messages.update data is flat (keyId, remoteJid, status).
type whatzmeapi struct{}

var whatzmeapiSignature = hmacSignature{header: "X-Signature", prefix: "sha256="}

// whatzDelivery is either form of delivery. Evolution's envelope also
// carries an apikey, which is why Events stores its data, not the envelope.
type whatzDelivery struct {
	Event    scalar            `json:"event"`
	Instance scalar            `json:"instance"`  // Evolution
	DateTime scalar            `json:"date_time"` // Evolution, ISO-8601
	Messages []json.RawMessage `json:"messages"`  // WhatzMeAPI messages.upsert
	Statuses []json.RawMessage `json:"statuses"`  // WhatzMeAPI messages.update
	Data     json.RawMessage   `json:"data"`      // Evolution, one item
}

// whatzItem holds the fields Events reads from a message, a status or a
// contact in either form.
type whatzItem struct {
	Key struct {
		ID          scalar `json:"id"`
		RemoteJID   scalar `json:"remoteJid"`
		FromMe      *bool  `json:"fromMe"`
		Participant scalar `json:"participant"`
	} `json:"key"`
	MessageTimestamp scalar          `json:"messageTimestamp"`
	Timestamp        scalar          `json:"timestamp"` // WhatzMeAPI statuses[], if given
	ID               scalar          `json:"id"`        // WhatzMeAPI statuses[]
	KeyID            scalar          `json:"keyId"`     // Evolution messages.update
	RemoteJID        scalar          `json:"remoteJid"` // Evolution messages.update and contacts.*
	FromMe           *bool           `json:"fromMe"`    // Evolution messages.update
	Participant      scalar          `json:"participant"`
	Status           scalar          `json:"status"` // a name or a number
	PushName         scalar          `json:"pushName"`
	MessageType      scalar          `json:"messageType"`
	Message          whatzMessage    `json:"message"`
	ContextInfo      whatzContext    `json:"contextInfo"`
	Error            json.RawMessage `json:"error"`
}

// whatzMessage is a Baileys message: one of its kinds is set.
type whatzMessage struct {
	Conversation        scalar `json:"conversation"`
	ExtendedTextMessage struct {
		Text        scalar       `json:"text"`
		ContextInfo whatzContext `json:"contextInfo"`
	} `json:"extendedTextMessage"`
	ImageMessage    whatzMedia `json:"imageMessage"`
	VideoMessage    whatzMedia `json:"videoMessage"`
	AudioMessage    whatzMedia `json:"audioMessage"`
	DocumentMessage whatzMedia `json:"documentMessage"`
	StickerMessage  whatzMedia `json:"stickerMessage"`
	ReactionMessage struct {
		Text scalar `json:"text"`
		Key  struct {
			ID scalar `json:"id"`
		} `json:"key"`
	} `json:"reactionMessage"`
	ProtocolMessage *whatzProtocol `json:"protocolMessage"`
	EditedMessage   struct {
		Message struct {
			ProtocolMessage *whatzProtocol `json:"protocolMessage"`
		} `json:"message"`
	} `json:"editedMessage"`
}

// whatzProtocol is a revoke (type 0, REVOKE) or an edit (type 14,
// MESSAGE_EDIT) of the message its key names.
type whatzProtocol struct {
	Type scalar `json:"type"`
	Key  struct {
		ID scalar `json:"id"`
	} `json:"key"`
	EditedMessage struct {
		Conversation        scalar `json:"conversation"`
		ExtendedTextMessage struct {
			Text scalar `json:"text"`
		} `json:"extendedTextMessage"`
	} `json:"editedMessage"`
}

// whatzContext names the quoted message.
type whatzContext struct {
	StanzaID scalar `json:"stanzaId"`
}

// whatzMedia is an attachment of any kind.
type whatzMedia struct {
	URL         scalar       `json:"url"`
	Mimetype    scalar       `json:"mimetype"`
	Caption     scalar       `json:"caption"`
	FileSha256  scalar       `json:"fileSha256"`
	FileName    scalar       `json:"fileName"`
	ContextInfo whatzContext `json:"contextInfo"`
}

// whatzStatus maps a Baileys status (0 ERROR, 1 PENDING, 2 SERVER_ACK,
// 3 DELIVERY_ACK, 4 READ, 5 PLAYED, as a number or a name) or a WhatzMeAPI
// word to the status vocabulary, and reports DELETED, Evolution's status of
// a deleted message.
func whatzStatus(s scalar) (status string, deleted bool) {
	switch strings.ToUpper(string(s)) {
	case "0":
		return hooklane.StatusFailed, false
	case "1":
		return hooklane.StatusPending, false
	case "2":
		return hooklane.StatusSent, false
	case "3":
		return hooklane.StatusDelivered, false
	case "4":
		return hooklane.StatusRead, false
	case "5":
		return hooklane.StatusPlayed, false
	case "DELETED":
		return "", true
	}
	return statusWord(string(s)), false
}

// whatzMessageKinds maps Baileys' message kinds to the model's types.
var whatzMessageKinds = map[string]string{
	"conversation": "text", "extendedTextMessage": "text", "imageMessage": "image",
	"videoMessage": "video", "audioMessage": "audio", "pttMessage": "audio", "documentMessage": "document",
	"documentWithCaptionMessage": "document", "stickerMessage": "sticker", "locationMessage": "location",
	"liveLocationMessage": "location", "contactMessage": "contacts", "contactsArrayMessage": "contacts",
	"reactionMessage": "reaction", "buttonsResponseMessage": "button", "templateButtonReplyMessage": "button",
	"listResponseMessage": "interactive", "interactiveResponseMessage": "interactive",
}

// fact is what a messages.upsert item says: a message, or the edit or
// deletion a protocol message carries.
func (it *whatzItem) fact(at time.Time) hooklane.Fact {
	jid := string(it.Key.RemoteJID)
	fromMe := it.Key.FromMe != nil && *it.Key.FromMe
	f := hooklane.Fact{
		Kind:           hooklane.FactMessage,
		At:             at,
		MessageID:      string(it.Key.ID),
		ConversationID: jid,
		Direction:      hooklane.DirectionIn,
		Contact:        whatzContact(jid, string(it.Key.Participant), string(it.PushName), fromMe),
	}
	if fromMe {
		f.Direction = hooklane.DirectionOut
	}
	if p := cmp.Or(it.Message.ProtocolMessage, it.Message.EditedMessage.Message.ProtocolMessage); p != nil {
		switch p.Type {
		case "0", "REVOKE":
			f.Kind, f.MessageID = hooklane.FactDelete, string(p.Key.ID)
			return f
		case "14", "MESSAGE_EDIT":
			f.Kind, f.MessageID = hooklane.FactEdit, string(p.Key.ID)
			f.Text = string(cmp.Or(p.EditedMessage.Conversation, p.EditedMessage.ExtendedTextMessage.Text))
			return f
		}
	}
	m := &it.Message
	msg := hooklane.Message{
		Type:    cmp.Or(whatzMessageKinds[string(it.MessageType)], string(it.MessageType)),
		Text:    string(cmp.Or(m.Conversation, m.ExtendedTextMessage.Text, m.ReactionMessage.Text)),
		ReplyTo: string(cmp.Or(it.ContextInfo.StanzaID, m.ExtendedTextMessage.ContextInfo.StanzaID)),
	}
	for _, km := range []struct {
		kind  string
		media whatzMedia
	}{{"image", m.ImageMessage}, {"video", m.VideoMessage}, {"audio", m.AudioMessage},
		{"document", m.DocumentMessage}, {"sticker", m.StickerMessage}} {
		kind, media := km.kind, km.media
		if raw := mediaJSON("", string(media.URL), string(media.Mimetype), string(media.FileSha256), string(media.FileName)); raw != nil {
			msg.Media, msg.Type = raw, cmp.Or(msg.Type, kind)
			msg.Text = cmp.Or(msg.Text, string(media.Caption))
			msg.ReplyTo = cmp.Or(msg.ReplyTo, string(media.ContextInfo.StanzaID))
		}
	}
	switch {
	case m.ReactionMessage.Key.ID != "":
		msg.Type, msg.ReplyTo = "reaction", string(m.ReactionMessage.Key.ID)
	case msg.Type == "" && msg.Text != "":
		msg.Type = "text"
	}
	f.Message = msg
	status, _ := whatzStatus(it.Status)
	switch {
	case status != "":
		f.Status = status
	case fromMe:
		f.Status = hooklane.StatusSent
	default:
		f.Status = hooklane.StatusReceived
	}
	if !fromMe && (status == hooklane.StatusSent || status == hooklane.StatusDelivered) {
		// An inbound message's own ack says it reached this device.
		f.Status = hooklane.StatusReceived
	}
	return f
}

// whatzContact is a message's contact: in a group chat the member who
// wrote, else the chat's other party. pushName is the sender's name, so it
// names the contact only in what the contact sent.
func whatzContact(jid, participant, pushName string, fromMe bool) hooklane.Contact {
	name := pushName
	if fromMe {
		name = ""
	}
	if isGroupJID(jid) {
		if participant == "" {
			return hooklane.Contact{}
		}
		return jidContact(participant, name)
	}
	return jidContact(jid, name)
}

func (whatzmeapi) Name() string { return "whatzmeapi" }

func (whatzmeapi) Verify(h http.Header, body []byte, secrets [][]byte) error {
	return whatzmeapiSignature.verify(h, body, secrets)
}

// Inspect keys the delivery by its body's SHA-256: neither form carries a
// delivery id.
func (whatzmeapi) Inspect(body []byte) (hooklane.Summary, error) {
	var d struct {
		Event scalar `json:"event"`
	}
	if err := decodeObject(body, &d); err != nil {
		return hooklane.Summary{}, err
	}
	return hooklane.Summary{EventType: orUnknown(d.Event), DedupeKey: bodyHash(body)}, nil
}

// Events returns one event per message of a messages.upsert and one per
// status of a messages.update; anything else is one event for the delivery.
func (whatzmeapi) Events(body []byte) ([]hooklane.Event, error) {
	var d whatzDelivery
	if err := decodeObject(body, &d); err != nil {
		return nil, err
	}
	sent := isoTime(d.DateTime)
	var events []hooklane.Event
	switch d.Event {
	case "messages.upsert":
		items := whatzItems(d.Messages, d.Data)
		if len(items) > MaxEvents {
			return nil, tooMany(len(items))
		}
		for _, raw := range items {
			var it whatzItem
			decodeItem(raw, &it)
			f := it.fact(cmp.Or(unixTime(it.MessageTimestamp), sent))
			events = append(events, hooklane.Event{
				Type:           "message",
				Key:            naturalKey("message", raw, string(it.Key.ID)),
				OccurredAt:     f.At,
				Account:        string(d.Instance),
				ResourceType:   "message",
				ResourceID:     string(it.Key.ID),
				ConversationID: string(it.Key.RemoteJID),
				Phone:          string(cmp.Or(it.Key.Participant, it.Key.RemoteJID)),
				Payload:        raw,
				Facts:          factsOf(f),
			})
		}
	case "messages.update":
		items := whatzItems(d.Statuses, d.Data)
		if len(items) > MaxEvents {
			return nil, tooMany(len(items))
		}
		for _, raw := range items {
			var it whatzItem
			decodeItem(raw, &it)
			id := string(cmp.Or(it.ID, it.KeyID, it.Key.ID))
			jid := string(cmp.Or(it.RemoteJID, it.Key.RemoteJID))
			participant := string(cmp.Or(it.Participant, it.Key.Participant))
			fromMe := cmp.Or(it.FromMe, it.Key.FromMe)
			f := hooklane.Fact{
				Kind:           hooklane.FactStatus,
				At:             cmp.Or(unixTime(it.Timestamp), sent),
				MessageID:      id,
				ConversationID: jid,
				Error:          rawOrNil(it.Error),
			}
			if fromMe != nil {
				f.Direction = hooklane.DirectionIn
				if *fromMe {
					f.Direction = hooklane.DirectionOut
				}
				f.Contact = whatzContact(jid, participant, "", true)
			}
			var deleted bool
			f.Status, deleted = whatzStatus(it.Status)
			if deleted {
				f.Kind, f.Status = hooklane.FactDelete, ""
			}
			events = append(events, hooklane.Event{
				Type:           "status",
				Key:            naturalKey("status", raw, id, string(it.Status)),
				OccurredAt:     sent,
				Account:        string(d.Instance),
				ResourceType:   "message",
				ResourceID:     id,
				ConversationID: jid,
				Phone:          cmp.Or(participant, jid),
				Payload:        raw,
				Facts:          factsOf(f),
			})
		}
	}
	if len(events) == 0 {
		events = append(events, hooklane.Event{
			Type:       orUnknown(d.Event),
			Key:        naturalKey("delivery", body),
			OccurredAt: sent,
			Account:    string(d.Instance),
			Payload:    bytes.Clone(body),
		})
		switch d.Event {
		case "contacts.upsert", "contacts.update":
			events[0].Facts = whatzContactFacts(d.Data, sent)
		case "messages.delete":
			events[0].Facts = whatzDeleteFacts(d.Data, sent)
		}
	}
	return events, nil
}

// whatzContactFacts is a contact fact for each contact that data, an
// object or an array, names; groups, which the contacts events name too,
// are left out.
func whatzContactFacts(data json.RawMessage, at time.Time) []hooklane.Fact {
	var items []whatzItem
	if isObject(data) {
		items = make([]whatzItem, 1)
		decodeItem(data, &items[0])
	} else {
		decodeItem(data, &items)
	}
	var facts []hooklane.Fact
	for _, it := range items {
		jid := string(cmp.Or(it.RemoteJID, it.ID))
		if jid == "" || isGroupJID(jid) {
			continue
		}
		facts = append(facts, hooklane.Fact{Kind: hooklane.FactContact, At: at, Contact: jidContact(jid, string(it.PushName))})
	}
	return facts
}

// whatzDeleteFacts is a deletion of the message Evolution's messages.delete
// data names, flat or under key.
func whatzDeleteFacts(data json.RawMessage, at time.Time) []hooklane.Fact {
	var it whatzItem
	decodeItem(data, &it)
	return factsOf(hooklane.Fact{
		Kind:           hooklane.FactDelete,
		At:             at,
		MessageID:      string(cmp.Or(it.Key.ID, it.ID, it.KeyID)),
		ConversationID: string(cmp.Or(it.Key.RemoteJID, it.RemoteJID)),
	})
}

// whatzItems is WhatzMeAPI's list when there is one, else Evolution's single
// data object.
func whatzItems(list []json.RawMessage, data json.RawMessage) []json.RawMessage {
	if len(list) == 0 && isObject(data) {
		return []json.RawMessage{data}
	}
	return list
}

// KeepHeaders leaves out Authorization: WhatzMeAPI sends its Bearer token
// there.
func (whatzmeapi) KeepHeaders() []string { return whatzmeapiHeaders }

// whatzmeapiHeaders are the headers whatzmeapi deliveries keep, shared by every
// request: callers do not modify them.
var whatzmeapiHeaders = []string{"Content-Type", "User-Agent", "X-Signature", "X-Request-Id"}
