package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hooklane/hooklane"
)

// ReplayJob selects the stored deliveries a replay re-derives: a source's,
// optionally only those received in [Since, Until) and of one event type.
type ReplayJob struct {
	Source    string
	Since     time.Time // zero: from the first
	Until     time.Time // zero: up to the newest when the replay began
	EventType string    // the delivery's event type as the provider names it; empty: all
	// Name identifies the replay in replay_checkpoints: a replay of the
	// same name resumes it, with the times it began with. Name the
	// selection as the operator gave it, so that "--since 36h" given again
	// resumes rather than starts anew. Defaults to the source and filters.
	Name string
}

// Key is the job's name in replay_checkpoints.
func (j ReplayJob) Key() string {
	if j.Name != "" {
		return j.Name
	}
	k := j.Source
	if !j.Since.IsZero() {
		k += " since=" + j.Since.UTC().Format(time.RFC3339Nano)
	}
	if !j.Until.IsZero() {
		k += " until=" + j.Until.UTC().Format(time.RFC3339Nano)
	}
	if j.EventType != "" {
		k += " type=" + j.EventType
	}
	return k
}

// ReplayCheckpoint is how far a replay got.
type ReplayCheckpoint struct {
	Job             ReplayJob
	LastDeliveryID  int64 // the last delivery re-derived
	UntilDeliveryID int64 // the newest delivery when the replay began
	Deliveries      int64 // deliveries re-derived so far
	Events          int64 // missing events stored so far
	Resumed         bool  // an unfinished earlier run is being continued
}

// StartReplay returns the checkpoint of job: the unfinished one of an
// earlier run of its name, to resume with that run's selection, unless
// restart is set; else a new one that ends at the newest delivery stored
// now, so that a replay beside running workers ends too.
func (s *Store) StartReplay(ctx context.Context, job ReplayJob, restart bool) (ReplayCheckpoint, error) {
	cp := ReplayCheckpoint{Job: job}
	if !restart {
		var since, until pgtype.Timestamptz
		var eventType pgtype.Text
		err := s.pool.QueryRow(ctx, `
SELECT since, until, event_type, last_delivery_id, until_delivery_id, deliveries, events FROM replay_checkpoints
WHERE job = $1 AND source = $2 AND finished_at IS NULL`, job.Key(), job.Source).Scan(
			&since, &until, &eventType, &cp.LastDeliveryID, &cp.UntilDeliveryID, &cp.Deliveries, &cp.Events)
		switch {
		case err == nil:
			cp.Resumed = true
			cp.Job.Since, cp.Job.Until, cp.Job.EventType = since.Time, until.Time, eventType.String
			return cp, nil
		case !errors.Is(err, pgx.ErrNoRows):
			return ReplayCheckpoint{}, fmt.Errorf("replay %s: read checkpoint: %w", job.Key(), err)
		}
	}
	err := s.pool.QueryRow(ctx, `
INSERT INTO replay_checkpoints (job, source, since, until, event_type, until_delivery_id)
SELECT $1, $2, $3, $4, NULLIF($5, ''), coalesce(max(id), 0) FROM deliveries
ON CONFLICT (job) DO UPDATE SET source = EXCLUDED.source, since = EXCLUDED.since, until = EXCLUDED.until,
	event_type = EXCLUDED.event_type, last_delivery_id = 0, until_delivery_id = EXCLUDED.until_delivery_id,
	deliveries = 0, events = 0, started_at = now(), updated_at = now(), finished_at = NULL
RETURNING until_delivery_id`, job.Key(), job.Source, pgtype.Timestamptz{Time: job.Since, Valid: !job.Since.IsZero()},
		pgtype.Timestamptz{Time: job.Until, Valid: !job.Until.IsZero()}, job.EventType).Scan(&cp.UntilDeliveryID)
	if err != nil {
		return ReplayCheckpoint{}, fmt.Errorf("replay %s: write checkpoint: %w", job.Key(), err)
	}
	return cp, nil
}

// StoredDelivery is a delivery as stored, with its row id.
type StoredDelivery struct {
	ID int64
	hooklane.Delivery
}

// ReplayDeliveries returns up to limit of the job's deliveries after the
// checkpoint, in id order, and none once it is through.
func (s *Store) ReplayDeliveries(ctx context.Context, cp ReplayCheckpoint, limit int) ([]StoredDelivery, error) {
	j := cp.Job
	rows, err := s.pool.Query(ctx, `
SELECT id, source, provider, event_type, dedupe_key, coalesce(request_id, ''), headers, body, received_at
FROM deliveries
WHERE id > $1 AND id <= $2 AND source = $3
	AND ($4::timestamptz IS NULL OR received_at >= $4) AND ($5::timestamptz IS NULL OR received_at < $5)
	AND ($6 = '' OR event_type = $6)
ORDER BY id LIMIT $7`, cp.LastDeliveryID, cp.UntilDeliveryID, j.Source,
		pgtype.Timestamptz{Time: j.Since, Valid: !j.Since.IsZero()},
		pgtype.Timestamptz{Time: j.Until, Valid: !j.Until.IsZero()}, j.EventType, limit)
	if err != nil {
		return nil, fmt.Errorf("replay %s: read deliveries: %w", j.Key(), err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (StoredDelivery, error) {
		var d StoredDelivery
		var headers []byte
		err := row.Scan(&d.ID, &d.Source, &d.Provider, &d.EventType, &d.DedupeKey, &d.RequestID, &headers, &d.Body, &d.ReceivedAt)
		if err == nil {
			d.Headers = http.Header{}
			err = json.Unmarshal(headers, &d.Headers)
		}
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("replay %s: read deliveries: %w", j.Key(), err)
	}
	return out, nil
}

// Rederived is a stored delivery's events as today's parser finds them.
type Rederived struct {
	DeliveryID int64
	Record
}

// rederiveSQL stores the events of stored deliveries that are missing,
// skipping those already stored, in key order as saveSQL does, and moves the
// checkpoint in the same statement: a batch and its progress commit
// together. The row counts the events stored.
const rederiveSQL = rederiveEvents + `
` + rederiveCheckpoint

// rederiveEvents inserts the missing events and counts them (n), returning
// each as its delivery's id and its key (e).
const rederiveEvents = `
WITH e AS (
	INSERT INTO events (delivery_id, source, provider, event_type, event_key, account, resource_type,
		resource_id, conversation_id, phone, occurred_at, received_at, payload, sanitised)
	SELECT ev.delivery_id, ev.source, ev.provider, ev.type, ev.key, NULLIF(ev.account, ''), NULLIF(ev.resource_type, ''),
		NULLIF(ev.resource_id, ''), NULLIF(ev.conversation_id, ''), NULLIF(ev.phone, ''),
		ev.occurred_at, ev.received_at, ev.payload::jsonb, ev.sanitised
	FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::timestamptz[],
		$8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $17::bool[])
		AS ev(delivery_id, source, provider, received_at, type, key, occurred_at, account, resource_type,
			resource_id, conversation_id, phone, payload, sanitised)
	ORDER BY ev.source, ev.key, ev.delivery_id
	ON CONFLICT (source, event_key) DO NOTHING
	RETURNING delivery_id, event_key
), n AS (SELECT count(*) AS events FROM e)`

// rederiveCheckpoint advances the checkpoint by n.
const rederiveCheckpoint = `UPDATE replay_checkpoints SET last_delivery_id = $14, deliveries = deliveries + $15,
	events = replay_checkpoints.events + n.events, updated_at = now()
FROM n WHERE job = $16
RETURNING n.events`

// rederiveNewSQL is rederiveSQL that also returns the events it inserted,
// as two arrays (their deliveries' ids, their keys), for the model.
const rederiveNewSQL = rederiveEvents + `, c AS (` + rederiveCheckpoint + `)
SELECT (SELECT events FROM c), coalesce((SELECT array_agg(delivery_id) FROM e), '{}'),
	coalesce((SELECT array_agg(event_key) FROM e), '{}')`

// Rederive stores the missing events of records, deliveries already stored,
// and advances cp past through, in one transaction. It returns how many
// events it stored.
func (s *Store) Rederive(ctx context.Context, cp *ReplayCheckpoint, records []Rederived, through int64) (int, error) {
	var (
		deliveryIDs                                                           []int64
		sources, providers, types, keys                                       []string
		accounts, resourceTypes, resourceIDs, conversations, phones, payloads []string
		receivedAts                                                           []time.Time
		occurred                                                              []pgtype.Timestamptz
		sanitised                                                             []bool
	)
	// The columns as Save stores them: through IndexKey, and payloads
	// made storable (storableJSON).
	for _, r := range records {
		d := &r.Delivery
		for _, e := range r.Events {
			payload, changed := storableJSON(e.Payload)
			deliveryIDs = append(deliveryIDs, r.DeliveryID)
			sources, providers, receivedAts = append(sources, IndexKey(d.Source)), append(providers, IndexKey(d.Provider)), append(receivedAts, d.ReceivedAt)
			types, keys = append(types, IndexKey(e.Type)), append(keys, IndexKey(e.Key))
			occurred = append(occurred, pgtype.Timestamptz{Time: e.OccurredAt, Valid: !e.OccurredAt.IsZero()})
			accounts, resourceTypes, resourceIDs = append(accounts, IndexKey(e.Account)), append(resourceTypes, IndexKey(e.ResourceType)), append(resourceIDs, IndexKey(e.ResourceID))
			conversations, phones, payloads = append(conversations, IndexKey(e.ConversationID)), append(phones, IndexKey(e.Phone)), append(payloads, payload)
			sanitised = append(sanitised, changed)
		}
	}
	args := []any{deliveryIDs, sources, providers, receivedAts, types, keys, occurred,
		accounts, resourceTypes, resourceIDs, conversations, phones, payloads,
		through, len(records), cp.Job.Key(), sanitised}
	var events int
	var err error
	if s.skipModel || !hasFacts(rederivedRecords(records)) {
		err = s.pool.QueryRow(ctx, rederiveSQL, args...).Scan(&events)
	} else {
		// The model merges the facts of the events the replay stored, as
		// Save does those of the events a worker stores.
		b := &pgx.Batch{}
		b.Queue(rederiveNewSQL, args...)
		_, err = s.withModel(ctx, b, func(br pgx.BatchResults, mb *modelBatch) error {
			var ids []int64
			var newKeys []string
			if err := br.QueryRow().Scan(&events, &ids, &newKeys); err != nil {
				return err
			}
			byID := make(map[int64]*Record, len(records))
			for i := range records {
				byID[records[i].DeliveryID] = &records[i].Record
			}
			addStoredOf(mb, ids, newKeys, func(id int64) *Record { return byID[id] })
			return nil
		})
	}
	if err != nil {
		return 0, fmt.Errorf("replay %s: store events: %w", cp.Job.Key(), err)
	}
	cp.LastDeliveryID = through
	cp.Deliveries += int64(len(records))
	cp.Events += int64(events)
	return events, nil
}

// rederivedRecords is the records of rs.
func rederivedRecords(rs []Rederived) []Record {
	records := make([]Record, len(rs))
	for i := range rs {
		records[i] = rs[i].Record
	}
	return records
}

// FinishReplay marks the job's checkpoint finished: the next replay of the
// same selection starts over.
func (s *Store) FinishReplay(ctx context.Context, cp ReplayCheckpoint) error {
	_, err := s.pool.Exec(ctx, `UPDATE replay_checkpoints SET finished_at = now(), updated_at = now() WHERE job = $1`, cp.Job.Key())
	if err != nil {
		return fmt.Errorf("replay %s: finish: %w", cp.Job.Key(), err)
	}
	return nil
}
