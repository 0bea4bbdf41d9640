package hooklane

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// Errors a Provider returns; ingest maps each to its HTTP status.
var (
	// ErrNoSignature: the signature header is missing or empty.
	ErrNoSignature = errors.New("signature missing")
	// ErrBadSignature: the signature header is malformed or matches no secret.
	ErrBadSignature = errors.New("signature mismatch")
	// ErrNotJSON: the body is not a JSON object.
	ErrNotJSON = errors.New("body is not a JSON object")
)

// Provider is one webhook provider's protocol: how it signs a delivery, how
// its event type and idempotency key are found, and how one delivery fans
// out into the events it carries.
type Provider interface {
	// Name is the provider's config name, e.g. platica or meta.
	Name() string
	// Verify checks the delivery's signature against each secret in turn,
	// over the raw body, in constant time. It returns ErrNoSignature or
	// ErrBadSignature (wrapped with detail) when none matches.
	Verify(header http.Header, body []byte, secrets [][]byte) error
	// Inspect reads what ingest needs from a verified body: the delivery's
	// event type and its dedupe key. It returns ErrNotJSON (wrapped) when the
	// body is not a JSON object. A type it does not know is not an error.
	Inspect(body []byte) (Summary, error)
	// Events fans a delivery out into the events it carries, each with its
	// own natural key. It returns at least one event for any JSON object, and
	// ErrNotJSON (wrapped) for anything else. Payloads are copies: they never
	// share memory with body.
	Events(body []byte) ([]Event, error)
	// KeepHeaders lists the request headers worth storing with a delivery,
	// in canonical form. Credentials are never among them. The caller must
	// not modify the slice.
	KeepHeaders() []string
}

// Summary is what ingest learns from a delivery before queueing it.
type Summary struct {
	EventType string // e.g. "message.created", "messages", "ack_update"
	DedupeKey string // the provider's delivery id, else the body's SHA-256
	// Flow is set for a Platica whatsapp.flows.* delivery, which needs a
	// synchronous answer.
	Flow bool
}

// Event is one stored event: a message, a status, a conversation change.
type Event struct {
	Type string // e.g. "message", "status", "conversation.created"
	// Key identifies the event among all of its source's events, so that a
	// redelivery, in any batch, maps to the same key and distinct events
	// never share one: e.g. "message:<wamid>", "status:<wamid>:read".
	Key            string
	OccurredAt     time.Time       // the provider's own time; zero if none
	Account        string          // workspace, phone number id or instance
	ResourceType   string          // e.g. "message", "conversation", "client"
	ResourceID     string          // e.g. the wamid or the conversation id
	ConversationID string          // conversation or chat id, if any
	Phone          string          // the contact's phone or JID, if any
	Payload        json.RawMessage // the event's JSON, as the provider sent it
	// Facts is what the event says about messages, contacts and
	// conversations, for the model tables (see Fact); none for other events.
	Facts []Fact
}
