package gateway_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/hooklane/hooklane/flowlane"
	"github.com/hooklane/hooklane/flowlane/gateway"
	"github.com/hooklane/hooklane/internal/natstest"
)

// TestLargeFlowRequestOnDefaultNATS: a 600 KB Platica flow request travels
// to its responder once, so NATS's default 1 MB max_payload carries it and
// it is answered rather than falling back.
func TestLargeFlowRequestOnDefaultNATS(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true,
		MaxPayload: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	url := srv.ClientURL()
	e := &env{url: url, nc: natstest.ConnectURL(t, url), prefix: natstest.Prefix(t)}
	var got atomic.Int64
	e.responder(t, testLogger(t), func(r *flowlane.Responder) {
		r.Handle("platica", "*", func(_ context.Context, req *flowlane.Request) (*flowlane.Response, error) {
			var in struct{ Note string }
			if err := req.DecodeData(&in); err != nil {
				return nil, err
			}
			got.Store(int64(len(in.Note)))
			return flowlane.Screen("BIG", nil), nil
		})
	})
	note := strings.Repeat("n", 600<<10)
	body := `{"id":"big","event":"whatsapp.flows.screen_advance","data":{"flow":{"id":"flow_big"},"flowResponse":{"flowToken":"tok"},` +
		`"flowExchange":{"action":"data_exchange","screen":"S","version":"3.0","payload":{"note":"` + note + `"}}}}`
	req, err := gateway.ParsePlatica([]byte(body), "platica")
	if err != nil {
		t.Fatal(err)
	}
	res := e.exchanger(t).Exchange(t.Context(), req, gateway.Budget{Total: 10 * time.Second})
	var answer flowlane.Response
	if err := json.Unmarshal(res.Answer, &answer); err != nil || answer.Screen != "BIG" {
		t.Fatalf("a 600 KB flow request on a 1 MB NATS: %s (%s, %v), want screen BIG", res.Answer, res.Outcome, res.Err)
	}
	if n := got.Load(); n != int64(len(note)) {
		t.Errorf("the responder read a note of %d bytes, want %d", n, len(note))
	}
}
