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

func (m *metrics) observe(src *Source, outcome string, start time.Time) {
	m.deliveries.WithLabelValues(src.Name, src.Provider.Name(), outcome).Inc()
	m.seconds.WithLabelValues(src.Name).Observe(time.Since(start).Seconds())
}

func jsonString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}
