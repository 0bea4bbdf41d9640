package ingest

import (
	"encoding/json"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	deliveries     *prometheus.CounterVec
	seconds        *prometheus.HistogramVec
	publishSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hooklane_ingest_deliveries_total",
			Help: "Webhook requests by source, provider and outcome.",
		}, []string{"source", "provider", "outcome"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hooklane_ingest_request_seconds",
			Help:    "Time from reading a delivery to answering it, for accepted deliveries and flow answers.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"source"}),
		publishSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hooklane_ingest_publish_seconds",
			Help:    "Time JetStream took to acknowledge a publish.",
			Buckets: []float64{.0002, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
	}
	for _, c := range []prometheus.Collector{m.deliveries, m.seconds, m.publishSeconds} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// sourceMetrics are one source's series for the outcomes of a 2xx.
type sourceMetrics struct {
	accepted, duplicate, flowAnswered prometheus.Counter
	seconds                           prometheus.Observer
}

func (m *metrics) forSource(name, provider string) sourceMetrics {
	return sourceMetrics{
		accepted:     m.deliveries.WithLabelValues(name, provider, outcomeAccepted),
		duplicate:    m.deliveries.WithLabelValues(name, provider, outcomeDuplicate),
		flowAnswered: m.deliveries.WithLabelValues(name, provider, outcomeFlowAnswered),
		seconds:      m.seconds.WithLabelValues(name),
	}
}

// observe counts a 2xx under outcome and the time it took since start.
func (m sourceMetrics) observe(outcome prometheus.Counter, start time.Time) {
	outcome.Inc()
	m.seconds.Observe(time.Since(start).Seconds())
}

func jsonString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}
