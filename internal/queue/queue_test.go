package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/hooklane/hooklane"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// embedded runs hooklane's own embedded server and connects in process.
func embedded(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	srv, err := Embedded(EmbeddedConfig{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, err := Connect("", "queue-test", slog.New(slog.DiscardHandler), nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func TestCheckPayload(t *testing.T) {
	nc, _ := embedded(t)
	if err := CheckPayload(nc, 4<<20); err != nil {
		t.Errorf("the embedded server refuses the default body limit: %v", err)
	}
	err := CheckPayload(nc, 16<<20)
	if err == nil || !strings.Contains(err.Error(), "max_payload") {
		t.Errorf("a limit past the server's: %v, want advice on max_payload", err)
	}
}

func TestEnsureStreamIsIdempotentAndUpdates(t *testing.T) {
	_, js := embedded(t)
	ctx := context.Background()
	cfg := StreamConfig{Name: "EVENTS", SubjectPrefix: "hl", MaxBytes: 1 << 30}
	if _, err := EnsureStream(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	if err := StreamReady(js, "EVENTS")(ctx); err != nil {
		t.Errorf("ready: %v", err)
	}
	if err := StreamReady(js, "NOPE")(ctx); err == nil {
		t.Error("a missing stream reported ready")
	}
	cfg.MaxBytes = 2 << 30
	s, err := EnsureStream(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxBytes != 2<<30 || len(info.Config.Subjects) != 2 {
		t.Errorf("config %+v: want the new max bytes and both subject trees", info.Config)
	}
}

func TestExchangeRecorderPublishesAndDrainsOnClose(t *testing.T) {
	_, js := embedded(t)
	ctx := context.Background()
	if _, err := EnsureStream(ctx, js, StreamConfig{Name: "EVENTS", SubjectPrefix: "hl"}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	rec, err := NewExchangeRecorder(js, "hl", 100, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		rec.Record(hooklane.FlowExchange{ID: string(rune('a'+i%26)) + strings.Repeat("x", i), Source: "platica", Outcome: "answered"})
	}
	rec.Close(ctx) // publishes everything queued before returning
	s, _ := js.Stream(ctx, "EVENTS")
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 50 {
		t.Fatalf("%d records in the stream after Close, want 50", info.State.Msgs)
	}
	msg, err := s.GetLastMsgForSubject(ctx, hooklane.ExchangeSubject("hl", "platica"))
	if err != nil {
		t.Fatal(err)
	}
	var ex hooklane.FlowExchange
	if err := json.Unmarshal(msg.Data, &ex); err != nil || ex.Source != "platica" {
		t.Errorf("record %s: %v", msg.Data, err)
	}
	if got := testutil.ToFloat64(rec.dropped); got != 0 {
		t.Errorf("dropped %v", got)
	}
}

func TestExchangeRecorderDropsRatherThanBlocks(t *testing.T) {
	_, js := embedded(t) // no stream: every publish fails, and the loop below outruns the publisher
	rec, err := NewExchangeRecorder(js, "hl", 1, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		rec.Record(hooklane.FlowExchange{ID: "x", Source: "s"}) // must never block
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec.Close(ctx)
	if dropped, failed := testutil.ToFloat64(rec.dropped), testutil.ToFloat64(rec.failed); dropped+failed != 100 || dropped == 0 {
		t.Errorf("dropped %v + failed %v, want 100 with some dropped", dropped, failed)
	}
}

func TestEmbeddedListens(t *testing.T) {
	srv, err := Embedded(EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatalf("a client cannot join the embedded server at %s: %v", srv.ClientURL(), err)
	}
	defer nc.Close()
	if err := CheckPayload(nc, 4<<20); err != nil {
		t.Error(err)
	}
	if _, err := Embedded(EmbeddedConfig{StoreDir: t.TempDir(), Listen: "no-port"}); err == nil {
		t.Error("a listen address without a port was accepted")
	}
}

// TestEmbeddedAuth: a listen address without a host binds loopback; one
// other machines reach is refused without a token; with a token, a client
// without it is refused and one with it, by option or in its URL, joins.
func TestEmbeddedAuth(t *testing.T) {
	srv, err := Embedded(EmbeddedConfig{StoreDir: t.TempDir(), Listen: ":0"})
	if err != nil {
		t.Fatal(err)
	}
	if host := srv.Addr().(*net.TCPAddr).IP; !host.IsLoopback() {
		t.Errorf("listen \":0\" bound %s, want loopback", host)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	for _, listen := range []string{"0.0.0.0:0", "[::]:0", "192.0.2.1:4222"} {
		if _, err := Embedded(EmbeddedConfig{StoreDir: t.TempDir(), Listen: listen}); err == nil || !strings.Contains(err.Error(), "token") {
			t.Errorf("listen %s without a token: %v, want a refusal that asks for a token", listen, err)
		}
	}

	srv, err = Embedded(EmbeddedConfig{StoreDir: t.TempDir(), Listen: "0.0.0.0:0", Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	port := srv.Addr().(*net.TCPAddr).Port
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Error("a client without the token joined")
	}
	if nc, err := nats.Connect(url, nats.Token("guess")); err == nil {
		nc.Close()
		t.Error("a client with a wrong token joined")
	}
	for _, opts := range [][]nats.Option{{nats.Token("s3cret")}, nil, {nats.InProcessServer(srv), nats.Token("s3cret")}} {
		u := url
		if opts == nil {
			u = fmt.Sprintf("nats://s3cret@127.0.0.1:%d", port)
		}
		nc, err := nats.Connect(u, opts...)
		if err != nil {
			t.Fatalf("a client with the token (%s, %d options): %v", u, len(opts), err)
		}
		nc.Close()
	}
}

func TestEmbeddedSyncAlways(t *testing.T) {
	for _, always := range []bool{false, true} {
		srv, err := Embedded(EmbeddedConfig{StoreDir: t.TempDir(), SyncAlways: always})
		if err != nil {
			t.Fatal(err)
		}
		if got := srv.JetStreamConfig().SyncAlways; got != always {
			t.Errorf("SyncAlways %v: the server's JetStream syncs always = %v", always, got)
		}
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}
