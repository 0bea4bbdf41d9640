package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Retention is how long each table keeps its rows, by the time they were
// written; zero keeps them forever.
type Retention struct {
	Deliveries    time.Duration
	Events        time.Duration
	FlowExchanges time.Duration
	DeadLetters   time.Duration
}

// Off reports whether r keeps everything.
func (r Retention) Off() bool { return r == Retention{} }

// PurgeResult counts the rows a purge deleted, or would delete.
type PurgeResult struct {
	Deliveries    int64
	Events        int64
	FlowExchanges int64
	DeadLetters   int64
}

// Total is the sum of the counts.
func (p PurgeResult) Total() int64 { return p.Deliveries + p.Events + p.FlowExchanges + p.DeadLetters }

// ErrPurgeBusy reports a purge that did not run because another process
// holds the purge lock.
var ErrPurgeBusy = errors.New("another process is purging")

// DefaultPurgeBatchSize is PurgeConfig.BatchSize's default; internal/config
// applies the same.
const DefaultPurgeBatchSize = 1000

// PurgeConfig tunes one purge.
type PurgeConfig struct {
	// BatchSize is the most rows one statement deletes: each batch is a
	// transaction of its own, so locks are held briefly. Defaults to 1000.
	BatchSize int
	// Pause is a rest between batches, leaving the database to the workers.
	// Defaults to none.
	Pause time.Duration
	// DryRun counts what would be deleted and deletes nothing.
	DryRun bool
	// Progress, if set, is told after each batch the table and the rows
	// deleted from it so far.
	Progress func(table string, purged int64)
}

// purgeLockSQL takes the session advisory lock that makes one process at a
// time purge a schema; the key is per schema, so that installations sharing
// a database do not wait for each other.
const purgeLockSQL = `SELECT pg_try_advisory_lock(hashtext(current_schema() || '.hooklane_retention'))`

// Purge deletes the rows older than r allows, in batches, under an advisory
// lock, and returns ErrPurgeBusy at once when another process holds it.
// Events go first, then deliveries without events left: an event refers to
// its delivery. Rows are aged by when they were written (stored_at;
// created_at for flow exchanges and dead letters), which for a delivery is
// no earlier than the provider's first attempt, so a deliveries retention
// at least as long as the providers' retry horizon keeps every retry's
// dedupe key.
//
// Rows are walked in id order, and a walk stops at the first batch without
// old rows: rows are written in id order, so the few written out of order
// around the cut-off are left for the next run.
func (s *Store) Purge(ctx context.Context, r Retention, cfg PurgeConfig) (PurgeResult, error) {
	cfg.BatchSize = cmp.Or(cfg.BatchSize, DefaultPurgeBatchSize)
	var res PurgeResult
	if r.Off() {
		return res, nil
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("purge: %w", err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, purgeLockSQL).Scan(&locked); err != nil {
		return res, fmt.Errorf("purge: lock: %w", err)
	}
	if !locked {
		return res, ErrPurgeBusy
	}
	defer func() {
		// The lock is the session's: unlock even when ctx is done, or the
		// pooled connection would keep holding it.
		unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(unlockCtx, `SELECT pg_advisory_unlock(hashtext(current_schema() || '.hooklane_retention'))`); err != nil {
			conn.Conn().Close(unlockCtx) // closing the session releases it
		}
	}()

	var now time.Time
	if err := conn.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
		return res, fmt.Errorf("purge: %w", err)
	}
	cut := func(age time.Duration) time.Time { return now.Add(-age) }
	p := purger{conn: conn, cfg: cfg}
	steps := []struct {
		table string
		age   time.Duration
		count *int64
		run   func(context.Context, time.Time) (int64, error)
	}{
		{"events", r.Events, &res.Events, func(ctx context.Context, before time.Time) (int64, error) {
			return p.walk(ctx, "events", before, eventsBatchSQL, `SELECT count(*) FROM events WHERE stored_at < $1`)
		}},
		{"deliveries", r.Deliveries, &res.Deliveries, func(ctx context.Context, before time.Time) (int64, error) {
			if cfg.DryRun {
				// What is left once the events' purge has run.
				var eventsBefore any
				if r.Events > 0 {
					eventsBefore = cut(r.Events)
				}
				var n int64
				err := conn.QueryRow(ctx, `
SELECT count(*) FROM deliveries d WHERE d.stored_at < $1 AND NOT EXISTS (
	SELECT 1 FROM events e WHERE e.delivery_id = d.id AND ($2::timestamptz IS NULL OR e.stored_at >= $2))`,
					before, eventsBefore).Scan(&n)
				return n, err
			}
			return p.walk(ctx, "deliveries", before, deliveriesBatchSQL, "")
		}},
		{"flow_exchanges", r.FlowExchanges, &res.FlowExchanges, p.flowExchanges},
		{"dead_letters", r.DeadLetters, &res.DeadLetters, func(ctx context.Context, before time.Time) (int64, error) {
			return p.walk(ctx, "dead_letters", before, deadLettersBatchSQL, `SELECT count(*) FROM dead_letters WHERE created_at < $1`)
		}},
	}
	for _, step := range steps {
		if step.age <= 0 {
			continue
		}
		n, err := step.run(ctx, cut(step.age))
		*step.count = n
		if err != nil {
			return res, fmt.Errorf("purge %s: %w", step.table, err)
		}
	}
	return res, nil
}

// Each batch statement takes the next $2 rows by id after $1, deletes those
// written before $3 (and, for deliveries, without events), and returns the
// last id it looked at, the rows deleted and the rows old enough.
const (
	eventsBatchSQL = `
WITH b AS (SELECT id, stored_at FROM events WHERE id > $1 ORDER BY id LIMIT $2),
del AS (DELETE FROM events e USING b WHERE e.id = b.id AND b.stored_at < $3 RETURNING 1)
SELECT (SELECT max(id) FROM b), (SELECT count(*) FROM del), (SELECT count(*) FROM b WHERE stored_at < $3)`
	deliveriesBatchSQL = `
WITH b AS (SELECT id, stored_at FROM deliveries WHERE id > $1 ORDER BY id LIMIT $2),
del AS (
	DELETE FROM deliveries d USING b WHERE d.id = b.id AND b.stored_at < $3
		AND NOT EXISTS (SELECT 1 FROM events e WHERE e.delivery_id = d.id)
	RETURNING 1
)
SELECT (SELECT max(id) FROM b), (SELECT count(*) FROM del), (SELECT count(*) FROM b WHERE stored_at < $3)`
	deadLettersBatchSQL = `
WITH b AS (SELECT id, created_at FROM dead_letters WHERE id > $1 ORDER BY id LIMIT $2),
del AS (DELETE FROM dead_letters d USING b WHERE d.id = b.id AND b.created_at < $3 RETURNING 1)
SELECT (SELECT max(id) FROM b), (SELECT count(*) FROM del), (SELECT count(*) FROM b WHERE created_at < $3)`
)

// purger runs one purge's batches on the connection holding the lock.
type purger struct {
	conn *pgxpool.Conn
	cfg  PurgeConfig
}

// walk deletes table's rows written before before, batch by batch in id
// order, or in a dry run counts them with countSQL.
func (p purger) walk(ctx context.Context, table string, before time.Time, batchSQL, countSQL string) (int64, error) {
	if p.cfg.DryRun {
		var n int64
		err := p.conn.QueryRow(ctx, countSQL, before).Scan(&n)
		return n, err
	}
	var after, purged int64
	for {
		var last *int64
		var deleted, old int64
		if err := p.conn.QueryRow(ctx, batchSQL, after, p.cfg.BatchSize, before).Scan(&last, &deleted, &old); err != nil {
			return purged, err
		}
		purged += deleted
		if deleted > 0 && p.cfg.Progress != nil {
			p.cfg.Progress(table, purged)
		}
		if last == nil || old == 0 {
			return purged, nil
		}
		after = *last
		if err := p.pause(ctx); err != nil {
			return purged, err
		}
	}
}

// flowExchanges deletes the flow exchanges recorded before before, oldest
// first, by the created_at index.
func (p purger) flowExchanges(ctx context.Context, before time.Time) (int64, error) {
	if p.cfg.DryRun {
		var n int64
		err := p.conn.QueryRow(ctx, `SELECT count(*) FROM flow_exchanges WHERE created_at < $1`, before).Scan(&n)
		return n, err
	}
	var purged int64
	for {
		tag, err := p.conn.Exec(ctx, `
DELETE FROM flow_exchanges f USING (
	SELECT id FROM flow_exchanges WHERE created_at < $1 ORDER BY created_at LIMIT $2
) b WHERE f.id = b.id`, before, p.cfg.BatchSize)
		if err != nil {
			return purged, err
		}
		purged += tag.RowsAffected()
		if tag.RowsAffected() > 0 && p.cfg.Progress != nil {
			p.cfg.Progress("flow_exchanges", purged)
		}
		if tag.RowsAffected() < int64(p.cfg.BatchSize) {
			return purged, nil
		}
		if err := p.pause(ctx); err != nil {
			return purged, err
		}
	}
}

func (p purger) pause(ctx context.Context) error {
	if p.cfg.Pause <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(p.cfg.Pause)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
