package deploy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/hooklane/hooklane/storage/storagetest"
)

const (
	rulesFile     = "prometheus/rules/hooklane.yml"
	dashboardFile = "grafana/dashboards/hooklane.json"
)

// pendingMetrics are named by the rules and the dashboard ahead of the
// build that exports them; each must go once hooklane exports it.
var pendingMetrics = map[string]bool{}

// promExpr is one PromQL expression and where it comes from.
type promExpr struct{ where, expr string }

// TestPromQL checks every PromQL expression of the alert rules and the
// Grafana dashboard: promtool parses each, and each hooklane metric it
// names is one a running hooklane exports at /metrics.
func TestPromQL(t *testing.T) {
	exprs := append(ruleExprs(t), dashboardExprs(t)...)
	if len(exprs) < 20 {
		t.Fatalf("found %d expressions, want the rules' and the dashboard's", len(exprs))
	}
	t.Run("parses", func(t *testing.T) { checkParses(t, exprs) })
	t.Run("exported", func(t *testing.T) {
		exported := exportedMetrics(t)
		name := regexp.MustCompile(`\bhooklane_[a-z0-9_]+`)
		for _, e := range exprs {
			for _, m := range name.FindAllString(e.expr, -1) {
				family := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
				if !exported[family] && !pendingMetrics[family] {
					t.Errorf("%s: %s is not a metric hooklane exports (%s)", e.where, m, e.expr)
				}
			}
		}
		for m := range pendingMetrics {
			if exported[m] {
				t.Errorf("%s is exported now: drop it from pendingMetrics", m)
			}
		}
	})
}

func ruleExprs(t *testing.T) []promExpr {
	t.Helper()
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Rules []struct{ Alert, Record, Expr string }
		}
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var exprs []promExpr
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, promExpr{rulesFile + ": " + r.Alert + r.Record, r.Expr})
		}
	}
	return exprs
}

// grafanaVars are the dashboard's Grafana variables, replaced by a value
// of their kind before parsing.
var grafanaVars = strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1m", "$__range", "1h")

func dashboardExprs(t *testing.T) []promExpr {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	var exprs []promExpr
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, promExpr{dashboardFile + ": " + p.Title, grafanaVars.Replace(tg.Expr)})
		}
	}
	return exprs
}

// checkParses has promtool check a rules file holding every expression as
// a recording rule, as it parses them with Prometheus's own parser.
func checkParses(t *testing.T, exprs []promExpr) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (apt-get install prometheus); .ci/run installs it")
	}
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, e := range exprs {
		rules = append(rules, rule{fmt.Sprintf("hooklane:expr_%d", i), e.expr})
	}
	raw, err := yaml.Marshal(map[string]any{"groups": []map[string]any{{"name": "all", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "exprs.yml")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(exprs)); !strings.Contains(string(out), want) {
		t.Fatalf("promtool: %s, want %q", out, want)
	}
}

// exportedMetrics runs hooklane all (the binary, built here) on a schema
// of its own with an embedded NATS, sends it a delivery and a flow request,
// and returns the metric families its /metrics exports once the worker has
// stored the delivery.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "hooklane")
	build := exec.Command("go", "build", "-o", bin, "./cmd/hooklane")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const whapiSecret, platicaSecret = "metrics-whapi-secret", "metrics-platica-secret"
	cfg := fmt.Sprintf(`addr: 127.0.0.1:0
database_url: %q
nats: {store_dir: %q}
console: {addr: "127.0.0.1:0"}
sources:
  - {name: whapi, provider: whapi, secrets: [%s]}
  - {name: platica, provider: platica, secrets: [%s]}
`, storagetest.URL(t), filepath.Join(dir, "nats"), whapiSecret, platicaSecret)
	if err := os.WriteFile(filepath.Join(dir, "hooklane.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "all", "--config", filepath.Join(dir, "hooklane.yaml"))
	cmd.Env = append(os.Environ(), "LOG_FORMAT=json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	var logs lockedBuffer
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.Write(append(sc.Bytes(), '\n'))
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "http listening" {
				addr <- line.Addr
			}
		}
		close(addr)
	}()
	base, ok := <-addr
	if !ok {
		_ = cmd.Wait()
		t.Fatalf("hooklane all exited before listening:\n%s", logs.String())
	}
	base = "http://" + base

	post := func(source, header, prefix, secret, body string) {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(body))
		req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/"+source, strings.NewReader(body))
		req.Header.Set(header, prefix+hex.EncodeToString(m.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /webhooks/%s: %d", source, resp.StatusCode)
		}
	}
	post("whapi", "X-Whapi-Signature", "", whapiSecret,
		`{"event_type":"message_received","id":"metrics-1","instance_id":"1","chat_id":"1@c.us","from":"1@c.us","body":"Hola","type":"text","timestamp":1724716800}`)
	post("platica", "X-Webhook-Signature", "sha256=", platicaSecret,
		`{"id":"metrics-flow-1","event":"whatsapp.flows.init","workspaceId":"ws","timestamp":"2026-05-06T19:00:00.000Z","source":"whatsapp.flows","resourceType":"flow_response","resourceId":"t","changes":null,"data":{"client":null,"conversation":null,"flow":{"id":"flow_doc_abc","wabaId":"1"},"flowResponse":{"flowToken":"t","status":"IN_PROGRESS"},"flowExchange":{"action":"init","screen":null,"version":"3.0","payload":{}}}}`)

	// The bound catches a worker that never stores; it is no speed
	// requirement.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for {
		families := scrape(t, base+"/metrics")
		if families["hooklane_worker_deliveries_total"] && families["hooklane_flow_exchanges_total"] && families["hooklane_worker_consumer_pending"] {
			t.Logf("hooklane exports %d hooklane_ families", len(slices.DeleteFunc(keysOf(families), func(k string) bool { return !strings.HasPrefix(k, "hooklane_") })))
			return families
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the delivery was not stored, or the flow not answered, within 2 minutes: /metrics has %v\n%s", keysOf(families), logs.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func scrape(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	names := map[string]bool{}
	for name := range families {
		names[name] = true
	}
	return names
}

// lockedBuffer is a bytes.Buffer one goroutine writes while another reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func keysOf(m map[string]bool) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}
