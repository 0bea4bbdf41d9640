package worker

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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
	// The model tables.
	modelWritten   *prometheus.CounterVec
	modelUnchanged *prometheus.CounterVec
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
		modelWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hooklane_worker_model_rows_written_total",
			Help: "Rows of the model tables inserted or changed by new events' facts, by table.",
		}, []string{"table"}),
		modelUnchanged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hooklane_worker_model_merges_unchanged_total",
			Help: "Merges of new events' facts into a model row that changed nothing (a fact older than the row, or one it already held), by table.",
		}, []string{"table"}),
	}
	for _, c := range []prometheus.Collector{m.events, m.deliveries, m.batchSize, m.batchSeconds, m.writeSeconds, m.redeliveries, m.retries, m.deadLetters, m.modelWritten, m.modelUnchanged} {
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
	for table, c := range map[string]storage.ModelCount{
		"messages": res.Model.Messages, "contacts": res.Model.Contacts, "conversations": res.Model.Conversations,
	} {
		m.modelWritten.WithLabelValues(table).Add(float64(c.Written))
		m.modelUnchanged.WithLabelValues(table).Add(float64(c.Unchanged))
	}
}

// consumerCollector reports the shared consumer's backlog, read from
// JetStream when scraped: what waits to be fetched (lag), what is fetched
// but not yet acknowledged, and how long the oldest message no worker has
// stored has waited.
type consumerCollector struct {
	js               jetstream.JetStream
	stream, consumer string
	pending          *prometheus.Desc
	ackPending       *prometheus.Desc
	oldestUnstored   *prometheus.Desc
}

func newConsumerCollector(js jetstream.JetStream, stream, consumer string) *consumerCollector {
	labels := prometheus.Labels{"stream": stream, "consumer": consumer}
	return &consumerCollector{
		js: js, stream: stream, consumer: consumer,
		pending: prometheus.NewDesc("hooklane_worker_consumer_pending",
			"Messages in the stream not yet delivered to a worker (lag).", nil, labels),
		ackPending: prometheus.NewDesc("hooklane_worker_consumer_ack_pending",
			"Messages delivered to workers and not yet acknowledged.", nil, labels),
		oldestUnstored: prometheus.NewDesc("hooklane_stream_oldest_unstored_age_seconds",
			"Age of the oldest message in the stream that no worker has stored yet; 0 when there is none.", nil, labels),
	}
}

func (c *consumerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.ackPending
	ch <- c.oldestUnstored
}

// Collect reports nothing when JetStream does not answer within a second:
// a missing sample is truer than a stale one.
func (c *consumerCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	cons, err := c.js.Consumer(ctx, c.stream, c.consumer)
	if err != nil {
		return
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(info.NumPending))
	ch <- prometheus.MustNewConstMetric(c.ackPending, prometheus.GaugeValue, float64(info.NumAckPending))
	if age, ok := c.oldestAge(ctx, info); ok {
		ch <- prometheus.MustNewConstMetric(c.oldestUnstored, prometheus.GaugeValue, age.Seconds())
	}
}

// oldestAge is the age of the first message after the consumer's ack
// floor that the stream still holds: the oldest no worker has stored.
// Messages acknowledged out of order past the floor are gone already; a
// few are skipped over.
func (c *consumerCollector) oldestAge(ctx context.Context, info *jetstream.ConsumerInfo) (time.Duration, bool) {
	if info.NumPending == 0 && info.NumAckPending == 0 {
		return 0, true
	}
	stream, err := c.js.Stream(ctx, c.stream)
	if err != nil {
		return 0, false
	}
	first := max(info.AckFloor.Stream+1, stream.CachedInfo().State.FirstSeq)
	for seq := first; seq < first+16; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return 0, false
		}
		return max(time.Since(msg.Time), 0), true
	}
	return 0, false
}
