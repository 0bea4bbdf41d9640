//go:build chaos

package chaos_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/hooklane/hooklane/internal/config"
	"github.com/hooklane/hooklane/internal/loadgen"
	"github.com/hooklane/hooklane/internal/natstest"
	"github.com/hooklane/hooklane/storage/storagetest"
)

// hooklaneBin is the binary under test, built once by TestMain.
var hooklaneBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hooklane-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hooklaneBin = filepath.Join(dir, "hooklane")
	// Built as "make build" builds, so the build cache serves both.
	build := exec.Command("go", "build", "-trimpath", "-o", hooklaneBin, "github.com/hooklane/hooklane/cmd/hooklane")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		err := goleak.Find(
			// pgx and nats-server leave these behind briefly after Close.
			goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"),
			goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
		)
		if err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Timing shared by the cases.
const (
	// shutdownTimeout is ingest.shutdown_timeout in the suite's config.
	shutdownTimeout = 10 * time.Second
	// ackWait is worker.ack_wait: shorter than the default 30s so that the
	// batch a killed worker held comes back within a case's time.
	ackWait = 10 * time.Second
	// drainTimeout bounds the wait for the workers to store a run: a
	// message naked at the end of an outage, or held by a dead worker,
	// comes back after at most ack_wait or its backoff delay.
	drainTimeout = 45 * time.Second
	startTimeout = time.Minute
	stopGrace    = 20 * time.Second
)

// stack is one case's world: an embedded NATS in this process, a Postgres
// schema, a config, and the hooklane processes started on them.
type stack struct {
	t        *testing.T
	dir      string
	nats     *server.Server
	natsURL  string
	dbURL    string // the schema, reached directly
	cfgPath  string
	cfg      *config.Config
	sources  []loadgen.Source
	db       *pgx.Conn // the test's own connection
	mu       sync.Mutex
	procs    []*proc
	ingest   *proc // the latest started
	ingests  int
	workers  []*proc
	platica  *loadgen.Source // the flows' source
	budget   time.Duration   // its flow budget
	fallback []byte
}

// newStack starts NATS, makes a migrated schema and writes the config. It
// starts no hooklane process: see startIngest, startWorker, start.
func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{t: t, dir: t.TempDir()}
	s.nats = natstest.Server(t)
	s.natsURL = s.nats.ClientURL()
	s.dbURL = storagetest.URL(t)
	s.cfgPath = filepath.Join(s.dir, "hooklane.yaml")
	yaml := fmt.Sprintf(`# hooklane chaos suite
addr: 127.0.0.1:0
database_url: %q
nats:
  url: %q
sources:
  - {name: platica, provider: platica, secrets: [chaos-platica-secret]}
  - {name: wa, provider: meta, secrets: [chaos-meta-app-secret]}
  - {name: whatz, provider: whatzmeapi, secrets: [chaos-whatz-secret], bearer_token: chaos-whatz-token}
  - {name: whapi, provider: whapi, secrets: [chaos-whapi-secret]}
ingest:
  publish_timeout: 1s
  retry_after: 5s
  shutdown_timeout: %s
worker:
  ack_wait: %s
`, s.dbURL, s.natsURL, shutdownTimeout, ackWait)
	if err := os.WriteFile(s.cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(s.cfgPath, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	s.cfg = cfg
	s.sources = loadgen.Sources(cfg)
	for i := range s.sources {
		if s.sources[i].Provider == "platica" {
			s.platica = &s.sources[i]
		}
	}
	for _, src := range cfg.Sources {
		if src.Provider == "platica" {
			s.budget, s.fallback = src.Flows.Budget, []byte(src.Flows.Fallback)
		}
	}
	// The schema first, as deployments run "hooklane migrate" first.
	migrate := exec.Command(hooklaneBin, "migrate", "--config", s.cfgPath)
	migrate.Env = childEnv()
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("hooklane migrate: %v\n%s", err, out)
	}
	ctx := context.Background()
	db, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	s.db = db
	// Processes stop before NATS and the schema go: cleanups run last
	// registered first.
	t.Cleanup(s.stopLeftovers)
	return s
}

// on makes the stack's helpers report to t, a subtest, until the returned
// func restores the test they reported to before.
func (s *stack) on(t *testing.T) (restore func()) {
	prev := s.t
	s.t = t
	return func() { s.t = prev }
}

// childEnv is this process's environment without hooklane's own variables,
// plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(config.Environment, name) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// proc is one hooklane process of a stack.
type proc struct {
	*loadgen.Process
	name string
	url  string // http://<addr>
	log  *lineLog
	// killed is set once the test killed it on purpose.
	killed bool
}

// start runs "hooklane <role>" as name with extra environment, and waits
// until its /readyz answers 200.
func (s *stack) start(name, role string, extra ...string) *proc {
	s.t.Helper()
	logw, err := newLineLog(filepath.Join(s.dir, name+".log"))
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(hooklaneBin, role, "--config", s.cfgPath)
	cmd.Env = childEnv(extra...)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	p, err := loadgen.StartProcess(ctx, cmd, logw)
	if err != nil {
		s.t.Fatalf("start %s: %v\n%s", name, err, logw.tail(30))
	}
	pr := &proc{Process: p, name: name, url: "http://" + p.Addr, log: logw}
	s.mu.Lock()
	s.procs = append(s.procs, pr)
	s.mu.Unlock()
	if err := waitReady(ctx, pr.url); err != nil {
		s.t.Fatalf("%s: %v\n%s", name, err, logw.tail(30))
	}
	return pr
}

// startIngest starts "hooklane ingest", on addr if given: "ingest", then
// "ingest-2"... when one is started again.
func (s *stack) startIngest(addr string) *proc {
	var extra []string
	if addr != "" {
		extra = append(extra, "HOOKLANE_ADDR="+addr)
	}
	s.ingests++
	name := "ingest"
	if s.ingests > 1 {
		name += "-" + strconv.Itoa(s.ingests)
	}
	s.ingest = s.start(name, "ingest", extra...)
	return s.ingest
}

// startWorker starts a "hooklane worker" named name, with databaseURL if
// given (else the config's).
func (s *stack) startWorker(name, databaseURL string) *proc {
	var extra []string
	if databaseURL != "" {
		extra = append(extra, "DATABASE_URL="+databaseURL)
	}
	w := s.start(name, "worker", extra...)
	s.workers = append(s.workers, w)
	return w
}

// startAsync starts ingest and two workers: the async lane.
func (s *stack) startAsync() {
	s.startIngest("")
	s.startWorker("worker-1", "")
	s.startWorker("worker-2", "")
}

// kill sends SIGKILL to p and waits for it to die.
func (s *stack) kill(p *proc) {
	s.t.Helper()
	p.killed = true
	if err := p.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatalf("kill %s: %v", p.name, err)
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		s.t.Fatalf("%s still running 10s after SIGKILL", p.name)
	}
}

// stopAll stops every process still running with SIGTERM, ingest first,
// and fails the test for any that does not exit 0.
func (s *stack) stopAll() {
	s.t.Helper()
	s.mu.Lock()
	procs := slices.Clone(s.procs)
	s.mu.Unlock()
	for _, ingestFirst := range []bool{true, false} {
		for _, p := range procs {
			if p.killed || strings.HasPrefix(p.name, "ingest") != ingestFirst {
				continue
			}
			if err := p.Stop(stopGrace); err != nil {
				s.t.Errorf("%s stopped with %v\n%s", p.name, err, p.log.tail(20))
			}
		}
	}
}

// stopLeftovers stops whatever still runs when the test ends and, when
// it failed, shows the end of every log.
func (s *stack) stopLeftovers() {
	s.mu.Lock()
	procs := slices.Clone(s.procs)
	s.mu.Unlock()
	for _, p := range procs {
		_ = p.Stop(stopGrace)
		p.log.close()
		if s.t.Failed() {
			s.t.Logf("--- end of %s's log (%s)\n%s", p.name, p.log.path, p.log.tail(25))
		}
	}
}

// waitReady polls url/readyz until it answers 200.
func waitReady(ctx context.Context, base string) error {
	var last error
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("readyz: %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready: %v", last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// readyWithin waits up to d for base/readyz to answer 200.
func readyWithin(base string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return waitReady(ctx, base)
}

// lineLog keeps a process's log in a file and counts its lines, with when
// each came and its message: StartProcess writes one line per Write.
type lineLog struct {
	path string
	mu   sync.Mutex
	f    *os.File
	recs []logRecord
}

type logRecord struct {
	at         time.Time
	msg, level string
}

func newLineLog(path string) (*lineLog, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &lineLog{path: path, f: f}, nil
}

func (l *lineLog) Write(p []byte) (int, error) {
	var entry struct{ Msg, Level string }
	_ = json.Unmarshal(p, &entry)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, logRecord{at: time.Now(), msg: entry.Msg, level: entry.Level})
	if l.f == nil {
		return len(p), nil
	}
	return l.f.Write(p)
}

func (l *lineLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// between returns the lines logged in [from, to), and how many of them
// each message has.
func (l *lineLog) between(from, to time.Time) (int, map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, byMsg := 0, map[string]int{}
	for _, r := range l.recs {
		if !r.at.Before(from) && r.at.Before(to) {
			n++
			byMsg[r.msg]++
		}
	}
	return n, byMsg
}

// tail returns the last n lines of the log file.
func (l *lineLog) tail(n int) string {
	raw, err := os.ReadFile(l.path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.SplitAfter(raw, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, nil))
}

// generator returns a load generator over the stack's sources.
func (s *stack) generator(retries, flows float64) *loadgen.Generator {
	s.t.Helper()
	g, err := loadgen.NewGenerator(loadgen.GeneratorConfig{Sources: s.sources, Retries: retries, Flows: flows})
	if err != nil {
		s.t.Fatal(err)
	}
	return g
}

// load is a Run going on in the background.
type load struct {
	done chan struct{}
	res  *loadgen.Result
	sent *loadgen.Sent
	err  error
}

// startLoad starts loadgen.Run with lc against ingest's URL (unless lc
// names one).
func (s *stack) startLoad(lc loadgen.Config) *load {
	if lc.URL == "" {
		lc.URL = s.ingest.url
	}
	l := &load{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		l.res, l.sent, l.err = loadgen.Run(context.Background(), lc)
	}()
	return l
}

// wait waits for the run to end.
func (l *load) wait(t *testing.T) (*loadgen.Result, *loadgen.Sent) {
	t.Helper()
	<-l.done
	if l.err != nil {
		t.Fatal(l.err)
	}
	return l.res, l.sent
}

// baseline reads the ids a run's rows come after.
func (s *stack) baseline() loadgen.Baseline {
	s.t.Helper()
	b, err := loadgen.ReadBaseline(context.Background(), s.db)
	if err != nil {
		s.t.Fatal(err)
	}
	return b
}

// exactlyOnce waits for the workers to store what sent promises, then
// checks that every delivery and event a 2xx acknowledged is stored once,
// and nothing else of the run.
func (s *stack) exactlyOnce(label string, base loadgen.Baseline, sent *loadgen.Sent) (*loadgen.Expectation, loadgen.Drained) {
	s.t.Helper()
	ctx := context.Background()
	exp, err := sent.Expect(base)
	if err != nil {
		s.t.Fatal(err)
	}
	drained, err := loadgen.Drain(ctx, s.db, exp, drainTimeout)
	if err != nil {
		s.t.Errorf("%s: %v", label, err)
	}
	if err := loadgen.Verify(ctx, s.db, exp); err != nil {
		s.t.Fatalf("%s: %v", label, err)
	}
	s.t.Logf("%s: exactly-once OK: %d deliveries and %d events acknowledged, each stored once (%d deliveries and %d events were refused at least once and never acknowledged: may or may not be stored); %d events of the run stored",
		label, len(exp.Deliveries), len(exp.Events), len(exp.MayDeliveries), len(exp.MayEvents), drained.Events)
	return exp, drained
}

// noDeadLetters fails the test if anything was dead-lettered: no fault of
// the suite makes a delivery hopeless.
func (s *stack) noDeadLetters() {
	s.t.Helper()
	var n int
	var reason *string
	err := s.db.QueryRow(context.Background(), `SELECT count(*), min(reason) FROM dead_letters`).Scan(&n, &reason)
	if err != nil {
		s.t.Fatal(err)
	}
	if n > 0 {
		s.t.Errorf("%d dead letters, e.g. %q", n, *reason)
	}
}

// describe summarizes a run's answers.
func describe(r *loadgen.Result) string {
	return fmt.Sprintf("%d sent in %s (%d retries, %d flow requests), %d 2xx, non-2xx %v, unanswered %v, flows %v",
		r.Sent, r.Elapsed().Round(time.Millisecond), r.Retries, r.FlowsSent, r.Accepted, r.Status, r.Errors, r.Flows)
}

// metrics scrapes base/metrics and returns each sample by its series,
// e.g. `hooklane_ingest_deliveries_total{outcome="duplicate",...}`.
func metrics(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", base, err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scrape %s: %v", base, err)
	}
	return out
}

// sum adds the samples of metric name whose labels include every one of
// labels, each written as `key="value"`.
func sum(samples map[string]float64, name string, labels ...string) float64 {
	total := 0.0
	for series, v := range samples {
		n, rest, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(rest, l)
		}
		if ok {
			total += v
		}
	}
	return total
}

// cpuTime is the CPU time (user and system) process pid has used, from
// /proc/<pid>/stat in clock ticks of USER_HZ, which is 100 on Linux.
func cpuTime(pid int) (time.Duration, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after it. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat")
	}
	fields := strings.Fields(string(raw[i+1:]))
	if len(fields) < 13 {
		return 0, errors.New("unexpected /proc stat")
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const userHZ = 100
	return time.Duration(utime+stime) * time.Second / userHZ, nil
}

// answer is what one request sent outside Run got.
type answer struct {
	at         time.Time // when it was answered
	status     int       // 0 when err
	retryAfter string
	body       []byte
	err        error
}

// post sends req to base/webhooks/<source> once.
func post(ctx context.Context, client *http.Client, base string, req *loadgen.Request) answer {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/webhooks/"+req.Source.Name, bytes.NewReader(req.Body))
	if err != nil {
		return answer{at: time.Now(), err: err}
	}
	hr.Header = req.Header.Clone()
	resp, err := client.Do(hr)
	if err != nil {
		return answer{at: time.Now(), err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return answer{at: time.Now(), status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: body, err: err}
}

// ok reports a 2xx.
func (a answer) ok() bool { return a.err == nil && a.status/100 == 2 }

// newClient returns an HTTP client for requests sent outside Run.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: conns, DisableCompression: true},
	}
}

// tcpProxy forwards connections to a target, and can be taken down (its
// listener closed, every connection cut) and brought back on the same
// address: an outage of the target, for the clients that go through it.
type tcpProxy struct {
	target, addr string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]struct{}
	connects     int // connections accepted
	wg           sync.WaitGroup
}

// accepted is how many connections the proxy has accepted.
func (p *tcpProxy) accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.connects
}

func newProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{target: target, conns: map[net.Conn]struct{}{}}
	if err := p.listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return p
}

func (p *tcpProxy) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Go(func() { p.accept(ln) })
	return nil
}

func (p *tcpProxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.forward(c) })
	}
}

func (p *tcpProxy) forward(c net.Conn) {
	p.mu.Lock()
	p.connects++
	p.mu.Unlock()
	u, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[u] = struct{}{}, struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		dst.Close()
		src.Close()
	}
	wg.Go(func() { pipe(u, c) })
	wg.Go(func() { pipe(c, u) })
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

// down closes the listener, so connecting is refused, and cuts every
// connection.
func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// up listens again on the same address.
func (p *tcpProxy) up() error { return p.listen(p.addr) }

func (p *tcpProxy) close() {
	p.down()
	p.wg.Wait()
}

// viaProxy returns databaseURL with its host replaced by addr and the
// application_name set, so the test can find its backends.
func namedURL(t *testing.T, databaseURL, addr, appName string) string {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	if addr != "" {
		u.Host = addr
	}
	q := u.Query()
	q.Set("application_name", appName)
	u.RawQuery = q.Encode()
	return u.String()
}

// terminateBackends ends the server processes of the connections named
// appName in this database, and only those, and returns how many.
func terminateBackends(ctx context.Context, db *pgx.Conn, appName string) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()`, appName).Scan(&n)
	return n, err
}

// flowOutcomes counts the recorded flow exchanges of run runID by outcome
// (the generator's flow tokens hold the run id), once the workers have
// stored want of them or after timeout.
func (s *stack) flowOutcomes(runID string, want int, timeout time.Duration) map[string]int {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rows, err := s.db.Query(context.Background(),
			`SELECT outcome, count(*) FROM flow_exchanges WHERE flow_token LIKE $1 || '-%' GROUP BY outcome`, runID)
		if err != nil {
			s.t.Fatal(err)
		}
		out := map[string]int{}
		total := 0
		for rows.Next() {
			var o string
			var n int
			if err := rows.Scan(&o, &n); err != nil {
				s.t.Fatal(err)
			}
			out[o] = n
			total += n
		}
		if err := rows.Err(); err != nil {
			s.t.Fatal(err)
		}
		if total >= want || time.Now().After(deadline) {
			if total < want {
				s.t.Errorf("%d flow exchanges recorded after %s, want %d (ingest counts %.0f records dropped, %.0f failed)",
					total, timeout, want, sum(metrics(s.t, s.ingest.url), "hooklane_flow_records_dropped_total"),
					sum(metrics(s.t, s.ingest.url), "hooklane_flow_records_failed_total"))
			}
			return out
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// consumerInfo returns the state of the workers' consumer.
func (s *stack) consumerInfo() *jetstream.ConsumerInfo {
	s.t.Helper()
	info, err := s.readConsumer()
	if err != nil {
		s.t.Fatalf("consumer info: %v", err)
	}
	return info
}

func (s *stack) readConsumer() (*jetstream.ConsumerInfo, error) {
	nc, err := nats.Connect(s.nats.ClientURL())
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, s.cfg.NATS.Stream, s.cfg.Worker.Consumer)
	if err != nil {
		return nil, err
	}
	return c.Info(ctx)
}

// waitAcked waits until the workers' consumer has nothing pending and
// nothing unacknowledged, and returns its state then.
func (s *stack) waitAcked(timeout time.Duration) *jetstream.ConsumerInfo {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		info, err := s.readConsumer()
		if err == nil && info.NumAckPending == 0 && info.NumPending == 0 {
			return info
		}
		if time.Now().After(deadline) {
			if err != nil {
				s.t.Fatalf("consumer info: %v", err)
			}
			s.t.Fatalf("after %s, %d messages pending and %d unacknowledged", timeout, info.NumPending, info.NumAckPending)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// flowRequestsAnswered counts the 2xx answers to flow requests of r.
func flowRequestsAnswered(r *loadgen.Result) int {
	n := 0
	for _, c := range r.Flows {
		n += c
	}
	return n
}

// newRequest returns a delivery of src with body and the headers src's
// provider sends: its signature, its bearer token if any. kind names what
// it is, for messages. Verify finds its rows only if body holds the run's id.
func newRequest(src *loadgen.Source, kind string, flow bool, body []byte) *loadgen.Request {
	return &loadgen.Request{Source: src, Kind: kind, Flow: flow, Body: body, Header: loadgen.Sign(src, body)}
}
