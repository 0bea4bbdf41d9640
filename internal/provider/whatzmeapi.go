package provider

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"

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

// whatzItem holds the fields Events reads from a message or a status in
// either form.
type whatzItem struct {
	Key struct {
		ID        scalar `json:"id"`
		RemoteJID scalar `json:"remoteJid"`
	} `json:"key"`
	MessageTimestamp scalar `json:"messageTimestamp"`
	ID               scalar `json:"id"`        // WhatzMeAPI statuses[]
	KeyID            scalar `json:"keyId"`     // Evolution messages.update
	RemoteJID        scalar `json:"remoteJid"` // Evolution messages.update
	Status           scalar `json:"status"`
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
		for _, raw := range whatzItems(d.Messages, d.Data) {
			var it whatzItem
			decodeItem(raw, &it)
			events = append(events, hooklane.Event{
				Type:           "message",
				Key:            naturalKey("message", raw, string(it.Key.ID)),
				OccurredAt:     cmp.Or(unixTime(it.MessageTimestamp), sent),
				Account:        string(d.Instance),
				ResourceType:   "message",
				ResourceID:     string(it.Key.ID),
				ConversationID: string(it.Key.RemoteJID),
				Phone:          string(it.Key.RemoteJID),
				Payload:        raw,
			})
		}
	case "messages.update":
		for _, raw := range whatzItems(d.Statuses, d.Data) {
			var it whatzItem
			decodeItem(raw, &it)
			id := string(cmp.Or(it.ID, it.KeyID, it.Key.ID))
			jid := string(cmp.Or(it.RemoteJID, it.Key.RemoteJID))
			events = append(events, hooklane.Event{
				Type:           "status",
				Key:            naturalKey("status", raw, id, string(it.Status)),
				OccurredAt:     sent,
				Account:        string(d.Instance),
				ResourceType:   "message",
				ResourceID:     id,
				ConversationID: jid,
				Phone:          jid,
				Payload:        raw,
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
	}
	return events, nil
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
