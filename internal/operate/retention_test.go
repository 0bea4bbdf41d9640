package operate_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hooklane/hooklane/internal/metricstest"
	"github.com/hooklane/hooklane/internal/operate"
	"github.com/hooklane/hooklane/storage"
)

func TestRetentionRunsInTheBackground(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.startWorker(t)
	for i := range 5 {
		r.post(t, "whapi", whapiMessage(fmt.Sprintf("OLD-%d", i), "573001112233", "old"))
	}
	eventually(t, "the deliveries stored", func() bool { return r.count(t, `SELECT count(*) FROM events`) == 5 })
	for _, sql := range []string{
		`UPDATE events SET stored_at = now() - interval '10 days'`,
		`UPDATE deliveries SET stored_at = now() - interval '10 days'`,
	} {
		if _, err := r.db.Exec(t.Context(), sql); err != nil {
			t.Fatal(err)
		}
	}
	r.post(t, "whapi", whapiMessage("NEW", "573001112233", "new"))
	eventually(t, "the new delivery stored", func() bool { return r.count(t, `SELECT count(*) FROM events`) == 6 })

	reg := prometheus.NewRegistry()
	ret, err := operate.NewRetention(r.store, operate.RetentionConfig{
		Retention: storage.Retention{Deliveries: 8 * 24 * time.Hour, Events: 8 * 24 * time.Hour},
		Interval:  time.Hour, BatchSize: 2,
	}, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ret.Run(ctx) }()
	eventually(t, "the old rows purged", func() bool {
		return r.count(t, `SELECT count(*) FROM deliveries`) == 1 && r.count(t, `SELECT count(*) FROM events`) == 1
	})
	eventually(t, "the run counted", func() bool {
		n, err := testutil.GatherAndCount(reg, "hooklane_retention_last_run_seconds")
		return err == nil && n == 1 && metricstest.Value(t, reg, "hooklane_retention_last_run_timestamp_seconds") > 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil once stopped", err)
	}
	if n := r.count(t, `SELECT count(*) FROM events WHERE event_key = 'message:NEW'`); n != 1 {
		t.Errorf("the new event was purged")
	}
	for table, want := range map[string]float64{"events": 5, "deliveries": 5, "flow_exchanges": 0} {
		if got := metricstest.Value(t, reg, "hooklane_retention_rows_purged_total", "table", table); got != want {
			t.Errorf("rows purged from %s = %v, want %v", table, got, want)
		}
	}
}
