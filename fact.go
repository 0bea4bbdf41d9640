package hooklane

import (
	"encoding/json"
	"time"
)

// FactKind says what a Fact is about.
type FactKind string

// The kinds of Fact.
const (
	// FactMessage is a message itself: its content, sender and chat.
	FactMessage FactKind = "message"
	// FactStatus is a receipt about a message: sent, delivered, read...
	FactStatus FactKind = "status"
	// FactEdit is a new text for a message.
	FactEdit FactKind = "edit"
	// FactDelete is a message deleted (revoked) for everyone.
	FactDelete FactKind = "delete"
	// FactContact is what a provider says about a contact alone.
	FactContact FactKind = "contact"
	// FactConversation is what a provider says about a conversation alone.
	FactConversation FactKind = "conversation"
)

// Message directions.
const (
	DirectionIn  = "in"
	DirectionOut = "out"
)

// Statuses of a message, each provider's vocabulary mapped to these words.
// They rank pending < sent < failed < delivered < read < played; received,
// an inbound message's status until receipts say more, ranks with sent.
const (
	StatusPending   = "pending"
	StatusSent      = "sent"
	StatusReceived  = "received"
	StatusFailed    = "failed"
	StatusDelivered = "delivered"
	StatusRead      = "read"
	StatusPlayed    = "played"
)

// StatusRank orders the status words: a message's status moves only to a
// higher rank. It is 0 for a word that is not a status.
func StatusRank(status string) int {
	switch status {
	case StatusPending:
		return 1
	case StatusSent, StatusReceived:
		return 2
	case StatusFailed:
		return 3
	case StatusDelivered:
		return 4
	case StatusRead:
		return 5
	case StatusPlayed:
		return 6
	}
	return 0
}

// Fact is what one event says about the WhatsApp model: the messages with
// their status, the contacts and the conversations. Storage merges the facts
// of each event it stores into the model tables, so that the rows do not
// depend on the order the events arrive in.
type Fact struct {
	Kind FactKind
	// At is the provider's time of what the fact reports (the message's
	// time, the status's, the edit's...); zero if the provider gives none.
	At time.Time
	// MessageID is the message the fact is about: the message's own id, or
	// the id of the message a status, an edit or a deletion refers to.
	MessageID string
	// ConversationID is the chat: a Meta business number and its contact (or
	// group), a chat JID, a Platica conversation id.
	ConversationID string
	// Direction is DirectionIn or DirectionOut, if known.
	Direction string
	// Contact is the contact of the message (in a group, the member who
	// wrote), or the one a contact fact is about.
	Contact Contact
	// Message is the content of a FactMessage.
	Message Message
	// Status is a FactStatus's word (see StatusRank), or the status a
	// FactMessage carries of itself; empty if none.
	Status string
	// Error is what the provider says of a failure, as JSON.
	Error json.RawMessage
	// Text is a FactEdit's new text.
	Text string
	// Conversation holds the attributes a FactConversation reports.
	Conversation Conversation
}

// Message is a message's content.
type Message struct {
	// Type is text, image, audio, video, document, sticker, location,
	// contacts, interactive, button, reaction, order, system, unsupported,
	// or the provider's own word.
	Type string
	// Text is the body or the caption (a reaction's emoji).
	Text string
	// Media is what the provider gives of the attachment, as a JSON object
	// with id, url, mime_type, sha256 and filename where known.
	Media json.RawMessage
	// ReplyTo is the quoted message's id; for a reaction, the message
	// reacted to.
	ReplyTo string
}

// Contact is what a fact says of one contact. ID is the contact's key: the
// phone number (digits) where there is one, else the JID, else Meta's
// business-scoped user id. The other fields are empty where unknown.
type Contact struct {
	ID       string
	Name     string
	Phone    string
	JID      string
	UserID   string // Meta's business-scoped user id
	Username string // Meta's @username
	// Platica's client fields.
	ClientID     string
	Email        string
	Tags         json.RawMessage
	Owners       json.RawMessage
	CustomFields json.RawMessage
}

// Conversation holds Platica's conversation attributes; each is set only
// when the fact reports it.
type Conversation struct {
	Status    string
	Operation string
	Owners    json.RawMessage
	Tags      json.RawMessage
	ExpiredAt time.Time
}
