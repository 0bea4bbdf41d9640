package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// ErrNotFound reports a row that does not exist.
var ErrNotFound = errors.New("not found")

// Redrive outcomes, as dead_letters.redrive_outcome holds them.
const (
	RedrivePending      = "pending"       // sent back; no worker has reported yet
	RedriveUnpublished  = "unpublished"   // could not be sent back
	RedriveStored       = "stored"        // a worker stored it
	RedriveDuplicate    = "duplicate"     // a worker found it stored already
	RedriveDeadLettered = "dead_lettered" // it failed again: see the new dead letter
)

// StoredDeadLetter is a dead letter as the table holds it, with what became
// of its last redrive.
type StoredDeadLetter struct {
	ID        int64
	CreatedAt time.Time
	DeadLetter
	// BodyBytes is the body's length; lists leave Body empty.
	BodyBytes int
	// RedriveCount is how many times it was sent back.
	RedriveCount int
	// RedrivenAt is when it was last sent back; zero if never.
	RedrivenAt time.Time
	// Outcome is that redrive's outcome, one of the Redrive… constants; empty
	// if never redriven.
	Outcome string
	// SettledAt is when a worker reported the outcome; zero until then.
	SettledAt time.Time
	// DeliveryID is the delivery the redrive stored or found, if any.
	DeliveryID int64
	// NextDeadLetterID is the dead letter the redrive became, if it failed again.
	NextDeadLetterID int64
	// RedriveError is why the redrive could not be sent back, if it could not.
	RedriveError string
}

// DeadLetterFilter selects dead letters. Zero fields select everything.
type DeadLetterFilter struct {
	Source string    // only this source's
	Reason string    // only those whose reason contains this text, ignoring case
	Since  time.Time // only those dead-lettered at or after this time
	// Open selects only those not yet sent back, or whose redrive could not
	// be published: what "redrive --all" picks.
	Open bool
	// AfterID pages: only ids above it. Results come in id order.
	AfterID int64
	// Limit caps the result. Defaults to 100.
	Limit int
}

const deadLetterColumns = `id, created_at, stream, stream_seq, subject, coalesce(source, ''), headers, reason,
	num_delivered, length(body), redrive_count, redriven_at, coalesce(redrive_outcome, ''), redrive_settled_at,
	coalesce(redrive_delivery_id, 0), coalesce(redrive_dead_letter_id, 0), coalesce(redrive_error, '')`

const deadLettersSQL = `SELECT ` + deadLetterColumns + ` FROM dead_letters
WHERE id > $1
	AND ($2 = '' OR source = $2)
	AND ($3 = '' OR strpos(lower(reason), lower($3)) > 0)
	AND ($4::timestamptz IS NULL OR created_at >= $4)
	AND (NOT $5 OR redrive_outcome IS NULL OR redrive_outcome = 'unpublished')
ORDER BY id LIMIT $6`

// DeadLetters lists the dead letters f selects, without their bodies.
func (s *Store) DeadLetters(ctx context.Context, f DeadLetterFilter) ([]StoredDeadLetter, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	since := pgtype.Timestamptz{Time: f.Since, Valid: !f.Since.IsZero()}
	rows, err := s.pool.Query(ctx, deadLettersSQL, f.AfterID, f.Source, f.Reason, since, f.Open, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	letters, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (StoredDeadLetter, error) {
		return scanDeadLetter(row, false)
	})
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return letters, nil
}

// DeadLetter returns the dead letter id with its body, or ErrNotFound.
func (s *Store) DeadLetter(ctx context.Context, id int64) (StoredDeadLetter, error) {
	row := s.pool.QueryRow(ctx, `SELECT `+deadLetterColumns+`, body FROM dead_letters WHERE id = $1`, id)
	l, err := scanDeadLetter(row, true)
	if errors.Is(err, pgx.ErrNoRows) {
		return StoredDeadLetter{}, fmt.Errorf("dead letter %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return StoredDeadLetter{}, fmt.Errorf("dead letter %d: %w", id, err)
	}
	return l, nil
}

// scanDeadLetter scans deadLetterColumns, followed by the body when
// withBody is set.
func scanDeadLetter(row pgx.Row, withBody bool) (StoredDeadLetter, error) {
	var (
		l                 StoredDeadLetter
		headers           []byte
		redriven, settled pgtype.Timestamptz
		seq, delivered    int64
	)
	dest := []any{&l.ID, &l.CreatedAt, &l.Stream, &seq, &l.Subject, &l.Source, &headers, &l.Reason,
		&delivered, &l.BodyBytes, &l.RedriveCount, &redriven, &l.Outcome, &settled,
		&l.DeliveryID, &l.NextDeadLetterID, &l.RedriveError}
	if withBody {
		dest = append(dest, &l.Body)
	}
	if err := row.Scan(dest...); err != nil {
		return StoredDeadLetter{}, err
	}
	l.Sequence, l.NumDelivered = uint64(seq), uint64(delivered)
	l.RedrivenAt, l.SettledAt = redriven.Time, settled.Time
	if err := json.Unmarshal(headers, &l.Headers); err != nil {
		return StoredDeadLetter{}, fmt.Errorf("headers: %w", err)
	}
	return l, nil
}

// BeginRedrive records that the dead letter id is being sent back: its
// redrive count goes up and its outcome becomes pending. It returns the row
// as it now stands (with its body), whose RedriveCount is this attempt's
// number, or ErrNotFound.
func (s *Store) BeginRedrive(ctx context.Context, id int64) (StoredDeadLetter, error) {
	tag, err := s.pool.Exec(ctx, `
UPDATE dead_letters SET redrive_count = redrive_count + 1, redriven_at = now(), redrive_outcome = 'pending',
	redrive_settled_at = NULL, redrive_delivery_id = NULL, redrive_dead_letter_id = NULL, redrive_error = NULL
WHERE id = $1`, id)
	if err != nil {
		return StoredDeadLetter{}, fmt.Errorf("redrive dead letter %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return StoredDeadLetter{}, fmt.Errorf("dead letter %d: %w", id, ErrNotFound)
	}
	return s.DeadLetter(ctx, id)
}

// RedriveUnpublished records that attempt r could not be sent back, and why.
func (s *Store) RedriveUnpublished(ctx context.Context, r Redrive, cause string) error {
	_, err := s.pool.Exec(ctx, `
UPDATE dead_letters SET redrive_outcome = 'unpublished', redrive_error = $3, redrive_settled_at = now()
WHERE id = $1 AND redrive_count = $2`, r.DeadLetterID, r.Attempt, pgText(cause))
	if err != nil {
		return fmt.Errorf("dead letter %d: record unpublished redrive: %w", r.DeadLetterID, err)
	}
	return nil
}

// RedriveSettled is a redrive a worker stored: a delivery (Source and
// DedupeKey set) or a flow exchange record.
type RedriveSettled struct {
	Redrive
	Source    string // the delivery's source, if it was a delivery
	DedupeKey string // the delivery's dedupe key, if it was a delivery
}

// settleSQL records a stored redrive's outcome: for a delivery, stored if
// the delivery row was written after the redrive began, else duplicate.
// Only the latest attempt of a dead letter settles it.
const settleSQL = `
UPDATE dead_letters dl SET
	redrive_outcome = CASE WHEN d.id IS NULL OR d.stored_at >= dl.redriven_at THEN 'stored' ELSE 'duplicate' END,
	redrive_delivery_id = d.id, redrive_settled_at = now()
FROM (SELECT $1::bigint AS id) AS want
LEFT JOIN deliveries d ON $3 <> '' AND d.source = $3 AND d.dedupe_key = $4
WHERE dl.id = want.id AND dl.redrive_count = $2`

// SettleRedrives records the outcome of redrives the workers stored, in one
// transaction and one round trip.
func (s *Store) SettleRedrives(ctx context.Context, settled []RedriveSettled) error {
	if len(settled) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, r := range settled {
		b.Queue(settleSQL, r.DeadLetterID, r.Attempt, r.Source, r.DedupeKey)
	}
	if err := s.sendBatch(ctx, b); err != nil {
		return fmt.Errorf("settle %d redrives: %w", len(settled), err)
	}
	return nil
}
