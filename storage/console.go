package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hooklane/hooklane"
)

// The read side of the console: each query returns plain structs, reads
// through an index, and pages by keyset rather than by offset, so a page
// costs the same on the millionth row as on the first.

// MinuteCount is how many deliveries of one source had one outcome in one
// minute.
type MinuteCount struct {
	Minute  time.Time // start of the minute, UTC
	Source  string
	Outcome string // stored or dead_lettered
	Count   int64
}

// DeliveriesPerMinute counts the deliveries received since since, by minute,
// source and outcome: stored (in deliveries) or dead-lettered.
func (s *Store) DeliveriesPerMinute(ctx context.Context, since time.Time) ([]MinuteCount, error) {
	rows, err := s.pool.Query(ctx, `
SELECT date_trunc('minute', received_at), source, 'stored', count(*)
FROM deliveries WHERE received_at >= $1 GROUP BY 1, 2
UNION ALL
SELECT date_trunc('minute', created_at), coalesce(source, ''), 'dead_lettered', count(*)
FROM dead_letters WHERE created_at >= $1 GROUP BY 1, 2
ORDER BY 1, 2, 3`, since)
	if err != nil {
		return nil, fmt.Errorf("deliveries per minute: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (MinuteCount, error) {
		var m MinuteCount
		err := row.Scan(&m.Minute, &m.Source, &m.Outcome, &m.Count)
		m.Minute = m.Minute.UTC()
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("deliveries per minute: %w", err)
	}
	return out, nil
}

// OutcomeStats summarises the flow exchanges of one outcome, or of one flow
// and outcome.
type OutcomeStats struct {
	Source  string // empty when grouped by outcome only
	FlowID  string // empty when grouped by outcome only, or when the flow is unknown
	Outcome string
	Count   int64
	P50     float64 // latency, milliseconds
	P99     float64
}

// FlowOutcomes summarises the flow exchanges received since since by outcome
// or, with byFlow, by source, flow and outcome.
func (s *Store) FlowOutcomes(ctx context.Context, since time.Time, byFlow bool) ([]OutcomeStats, error) {
	keys := "'', '', outcome"
	if byFlow {
		keys = "source, coalesce(flow_id, ''), outcome"
	}
	rows, err := s.pool.Query(ctx, `
SELECT `+keys+`, count(*),
	percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms),
	percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms)
FROM flow_exchanges WHERE created_at >= $1
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, since)
	if err != nil {
		return nil, fmt.Errorf("flow outcomes: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (OutcomeStats, error) {
		var o OutcomeStats
		return o, row.Scan(&o.Source, &o.FlowID, &o.Outcome, &o.Count, &o.P50, &o.P99)
	})
	if err != nil {
		return nil, fmt.Errorf("flow outcomes: %w", err)
	}
	return out, nil
}

// LatencyBucket counts exchanges whose latency fell in [From, To)
// milliseconds; the last bucket of a histogram has no upper bound (To 0).
type LatencyBucket struct {
	From, To float64
	Count    int64
}

// FlowLatencies is a histogram of the latency of one source's exchanges
// (of one flow, when flowID is set) received since since: buckets equal
// parts of budget, then one of everything over it.
func (s *Store) FlowLatencies(ctx context.Context, source, flowID string, since time.Time, budget time.Duration, buckets int) ([]LatencyBucket, error) {
	if buckets < 1 || budget <= 0 {
		return nil, fmt.Errorf("flow latencies: %d buckets of a %s budget", buckets, budget)
	}
	budgetMS := float64(budget) / float64(time.Millisecond)
	where, args := "source = $1 AND created_at >= $2", []any{source, since, budgetMS, buckets}
	if flowID != "" {
		where += " AND flow_id = $5"
		args = append(args, flowID)
	}
	rows, err := s.pool.Query(ctx, `
SELECT least(width_bucket(latency_ms, 0, $3, $4), $4 + 1), count(*)
FROM flow_exchanges WHERE `+where+` GROUP BY 1`, args...)
	if err != nil {
		return nil, fmt.Errorf("flow latencies: %w", err)
	}
	counts := make([]int64, buckets+2)
	var b, n int64
	_, err = pgx.ForEachRow(rows, []any{&b, &n}, func() error {
		counts[max(b, 1)] += n // width_bucket gives 0 below 0 ms, which cannot happen
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("flow latencies: %w", err)
	}
	width := budgetMS / float64(buckets)
	out := make([]LatencyBucket, buckets+1)
	for i := range out {
		out[i] = LatencyBucket{From: float64(i) * width, To: float64(i+1) * width, Count: counts[i+1]}
	}
	out[buckets].To = 0
	return out, nil
}

// ExchangeFilter selects flow exchanges, newest first.
type ExchangeFilter struct {
	Source  string
	FlowID  string
	Outcome string
	// Before is the keyset cursor: only exchanges listed after it. Zero
	// starts at the newest.
	Before ExchangeCursor
	// Limit is the most exchanges returned. Defaults to 50.
	Limit int
}

// ExchangeCursor is the position of an exchange in the newest-first order.
type ExchangeCursor struct {
	At time.Time
	ID string
}

const exchangeColumns = `id, source, coalesce(flow_id, ''), coalesce(flow_token, ''), coalesce(action, ''),
	coalesce(screen, ''), coalesce(request_id, ''), request_data, answer, outcome, latency_ms, created_at`

func scanExchange(row pgx.Row) (hooklane.FlowExchange, error) {
	var x hooklane.FlowExchange
	var req, ans []byte
	err := row.Scan(&x.ID, &x.Source, &x.FlowID, &x.FlowToken, &x.Action, &x.Screen, &x.RequestID,
		&req, &ans, &x.Outcome, &x.LatencyMS, &x.At)
	x.RequestData, x.Answer = req, ans
	return x, err
}

// FlowExchanges lists the exchanges f selects, newest first, and the
// cursor of the next page, zero when there is none.
func (s *Store) FlowExchanges(ctx context.Context, f ExchangeFilter) ([]hooklane.FlowExchange, ExchangeCursor, error) {
	var w where
	w.eq("source", f.Source)
	w.eq("flow_id", f.FlowID)
	w.eq("outcome", f.Outcome)
	if !f.Before.At.IsZero() {
		w.add("(created_at, id) < ($%d, $%d)", f.Before.At, f.Before.ID)
	}
	limit := limitOr(f.Limit)
	rows, err := s.pool.Query(ctx, `SELECT `+exchangeColumns+` FROM flow_exchanges`+w.sql()+
		` ORDER BY created_at DESC, id DESC LIMIT `+strconv.Itoa(limit+1), w.args...)
	if err != nil {
		return nil, ExchangeCursor{}, fmt.Errorf("flow exchanges: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (hooklane.FlowExchange, error) { return scanExchange(row) })
	if err != nil {
		return nil, ExchangeCursor{}, fmt.Errorf("flow exchanges: %w", err)
	}
	if len(out) <= limit {
		return out, ExchangeCursor{}, nil
	}
	last := out[limit-1]
	return out[:limit], ExchangeCursor{At: last.At, ID: last.ID}, nil
}

// FlowExchange returns one exchange, or ErrNotFound.
func (s *Store) FlowExchange(ctx context.Context, id string) (hooklane.FlowExchange, error) {
	x, err := scanExchange(s.pool.QueryRow(ctx, `SELECT `+exchangeColumns+` FROM flow_exchanges WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return x, fmt.Errorf("flow exchange %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return x, fmt.Errorf("flow exchange %s: %w", id, err)
	}
	return x, nil
}

// EventFilter selects events, newest first. Empty fields select all.
type EventFilter struct {
	Source       string
	Type         string
	Contact      string // events.phone
	Conversation string
	From, Until  time.Time // received at, From inclusive, Until exclusive
	// Contains is a JSON object the payload must contain (jsonb @>).
	Contains json.RawMessage
	// BeforeID is the keyset cursor: only events with a smaller id.
	BeforeID int64
	// Limit is the most events returned. Defaults to 50.
	Limit int
}

// StoredEvent is an event as stored.
type StoredEvent struct {
	ID             int64
	DeliveryID     int64
	Source         string
	Provider       string
	Type           string
	Key            string
	Account        string
	ResourceType   string
	ResourceID     string
	ConversationID string
	Phone          string
	OccurredAt     time.Time // zero when the provider gave none
	ReceivedAt     time.Time
	Payload        json.RawMessage
}

const eventColumns = `id, delivery_id, source, provider, event_type, event_key, coalesce(account, ''),
	coalesce(resource_type, ''), coalesce(resource_id, ''), coalesce(conversation_id, ''), coalesce(phone, ''),
	occurred_at, received_at, payload`

func scanEvent(row pgx.Row) (StoredEvent, error) {
	var e StoredEvent
	var occurred *time.Time
	var payload []byte
	err := row.Scan(&e.ID, &e.DeliveryID, &e.Source, &e.Provider, &e.Type, &e.Key, &e.Account,
		&e.ResourceType, &e.ResourceID, &e.ConversationID, &e.Phone, &occurred, &e.ReceivedAt, &payload)
	if occurred != nil {
		e.OccurredAt = *occurred
	}
	e.Payload = payload
	return e, err
}

// SearchEvents lists the events f selects, newest (highest id) first, and
// the cursor of the next page, 0 when there is none. Each filter is an
// equality or a range on an indexed column, or containment served by the
// payload's GIN index.
func (s *Store) SearchEvents(ctx context.Context, f EventFilter) ([]StoredEvent, int64, error) {
	var w where
	w.eq("source", f.Source)
	w.eq("event_type", f.Type)
	w.eq("phone", f.Contact)
	w.eq("conversation_id", f.Conversation)
	if !f.From.IsZero() {
		w.add("received_at >= $%d", f.From)
	}
	if !f.Until.IsZero() {
		w.add("received_at < $%d", f.Until)
	}
	if len(f.Contains) > 0 {
		w.add("payload @> $%d::jsonb", string(f.Contains))
	}
	if f.BeforeID > 0 {
		w.add("id < $%d", f.BeforeID)
	}
	limit := limitOr(f.Limit)
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM events`+w.sql()+
		` ORDER BY id DESC LIMIT `+strconv.Itoa(limit+1), w.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("search events: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (StoredEvent, error) { return scanEvent(row) })
	if err != nil {
		return nil, 0, fmt.Errorf("search events: %w", err)
	}
	if len(out) <= limit {
		return out, 0, nil
	}
	return out[:limit], out[limit-1].ID, nil
}

// EventWithDelivery returns one event and the delivery that carried it, or
// ErrNotFound.
func (s *Store) EventWithDelivery(ctx context.Context, id int64) (StoredEvent, StoredDelivery, error) {
	e, err := scanEvent(s.pool.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, StoredDelivery{}, fmt.Errorf("event %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return e, StoredDelivery{}, fmt.Errorf("event %d: %w", id, err)
	}
	var d StoredDelivery
	err = s.pool.QueryRow(ctx, `
SELECT id, source, provider, event_type, dedupe_key, coalesce(request_id, ''), headers, body, received_at
FROM deliveries WHERE id = $1`, e.DeliveryID).Scan(&d.ID, &d.Source, &d.Provider, &d.EventType, &d.DedupeKey,
		&d.RequestID, &d.Headers, &d.Body, &d.ReceivedAt)
	if err != nil {
		return e, d, fmt.Errorf("delivery %d of event %d: %w", e.DeliveryID, id, err)
	}
	return e, d, nil
}

// CountOpenDeadLetters counts the dead letters waiting: never sent back,
// or whose redrive could not be published (DeadLetterFilter.Open).
func (s *Store) CountOpenDeadLetters(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters
WHERE redrive_outcome IS NULL OR redrive_outcome = 'unpublished'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count dead letters: %w", err)
	}
	return n, nil
}

// where builds a WHERE clause of the conditions given, with numbered
// parameters, so that a query holds only the conditions it needs and its
// plan uses the indexes those allow.
type where struct {
	conds []string
	args  []any
}

// add appends a condition whose placeholders are %d verbs, one per arg.
func (w *where) add(cond string, args ...any) {
	nums := make([]any, len(args))
	for i := range args {
		nums[i] = len(w.args) + i + 1
	}
	w.conds = append(w.conds, fmt.Sprintf(cond, nums...))
	w.args = append(w.args, args...)
}

// eq appends column = value unless value is empty.
func (w *where) eq(column, value string) {
	if value != "" {
		w.add(column+" = $%d", value)
	}
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

func limitOr(n int) int {
	if n <= 0 {
		return 50
	}
	return min(n, 500)
}
