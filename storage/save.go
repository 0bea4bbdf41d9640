package storage

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/excerpt"
)

// Record is one delivery and the events it carries, stored together.
type Record struct {
	Delivery hooklane.Delivery
	Events   []hooklane.Event
}

// SaveResult counts what Save stored.
type SaveResult struct {
	Deliveries int // deliveries inserted
	Duplicates int // deliveries already stored, whose events were skipped
	Events     int // events inserted
	// Model counts the model rows the new events wrote; empty when the
	// model is off or the events had no facts.
	Model ModelResult
}

// saveSQL stores a batch of records in one statement: each delivery once per
// (source, dedupe key), then the events of the deliveries that were new,
// skipping events already stored. Rows go in in key order, so that workers
// saving overlapping batches take their locks in one order (within each
// statement; a batch split by size takes several), and an event two new
// deliveries carry is stored with the first of them by dedupe key. A
// NULL body is an empty one. The row counts deliveries and events inserted.
const saveSQL = `
WITH input AS (
	SELECT DISTINCT ON (source, dedupe_key) *
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::timestamptz[])
		WITH ORDINALITY AS i(source, provider, event_type, dedupe_key, request_id, headers, body, received_at, n)
	ORDER BY source, dedupe_key, n
), d AS (
	INSERT INTO deliveries (source, provider, event_type, dedupe_key, request_id, headers, body, received_at)
	SELECT source, provider, event_type, dedupe_key, NULLIF(request_id, ''), headers::jsonb, coalesce(body, ''), received_at
	FROM input
	ORDER BY source, dedupe_key
	ON CONFLICT (source, dedupe_key) DO NOTHING
	RETURNING id, source, dedupe_key
), e AS (
	INSERT INTO events (delivery_id, source, provider, event_type, event_key, account, resource_type,
		resource_id, conversation_id, phone, occurred_at, received_at, payload, sanitised)
	SELECT d.id, i.source, i.provider, ev.type, ev.key, NULLIF(ev.account, ''), NULLIF(ev.resource_type, ''),
		NULLIF(ev.resource_id, ''), NULLIF(ev.conversation_id, ''), NULLIF(ev.phone, ''),
		ev.occurred_at, i.received_at, ev.payload::jsonb, ev.sanitised
	FROM unnest($9::bigint[], $10::text[], $11::text[], $12::timestamptz[], $13::text[], $14::text[],
		$15::text[], $16::text[], $17::text[], $18::text[], $19::bool[])
		AS ev(n, type, key, occurred_at, account, resource_type, resource_id, conversation_id, phone, payload, sanitised)
	JOIN input i ON i.n = ev.n
	JOIN d ON d.source = i.source AND d.dedupe_key = i.dedupe_key
	ORDER BY i.source, ev.key, i.dedupe_key
	ON CONFLICT (source, event_key) DO NOTHING
	RETURNING delivery_id, event_key
)
SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM e)`

// saveNewSQL is saveSQL that also returns the events it inserted, each as
// its record's ordinal and its key, for the model. The ordinals come from
// ids, input without its bodies: a scan of input copies each row, body and
// all, and the join may scan it once an event (a delivery of 10,000
// statuses and 4 MB took 10 s an array).
var saveNewSQL = strings.TrimSuffix(saveSQL, "SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM e)") + `, ids AS MATERIALIZED (
	SELECT source, dedupe_key, n FROM input
), new AS (
	SELECT array_agg(ids.n) AS ordinals, array_agg(e.event_key) AS keys
	FROM e JOIN d ON d.id = e.delivery_id JOIN ids ON ids.source = d.source AND ids.dedupe_key = d.dedupe_key
)
SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM e), coalesce(ordinals, '{}'), coalesce(keys, '{}') FROM new`

// continueSQL stores more events of a delivery that the same transaction
// inserted (its row's xmin is the transaction's id), for a delivery with more
// events than one statement carries. A delivery stored before gets none:
// its events were committed with it.
const continueSQL = `
WITH e AS (
	INSERT INTO events (delivery_id, source, provider, event_type, event_key, account, resource_type,
		resource_id, conversation_id, phone, occurred_at, received_at, payload, sanitised)
	SELECT d.id, d.source, d.provider, ev.type, ev.key, NULLIF(ev.account, ''), NULLIF(ev.resource_type, ''),
		NULLIF(ev.resource_id, ''), NULLIF(ev.conversation_id, ''), NULLIF(ev.phone, ''),
		ev.occurred_at, d.received_at, ev.payload::jsonb, ev.sanitised
	FROM unnest($3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[],
		$8::text[], $9::text[], $10::text[], $11::text[], $12::bool[])
		AS ev(type, key, occurred_at, account, resource_type, resource_id, conversation_id, phone, payload, sanitised)
	JOIN deliveries d ON d.source = $1 AND d.dedupe_key = $2 AND d.xmin = pg_current_xact_id()::xid
	ORDER BY ev.key
	ON CONFLICT (source, event_key) DO NOTHING
	RETURNING event_key
)
SELECT 0, (SELECT count(*) FROM e)`

// continueNewSQL is continueSQL that also returns the events it inserted,
// as saveNewSQL does (the ordinal is always 1: one record), for the model.
var continueNewSQL = strings.TrimSuffix(continueSQL, "SELECT 0, (SELECT count(*) FROM e)") + `
SELECT 0, (SELECT count(*) FROM e), coalesce((SELECT array_agg(1) FROM e), '{}'),
	coalesce((SELECT array_agg(e.event_key) FROM e), '{}')`

// One statement carries at most maxStatementBytes of bodies and payloads,
// far below PostgreSQL's limit of 1 GB a message, and at most
// maxStatementEvents events: a statement's arguments are encoded whole, so
// these bound the memory a write takes, whatever the batch holds.
const (
	maxStatementBytes  = 32 << 20
	maxStatementEvents = 10_000
)

// statement is one part of a Save: records for saveSQL (the last one's
// events possibly cut short), or more events of one record for continueSQL.
type statement struct {
	records []Record
	more    *Record
}

func (st statement) args() []any {
	if st.more != nil {
		return append([]any{IndexKey(st.more.Delivery.Source), IndexKey(st.more.Delivery.DedupeKey)}, eventArgs(st.more.Events)...)
	}
	return saveArgs(st.records)
}

// plan splits records into statements within maxStatementBytes and
// maxStatementEvents.
func plan(records []Record) []statement {
	var out []statement
	var cur []Record
	size, events := 0, 0
	for _, r := range records {
		rb := recordBytes(&r)
		if len(cur) > 0 && (size+rb > maxStatementBytes || events+len(r.Events) > maxStatementEvents) {
			out = append(out, statement{records: cur})
			cur, size, events = nil, 0, 0
		}
		if len(r.Events) <= maxStatementEvents-events {
			cur = append(cur, r)
			size, events = size+rb, events+len(r.Events)
			continue
		}
		// More events than a statement carries: the first go with the
		// delivery, the rest follow in statements of their own.
		first := r
		first.Events = r.Events[:maxStatementEvents-events]
		out = append(out, statement{records: append(cur, first)})
		for rest := r.Events[len(first.Events):]; len(rest) > 0; {
			more := r
			more.Events = rest[:min(len(rest), maxStatementEvents)]
			out = append(out, statement{more: &more})
			rest = rest[len(more.Events):]
		}
		cur, size, events = nil, 0, 0
	}
	if len(cur) > 0 {
		out = append(out, statement{records: cur})
	}
	return out
}

// Save stores records in one transaction, and returns once it committed; on
// error it stores nothing. Every text column is stored through IndexKey, so
// an oversized or invalid value is kept in a bounded, still unique form
// (whole in the body and payload); an event's payload that jsonb refuses is
// stored with the refused parts replaced and the event marked sanitised (see
// storableJSON), so one bad character costs no event. A delivery already
// stored, earlier or in the same batch, counts as a duplicate and its events
// are skipped: they were committed with it. An event already stored from
// another delivery of the same source is skipped too.
//
// A batch is one statement and one round trip, not one a record:
// PostgreSQL then plans and runs the inserts once, which takes a fraction of
// its time per record (BenchmarkSave). A batch past maxStatementBytes or
// maxStatementEvents takes several statements, written one after another in
// one transaction, so that only one statement's arguments are in memory at a
// time; when the events carry facts for the model, the statements go in the
// one pipeline of saveWithModel instead, each within those bounds.
func (s *Store) Save(ctx context.Context, records []Record) (SaveResult, error) {
	stmts := plan(records)
	if len(stmts) == 0 {
		return SaveResult{}, nil
	}
	if !s.skipModel && hasFacts(records) {
		return s.saveWithModel(ctx, records, stmts)
	}
	res := SaveResult{Duplicates: len(records)}
	add := func(deliveries, events int) {
		res.Deliveries += deliveries
		res.Duplicates -= deliveries
		res.Events += events
	}
	if len(stmts) == 1 {
		var deliveries, events int
		// One statement, with no BEGIN: PostgreSQL commits it alone.
		if err := s.pool.QueryRow(ctx, saveSQL, stmts[0].args()...).Scan(&deliveries, &events); err != nil {
			return SaveResult{}, fmt.Errorf("save %s: %w", describe(records), err)
		}
		add(deliveries, events)
		return res, nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, st := range stmts {
			sql := saveSQL
			if st.more != nil {
				sql = continueSQL
			}
			var deliveries, events int
			if err := tx.QueryRow(ctx, sql, st.args()...).Scan(&deliveries, &events); err != nil {
				return err
			}
			add(deliveries, events)
		}
		return nil
	})
	if err != nil {
		return SaveResult{}, fmt.Errorf("save %s: %w", describe(records), err)
	}
	return res, nil
}

// hasFacts reports whether any event of records says something to the model.
func hasFacts(records []Record) bool {
	for i := range records {
		for j := range records[i].Events {
			if len(records[i].Events[j].Facts) > 0 {
				return true
			}
		}
	}
	return false
}

// saveWithModel is Save with the model: in one transaction of two round
// trips, the deliveries and events first, returning which events are new,
// then the model rows those new events' facts merge into. A redelivery
// inserts no event, so it changes no model row.
func (s *Store) saveWithModel(ctx context.Context, records []Record, stmts []statement) (SaveResult, error) {
	b := &pgx.Batch{}
	for _, st := range stmts {
		sql := saveNewSQL
		if st.more != nil {
			sql = continueNewSQL
		}
		b.Queue(sql, st.args()...)
	}
	res := SaveResult{Duplicates: len(records)}
	model, err := s.withModel(ctx, b, func(br pgx.BatchResults, mb *modelBatch) error {
		for _, st := range stmts {
			var deliveries, events int
			var ordinals []int64
			var keys []string
			if err := br.QueryRow().Scan(&deliveries, &events, &ordinals, &keys); err != nil {
				return err
			}
			res.Deliveries += deliveries
			res.Duplicates -= deliveries
			res.Events += events
			addStoredOf(mb, ordinals, keys, func(n int64) *Record {
				if st.more != nil {
					return st.more
				}
				return &st.records[n-1]
			})
		}
		return nil
	})
	if err != nil {
		return SaveResult{}, fmt.Errorf("save %s: %w", describe(records), err)
	}
	res.Model = model
	return res, nil
}

// withModel runs b's statements and then the model writes of the events
// they inserted, which read reads from their results into the model batch,
// in one transaction of two round trips.
func (s *Store) withModel(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults, *modelBatch) error) (ModelResult, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return ModelResult{}, err
	}
	// Released inside a transaction, as after an error, the connection is
	// closed, which rolls the transaction back.
	defer conn.Release()

	first := &pgx.Batch{QueuedQueries: append([]*pgx.QueuedQuery{{SQL: "BEGIN"}}, b.QueuedQueries...)}
	mb := newModelBatch()
	err = func() error {
		br := conn.SendBatch(ctx, first)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		if err := read(br, mb); err != nil {
			return err
		}
		return br.Close()
	}()
	if err != nil {
		return ModelResult{}, err
	}

	second := &pgx.Batch{}
	mb.queue(second)
	second.Queue("COMMIT")
	var res ModelResult
	err = func() error {
		br := conn.SendBatch(ctx, second)
		defer br.Close()
		if res, err = mb.read(br); err != nil {
			return err
		}
		if _, err := br.Exec(); err != nil {
			return err
		}
		return br.Close()
	}()
	if err != nil {
		return ModelResult{}, fmt.Errorf("model: %w", err)
	}
	return res, nil
}

// describe names a batch in an error: its delivery when it holds one.
func describe(records []Record) string {
	if len(records) == 1 {
		return "delivery " + records[0].Delivery.Source + " " + excerpt.Quote(records[0].Delivery.DedupeKey)
	}
	return strconv.Itoa(len(records)) + " deliveries"
}

// recordBytes is the size of r's body and event payloads.
func recordBytes(r *Record) int {
	n := len(r.Delivery.Body)
	for _, e := range r.Events {
		n += len(e.Payload)
	}
	return n
}

// saveArgs returns the arguments of saveSQL for records: a column array
// each, the events' arrays linked to their record by its ordinal, from 1.
func saveArgs(records []Record) []any {
	events := 0
	for i := range records {
		events += len(records[i].Events)
	}
	var (
		sources     = make([]string, len(records))
		providers   = make([]string, len(records))
		eventTypes  = make([]string, len(records))
		dedupeKeys  = make([]string, len(records))
		requestIDs  = make([]string, len(records))
		headers     = make([]string, len(records))
		bodies      = make([][]byte, len(records))
		receivedAts = make([]time.Time, len(records))
		ordinals    = make([]int64, 0, events)
		all         = make([]hooklane.Event, 0, events)
	)
	for i := range records {
		d := &records[i].Delivery
		sources[i], providers[i], eventTypes[i], dedupeKeys[i] = IndexKey(d.Source), IndexKey(d.Provider), IndexKey(d.EventType), IndexKey(d.DedupeKey)
		requestIDs[i], headers[i], bodies[i], receivedAts[i] = IndexKey(d.RequestID), headersJSON(d.Headers), d.Body, d.ReceivedAt
		for range records[i].Events {
			ordinals = append(ordinals, int64(i+1))
		}
		all = append(all, records[i].Events...)
	}
	return append([]any{sources, providers, eventTypes, dedupeKeys, requestIDs, headers, bodies, receivedAts, ordinals},
		eventArgs(all)...)
}

// eventArgs returns the events' column arrays, in saveSQL's order from its
// type on (continueSQL's too).
func eventArgs(events []hooklane.Event) []any {
	var (
		types         = make([]string, len(events))
		keys          = make([]string, len(events))
		occurred      = make([]pgtype.Timestamptz, len(events))
		accounts      = make([]string, len(events))
		resourceTypes = make([]string, len(events))
		resourceIDs   = make([]string, len(events))
		conversations = make([]string, len(events))
		phones        = make([]string, len(events))
		payloads      = make([]string, len(events))
		sanitised     = make([]bool, len(events))
	)
	for i, e := range events {
		types[i], keys[i] = IndexKey(e.Type), IndexKey(e.Key)
		occurred[i] = pgtype.Timestamptz{Time: e.OccurredAt, Valid: !e.OccurredAt.IsZero()}
		accounts[i], resourceTypes[i], resourceIDs[i] = IndexKey(e.Account), IndexKey(e.ResourceType), IndexKey(e.ResourceID)
		conversations[i], phones[i] = IndexKey(e.ConversationID), IndexKey(e.Phone)
		payloads[i], sanitised[i] = storableJSON(e.Payload)
	}
	return []any{types, keys, occurred, accounts, resourceTypes, resourceIDs, conversations, phones, payloads, sanitised}
}
