package storage_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hooklane/hooklane/storage"
	"github.com/hooklane/hooklane/storage/storagetest"
)

// fillOldSQL stores deliveries $1..$2 of source 'old', each with one event,
// written 30 days ago, with a body and payload the size of a real message.
const fillOldSQL = `
WITH d AS (
	INSERT INTO deliveries (source, provider, event_type, dedupe_key, headers, body, received_at, stored_at)
	SELECT 'old', 'meta', 'messages', 'old-' || g, '{"User-Agent":["facebookexternalua"]}',
		convert_to(repeat('x', 1200), 'UTF8'), now() - interval '30 days', now() - interval '30 days'
	FROM generate_series($1::int, $2::int) g
	RETURNING id, dedupe_key
)
INSERT INTO events (delivery_id, source, provider, event_type, event_key, phone, received_at, stored_at, payload)
SELECT id, 'old', 'meta', 'message', 'message:' || dedupe_key, '5511999999999', now() - interval '30 days',
	now() - interval '30 days', jsonb_build_object('type', 'text', 'text', jsonb_build_object('body', repeat('y', 300)))
FROM d`

// fillOld stores n old deliveries of one event each, after those numbered
// below from, and returns the next number.
func fillOld(b *testing.B, db *pgx.Conn, from, n int) int {
	b.Helper()
	for lo := from; lo < from+n; lo += 10000 {
		if _, err := db.Exec(b.Context(), fillOldSQL, lo, min(lo+10000, from+n)-1); err != nil {
			b.Fatal(err)
		}
	}
	return from + n
}

// thirtyDays ages out what fillOld stores and nothing Save writes now.
var thirtyDays = storage.Retention{Deliveries: 20 * day, Events: 20 * day}

// BenchmarkRetention measures, side by side in one run, what retention
// costs and what it would cost with native partitioning:
//
//   - save/alone, save/beside_purge and save/beside_purge_paused: the
//     worker's batches of 100 one-event records, alone and while a purge
//     deletes old rows (events and deliveries) in batches of 1000 on the
//     same database, at full speed or resting 50ms between batches;
//   - purge/batched: the rows a second the batched deletes remove, events
//     and their deliveries;
//   - purge/partitioned: the same rows kept in a table partitioned by
//     stored_at, purged by dropping the partition, plus the batched delete
//     of the unpartitioned key table that uniqueness across partitions
//     needs (a unique index of a partitioned table must hold the partition
//     key, so (source, event_key) cannot be unique across partitions
//     without one); it counts the events alone;
//   - insert/plain and insert/partitioned: the write ingest pays in each
//     layout, a batch of 100 events, the second with its key table.
func BenchmarkRetention(b *testing.B) {
	b.Run("save/alone", func(b *testing.B) { benchSaveBesidePurge(b, false, 0) })
	b.Run("save/beside_purge", func(b *testing.B) { benchSaveBesidePurge(b, true, 0) })
	b.Run("save/beside_purge_paused", func(b *testing.B) { benchSaveBesidePurge(b, true, 50*time.Millisecond) })
	b.Run("purge/batched", func(b *testing.B) {
		s, db := newStoreB(b)
		next, purged := 0, int64(0)
		var took time.Duration
		for b.Loop() {
			b.StopTimer()
			next = fillOld(b, db, next, 20000)
			b.StartTimer()
			began := time.Now()
			res, err := s.Purge(b.Context(), thirtyDays, storage.PurgeConfig{BatchSize: 1000})
			took += time.Since(began)
			if err != nil {
				b.Fatal(err)
			}
			purged += res.Total()
		}
		b.ReportMetric(float64(purged)/took.Seconds(), "rows/s")
	})
	b.Run("purge/partitioned", func(b *testing.B) {
		_, db := newStoreB(b)
		createPartitioned(b, db)
		var purged int64
		var took time.Duration
		for b.Loop() {
			b.StopTimer()
			exec(b, db, `CREATE TABLE p_events_old PARTITION OF p_events FOR VALUES FROM (MINVALUE) TO ('2000-01-01')`)
			exec(b, db, `
WITH k AS (
	INSERT INTO p_event_keys (source, event_key, stored_at)
	SELECT 'old', 'message:old-' || g || '-' || $1::text, '1999-01-01' FROM generate_series(1, 20000) g
	RETURNING source, event_key, stored_at
)
INSERT INTO p_events (source, event_key, stored_at, payload, body)
SELECT source, event_key, stored_at, jsonb_build_object('type', 'text', 'text', jsonb_build_object('body', repeat('y', 300))),
	convert_to(repeat('x', 1200), 'UTF8')
FROM k`, b.Elapsed().String())
			b.StartTimer()
			began := time.Now()
			exec(b, db, `DROP TABLE p_events_old`)
			for {
				tag, err := db.Exec(b.Context(), `
DELETE FROM p_event_keys k USING (
	SELECT source, event_key FROM p_event_keys WHERE stored_at < '2000-01-01' LIMIT 1000
) old WHERE k.source = old.source AND k.event_key = old.event_key`)
				if err != nil {
					b.Fatal(err)
				}
				if tag.RowsAffected() == 0 {
					break
				}
			}
			took += time.Since(began)
			purged += 20000 // events only: a partitioned deliveries table would add its own drop and key deletes
		}
		b.ReportMetric(float64(purged)/took.Seconds(), "rows/s")
	})
	for _, partitioned := range []bool{false, true} {
		name := "insert/plain"
		if partitioned {
			name = "insert/partitioned"
		}
		b.Run(name, func(b *testing.B) {
			_, db := newStoreB(b)
			createPartitioned(b, db)
			exec(b, db, `INSERT INTO deliveries (source, provider, event_type, dedupe_key, headers, body, received_at)
				VALUES ('bench', 'meta', 'messages', 'd', '{}', '', now())`)
			n := 0
			for b.Loop() {
				sql := `INSERT INTO events (delivery_id, source, provider, event_type, event_key, received_at, payload)
SELECT (SELECT id FROM deliveries WHERE dedupe_key = 'd'), 'bench', 'meta', 'message', 'message:' || g, now(),
	jsonb_build_object('type', 'text', 'text', jsonb_build_object('body', repeat('y', 300)))
FROM generate_series($1::int, $1::int + 99) g
ON CONFLICT (source, event_key) DO NOTHING`
				if partitioned {
					sql = `
WITH k AS (
	INSERT INTO p_event_keys (source, event_key, stored_at)
	SELECT 'bench', 'message:' || g, now() FROM generate_series($1::int, $1::int + 99) g
	ON CONFLICT DO NOTHING
	RETURNING source, event_key, stored_at
)
INSERT INTO p_events (delivery_id, source, event_key, stored_at, payload, body)
SELECT (SELECT id FROM deliveries WHERE dedupe_key = 'd'), source, event_key, stored_at,
	jsonb_build_object('type', 'text', 'text', jsonb_build_object('body', repeat('y', 300))), ''
FROM k`
				}
				if _, err := db.Exec(b.Context(), sql, n); err != nil {
					b.Fatal(err)
				}
				n += 100
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// benchSaveBesidePurge saves batches of 100 records, while a purge deletes
// old rows on the same database when purging is set, resting pause between
// its batches.
func benchSaveBesidePurge(b *testing.B, purging bool, pause time.Duration) {
	s, db := newStoreB(b)
	fillOld(b, db, 0, 200000)
	ctx, cancel := context.WithCancel(b.Context())
	var wg sync.WaitGroup
	var purged int64
	if purging {
		wg.Go(func() {
			res, err := s.Purge(ctx, thirtyDays, storage.PurgeConfig{BatchSize: 1000, Pause: pause})
			if err != nil && ctx.Err() == nil {
				b.Error(err)
			}
			purged = res.Total()
		})
	}
	n := 0
	b.ResetTimer()
	for b.Loop() {
		batch := make([]storage.Record, 100)
		for i := range batch {
			batch[i] = benchRecord(n, 1)
			n++
		}
		if _, err := s.Save(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := b.Elapsed()
	cancel()
	wg.Wait()
	b.ReportMetric(float64(n)/elapsed.Seconds(), "records/s")
	if purging {
		b.ReportMetric(float64(purged)/elapsed.Seconds(), "purged/s")
		if purged >= 400000 {
			b.Log("the purge ran out of old rows before the saves ended: raise the fill")
		}
	}
}

// createPartitioned makes the partitioned layout: a copy of events
// partitioned by stored_at, with the same secondary indexes, and the key
// table that keeps (source, event_key) unique across partitions.
func createPartitioned(b *testing.B, db *pgx.Conn) {
	b.Helper()
	exec(b, db, `
CREATE TABLE p_events (
	id bigint GENERATED ALWAYS AS IDENTITY, delivery_id bigint REFERENCES deliveries (id), source text NOT NULL, provider text NOT NULL DEFAULT 'meta',
	event_type text NOT NULL DEFAULT 'message', event_key text NOT NULL, account text, resource_type text, resource_id text,
	conversation_id text, phone text, occurred_at timestamptz, received_at timestamptz NOT NULL DEFAULT now(),
	stored_at timestamptz NOT NULL, payload jsonb NOT NULL, body bytea NOT NULL
) PARTITION BY RANGE (stored_at)`)
	for _, index := range []string{
		"(event_type, occurred_at DESC)", "(event_type, received_at DESC)", "(resource_type, resource_id)",
		"(conversation_id) WHERE conversation_id IS NOT NULL", "(phone) WHERE phone IS NOT NULL",
		"(account, received_at)", "(delivery_id)", "USING gin (payload jsonb_path_ops)", "(id)",
	} {
		exec(b, db, "CREATE INDEX ON p_events "+index)
	}
	exec(b, db, `CREATE TABLE p_events_now PARTITION OF p_events FOR VALUES FROM ('2000-01-01') TO (MAXVALUE)`)
	exec(b, db, `CREATE TABLE p_event_keys (source text, event_key text, stored_at timestamptz NOT NULL, PRIMARY KEY (source, event_key))`)
	exec(b, db, `CREATE INDEX ON p_event_keys (stored_at)`)
}

func exec(b *testing.B, db *pgx.Conn, sql string, args ...any) {
	b.Helper()
	if _, err := db.Exec(b.Context(), sql, args...); err != nil {
		b.Fatalf("%s: %v", sql, err)
	}
}

// newStoreB is newStore for a benchmark.
func newStoreB(b *testing.B) (*storage.Store, *pgx.Conn) {
	b.Helper()
	databaseURL := storagetest.URL(b)
	if err := storage.Migrate(b.Context(), databaseURL); err != nil {
		b.Fatal(err)
	}
	s, err := storage.Open(b.Context(), databaseURL, storage.Config{MaxConns: 4})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	db, err := pgx.Connect(b.Context(), databaseURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close(context.Background()) })
	return s, db
}
