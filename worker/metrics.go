package worker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hooklane/hooklane/storage"
)

type metrics struct {
	events       prometheus.Counter
	deliveries   *prometheus.CounterVec
	batchSize    prometheus.Histogram
	batchSeconds prometheus.Histogram
	writeSeconds prometheus.Histogram
	redeliveries prometheus.Counter
	retries      prometheus.Counter
	deadLetters  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hooklane_worker_events_persisted_total",
			Help: "Events newly written to Postgres.",
		}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hooklane_worker_deliveries_total",
			Help: "Deliveries written (stored) or found already stored (duplicate).",
		}, []string{"result"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hooklane_worker_batch_size",
			Help:    "Messages fetched per batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hooklane_worker_batch_seconds",
			Help:    "Time to decode, write and settle a batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hooklane_worker_write_seconds",
			Help:    "Time of one batch transaction in Postgres.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		redeliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hooklane_worker_redeliveries_total",
			Help: "Messages received more than once.",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hooklane_worker_retries_total",
			Help: "Messages sent back for a delayed redelivery after a transient failure.",
		}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hooklane_worker_dead_letters_total",
			Help: "Messages written to the dead-letter table and terminated.",
		}),
	}
	for _, c := range []prometheus.Collector{m.events, m.deliveries, m.batchSize, m.batchSeconds, m.writeSeconds, m.redeliveries, m.retries, m.deadLetters} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) persisted(res storage.SaveResult) {
	m.events.Add(float64(res.Events))
	m.deliveries.WithLabelValues("stored").Add(float64(res.Deliveries))
	m.deliveries.WithLabelValues("duplicate").Add(float64(res.Duplicates))
}
