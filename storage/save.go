package storage

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hooklane/hooklane/internal/delivery"
	"github.com/hooklane/hooklane/internal/provider"
)

// Record is one delivery and the events it carries, stored together.
type Record struct {
	Delivery delivery.Delivery
	Events   []provider.Event
}

// SaveResult counts what Save stored.
type SaveResult struct {
	Deliveries int // deliveries inserted
	Duplicates int // deliveries already stored, whose events were skipped
	Events     int // events inserted
}

// saveSQL stores one record: the delivery, then its events only if the
// delivery is new, skipping events already stored from another delivery. The
// row counts both. A nil body is an empty one, not NULL.
const saveSQL = `
WITH d AS (
	INSERT INTO deliveries (source, provider, event_type, dedupe_key, request_id, headers, body, received_at)
	VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6::jsonb, coalesce($7::bytea, ''), $8)
	ON CONFLICT (source, dedupe_key) DO NOTHING
	RETURNING id
), e AS (
	INSERT INTO events (delivery_id, source, provider, event_type, event_key, account, resource_type,
		resource_id, conversation_id, phone, occurred_at, received_at, payload)
	SELECT d.id, $1, $2, ev.type, ev.key, NULLIF(ev.account, ''), NULLIF(ev.resource_type, ''),
		NULLIF(ev.resource_id, ''), NULLIF(ev.conversation_id, ''), NULLIF(ev.phone, ''),
		ev.occurred_at, $8, ev.payload::jsonb
	FROM d, unnest($9::text[], $10::text[], $11::timestamptz[], $12::text[], $13::text[],
		$14::text[], $15::text[], $16::text[], $17::text[])
		AS ev(type, key, occurred_at, account, resource_type, resource_id, conversation_id, phone, payload)
	ON CONFLICT (source, event_key) DO NOTHING
	RETURNING 1
)
SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM e)`

// Save stores records in one transaction and one round trip, and returns once
// it committed; on error it stores nothing. A delivery already stored, earlier
// or in the same batch, counts as a duplicate and its events are skipped: they
// were committed with it. An event already stored from another delivery of the
// same source is skipped too.
func (s *Store) Save(ctx context.Context, records []Record) (SaveResult, error) {
	if len(records) == 0 {
		return SaveResult{}, nil
	}
	// Inserting in one order makes deadlocks between workers that save
	// overlapping batches unlikely.
	sorted := make([]*Record, len(records))
	for i := range records {
		sorted[i] = &records[i]
	}
	slices.SortFunc(sorted, func(a, b *Record) int {
		return cmp.Or(
			strings.Compare(a.Delivery.Source, b.Delivery.Source),
			strings.Compare(a.Delivery.DedupeKey, b.Delivery.DedupeKey),
		)
	})

	b := &pgx.Batch{}
	for _, r := range sorted {
		b.Queue(saveSQL, saveArgs(r)...)
	}
	br := s.pool.SendBatch(ctx, b) // one implicit transaction, see sendBatch
	defer br.Close()

	var res SaveResult
	for _, r := range sorted {
		var deliveries, events int
		if err := br.QueryRow().Scan(&deliveries, &events); err != nil {
			return SaveResult{}, fmt.Errorf("save delivery %s %s: %w", r.Delivery.Source, r.Delivery.DedupeKey, err)
		}
		res.Deliveries += deliveries
		res.Duplicates += 1 - deliveries
		res.Events += events
	}
	if err := br.Close(); err != nil {
		return SaveResult{}, fmt.Errorf("save deliveries: %w", err)
	}
	return res, nil
}

// saveArgs returns the arguments of saveSQL for r.
func saveArgs(r *Record) []any {
	d := &r.Delivery
	n := len(r.Events)
	var (
		types         = make([]string, n)
		keys          = make([]string, n)
		occurred      = make([]pgtype.Timestamptz, n)
		accounts      = make([]string, n)
		resourceTypes = make([]string, n)
		resourceIDs   = make([]string, n)
		conversations = make([]string, n)
		phones        = make([]string, n)
		payloads      = make([]string, n)
	)
	for i, e := range r.Events {
		types[i] = e.Type
		keys[i] = e.Key
		occurred[i] = pgtype.Timestamptz{Time: e.OccurredAt, Valid: !e.OccurredAt.IsZero()}
		accounts[i] = e.Account
		resourceTypes[i] = e.ResourceType
		resourceIDs[i] = e.ResourceID
		conversations[i] = e.ConversationID
		phones[i] = e.Phone
		payloads[i] = string(e.Payload)
	}
	return []any{
		d.Source, d.Provider, d.EventType, d.DedupeKey, d.RequestID, headersJSON(d.Headers), d.Body, d.ReceivedAt,
		types, keys, occurred, accounts, resourceTypes, resourceIDs, conversations, phones, payloads,
	}
}
