package console

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/ingest"
	"github.com/hooklane/hooklane/internal/httpserver"
	"github.com/hooklane/hooklane/internal/natstest"
	"github.com/hooklane/hooklane/internal/provider"
	"github.com/hooklane/hooklane/internal/queue"
	"github.com/hooklane/hooklane/internal/testlog"
	"github.com/hooklane/hooklane/storage"
	"github.com/hooklane/hooklane/storage/storagetest"
	"github.com/hooklane/hooklane/worker"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"))
}

// The sources every rig serves, one per provider, and their secrets.
var rigSources = []struct{ name, provider, secret string }{
	{"platica", "platica", "platica-secret"},
	{"wa", "meta", "meta-secret"},
	{"whatz", "whatzmeapi", "whatz-secret"},
	{"whapi", "whapi", "whapi-secret"},
}

// rig is the console in front of a real stream and a real database, with
// ingest to post deliveries through and, if asked, a worker storing them.
type rig struct {
	js      jetstream.JetStream
	store   *storage.Store
	db      *pgxpool.Pool
	cfg     Config
	console *Console
	server  *httptest.Server // the console
	ingest  *httptest.Server
	logs    *testlog.Buffer
	reg     *prometheus.Registry
	// noWorker leaves deliveries on the stream, unstored.
	noWorker bool
}

type rigOption func(*rig)

// withoutWorker leaves deliveries on the stream, unstored.
func withoutWorker(r *rig) { r.noWorker = true }

// withConfig changes the console's config before it starts.
func withConfig(f func(*Config)) rigOption { return func(r *rig) { f(&r.cfg) } }

func newRig(t *testing.T, opts ...rigOption) *rig {
	t.Helper()
	ctx := context.Background()
	nc := natstest.ConnectURL(t, natstest.URL(t))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	prefix := natstest.Prefix(t)
	stream := strings.ToUpper(prefix)
	if _, err := queue.EnsureStream(ctx, js, queue.StreamConfig{Name: stream, SubjectPrefix: prefix}); err != nil {
		t.Fatal(err)
	}
	dbURL := storagetest.URL(t)
	if err := storage.Migrate(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	store, err := storage.Open(ctx, dbURL, storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	db, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)

	r := &rig{js: js, store: store, db: db, logs: &testlog.Buffer{}, reg: prometheus.NewRegistry()}
	logger := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", r.logs)
		}
	})
	r.cfg = Config{Addr: "127.0.0.1:0", Stream: stream, SubjectPrefix: prefix, Consumer: prefix + "_worker"}
	for _, s := range rigSources {
		r.cfg.Sources = append(r.cfg.Sources, Source{Name: s.name, Provider: s.provider, FlowBudget: 700 * time.Millisecond})
	}
	for _, o := range opts {
		o(r)
	}

	var sources []hooklane.Source
	for _, s := range rigSources {
		p, _ := provider.Lookup(s.provider)
		sources = append(sources, hooklane.Source{Name: s.name, Provider: p, Secrets: [][]byte{[]byte(s.secret)}})
	}
	h, err := ingest.New(js, ingest.Config{Sources: sources, Stream: stream, SubjectPrefix: prefix}, logger, r.reg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/webhooks/{source}", h)
	r.ingest = httptest.NewServer(httpserver.WithRequestID(mux))
	t.Cleanup(r.ingest.Close)

	if !r.noWorker {
		w, err := worker.New(js, store, worker.Config{
			Stream: stream, SubjectPrefix: prefix, Consumer: r.cfg.Consumer, BatchWait: time.Millisecond,
			PollWait: 200 * time.Millisecond, AckWait: 5 * time.Second,
		}, logger, r.reg)
		if err != nil {
			t.Fatal(err)
		}
		wctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(wctx) }()
		t.Cleanup(func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("worker: %v", err)
			}
		})
	}

	c, err := New(store, js, r.cfg, logger, r.reg)
	if err != nil {
		t.Fatal(err)
	}
	r.console = c
	r.server = httptest.NewServer(httpserver.WithRequestID(c))
	t.Cleanup(r.server.Close)
	return r
}

// post signs body as source's provider does and posts it to ingest,
// which must accept it.
func (r *rig) post(t *testing.T, source, body string) {
	t.Helper()
	var secret, prov string
	for _, s := range rigSources {
		if s.name == source {
			secret, prov = s.secret, s.provider
		}
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	sig := hex.EncodeToString(mac.Sum(nil))
	req, err := http.NewRequest(http.MethodPost, r.ingest.URL+"/webhooks/"+source, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", "req-"+source+"-"+fmt.Sprint(len(body)))
	switch prov {
	case "platica":
		req.Header.Set("X-Webhook-Signature", "sha256="+sig)
	case "meta":
		req.Header.Set("X-Hub-Signature-256", "sha256="+sig)
	case "whatzmeapi":
		req.Header.Set("X-Signature", "sha256="+sig)
	case "whapi":
		req.Header.Set("X-Whapi-Signature", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("post to %s: %d %s", source, resp.StatusCode, b)
	}
}

// get fetches path from the console and returns the status and body.
func (r *rig) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(r.server.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// page fetches path, which must answer 200, and returns the body.
func (r *rig) page(t *testing.T, path string) string {
	t.Helper()
	code, body := r.get(t, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", path, code, body)
	}
	return body
}

// count runs a count query.
func (r *rig) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := r.db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond until it holds. The deadline only stops a test that
// would otherwise hang: a busy machine is slow, not wrong.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after 2 minutes", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitEvents waits until the database holds n events.
func (r *rig) waitEvents(t *testing.T, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d events", n), func() bool { return r.count(t, "SELECT count(*) FROM events") >= n })
}
