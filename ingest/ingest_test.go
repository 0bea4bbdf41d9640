package ingest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/httpserver"
	"github.com/hooklane/hooklane/internal/natstest"
	"github.com/hooklane/hooklane/internal/provider"
	"github.com/hooklane/hooklane/internal/queue"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	platicaSecret = "platica-secret"
	whatzSecret   = "whatz-secret"
	whatzBearer   = "whatz-bearer"
	metaSecret    = "meta-secret"
	metaToken     = "meta-verify-token"
)

// rig is an ingest handler in front of a real JetStream stream.
type rig struct {
	logs    *logBuffer
	js      jetstream.JetStream
	stream  string
	handler *Handler
	http    http.Handler
	reg     *prometheus.Registry
}

// newRig uses the NATS at TEST_NATS_URL, else an embedded one.
func newRig(t testing.TB, maxBody int64) *rig {
	t.Helper()
	return newRigOn(t, natstest.URL(t), maxBody)
}

// newStream connects to the NATS at natsURL as ingest does and makes a
// stream of the test's own, under a prefix of its own.
func newStream(t testing.TB, natsURL string) (js jetstream.JetStream, stream, prefix string) {
	t.Helper()
	nc, err := queue.Connect(natsURL, "ingest-test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	prefix = natstest.Prefix(t)
	stream = strings.ToUpper(prefix)
	if _, err := queue.EnsureStream(context.Background(), js, queue.StreamConfig{Name: stream, SubjectPrefix: prefix}); err != nil {
		t.Fatal(err)
	}
	return js, stream, prefix
}

func newRigOn(t testing.TB, natsURL string, maxBody int64) *rig {
	t.Helper()
	js, stream, prefix := newStream(t, natsURL)
	lookup := func(name string) hooklane.Provider {
		p, ok := provider.Lookup(name)
		if !ok {
			t.Fatalf("no provider %s", name)
		}
		return p
	}
	reg := prometheus.NewRegistry()
	logs := &logBuffer{}
	h, err := New(js, Config{
		Sources: []hooklane.Source{
			{Name: "platica", Provider: lookup("platica"), Secrets: [][]byte{[]byte("old"), []byte(platicaSecret)}},
			{Name: "wa", Provider: lookup("meta"), Secrets: [][]byte{[]byte(metaSecret)}, VerifyToken: metaToken},
			{Name: "whatz", Provider: lookup("whatzmeapi"), Secrets: [][]byte{[]byte(whatzSecret)}, BearerToken: whatzBearer},
			{Name: "dev", Provider: lookup("whapi"), AllowUnsigned: true},
		},
		Stream:         stream,
		SubjectPrefix:  prefix,
		MaxBodyBytes:   maxBody,
		PublishTimeout: 10 * time.Second,
		RetryAfter:     3 * time.Second,
	}, slog.New(slog.NewJSONHandler(logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/webhooks/{source}", h)
	return &rig{logs: logs, js: js, stream: stream, handler: h, http: httpserver.WithRequestID(mux), reg: reg}
}

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu    sync.Mutex
	lines []map[string]any
}

func (b *logBuffer) Write(p []byte) (int, error) {
	var line map[string]any
	if err := json.Unmarshal(p, &line); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, line)
	return len(p), nil
}

// since returns the lines logged after the first n.
func (b *logBuffer) since(n int) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.lines[n:])
}

func (b *logBuffer) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.lines)
}

func (r *rig) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	r.http.ServeHTTP(rec, req)
	return rec
}

// queued is the number of messages in the stream.
func (r *rig) queued(t testing.TB) uint64 {
	t.Helper()
	s, err := r.js.Stream(context.Background(), r.stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func (r *rig) outcomes(source, prov, outcome string) float64 {
	return testutil.ToFloat64(r.handler.metrics.deliveries.WithLabelValues(source, prov, outcome))
}

func sign(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func post(path, body string, header ...string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}

const platicaBody = `{"id":"d-1","event":"message.created","workspaceId":"ws_1","timestamp":"2026-05-06T19:00:00.000Z","source":"whatsapp","resourceType":"message","resourceId":"m-1","changes":null,"data":{}}`

func TestAcceptedDeliveryIsQueuedWithMetadata(t *testing.T) {
	r := newRig(t, 0)
	req := post("/webhooks/platica", platicaBody,
		"X-Webhook-Signature", sign(platicaSecret, platicaBody), "X-Webhook-Id", "hook-7", "X-Request-Id", "req-42",
		"Authorization", "Bearer must-not-be-kept")
	rec := r.do(req)
	if rec.Code != http.StatusOK || rec.Body.String() != "{\"ok\":true}\n" {
		t.Fatalf("got %d %q", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("X-Request-Id"); got != "req-42" {
		t.Errorf("X-Request-Id = %q, want the caller's", got)
	}
	s, _ := r.js.Stream(context.Background(), r.stream)
	msg, err := s.GetLastMsgForSubject(context.Background(), ">")
	if err != nil {
		t.Fatal(err)
	}
	d, err := hooklane.FromMsg(msg.Header, msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Body) != platicaBody {
		t.Errorf("body changed on the way: %q", d.Body)
	}
	if d.Source != "platica" || d.Provider != "platica" || d.EventType != "message.created" || d.DedupeKey != "d-1" || d.RequestID != "req-42" {
		t.Errorf("metadata = %+v", d)
	}
	if !strings.HasSuffix(msg.Subject, ".events.platica.message.created") {
		t.Errorf("subject = %s", msg.Subject)
	}
	if d.Headers.Get("X-Webhook-Id") != "hook-7" || d.Headers.Get("Authorization") != "" {
		t.Errorf("kept headers = %v", d.Headers)
	}
	if got := msg.Header.Get("Nats-Msg-Id"); got != "platica:d-1" {
		t.Errorf("Nats-Msg-Id = %q", got)
	}
}

func TestRetryIsDeduplicatedByJetStream(t *testing.T) {
	r := newRig(t, 0)
	for range 3 {
		if rec := r.do(post("/webhooks/platica", platicaBody, "X-Webhook-Signature", sign(platicaSecret, platicaBody))); rec.Code != http.StatusOK {
			t.Fatalf("got %d %s", rec.Code, rec.Body)
		}
	}
	if n := r.queued(t); n != 1 {
		t.Errorf("queued %d messages, want 1", n)
	}
	if got := r.outcomes("platica", "platica", outcomeDuplicate); got != 2 {
		t.Errorf("duplicate outcomes = %v, want 2", got)
	}
}

func TestRejections(t *testing.T) {
	whatzBody := `{"event":"messages.upsert","messages":[{"key":{"id":"A1","fromMe":false,"remoteJid":"521@s.whatsapp.net"}}]}`
	notJSON := `event=message.created`
	tests := []struct {
		name     string
		req      *http.Request
		status   int
		source   string
		outcome  string
		contains string
	}{
		{"unknown source", post("/webhooks/nope", platicaBody), 404, "unknown", outcomeUnknownSource, "unknown source"},
		{"wrong method", httptest.NewRequest(http.MethodPut, "/webhooks/platica", nil), 405, "platica", outcomeMethod, "PUT"},
		{"get on a non-meta source", httptest.NewRequest(http.MethodGet, "/webhooks/platica", nil), 405, "platica", outcomeMethod, "GET"},
		{"missing signature", post("/webhooks/platica", platicaBody), 401, "platica", outcomeBadSignature, "missing"},
		{"wrong secret", post("/webhooks/platica", platicaBody, "X-Webhook-Signature", sign("guess", platicaBody)), 401, "platica", outcomeBadSignature, "mismatch"},
		{"signature over other bytes", post("/webhooks/platica", platicaBody+" ", "X-Webhook-Signature", sign(platicaSecret, platicaBody)), 401, "platica", outcomeBadSignature, "mismatch"},
		{"bearer missing", post("/webhooks/whatz", whatzBody, "X-Signature", sign(whatzSecret, whatzBody)), 401, "whatz", outcomeUnauthorized, "bearer"},
		{"bearer wrong", post("/webhooks/whatz", whatzBody, "X-Signature", sign(whatzSecret, whatzBody), "Authorization", "Bearer nope"), 401, "whatz", outcomeUnauthorized, "bearer"},
		{"signed but not JSON", post("/webhooks/platica", notJSON, "X-Webhook-Signature", sign(platicaSecret, notJSON)), 400, "platica", outcomeBadJSON, "JSON"},
		{"signed JSON array", post("/webhooks/platica", `[1]`, "X-Webhook-Signature", sign(platicaSecret, `[1]`)), 400, "platica", outcomeBadJSON, "JSON"},
		{"handshake wrong token", httptest.NewRequest(http.MethodGet, "/webhooks/wa?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1", nil), 403, "wa", outcomeHandshakeFailed, "token"},
		{"handshake wrong mode", httptest.NewRequest(http.MethodGet, "/webhooks/wa?hub.mode=unsubscribe&hub.verify_token="+metaToken+"&hub.challenge=1", nil), 403, "wa", outcomeHandshakeFailed, "mode"},
	}
	r := newRig(t, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prov := ""
			if tt.source != "unknown" {
				prov = r.handler.sources[tt.source].Provider.Name()
			}
			before := r.outcomes(tt.source, prov, tt.outcome)
			logged := r.logs.len()
			rec := r.do(tt.req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tt.status, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("body %q does not say %q", rec.Body, tt.contains)
			}
			if got := r.outcomes(tt.source, prov, tt.outcome); got != before+1 {
				t.Errorf("metric outcome=%s went %v → %v", tt.outcome, before, got)
			}
			if n := r.queued(t); n != 0 {
				t.Errorf("%d messages queued after a rejection", n)
			}
			// Logged once, with the source, the reason and the request id
			// the answer carries; never the body.
			lines := r.logs.since(logged)
			if len(lines) != 1 {
				t.Fatalf("%d log lines for one rejection: %v", len(lines), lines)
			}
			line := lines[0]
			if line["reason"] != tt.outcome || line["request_id"] != rec.Header().Get("X-Request-Id") || line["request_id"] == "" {
				t.Errorf("log line %v: want reason %s and request id %q", line, tt.outcome, rec.Header().Get("X-Request-Id"))
			}
			if _, ok := line["source"]; !ok {
				t.Errorf("log line without source: %v", line)
			}
			raw, _ := json.Marshal(line)
			for _, leak := range []string{platicaSecret, whatzSecret, whatzBearer, metaSecret, metaToken, "workspaceId", "remoteJid"} {
				if strings.Contains(string(raw), leak) {
					t.Errorf("log line leaks %q: %s", leak, raw)
				}
			}
		})
	}
	if rec := r.do(httptest.NewRequest(http.MethodPut, "/webhooks/wa", nil)); rec.Header().Get("Allow") != "GET, POST" {
		t.Errorf("Allow for meta = %q", rec.Header().Get("Allow"))
	}
}

func TestBodyLimit(t *testing.T) {
	r := newRig(t, 1024)
	big := `{"id":"big","event":"message.created","pad":"` + strings.Repeat("x", 2048) + `"}`
	declared := post("/webhooks/platica", big, "X-Webhook-Signature", sign(platicaSecret, big))
	// A body that declares no length is cut off by the bounded reader.
	chunked := post("/webhooks/platica", big, "X-Webhook-Signature", sign(platicaSecret, big))
	chunked.ContentLength = -1
	chunked.Body = io.NopCloser(strings.NewReader(big))
	// A body that claims to be small is still counted as it is read.
	lying := post("/webhooks/platica", big, "X-Webhook-Signature", sign(platicaSecret, big))
	lying.ContentLength = 10
	for name, req := range map[string]*http.Request{"declared": declared, "chunked": chunked, "lying": lying} {
		if rec := r.do(req); rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: status %d, want 413", name, rec.Code)
		}
	}
	if n := r.queued(t); n != 0 {
		t.Errorf("%d messages queued", n)
	}
	if got := r.outcomes("platica", "platica", outcomeTooLarge); got != 3 {
		t.Errorf("too_large outcomes = %v, want 3", got)
	}
}

func TestMetaHandshake(t *testing.T) {
	r := newRig(t, 0)
	rec := r.do(httptest.NewRequest(http.MethodGet, "/webhooks/wa?hub.mode=subscribe&hub.verify_token="+metaToken+"&hub.challenge=1158201444", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "1158201444" {
		t.Fatalf("got %d %q, want the challenge echoed", rec.Code, rec.Body)
	}
}

func TestBearerAndSignatureAccepted(t *testing.T) {
	r := newRig(t, 0)
	body := `{"event":"messages.update","statuses":[{"id":"A1","status":"delivered"},{"id":"A1","status":"read"}]}`
	rec := r.do(post("/webhooks/whatz", body, "X-Signature", sign(whatzSecret, body), "Authorization", "Bearer "+whatzBearer))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"ok":true`) {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
}

func TestUnknownEventTypeAccepted(t *testing.T) {
	r := newRig(t, 0)
	body := `{"id":"d-9","event":"something.new","workspaceId":"ws"}`
	if rec := r.do(post("/webhooks/platica", body, "X-Webhook-Signature", sign(platicaSecret, body))); rec.Code != http.StatusOK {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	if n := r.queued(t); n != 1 {
		t.Fatalf("queued %d, want 1", n)
	}
}

func TestAllowUnsignedSource(t *testing.T) {
	r := newRig(t, 0)
	if rec := r.do(post("/webhooks/dev", `{"event_type":"test_webhook"}`)); rec.Code != http.StatusOK {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
}

func TestNoSecretRefusedWithoutAllowUnsigned(t *testing.T) {
	p, _ := provider.Lookup("whapi")
	_, err := New(nil, Config{Sources: []hooklane.Source{{Name: "open", Provider: p}}}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err == nil {
		t.Fatal("a source with no secret was accepted")
	}
}

func TestQueueUnavailable(t *testing.T) {
	srv := natstest.Server(t)
	r := newRigOn(t, srv.ClientURL(), 0)
	srv.Shutdown()
	srv.WaitForShutdown()
	rec := r.do(post("/webhooks/platica", platicaBody, "X-Webhook-Signature", sign(platicaSecret, platicaBody)))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503 (%s)", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Retry-After"); got != "3" {
		t.Errorf("Retry-After = %q, want 3", got)
	}
	if got := r.outcomes("platica", "platica", outcomeQueueUnavailable); got != 1 {
		t.Errorf("queue_unavailable outcomes = %v", got)
	}
}

func TestPublishIntoAnotherStreamIsRefused(t *testing.T) {
	r := newRig(t, 0)
	p, _ := provider.Lookup("platica")
	h, err := New(r.js, Config{
		Sources:       []hooklane.Source{{Name: "platica", Provider: p, Secrets: [][]byte{[]byte(platicaSecret)}}},
		Stream:        "NOT_THE_STREAM", // the subject is captured by r.stream
		SubjectPrefix: r.handler.cfg.SubjectPrefix,
	}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/webhooks/{source}", h)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, post("/webhooks/platica", platicaBody, "X-Webhook-Signature", sign(platicaSecret, platicaBody)))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: the delivery would land outside the configured stream", rec.Code)
	}
}
