package queue

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hooklane/hooklane"
)

// ExchangeRecorder publishes flow exchange records to JetStream from a
// goroutine of its own, so recording never delays a flow's answer. Records
// that find its buffer full are dropped, logged and counted.
type ExchangeRecorder struct {
	js      jetstream.JetStream
	prefix  string
	log     *slog.Logger
	records chan hooklane.FlowExchange
	done    chan struct{}
	close   sync.Once
	dropped prometheus.Counter
	failed  prometheus.Counter
}

// NewExchangeRecorder starts a recorder publishing under prefix, holding
// up to buffer records. Close stops it. Its metrics are registered with reg.
func NewExchangeRecorder(js jetstream.JetStream, prefix string, buffer int, logger *slog.Logger, reg prometheus.Registerer) (*ExchangeRecorder, error) {
	r := &ExchangeRecorder{
		js:      js,
		prefix:  prefix,
		log:     logger,
		records: make(chan hooklane.FlowExchange, buffer),
		done:    make(chan struct{}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hooklane_flow_records_dropped_total",
			Help: "Flow exchange records dropped because the recorder's buffer was full.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hooklane_flow_records_failed_total",
			Help: "Flow exchange records JetStream did not acknowledge.",
		}),
	}
	for _, c := range []prometheus.Collector{r.dropped, r.failed} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	go r.run()
	return r, nil
}

// Record queues ex for publishing without blocking. It must not be called
// after Close.
func (r *ExchangeRecorder) Record(ex hooklane.FlowExchange) {
	select {
	case r.records <- ex:
	default:
		r.dropped.Inc()
		r.log.Warn("flow exchange record dropped: recorder buffer full", "source", ex.Source, "flow_id", ex.FlowID)
	}
}

// Close publishes what is queued, waiting at most until ctx is done, and
// stops the recorder. Call it once nothing records any more.
func (r *ExchangeRecorder) Close(ctx context.Context) {
	r.close.Do(func() { close(r.records) })
	select {
	case <-r.done:
	case <-ctx.Done():
		r.log.Warn("flow exchange records left unpublished at shutdown", "queued", len(r.records))
	}
}

func (r *ExchangeRecorder) run() {
	defer close(r.done)
	for ex := range r.records {
		r.publish(ex)
	}
}

func (r *ExchangeRecorder) publish(ex hooklane.FlowExchange) {
	data, err := json.Marshal(ex)
	if err != nil {
		r.failed.Inc()
		r.log.Error("flow exchange record not encodable", "source", ex.Source, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = r.js.Publish(ctx, hooklane.ExchangeSubject(r.prefix, ex.Source), data, jetstream.WithMsgID("exchange:"+ex.ID))
	if err != nil {
		r.failed.Inc()
		r.log.Warn("flow exchange record not published", "source", ex.Source, "flow_id", ex.FlowID, "err", err)
	}
}
