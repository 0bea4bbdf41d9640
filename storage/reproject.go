package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hooklane/hooklane"
)

// ErrReprojectRunning is returned by Reproject when another reprojection
// holds the database.
var ErrReprojectRunning = errors.New("another reprojection is running")

// reprojectLock is the key of the session advisory lock one reprojection
// of a schema holds.
const reprojectLock = `hashtext(current_schema() || '.hooklane_reproject')`

// ReprojectConfig configures Reproject.
type ReprojectConfig struct {
	// Source limits the rebuild to one source. Defaults to every source.
	Source string
	// Derive fans a stored delivery of a provider out into its events, with
	// their facts: the parsers Save's events came from, or newer ones.
	Derive func(provider string, body []byte) ([]hooklane.Event, error)
	// BatchSize is how many deliveries one transaction rebuilds from.
	// Defaults to 500.
	BatchSize int
	// Progress, if set, is called after each batch.
	Progress func(ReprojectProgress)
}

// ReprojectProgress says how far a reprojection has come.
type ReprojectProgress struct {
	Deliveries int // deliveries read so far
	Total      int // deliveries to read, counted when the rebuild began
	Events     int // stored events whose facts were merged
	Skipped    int // deliveries Derive could not read, left out
	Elapsed    time.Duration
}

// Reproject rebuilds the model tables (of cfg.Source, or all) from the
// stored deliveries and events: it empties them, then merges the facts of
// every stored event, as Derive reads them from its delivery, batch by batch.
//
// It may run while workers run. Workers' model writes take the model lock
// shared, and Reproject takes it exclusively only to empty the tables, in one
// short transaction; it then reads the events in one snapshot taken after
// that, which holds every event whose facts the emptying removed. An event
// stored later has its facts merged by its worker, perhaps by Reproject too,
// which is harmless: every merge is idempotent and order-free. While it
// runs, the tables are incomplete. One reprojection runs at a time
// (ErrReprojectRunning).
func (s *Store) Reproject(ctx context.Context, cfg ReprojectConfig) (ReprojectProgress, error) {
	cfg.BatchSize = cmp.Or(cfg.BatchSize, 500)
	began := time.Now()
	var p ReprojectProgress

	read, err := s.pool.Acquire(ctx)
	if err != nil {
		return p, fmt.Errorf("reproject: %w", err)
	}
	defer read.Release()
	var locked bool
	if err := read.QueryRow(ctx, "SELECT pg_try_advisory_lock("+reprojectLock+")").Scan(&locked); err != nil {
		return p, fmt.Errorf("reproject: %w", err)
	}
	if !locked {
		return p, ErrReprojectRunning
	}
	defer func() {
		_, _ = read.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock("+reprojectLock+")")
	}()

	if err := s.clearModel(ctx, cfg.Source); err != nil {
		return p, err
	}

	tx, err := read.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return p, fmt.Errorf("reproject: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only: nothing to lose
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM deliveries d
		WHERE ($1 = '' OR d.source = $1) AND EXISTS (SELECT 1 FROM events e WHERE e.delivery_id = d.id)`,
		cfg.Source).Scan(&p.Total); err != nil {
		return p, fmt.Errorf("reproject: count deliveries: %w", err)
	}
	for last := int64(0); ; {
		records, n, lastID, err := reprojectBatch(ctx, tx, cfg, last, &p)
		if err != nil {
			return p, err
		}
		if n == 0 {
			break
		}
		last = lastID
		if err := s.writeModel(ctx, records); err != nil {
			return p, fmt.Errorf("reproject: %w", err)
		}
		p.Deliveries += n
		p.Elapsed = time.Since(began)
		if cfg.Progress != nil {
			cfg.Progress(p)
		}
	}
	p.Elapsed = time.Since(began)
	return p, nil
}

// clearModel empties the model tables of source, or all, under the model
// lock held exclusively: it waits for the model writes in flight to commit,
// and writes begun after it wait for it.
func (s *Store) clearModel(ctx context.Context, source string) error {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SELECT pg_advisory_xact_lock(" + modelLock + ")")
	for _, table := range []string{"messages", "contacts", "conversations"} {
		b.Queue("DELETE FROM "+table+" WHERE $1 = '' OR source = $1", source)
	}
	b.Queue("COMMIT")
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("reproject: clear: %w", err)
	}
	defer conn.Release()
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("reproject: clear: %w", err)
	}
	return nil
}

// reprojectBatch reads the deliveries after id last, up to a batch, each
// with the events stored from it, and derives their records.
func reprojectBatch(ctx context.Context, tx pgx.Tx, cfg ReprojectConfig, last int64, p *ReprojectProgress) (records []Record, n int, lastID int64, err error) {
	rows, err := tx.Query(ctx, `
		SELECT d.id, d.source, d.provider, d.received_at, d.body, array_agg(e.event_key)
		FROM deliveries d JOIN events e ON e.delivery_id = d.id
		WHERE d.id > $1 AND ($2 = '' OR d.source = $2)
		GROUP BY d.id ORDER BY d.id LIMIT $3`, last, cfg.Source, cfg.BatchSize)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("reproject: read deliveries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			d    hooklane.Delivery
			keys []string
		)
		if err := rows.Scan(&lastID, &d.Source, &d.Provider, &d.ReceivedAt, &d.Body, &keys); err != nil {
			return nil, 0, 0, fmt.Errorf("reproject: read deliveries: %w", err)
		}
		n++
		events, err := cfg.Derive(d.Provider, d.Body)
		if err != nil {
			p.Skipped++
			continue
		}
		stored := make(map[string]bool, len(keys))
		for _, k := range keys {
			stored[k] = true
		}
		r := Record{Delivery: d}
		for _, e := range events {
			if k := IndexKey(e.Key); stored[k] {
				r.Events = append(r.Events, e)
				delete(stored, k) // the first of a key is the one stored
				p.Events++
			}
		}
		records = append(records, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, 0, fmt.Errorf("reproject: read deliveries: %w", err)
	}
	return records, n, lastID, nil
}

// writeModel merges the facts of every event of records into the model
// tables, in one transaction.
func (s *Store) writeModel(ctx context.Context, records []Record) error {
	mb := newModelBatch()
	for i := range records {
		for j := range records[i].Events {
			mb.addEvent(&records[i], &records[i].Events[j])
		}
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	mb.queue(b)
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return err
	}
	if _, err := mb.read(br); err != nil {
		return err
	}
	if _, err := br.Exec(); err != nil {
		return err
	}
	return br.Close()
}
