package storage

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// DeadLetter is a queued message the worker gave up on.
type DeadLetter struct {
	Stream       string              // JetStream stream
	Sequence     uint64              // stream sequence number
	Subject      string              // NATS subject
	Source       string              // configured source name, if known
	Headers      map[string][]string // NATS headers
	Body         []byte              // message data, byte for byte
	Reason       string              // why the worker gave up
	NumDelivered uint64              // JetStream deliveries so far
	// Redrive names the dead letter this message is a redrive of, if it is
	// one: that row then records that the redrive failed again, and where
	// it went.
	Redrive Redrive
}

// Redrive names one attempt to send a dead letter back through the workers.
type Redrive struct {
	DeadLetterID int64 // the dead letter redriven
	Attempt      int   // its redrive_count when it was sent
}

// deadLetterSQL stores a dead letter and, when it is a redrive's ($9, $10),
// marks the redriven row dead-lettered again, pointing at the new one, as
// long as no later redrive of it has begun.
const deadLetterSQL = `
WITH ins AS (
	INSERT INTO dead_letters (stream, stream_seq, subject, source, headers, body, reason, num_delivered)
	VALUES ($1, $2, $3, NULLIF($4, ''), $5::jsonb, coalesce($6::bytea, ''), $7, $8)
	ON CONFLICT (stream, stream_seq) DO NOTHING
	RETURNING id
)
UPDATE dead_letters SET redrive_outcome = 'dead_lettered', redrive_dead_letter_id = ins.id, redrive_settled_at = now()
FROM ins WHERE dead_letters.id = $9 AND dead_letters.redrive_count = $10`

// SaveDeadLetters stores dead letters in one transaction and one round trip.
// A message already dead-lettered keeps its first row. Text that PostgreSQL
// cannot hold (NUL bytes, invalid UTF-8) is cleaned rather than refused, so
// that a dead letter never fails for its content; the body is kept as is.
func (s *Store) SaveDeadLetters(ctx context.Context, letters []DeadLetter) error {
	if len(letters) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, l := range letters {
		b.Queue(deadLetterSQL, l.Stream, l.Sequence, pgText(l.Subject), IndexKey(l.Source),
			headersJSON(l.Headers), l.Body, pgText(l.Reason), l.NumDelivered, l.Redrive.DeadLetterID, l.Redrive.Attempt)
	}
	if err := s.sendBatch(ctx, b); err != nil {
		return fmt.Errorf("save dead letters: %w", err)
	}
	return nil
}
