package app

import (
	"time"

	"github.com/hooklane/hooklane/internal/config"
	"github.com/hooklane/hooklane/internal/operate"
	"github.com/hooklane/hooklane/storage"
)

// retention is the background purge every worker runs; it does nothing
// unless the config ages a table.
func (p *Process) retention(store *storage.Store) (*operate.Retention, error) {
	return operate.NewRetention(store, operate.RetentionConfig{
		Retention: StorageRetention(p.cfg.Retention),
		Interval:  p.cfg.Retention.Interval,
		BatchSize: p.cfg.Retention.BatchSize,
		Pause:     p.cfg.Retention.Pause,
	}, p.log, p.registry)
}

// StorageRetention is the config's retention as storage takes it.
func StorageRetention(r config.Retention) storage.Retention {
	return storage.Retention{
		Deliveries: time.Duration(r.Deliveries), Events: time.Duration(r.Events),
		FlowExchanges: time.Duration(r.FlowExchanges), DeadLetters: time.Duration(r.DeadLetters),
	}
}
