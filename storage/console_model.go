package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// ConversationFilter selects conversations, latest message first.
type ConversationFilter struct {
	Source string
	// Before is the keyset cursor: only conversations listed after it.
	// Zero starts at the latest.
	Before ConversationCursor
	// Limit is the most conversations returned. Defaults to 50.
	Limit int
}

// ConversationCursor is the position of a conversation in the
// latest-first order.
type ConversationCursor struct {
	LastMessageAt  time.Time
	Source         string
	ConversationID string
}

// ConversationSummary is a conversation with its last message.
type ConversationSummary struct {
	Source         string
	ConversationID string
	LastMessageAt  time.Time
	LastInboundAt  time.Time // zero when the contact never wrote
	MessageCount   int64
	Contact        string // the contact of the last message
	ContactName    string
	Last           Message
}

// Message is one row of the messages table.
type Message struct {
	MessageID   string
	Direction   string // in or out
	Type        string
	Text        string
	Media       json.RawMessage
	ReplyTo     string
	Contact     string
	ContactName string
	Status      string
	SentAt      time.Time
	StatusAt    time.Time
	DeliveredAt time.Time
	ReadAt      time.Time
	PlayedAt    time.Time
	FailedAt    time.Time
	Error       json.RawMessage
	EditedAt    time.Time
	DeletedAt   time.Time
	FirstSeenAt time.Time
}

// Conversations lists the conversations f selects that have a message,
// latest first, each with its last message, and the cursor of the next page,
// zero when there is none.
func (s *Store) Conversations(ctx context.Context, f ConversationFilter) ([]ConversationSummary, ConversationCursor, error) {
	var w where
	w.add("c.last_message_at IS NOT NULL")
	w.eq("c.source", f.Source)
	if b := f.Before; !b.LastMessageAt.IsZero() {
		w.add("(c.last_message_at, c.source, c.conversation_id) < ($%d, $%d, $%d)", b.LastMessageAt, b.Source, b.ConversationID)
	}
	limit := limitOr(f.Limit)
	rows, err := s.pool.Query(ctx, `
SELECT c.source, c.conversation_id, c.last_message_at, c.last_inbound_at, c.message_count,
	coalesce(m.contact, ''), coalesce(ct.name, ''), coalesce(m.message_id, ''), coalesce(m.direction, ''),
	coalesce(m.type, ''), coalesce(m.text, ''), coalesce(m.status, ''), m.sent_at, m.deleted_at
FROM conversations c
LEFT JOIN LATERAL (
	SELECT * FROM messages
	WHERE source = c.source AND conversation_id = c.conversation_id
	ORDER BY coalesce(sent_at, first_seen_at) DESC, message_id DESC LIMIT 1
) m ON true
LEFT JOIN contacts ct ON ct.source = m.source AND ct.account = coalesce(m.account, '') AND ct.contact = m.contact`+w.sql()+`
ORDER BY c.last_message_at DESC, c.source DESC, c.conversation_id DESC
LIMIT `+strconv.Itoa(limit+1), w.args...)
	if err != nil {
		return nil, ConversationCursor{}, fmt.Errorf("conversations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ConversationSummary, error) {
		var c ConversationSummary
		var inbound, sent, deleted *time.Time
		err := row.Scan(&c.Source, &c.ConversationID, &c.LastMessageAt, &inbound, &c.MessageCount,
			&c.Contact, &c.ContactName, &c.Last.MessageID, &c.Last.Direction, &c.Last.Type, &c.Last.Text,
			&c.Last.Status, &sent, &deleted)
		c.LastInboundAt, c.Last.SentAt, c.Last.DeletedAt = orZero(inbound), orZero(sent), orZero(deleted)
		c.Last.Contact, c.Last.ContactName = c.Contact, c.ContactName
		return c, err
	})
	if err != nil {
		return nil, ConversationCursor{}, fmt.Errorf("conversations: %w", err)
	}
	if len(out) <= limit {
		return out, ConversationCursor{}, nil
	}
	last := out[limit-1]
	return out[:limit], ConversationCursor{LastMessageAt: last.LastMessageAt, Source: last.Source, ConversationID: last.ConversationID}, nil
}

// Conversation returns one conversation and its latest messages, at most
// limit (default 200), in the order they were sent; or ErrNotFound.
func (s *Store) Conversation(ctx context.Context, source, conversationID string, limit int) (ConversationSummary, []Message, error) {
	var c ConversationSummary
	var last, inbound *time.Time
	err := s.pool.QueryRow(ctx, `
SELECT source, conversation_id, last_message_at, last_inbound_at, message_count
FROM conversations WHERE source = $1 AND conversation_id = $2`, source, conversationID).
		Scan(&c.Source, &c.ConversationID, &last, &inbound, &c.MessageCount)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, nil, fmt.Errorf("conversation %s %s: %w", source, conversationID, ErrNotFound)
	}
	if err != nil {
		return c, nil, fmt.Errorf("conversation %s %s: %w", source, conversationID, err)
	}
	c.LastMessageAt, c.LastInboundAt = orZero(last), orZero(inbound)
	if limit <= 0 {
		limit = 200
	}
	rows, err := s.pool.Query(ctx, `
SELECT * FROM (
	SELECT m.message_id, m.direction, coalesce(m.type, ''), coalesce(m.text, ''), m.media, coalesce(m.reply_to, ''),
		coalesce(m.contact, ''), coalesce(ct.name, ''), coalesce(m.status, ''), m.sent_at, m.status_at,
		m.delivered_at, m.read_at, m.played_at, m.failed_at, m.error, m.edited_at, m.deleted_at, m.first_seen_at
	FROM messages m
	LEFT JOIN contacts ct ON ct.source = m.source AND ct.account = coalesce(m.account, '') AND ct.contact = m.contact
	WHERE m.source = $1 AND m.conversation_id = $2
	ORDER BY coalesce(m.sent_at, m.first_seen_at) DESC, m.message_id DESC
	LIMIT $3
) latest ORDER BY coalesce(sent_at, first_seen_at), message_id`, source, conversationID, limit)
	if err != nil {
		return c, nil, fmt.Errorf("messages of %s %s: %w", source, conversationID, err)
	}
	msgs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Message, error) {
		var m Message
		var media, errJSON []byte
		var sent, status, delivered, read, played, failed, edited, deleted, first *time.Time
		err := row.Scan(&m.MessageID, &m.Direction, &m.Type, &m.Text, &media, &m.ReplyTo, &m.Contact, &m.ContactName,
			&m.Status, &sent, &status, &delivered, &read, &played, &failed, &errJSON, &edited, &deleted, &first)
		m.Media, m.Error = media, errJSON
		m.SentAt, m.StatusAt, m.DeliveredAt, m.ReadAt = orZero(sent), orZero(status), orZero(delivered), orZero(read)
		m.PlayedAt, m.FailedAt, m.EditedAt, m.DeletedAt = orZero(played), orZero(failed), orZero(edited), orZero(deleted)
		m.FirstSeenAt = orZero(first)
		return m, err
	})
	if err != nil {
		return c, nil, fmt.Errorf("messages of %s %s: %w", source, conversationID, err)
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Direction == "in" {
			c.Contact, c.ContactName = msgs[i].Contact, msgs[i].ContactName
			break
		}
	}
	return c, msgs, nil
}

func orZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
