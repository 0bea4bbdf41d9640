package operate_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/ingest"
	"github.com/hooklane/hooklane/internal/natstest"
	"github.com/hooklane/hooklane/internal/provider"
	"github.com/hooklane/hooklane/internal/queue"
	"github.com/hooklane/hooklane/storage"
	"github.com/hooklane/hooklane/storage/storagetest"
	"github.com/hooklane/hooklane/worker"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"),
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
	)
}

const whapiSecret = "test-whapi-secret"

// rig is a stream on its own NATS, a store on its own schema, and ingest
// in front of them, with one whapi source and one meta source.
type rig struct {
	js     jetstream.JetStream
	store  *storage.Store
	db     *pgx.Conn
	stream string
	prefix string
	ingest *httptest.Server
}

func newRig(t *testing.T) *rig {
	t.Helper()
	nc := natstest.ConnectURL(t, natstest.URL(t))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	prefix := natstest.Prefix(t)
	r := &rig{js: js, stream: strings.ToUpper(prefix), prefix: prefix}
	if _, err := queue.EnsureStream(t.Context(), js, queue.StreamConfig{Name: r.stream, SubjectPrefix: prefix}); err != nil {
		t.Fatal(err)
	}
	dbURL := storagetest.URL(t)
	if err := storage.Migrate(t.Context(), dbURL); err != nil {
		t.Fatal(err)
	}
	if r.store, err = storage.Open(t.Context(), dbURL, storage.Config{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.store.Close)
	if r.db, err = pgx.Connect(t.Context(), dbURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.db.Close(context.Background()) })

	whapi, _ := provider.Lookup("whapi")
	meta, _ := provider.Lookup("meta")
	h, err := ingest.New(js, ingest.Config{
		Sources: []hooklane.Source{
			{Name: "whapi", Provider: whapi, Secrets: [][]byte{[]byte(whapiSecret)}},
			{Name: "other", Provider: whapi, Secrets: [][]byte{[]byte(whapiSecret)}},
			{Name: "wa", Provider: meta, AllowUnsigned: true},
		},
		Stream: r.stream, SubjectPrefix: prefix,
	}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/webhooks/{source}", h)
	r.ingest = httptest.NewServer(mux)
	t.Cleanup(r.ingest.Close)
	return r
}

// post sends body to source as its provider would, signed, and fails the
// test unless ingest accepts it.
func (r *rig) post(t *testing.T, source, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, r.ingest.URL+"/webhooks/"+source, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, []byte(whapiSecret))
	mac.Write([]byte(body))
	req.Header.Set("X-Whapi-Signature", hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s", source, resp.Status)
	}
}

// whapiMessage is a whapi message_received delivery from phone.
func whapiMessage(id, phone, text string) string {
	return fmt.Sprintf(`{"event_type":"message_received","id":%q,"instance_id":"1","chat_id":"%s@c.us","from":"%s@c.us","body":%q,"type":"text","timestamp":1724716800}`,
		id, phone, phone, text)
}

// startWorker runs a worker on the rig until the test ends.
func (r *rig) startWorker(t *testing.T) {
	t.Helper()
	w, err := worker.New(r.js, r.store, worker.Config{
		Stream: r.stream, SubjectPrefix: r.prefix, Consumer: "workers", BatchSize: 16,
		AckWait: 5 * time.Second, PollWait: 100 * time.Millisecond, MaxDeliveries: 3,
		RetryInitial: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond,
	}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
}

func (r *rig) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := r.db.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// eventually polls cond until it holds, failing the test after a minute:
// long enough for a loaded machine, and only reached when behaviour is wrong.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after a minute: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
