package operate

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hooklane/hooklane/storage"
)

// DefaultRetentionInterval is RetentionConfig.Interval's default;
// internal/config applies the same.
const DefaultRetentionInterval = time.Hour

// RetentionConfig configures a Retention.
type RetentionConfig struct {
	// Retention is each table's age; zero keeps a table's rows forever.
	Retention storage.Retention
	// Interval is the time between two purges. Defaults to 1h.
	Interval time.Duration
	// BatchSize is the most rows one delete takes. Defaults to 1000.
	BatchSize int
	// Pause is a rest between two deletes. Defaults to none.
	Pause time.Duration
}

// Retention purges what is older than configured, in the background of
// every worker: each purges every Interval, and the advisory lock of
// storage.Purge lets one worker at a time do it, the others skipping that
// round.
type Retention struct {
	store   *storage.Store
	cfg     RetentionConfig
	log     *slog.Logger
	purged  *prometheus.CounterVec
	runs    *prometheus.CounterVec
	lastRun prometheus.Gauge
	seconds prometheus.Gauge
}

// NewRetention returns a Retention. Its metrics are registered with reg.
func NewRetention(store *storage.Store, cfg RetentionConfig, logger *slog.Logger, reg prometheus.Registerer) (*Retention, error) {
	cfg.Interval = cmp.Or(cfg.Interval, DefaultRetentionInterval)
	cfg.BatchSize = cmp.Or(cfg.BatchSize, storage.DefaultPurgeBatchSize)
	r := &Retention{
		store: store, cfg: cfg, log: logger,
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hooklane_retention_rows_purged_total",
			Help: "Rows retention deleted, by table.",
		}, []string{"table"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hooklane_retention_runs_total",
			Help: "Retention runs by result: purged, busy (another worker was purging) or failed.",
		}, []string{"result"}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hooklane_retention_last_run_timestamp_seconds",
			Help: "When this process last finished a purge, as a Unix time.",
		}),
		seconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hooklane_retention_last_run_seconds",
			Help: "How long this process's last purge took.",
		}),
	}
	for _, c := range []prometheus.Collector{r.purged, r.runs, r.lastRun, r.seconds} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Run purges at once and then every Interval until ctx is done, and returns
// nil. A purge that fails is logged and tried again at the next interval.
// With no table aged it returns at once.
func (r *Retention) Run(ctx context.Context) error {
	if r.cfg.Retention.Off() {
		return nil
	}
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := r.Purge(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, storage.ErrPurgeBusy) {
			r.log.Warn("retention purge failed; trying again later", "in", r.cfg.Interval.String(), "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Purge runs retention once, counts it in the metrics and logs one line
// when it purged. It returns storage.ErrPurgeBusy when another process was
// purging.
func (r *Retention) Purge(ctx context.Context) (storage.PurgeResult, error) {
	began := time.Now()
	res, err := r.store.Purge(ctx, r.cfg.Retention, storage.PurgeConfig{BatchSize: r.cfg.BatchSize, Pause: r.cfg.Pause})
	took := time.Since(began)
	for table, n := range map[string]int64{"deliveries": res.Deliveries, "events": res.Events,
		"flow_exchanges": res.FlowExchanges, "dead_letters": res.DeadLetters} {
		r.purged.WithLabelValues(table).Add(float64(n))
	}
	switch {
	case errors.Is(err, storage.ErrPurgeBusy):
		r.runs.WithLabelValues("busy").Inc()
		r.log.Debug("retention skipped: another process is purging")
		return res, err
	case err != nil:
		r.runs.WithLabelValues("failed").Inc()
		return res, err
	}
	r.runs.WithLabelValues("purged").Inc()
	r.lastRun.SetToCurrentTime()
	r.seconds.Set(took.Seconds())
	r.log.Info("retention purged", "events", res.Events, "deliveries", res.Deliveries,
		"flow_exchanges", res.FlowExchanges, "dead_letters", res.DeadLetters, "took", took.Round(time.Millisecond).String())
	return res, nil
}
