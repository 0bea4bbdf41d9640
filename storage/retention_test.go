package storage_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/storage"
)

const day = 24 * time.Hour

func TestPurgeDeletesOnlyWhatIsOlderUnderConcurrentIngest(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	ctx := t.Context()
	backdate := func(prefix string, age time.Duration) {
		t.Helper()
		for _, sql := range []string{
			`UPDATE events e SET stored_at = now() - $2::interval FROM deliveries d WHERE e.delivery_id = d.id AND d.dedupe_key LIKE $1`,
			`UPDATE deliveries SET stored_at = now() - $2::interval WHERE dedupe_key LIKE $1`,
		} {
			if _, err := db.Exec(ctx, sql, prefix+"%", age); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 300 {
		save(t, s, record("wa", fmt.Sprintf("old9-%d", i), fmt.Sprintf("old9-%d:a", i), fmt.Sprintf("old9-%d:b", i)))
	}
	backdate("old9-", 9*day)
	for i := range 20 {
		save(t, s, record("wa", fmt.Sprintf("old7-%d", i), fmt.Sprintf("old7-%d:a", i)))
	}
	backdate("old7-", 7*day+12*time.Hour) // inside Meta's 7-day horizon plus margin
	for i := range 20 {
		save(t, s, record("wa", fmt.Sprintf("young-%d", i), fmt.Sprintf("young-%d:a", i)))
	}
	exchanges := []hooklane.FlowExchange{
		{ID: "fx-old", Source: "platica", Action: "INIT", Outcome: "answered", At: time.Now().Add(-3 * day)},
		{ID: "fx-young", Source: "platica", Action: "INIT", Outcome: "answered", At: time.Now()},
	}
	if err := s.SaveFlowExchanges(ctx, exchanges); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveDeadLetters(ctx, []storage.DeadLetter{
		{Stream: "S", Sequence: 1, Subject: "x", Reason: "old", Body: []byte("{}")},
		{Stream: "S", Sequence: 2, Subject: "x", Reason: "young", Body: []byte("{}")},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `UPDATE dead_letters SET created_at = now() - interval '40 days' WHERE reason = 'old'`); err != nil {
		t.Fatal(err)
	}

	r := storage.Retention{Deliveries: 8 * day, Events: 8 * day, FlowExchanges: day, DeadLetters: 30 * day}
	want := storage.PurgeResult{Deliveries: 300, Events: 600, FlowExchanges: 1, DeadLetters: 1}
	dry, err := s.Purge(ctx, r, storage.PurgeConfig{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry != want {
		t.Errorf("dry run = %+v, want %+v", dry, want)
	}
	if n := count(t, db, `SELECT count(*) FROM deliveries`); n != 340 {
		t.Fatalf("the dry run deleted: %d deliveries left", n)
	}

	// Ingest goes on while the purge runs, in batches of ten rows.
	var wg sync.WaitGroup
	var ingested int
	stop := make(chan struct{})
	wg.Go(func() {
		for ; ; ingested++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.Save(ctx, []storage.Record{record("wa", fmt.Sprintf("live-%d", ingested), fmt.Sprintf("live-%d:a", ingested))}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var progressed int64
	res, err := s.Purge(ctx, r, storage.PurgeConfig{BatchSize: 10, Progress: func(string, int64) { progressed++ }})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res != want {
		t.Errorf("purge = %+v, want %+v", res, want)
	}
	if progressed < 60 {
		t.Errorf("purge told progress %d times, want once a batch of ten (at least 60)", progressed)
	}
	for _, c := range []struct {
		sql  string
		want int
	}{
		{`SELECT count(*) FROM deliveries WHERE dedupe_key LIKE 'old9-%'`, 0},
		{`SELECT count(*) FROM events WHERE event_key LIKE 'old9-%'`, 0},
		{`SELECT count(*) FROM deliveries WHERE dedupe_key LIKE 'old7-%'`, 20},
		{`SELECT count(*) FROM events WHERE event_key LIKE 'old7-%'`, 20},
		{`SELECT count(*) FROM deliveries WHERE dedupe_key LIKE 'young-%'`, 20},
		{`SELECT count(*) FROM deliveries WHERE dedupe_key LIKE 'live-%'`, ingested},
		{`SELECT count(*) FROM events WHERE event_key LIKE 'live-%'`, ingested},
		{`SELECT count(*) FROM flow_exchanges WHERE id = 'fx-young'`, 1},
		{`SELECT count(*) FROM flow_exchanges`, 1},
		{`SELECT count(*) FROM dead_letters WHERE reason = 'young'`, 1},
		{`SELECT count(*) FROM dead_letters`, 1},
	} {
		if n := count(t, db, c.sql); n != c.want {
			t.Errorf("%s = %d, want %d", c.sql, n, c.want)
		}
	}

	// A provider's retry inside the horizon finds its dedupe key.
	retry := save(t, s, record("wa", "old7-3", "old7-3:a"))
	if retry.Deliveries != 0 || retry.Duplicates != 1 || retry.Events != 0 {
		t.Errorf("retry of a delivery 7.5 days old: %+v, want a duplicate", retry)
	}

	// Nothing is left to purge.
	again, err := s.Purge(ctx, r, storage.PurgeConfig{})
	if err != nil || again.Total() != 0 {
		t.Errorf("second purge = %+v, %v; want nothing", again, err)
	}
}

func TestPurgeOneAtATime(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	if _, err := db.Exec(t.Context(), `SELECT pg_advisory_lock(hashtext(current_schema() || '.hooklane_retention'))`); err != nil {
		t.Fatal(err)
	}
	_, err := s.Purge(t.Context(), storage.Retention{Events: day}, storage.PurgeConfig{})
	if !errors.Is(err, storage.ErrPurgeBusy) {
		t.Errorf("purge while another holds the lock: %v, want ErrPurgeBusy", err)
	}
	if _, err := db.Exec(t.Context(), `SELECT pg_advisory_unlock(hashtext(current_schema() || '.hooklane_retention'))`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Purge(t.Context(), storage.Retention{Events: day}, storage.PurgeConfig{}); err != nil {
		t.Errorf("purge once the lock is free: %v", err)
	}
	// The lock is released after a purge: the test's session takes it.
	var locked bool
	if err := db.QueryRow(t.Context(), `SELECT pg_try_advisory_lock(hashtext(current_schema() || '.hooklane_retention'))`).Scan(&locked); err != nil || !locked {
		t.Errorf("the lock after a purge: taken %v, %v", locked, err)
	}
}
