package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestOpenLoopSendsWhatItSchedules runs the open loop against a server
// that counts: every scheduled request is sent once, none of those made
// ahead of the clock beyond them, and each is timed from its slot.
func TestOpenLoopSendsWhatItSchedules(t *testing.T) {
	var received atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		received.Add(1)
	}))
	defer srv.Close()
	gen, err := NewGenerator(GeneratorConfig{Sources: testSources(), Retries: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []Config{
		{Rate: 400, Count: 60},
		{Rate: 400, Duration: 150 * time.Millisecond}, // 60 slots
	} {
		received.Store(0)
		cfg.URL, cfg.Generator = srv.URL, gen
		res, _, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res.Sent != 60 || res.Accepted != 60 || received.Load() != 60 {
			t.Errorf("%+v: sent %d, accepted %d, server saw %d; want 60 of each", cfg, res.Sent, res.Accepted, received.Load())
		}
		if res.Ack.N+res.FlowLatency.N != 60 || res.Ack.P50 <= 0 {
			t.Errorf("%+v: %d latencies, p50 %v", cfg, res.Ack.N+res.FlowLatency.N, res.Ack.P50)
		}
	}
}
