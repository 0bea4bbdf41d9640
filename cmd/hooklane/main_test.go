package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/hooklane/hooklane/internal/app"
	"github.com/hooklane/hooklane/internal/app/apptest"
	"github.com/hooklane/hooklane/internal/natstest"
	"github.com/hooklane/hooklane/internal/provider"
	"github.com/hooklane/hooklane/internal/testlog"
	"github.com/hooklane/hooklane/storage/storagetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// pgx and nats-server leave these behind briefly after Close.
		goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"),
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
	)
}

// instance is a running "hooklane all" and the database it writes to.
type instance struct {
	url string
	db  string
}

// vector is one signed sample from testdata/signatures.json.
type vector struct {
	File      string `json:"file"`
	Provider  string `json:"provider"`
	Header    string `json:"header"`
	Signature string `json:"signature"`
	body      []byte
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/signatures.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	for i := range vs {
		if vs[i].body, err = os.ReadFile(filepath.Join("../../testdata/payloads", vs[i].File)); err != nil {
			t.Fatal(err)
		}
	}
	return vs
}

// startAll runs "hooklane all" with a source per provider, named after it,
// keyed with the testdata secrets. natsURL empty embeds NATS.
func startAll(t *testing.T, natsURL string) *instance {
	t.Helper()
	return startWith(t, natsURL, "  publish_timeout: 10s", `
  - {name: platica, provider: platica, secrets: [platica-test-secret], flows: {budget: 10s}}
  - {name: meta, provider: meta, secrets: [meta-test-app-secret, app_secret_123], verify_token: vt}
  - {name: whatzmeapi, provider: whatzmeapi, secrets: [whatzmeapi-test-secret]}
  - {name: whapi, provider: whapi, secrets: [whapi-test-secret]}`)
}

// startWith runs "hooklane all" on a schema of its own, with the ingest
// section and the sources given as YAML, and returns once it is ready (the
// demo responder subscribed too). It stops, and must stop cleanly, when the
// test ends.
func startWith(t *testing.T, natsURL, ingestYAML, sourcesYAML string) *instance {
	t.Helper()
	db := storagetest.URL(t)
	prefix := natstest.Prefix(t)
	cfgFile := filepath.Join(t.TempDir(), "hooklane.yaml")
	cfg := fmt.Sprintf(`
addr: 127.0.0.1:0
database_url: %q
nats:
  url: %q
  store_dir: %q
  subject_prefix: %s
  stream: %s
ingest:
%s
worker:
  consumer: %s_worker
  ack_wait: 2s
console:
  addr: 127.0.0.1:0
sources:
%s
`, db, natsURL, filepath.Join(t.TempDir(), "nats"), prefix, strings.ToUpper(prefix), ingestYAML, prefix, sourcesYAML)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, logs := startRole(t, "all", cfgFile, func(string) string { return "" })
	g := instance{url: "http://" + addr, db: db}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(g.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return &g
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within a minute\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startRole runs "hooklane <role>" with cfgFile and getenv until the test
// ends (see apptest.Start).
func startRole(t *testing.T, role, cfgFile string, getenv func(string) string) (string, *testlog.Buffer) {
	t.Helper()
	return apptest.Start(t, run, []string{role, "--config", cfgFile}, getenv)
}

func (g *instance) send(t *testing.T, v vector) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.url+"/webhooks/"+v.Provider, bytes.NewReader(v.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(v.Header, v.Signature)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// count runs a counting query against the gateway's database.
func (g *instance) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, g.db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// waitCount waits, at most a minute, for sql to count want, and fails
// with the last count otherwise. The bound is for a stuck pipeline, not a
// speed requirement.
func (g *instance) waitCount(t *testing.T, want int, sql string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got := g.count(t, sql, args...)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d, want %d", sql, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestEverySampleStoredOnce(t *testing.T) {
	t.Parallel()
	g := startAll(t, "")
	vectors := loadVectors(t)
	wantEvents := map[string]bool{}
	wantDeliveries := map[string]bool{}
	for _, v := range vectors {
		p, _ := provider.Lookup(v.Provider)
		sum, err := p.Inspect(v.body)
		if err != nil {
			t.Fatalf("%s: %v", v.File, err)
		}
		wantDeliveries[v.Provider+"/"+sum.DedupeKey] = true
		events, err := p.Events(v.body)
		if err != nil {
			t.Fatalf("%s: %v", v.File, err)
		}
		for _, e := range events {
			wantEvents[v.Provider+"/"+e.Key] = true
		}
	}
	// Every sample twice: the second round are retries.
	for round := range 2 {
		for _, v := range vectors {
			if resp := g.send(t, v); resp.StatusCode != http.StatusOK {
				t.Fatalf("round %d %s: status %d", round, v.File, resp.StatusCode)
			}
		}
	}
	g.waitCount(t, len(wantDeliveries), "SELECT count(*) FROM deliveries")
	g.waitCount(t, len(wantEvents), "SELECT count(*) FROM events")
	time.Sleep(300 * time.Millisecond) // a late duplicate would land by now
	if n := g.count(t, "SELECT count(*) FROM events"); n != len(wantEvents) {
		t.Fatalf("events = %d after settling, want %d", n, len(wantEvents))
	}

	// The fan-out and the idempotency traps, checked by their real keys.
	checks := []struct {
		what string
		want int
		sql  string
	}{
		{"a 3-message Meta batch gives 3 message events", 3,
			`SELECT count(*) FROM events e JOIN deliveries d ON d.id = e.delivery_id
			 WHERE d.source = 'meta' AND d.body = $1 AND e.event_type = 'message'`},
		{"whapi delivered and read of one message are both stored", 2,
			`SELECT count(*) FROM events WHERE source = 'whapi' AND event_key LIKE 'ack:%'`},
		{"WhatzMeAPI delivered and read of one message are both stored", 2,
			`SELECT count(DISTINCT event_key) FROM events e JOIN deliveries d ON d.id = e.delivery_id
			 WHERE d.source = 'whatzmeapi' AND d.body = $1`},
		{"Meta sent, delivered and read of one wamid are 3 events", 3,
			`SELECT count(*) FROM events e JOIN deliveries d ON d.id = e.delivery_id
			 WHERE d.source = 'meta' AND d.body = $1`},
	}
	args := [][]byte{
		mustRead(t, "meta/messages_batch.json"), nil,
		mustRead(t, "whatzmeapi/messages_update.json"), mustRead(t, "meta/statuses.json"),
	}
	for i, c := range checks {
		var got int
		if args[i] != nil {
			got = g.count(t, c.sql, args[i])
		} else {
			got = g.count(t, c.sql)
		}
		if got != c.want {
			t.Errorf("%s: got %d", c.what, got)
		}
	}
	// The raw delivery is kept byte for byte, with its headers.
	body := mustRead(t, "whapi/message_received.json")
	if n := g.count(t, `SELECT count(*) FROM deliveries WHERE body = $1 AND headers ? 'X-Whapi-Signature'`, body); n != 1 {
		t.Errorf("raw whapi delivery with its signature header stored %d times, want 1", n)
	}
}

func mustRead(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../testdata/payloads", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBadSignatureStoresNothing(t *testing.T) {
	t.Parallel()
	g := startAll(t, "")
	good := loadVectors(t)[0]
	bad := good
	bad.Signature = strings.Replace(good.Signature, good.Signature[len(good.Signature)-4:], "0000", 1)
	if resp := g.send(t, bad); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad signature: status %d, want 401", resp.StatusCode)
	}
	// A good delivery after it is the marker that the pipeline has drained.
	if resp := g.send(t, good); resp.StatusCode != http.StatusOK {
		t.Fatalf("good delivery: status %d", resp.StatusCode)
	}
	g.waitCount(t, 1, "SELECT count(*) FROM deliveries")
	if n := g.count(t, "SELECT count(*) FROM dead_letters"); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}

// uniqueWhapi is the i-th distinct signed whapi message.
func uniqueWhapi(i int) vector {
	body := fmt.Sprintf(`{"event_type":"message_received","id":"OUTAGE-%d","instance_id":"123","chat_id":"573001112233@c.us","from":"573001112233@c.us","body":"hola %d","type":"text","timestamp":1724716800}`, i, i)
	return vector{Provider: "whapi", Header: "X-Whapi-Signature", Signature: hmacHex("whapi-test-secret", body), body: []byte(body)}
}

func TestJetStreamOutageLosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	srv := natstest.Server(t)
	g := startAll(t, srv.ClientURL())
	var acked []string
	sendAll := func(from, to int) (ok, unavailable int) {
		for i := from; i < to; i++ {
			v := uniqueWhapi(i)
			switch resp := g.send(t, v); resp.StatusCode {
			case http.StatusOK:
				ok++
				acked = append(acked, fmt.Sprintf("OUTAGE-%d", i))
			case http.StatusServiceUnavailable:
				unavailable++
				if resp.Header.Get("Retry-After") == "" {
					t.Errorf("503 without Retry-After")
				}
			default:
				t.Fatalf("delivery %d: status %d", i, resp.StatusCode)
			}
		}
		return ok, unavailable
	}
	if ok, _ := sendAll(0, 20); ok != 20 {
		t.Fatalf("before the outage %d of 20 accepted", ok)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	if ok, unavailable := sendAll(20, 30); ok != 0 || unavailable != 10 {
		t.Fatalf("during the outage: %d accepted, %d unavailable; want 0 and 10", ok, unavailable)
	}
	natstest.RestartServer(t, srv)
	// The gateway reconnects by itself; the first 200 shows it is back.
	deadline := time.Now().Add(time.Minute)
	for i := 30; ; i++ {
		if ok, _ := sendAll(i, i+1); ok == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ingest did not recover within a minute of NATS returning")
		}
		time.Sleep(100 * time.Millisecond)
	}
	sendAll(1000, 1020)
	for _, id := range acked {
		g.waitCount(t, 1, "SELECT count(*) FROM events WHERE source = 'whapi' AND resource_id = $1", id)
	}
}

func hmacHex(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

func TestProbe(t *testing.T) {
	ok := httptestServer(t, http.StatusOK)
	down := httptestServer(t, http.StatusServiceUnavailable)
	e := app.Env{Getenv: func(string) string { return "" }, Stdout: io.Discard, Stderr: io.Discard}
	if err := run(context.Background(), []string{"probe", ok}, e); err != nil {
		t.Errorf("probe of a 200: %v", err)
	}
	if err := run(context.Background(), []string{"probe", down}, e); err == nil {
		t.Error("probe of a 503 succeeded")
	}
}

func httptestServer(t *testing.T, status int) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	t.Cleanup(srv.Close)
	return srv.URL + "/readyz"
}

func TestPlaticaFlowAnsweredRecordedAndStored(t *testing.T) {
	t.Parallel()
	g := startAll(t, "")
	var flows []vector
	for _, v := range loadVectors(t) {
		if strings.HasPrefix(v.File, "platica/flows_") {
			flows = append(flows, v)
		}
	}
	if len(flows) < 3 {
		t.Fatalf("%d flows samples in testdata", len(flows))
	}
	// Flows are not a way around verification.
	forged := flows[0]
	forged.Signature = "sha256=" + hmacHex("guess", string(forged.body))
	if resp := g.send(t, forged); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged flows delivery: status %d, want 401", resp.StatusCode)
	}
	for _, v := range flows {
		req, _ := http.NewRequest(http.MethodPost, g.url+"/webhooks/platica", bytes.NewReader(v.body))
		req.Header.Set(v.Header, v.Signature)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !(bytes.Contains(answer, []byte(`"screen"`)) || bytes.Contains(answer, []byte(`"products"`))) {
			t.Errorf("%s: %d %s, want the demo's answer", v.File, resp.StatusCode, answer)
		}
	}
	g.waitCount(t, len(flows), "SELECT count(*) FROM flow_exchanges WHERE outcome = 'answered' AND flow_id = 'flow_doc_abc'")
	// Each exchange is recorded, while samples that share Platica's
	// delivery id are one delivery.
	ids := map[string]bool{}
	platica, _ := provider.Lookup("platica")
	for _, v := range flows {
		sum, err := platica.Inspect(v.body)
		if err != nil {
			t.Fatal(err)
		}
		ids[sum.DedupeKey] = true
	}
	g.waitCount(t, len(ids), "SELECT count(*) FROM deliveries WHERE event_type LIKE 'whatsapp.flows.%'")
}

// scrape reads the value of the series name{labels} from /metrics, or -1
// when it is absent.
func (g *instance) scrape(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	resp, err := http.Get(g.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	family, ok := families[name]
	if !ok {
		return -1
	}
next:
	for _, m := range family.GetMetric() {
		for k, v := range labels {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

func TestMetricsMove(t *testing.T) {
	t.Parallel()
	g := startAll(t, "")
	accepted := map[string]string{"source": "whapi", "provider": "whapi", "outcome": "accepted"}
	rejected := map[string]string{"source": "whapi", "provider": "whapi", "outcome": "bad_signature"}
	if got := g.scrape(t, "hooklane_ingest_deliveries_total", accepted); got > 0 {
		t.Fatalf("accepted before any delivery: %v", got)
	}
	for i := range 3 {
		if resp := g.send(t, uniqueWhapi(i)); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	forged := uniqueWhapi(99)
	forged.Signature = hmacHex("guess", string(forged.body))
	g.send(t, forged)
	// A flow exchange, with a request id of the caller's.
	flow := mustRead(t, "platica/flows_init.json")
	req, _ := http.NewRequest(http.MethodPost, g.url+"/webhooks/platica", bytes.NewReader(flow))
	req.Header.Set("X-Webhook-Signature", "sha256="+hmacHex("platica-test-secret", string(flow)))
	req.Header.Set("X-Request-Id", "req-e2e-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Request-Id") != "req-e2e-1" {
		t.Fatalf("flow: status %d, request id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	g.waitCount(t, 4, "SELECT count(*) FROM events")
	g.waitCount(t, 1, "SELECT count(*) FROM deliveries WHERE request_id = 'req-e2e-1'")

	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"hooklane_ingest_deliveries_total", accepted, 3},
		{"hooklane_ingest_deliveries_total", rejected, 1},
		{"hooklane_ingest_request_seconds", map[string]string{"source": "whapi"}, 3},
		{"hooklane_ingest_publish_seconds", nil, 4}, // the flow delivery is queued too
		{"hooklane_worker_events_persisted_total", nil, 4},
		{"hooklane_flow_exchanges_total", map[string]string{"source": "platica", "outcome": "answered"}, 1},
		{"hooklane_flow_seconds", map[string]string{"source": "platica"}, 1},
		{"hooklane_worker_consumer_pending", nil, 0},
		{"hooklane_worker_consumer_ack_pending", nil, 0},
	}
	deadline := time.Now().Add(time.Minute) // acks land just after the commit
	for _, c := range checks {
		for {
			got := g.scrape(t, c.name, c.labels)
			if got == c.want {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestCommandLine checks what main turns into its exit code: --help and
// help succeed (0), a command line hooklane does not understand is a usage
// error (2).
func TestCommandLine(t *testing.T) {
	for _, tt := range []struct {
		args      []string
		help      bool // flag.ErrHelp, or nil
		usage     bool // app.ErrUsage
		wantInOut string
	}{
		{args: []string{"help"}, wantInOut: "usage: hooklane <command>"},
		{args: []string{"--help"}, wantInOut: "usage: hooklane <command>"},
		{args: []string{"all", "--help"}, help: true, wantInOut: "usage: hooklane all"},
		{args: []string{"worker", "-h"}, help: true, wantInOut: "usage: hooklane worker"},
		{args: []string{"probe", "--help"}, wantInOut: "usage: hooklane probe URL"},
		{args: []string{}, usage: true},
		{args: []string{"bench"}, usage: true, wantInOut: "hooklane-bench"},
		{args: []string{"nope"}, usage: true},
		{args: []string{"all", "--nope"}, usage: true, wantInOut: "flag provided but not defined: -nope"},
		{args: []string{"migrate", "extra"}, usage: true},
		{args: []string{"probe"}, usage: true},
	} {
		var out bytes.Buffer
		err := run(context.Background(), tt.args, app.Env{Getenv: func(string) string { return "" }, Stdout: &out, Stderr: &out})
		switch {
		case tt.help && !errors.Is(err, flag.ErrHelp), tt.usage && !errors.Is(err, app.ErrUsage), !tt.help && !tt.usage && err != nil:
			t.Errorf("hooklane %v: err = %v", tt.args, err)
		}
		if !strings.Contains(out.String(), tt.wantInOut) {
			t.Errorf("hooklane %v printed %q, want it to contain %q", tt.args, out.String(), tt.wantInOut)
		}
	}
}
