package loadgen_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/hooklane/hooklane/internal/config"
	"github.com/hooklane/hooklane/internal/loadgen"
	"github.com/hooklane/hooklane/internal/natstest"
	"github.com/hooklane/hooklane/storage/storagetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// pgx and nats-server leave these behind briefly after Close.
		goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"),
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
	)
}

// buildHooklane builds hooklane and hooklane-bench into one directory as
// "make build" and "make bench" do, so the build cache serves both, and
// returns their paths.
func buildHooklane(t *testing.T) (hooklane, bench string) {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"hooklane", "hooklane-bench"} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, name), "github.com/hooklane/hooklane/cmd/"+name)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", name, err, out)
		}
	}
	return filepath.Join(dir, "hooklane"), filepath.Join(dir, "hooklane-bench")
}

// start runs "<bin> <role>" until the test ends, and waits until it
// is ready.
func start(t *testing.T, bin, role, configFile string) string {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), role+".log")
	logw, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := loadgen.StartProcess(ctx, exec.Command(bin, role, "--config", configFile), logw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(30 * time.Second); err != nil {
			t.Errorf("hooklane %s stopped with %v", role, err)
		}
		logw.Close()
		if t.Failed() {
			log, _ := os.ReadFile(logFile)
			t.Logf("hooklane %s log:\n%s", role, log)
		}
	})
	url := "http://" + p.Addr
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("hooklane %s not ready: %v", role, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLoad sends a short load to the real "hooklane all", checks that
// Verify passes and that the report adds up, that Verify sees a lost and
// a doubled row, and sends the same load to "hooklane-bench reference".
func TestLoad(t *testing.T) {
	t.Parallel()
	bin, benchBin := buildHooklane(t)
	databaseURL := storagetest.URL(t)
	prefix := natstest.Prefix(t)
	configFile := filepath.Join(t.TempDir(), "hooklane.yaml")
	yaml := fmt.Sprintf(`
addr: 127.0.0.1:0
database_url: %q
nats:
  url: %q
  subject_prefix: %s
  stream: %s
ingest:
  publish_timeout: 10s # every delivery must be acknowledged, however busy the machine
worker:
  consumer: %s_worker
console:
  addr: 127.0.0.1:0
sources:
  # A flow delivery is answered only once it is queued: a budget a busy
  # machine cannot exhaust keeps a slow publish from becoming a 503.
  - {name: platica, provider: platica, secrets: [platica-test-secret], flows: {budget: 10s}}
  - {name: wa, provider: meta, secrets: [meta-test-app-secret]}
  - {name: whatz, provider: whatzmeapi, secrets: [whatz-test-secret], bearer_token: whatz-token}
  - {name: whapi, provider: whapi, secrets: [whapi-test-secret]}
`, databaseURL, natstest.URL(t), prefix, strings.ToUpper(prefix), prefix)
	if err := os.WriteFile(configFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(configFile, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	hooklane := start(t, bin, "all", configFile)
	reference := start(t, benchBin, "reference", configFile)

	ctx := context.Background()
	db, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	base, err := loadgen.ReadBaseline(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := loadgen.NewGenerator(loadgen.GeneratorConfig{Sources: loadgen.Sources(cfg), Retries: 0.1, Flows: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	const count = 300
	res, sent, err := loadgen.Run(ctx, loadgen.Config{URL: hooklane, Generator: gen, Concurrency: 8, Count: count})
	if err != nil {
		t.Fatal(err)
	}

	// The report adds up.
	if res.Sent != count || res.Accepted != count || len(res.Status) > 0 || len(res.Errors) > 0 {
		t.Fatalf("sent %d, accepted %d, not accepted %v, unanswered %v; want all %d accepted",
			res.Sent, res.Accepted, res.Status, res.Errors, count)
	}
	if res.Retries == 0 || res.FlowsSent == 0 {
		t.Errorf("%d retries and %d flow requests: the mix lacks some", res.Retries, res.FlowsSent)
	}
	flows := 0
	for _, n := range res.Flows {
		flows += n
	}
	if flows != res.FlowsSent || res.FlowLatency.N != flows || res.Ack.N+flows != res.Accepted {
		t.Errorf("flow answers %v of %d flow requests, %d flow and %d ack latencies for %d accepted",
			res.Flows, res.FlowsSent, res.FlowLatency.N, res.Ack.N, res.Accepted)
	}
	if res.Flows[loadgen.FlowAnswered] == 0 || res.Flows[loadgen.FlowOther] > 0 {
		t.Errorf("flow answers %v: want the demo's answers (fallbacks only if it was slow)", res.Flows)
	}
	if l := res.Ack; !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("ack latency %+v out of order", l)
	}
	if res.AcceptedPerSecond() <= 0 || res.End.Before(res.Start) {
		t.Errorf("%.0f accepted/s from %s to %s", res.AcceptedPerSecond(), res.Start, res.End)
	}

	// Everything acknowledged is stored exactly once.
	exp, err := sent.Expect(base)
	if err != nil {
		t.Fatal(err)
	}
	if len(exp.Deliveries) != count-res.Retries || len(exp.Events) < len(exp.Deliveries) {
		t.Errorf("expected %d deliveries (of %d requests, %d retries) and %d events",
			len(exp.Deliveries), count, res.Retries, len(exp.Events))
	}
	drained, err := loadgen.Drain(ctx, db, exp, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if drained.Events != len(exp.Events) || drained.EventsPerSecond(res.Start) <= 0 {
		t.Errorf("drained %d events at %.0f/s, want %d", drained.Events, drained.EventsPerSecond(res.Start), len(exp.Events))
	}
	if err := loadgen.Verify(ctx, db, exp); err != nil {
		t.Fatal(err)
	}

	// Verify sees an event lost and a body stored twice.
	if _, err := db.Exec(ctx, `DELETE FROM events WHERE id = (SELECT max(id) FROM events)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO deliveries (source, provider, event_type, dedupe_key, headers, body, received_at)
		SELECT source, provider, event_type, dedupe_key || '-again', headers, body, received_at
		FROM deliveries WHERE id = (SELECT max(id) FROM deliveries)`); err != nil {
		t.Fatal(err)
	}
	var verr *loadgen.VerifyError
	if err := loadgen.Verify(ctx, db, exp); !errors.As(err, &verr) ||
		len(verr.MissingEvents) != 1 || len(verr.UnexpectedDeliveries) != 1 || verr.DoubledBodies != 1 ||
		len(verr.UnexpectedEvents)+len(verr.MissingDeliveries) > 0 {
		t.Errorf("after losing an event and doubling a delivery, Verify: %v", err)
	}

	// The bare reference takes the same traffic.
	bare, _, err := loadgen.Run(ctx, loadgen.Config{URL: reference, Generator: gen, Concurrency: 4, Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	if bare.Accepted != 100 {
		t.Errorf("hooklane-bench reference accepted %d of 100: %v %v", bare.Accepted, bare.Status, bare.Errors)
	}

	// It answers an accepted delivery with the very answer ingest gives.
	req, _ := gen.Next()
	for req.Flow {
		req, _ = gen.Next()
	}
	var answers []string
	for _, server := range []string{hooklane, reference} {
		hr, err := http.NewRequest(http.MethodPost, server+"/webhooks/"+req.Source.Name, bytes.NewReader(req.Body))
		if err != nil {
			t.Fatal(err)
		}
		hr.Header, hr.Close = req.Header.Clone(), true
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		answers = append(answers, fmt.Sprintf("%d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body))
	}
	if answers[0] != answers[1] {
		t.Errorf("to one delivery, hooklane answered %s, the reference %s", answers[0], answers[1])
	}
}

// TestBenchSuite runs "hooklane-bench --suite" once, briefly, as a smoke
// test of what "make bench" runs in full: it starts every server itself,
// and its table reports the medians of the turns and exactly-once for every
// run against "hooklane all". With NATS_URL set, "hooklane all" uses that
// NATS while the reference and ingest alone keep their own: Postgres then
// holds exactly what the table says all's runs stored, none of what ingest
// alone queued. The publish timeout is one a slow machine cannot reach: a
// smoke test checks what the suite reports, not how fast this machine is.
func TestBenchSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four servers and loads them")
	}
	t.Parallel()
	bin, benchBin := buildHooklane(t)
	prefix := natstest.Prefix(t)
	configFile := filepath.Join(t.TempDir(), "hooklane.yaml")
	// Bodies fit NATS's default 1 MB messages; stream and consumer
	// are this test's own on a shared server.
	yaml := fmt.Sprintf(`
addr: 127.0.0.1:0
nats:
  store_dir: data/nats
  subject_prefix: %s
  stream: %s
ingest:
  max_body_bytes: 524288
  publish_timeout: 10s # as long as the load generator waits for an answer
worker:
  consumer: %s_worker
console:
  addr: 127.0.0.1:0
sources:
  # A flow delivery is answered only once it is queued: a budget a busy
  # machine cannot exhaust keeps a slow publish from becoming a 503.
  - {name: platica, provider: platica, secrets: [platica-test-secret], flows: {budget: 10s}}
  - {name: wa, provider: meta, secrets: [meta-test-app-secret]}
  - {name: whatz, provider: whatzmeapi, secrets: [whatz-test-secret]}
  - {name: whapi, provider: whapi, secrets: [whapi-test-secret]}
`, prefix, strings.ToUpper(prefix), prefix)
	if err := os.WriteFile(configFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	databaseURL := storagetest.URL(t)
	cmd := exec.Command(benchBin, "--suite", "--rounds", "1", "--duration", "2s", "--concurrency", "16",
		"--hooklane", bin, "--config", configFile, "--database-url", databaseURL)
	cmd.Env = append(os.Environ(), "NATS_URL="+natstest.URL(t), "DATABASE_URL=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hooklane-bench --suite: %v\n%s", err, out)
	}
	for _, want := range []string{"ratio ingest / bare", "median of 1 runs", "ack p50 / p99", "ingest alone: ack p50 / p99", "machine pauses"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^\s+ack p50 / p99 .*median of 1 runs`).Match(out) {
		t.Errorf("half saturation's p99 is not the median of its runs:\n%s", out)
	}
	// Where each run's processor time went: the reference, ingest
	// alone and all at saturation, all and ingest alone at half.
	cpu := regexp.MustCompile(`(?m)^\s+CPU\s+\d+% busy\s+a request: server [1-9]\d*µs, load generator [1-9]\d*µs, the rest \d+µs$`)
	if n := len(cpu.FindAll(out, -1)); n != 5 {
		t.Errorf("%d CPU rows, want 5 (one a server, at saturation and at half):\n%s", n, out)
	}
	// Saturation's one run, then half saturation's runs together.
	stored := regexp.MustCompile(`(?m)^\s+exactly-once\s+OK\s+(\d+) deliveries`).FindAllSubmatch(out, -1)
	if len(stored) != 2 || !strings.Contains(string(out), "in 1 runs, each checked") {
		t.Fatalf("exactly-once OK %d times, want 2 (saturation, and half saturation's run):\n%s", len(stored), out)
	}
	want := 0
	for _, m := range stored {
		n, _ := strconv.Atoi(string(m[1]))
		want += n
	}
	ctx := context.Background()
	db, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	var got int
	if err := db.QueryRow(ctx, "SELECT count(*) FROM deliveries").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Postgres holds %d deliveries, the table says hooklane all stored %d", got, want)
	}
}
