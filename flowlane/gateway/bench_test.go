package gateway_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/hooklane/hooklane/flowlane"
	"github.com/hooklane/hooklane/flowlane/gateway"
	"github.com/hooklane/hooklane/internal/natstest"
)

// BenchmarkExchange measures the time hooklane adds to a flow request: one
// exchange with a responder that answers at once, over an embedded NATS
// server. p50-ns and p99-ns are percentiles of the measured exchanges.
func BenchmarkExchange(b *testing.B) {
	e := benchEnv(b)
	e.responder(b, slog.New(slog.DiscardHandler), func(r *flowlane.Responder) {
		r.Handle("platica", "*", func(context.Context, *flowlane.Request) (*flowlane.Response, error) {
			return flowlane.Screen("PAYMENT", map[string]any{"amount_mxn": 499}), nil
		})
	})
	benchExchange(b, e, gateway.OutcomeAnswered)
}

// BenchmarkExchangeNoResponders measures how soon a request nobody serves
// falls back.
func BenchmarkExchangeNoResponders(b *testing.B) {
	benchExchange(b, benchEnv(b), gateway.OutcomeNoResponders)
}

func benchEnv(b *testing.B) *env {
	srv := natstest.Server(b)
	return &env{url: srv.ClientURL(), nc: natstest.Connect(b, srv), prefix: "hooklane"}
}

func benchExchange(b *testing.B, e *env, want gateway.Outcome) {
	x := gateway.NewExchanger(e.nc, gateway.ExchangerConfig{Logger: slog.New(slog.DiscardHandler)})
	body := readTestdata(b, "platica_screen_advance_full.json")
	req, err := gateway.ParsePlatica(body, "platica")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	budget := gateway.Budget{Total: 5 * time.Second}
	var latencies []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		res := x.Exchange(ctx, req, budget)
		if res.Outcome != want {
			b.Fatalf("outcome %s, err %v", res.Outcome, res.Err)
		}
		latencies = append(latencies, res.Latency)
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2]), "p50-ns")
	b.ReportMetric(float64(latencies[len(latencies)*99/100]), "p99-ns")
}

// BenchmarkParsePlatica measures reading a flow request on ingest's path.
func BenchmarkParsePlatica(b *testing.B) {
	body := readTestdata(b, "platica_screen_advance_full.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := gateway.ParsePlatica(body, "platica"); err != nil {
			b.Fatal(err)
		}
	}
}
