package provider

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"

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
		Changes []json.RawMessage `json:"changes"`
	} `json:"entry"`
}

// metaChange is one entry[].changes[] item.
type metaChange struct {
	Field scalar `json:"field"`
	Value struct {
		Metadata struct {
			PhoneNumberID scalar `json:"phone_number_id"`
		} `json:"metadata"`
		Messages []json.RawMessage `json:"messages"`
		Statuses []json.RawMessage `json:"statuses"`
	} `json:"value"`
}

// metaUpdate holds the fields Events reads from a messages[] or statuses[]
// item; each kind of item fills its own.
type metaUpdate struct {
	ID          scalar `json:"id"` // the wamid, in both kinds
	Timestamp   scalar `json:"timestamp"`
	From        scalar `json:"from"`
	Status      scalar `json:"status"`
	RecipientID scalar `json:"recipient_id"`
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
			events = appendMetaChange(events, string(entry.ID), change)
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

// appendMetaChange appends the events of one change of the entry entryID.
func appendMetaChange(events []hooklane.Event, entryID string, raw json.RawMessage) []hooklane.Event {
	var c metaChange
	decodeItem(raw, &c)
	field := orUnknown(c.Field)
	account := cmp.Or(string(c.Value.Metadata.PhoneNumberID), entryID)
	if field != metaMessagesField || len(c.Value.Messages)+len(c.Value.Statuses) == 0 {
		return append(events, hooklane.Event{Type: field, Key: naturalKey(field, raw), Account: account, Payload: raw})
	}
	// A flow completion (interactive.type "nfm_reply") is a message like any other.
	for _, item := range c.Value.Messages {
		var m metaUpdate
		decodeItem(item, &m)
		events = append(events, hooklane.Event{
			Type:         "message",
			Key:          naturalKey("message", item, string(m.ID)),
			OccurredAt:   unixTime(m.Timestamp),
			Account:      account,
			ResourceType: "message",
			ResourceID:   string(m.ID),
			Phone:        string(m.From),
			Payload:      item,
		})
	}
	for _, item := range c.Value.Statuses {
		var s metaUpdate
		decodeItem(item, &s)
		events = append(events, hooklane.Event{
			Type:         "status",
			Key:          naturalKey("status", item, string(s.ID), string(s.Status)),
			OccurredAt:   unixTime(s.Timestamp),
			Account:      account,
			ResourceType: "message",
			ResourceID:   string(s.ID),
			Phone:        string(s.RecipientID),
			Payload:      item,
		})
	}
	return events
}

func (meta) KeepHeaders() []string { return metaHeaders }

// metaHeaders are the headers meta deliveries keep, shared by every
// request: callers do not modify them.
var metaHeaders = []string{"Content-Type", "User-Agent", "X-Hub-Signature-256", "X-Request-Id"}
