package metricstest_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hooklane/hooklane/internal/metricstest"
)

func TestValue(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g", Help: "a gauge"})
	counters := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "counters"}, []string{"table", "kind"})
	reg.MustRegister(gauge, counters)
	gauge.Set(2.5)
	counters.WithLabelValues("events", "a").Add(3)
	counters.WithLabelValues("events", "b").Add(4)
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"g", nil, 2.5},
		{"c_total", []string{"table", "events", "kind", "b"}, 4},
		{"c_total", []string{"kind", "a"}, 3},
		{"c_total", []string{"table", "deliveries"}, 0},
		{"absent", nil, 0},
	} {
		if got := metricstest.Value(t, reg, tt.name, tt.labels...); got != tt.want {
			t.Errorf("Value(%s, %v) = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
}
