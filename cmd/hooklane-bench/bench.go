package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hooklane/hooklane/internal/app"
	"github.com/hooklane/hooklane/internal/config"
	"github.com/hooklane/hooklane/internal/loadgen"
)

const benchUsage = `usage: hooklane-bench [flags]
       hooklane-bench reference --config FILE

Sends signed deliveries of every configured source to a running hooklane
(or, with --target bare, to "hooklane-bench reference", the bare handler
it is compared with), prints latency, throughput and how busy the CPUs
were, then waits for the workers and checks that Postgres holds every
acknowledged event exactly once. It fails when anything is lost or
doubled, and on any 4xx, 5xx or unanswered request unless --allow-errors.

--suite runs the whole comparison instead: it starts "hooklane all",
"hooklane-bench reference" and "hooklane ingest" itself (all embeds its
NATS under a temporary directory unless NATS_URL is set, the other two
always share "hooklane nats", started there too; database hooklane_bench,
recreated each time, unless --database-url), finds each one's saturation
closed-loop, then runs open-loop at half of hooklane's, and prints one
table. Without --database-url it then weighs the model tables: two more
"hooklane all", with them and with model: false, each new on a database
(hooklane_bench_model_on, hooklane_bench_model_off) and an embedded NATS
of its own, in turns at saturation.

"reference" serves POST /webhooks/{source} at HOOKLANE_ADDR as the bare
reference handler (see HOOKLANE_REFERENCE_PUBLISHES).

flags:`

// benchOptions are the flags of hooklane-bench.
type benchOptions struct {
	url, databaseURL, target string
	reference                string
	rate                     float64
	concurrency              int
	duration                 time.Duration
	count                    int
	retries, flows           float64
	drainTimeout             time.Duration
	allowErrors              bool
	hooklane                 string // the hooklane binary the suite runs
	rounds                   int    // the suite's turns of each comparison
}

// runBench runs the load tool as its flags say.
func runBench(ctx context.Context, args []string, e app.Env) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	fs.Usage = func() {
		fmt.Fprintln(e.Stderr, benchUsage)
		fs.PrintDefaults()
	}
	var o benchOptions
	configPath := fs.String("config", e.Getenv(config.EnvConfig), "config `file` naming the sources and their secrets (HOOKLANE_CONFIG)")
	suite := fs.Bool("suite", false, "start everything and run the whole comparison")
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "base `URL` of the server under test")
	fs.StringVar(&o.databaseURL, "database-url", "", "Postgres to check (default: the config's)")
	fs.StringVar(&o.target, "target", "hooklane", "hooklane, or bare for hooklane-bench reference (nothing to check)")
	fs.StringVar(&o.reference, "reference", referenceBody, "with --suite, what the reference publishes: body, or message (the message ingest publishes for the delivery)")
	fs.Float64Var(&o.rate, "rate", 0, "open loop: requests per second, scheduled on a clock")
	fs.IntVar(&o.concurrency, "concurrency", 0, "closed loop: requests in flight (default 32; 128 with --suite); open loop: the most in flight (default 512)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send (the open loop's, with --suite)")
	fs.IntVar(&o.count, "count", 0, "how many requests to send; without --duration, the only bound")
	fs.Float64Var(&o.retries, "retries", 0.1, "share of requests that are exact retries")
	fs.Float64Var(&o.flows, "flows", 0.05, "share of requests that are Platica whatsapp.flows.* requests")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", time.Minute, "how long to wait for the workers to store everything")
	fs.StringVar(&o.hooklane, "hooklane", defaultHooklane(), "with --suite, the hooklane `binary` to run (default: hooklane beside this binary)")
	fs.IntVar(&o.rounds, "rounds", 3, "with --suite, how many turns each comparison takes (the medians count)")
	fs.BoolVar(&o.allowErrors, "allow-errors", false, "5xx answers and unanswered requests do not fail the run (a fault test expects some)")
	if err := fs.Parse(args); err != nil {
		return usageError(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: %w", fs.Arg(0), app.ErrUsage)
	}
	durationSet := false
	fs.Visit(func(f *flag.Flag) { durationSet = durationSet || f.Name == "duration" })
	if o.count > 0 && !durationSet {
		o.duration = 0
	}
	if o.rounds < 1 {
		return fmt.Errorf("--rounds %d: want 1 or more: %w", o.rounds, app.ErrUsage)
	}
	if o.target != "hooklane" && o.target != "bare" {
		return fmt.Errorf("--target %q: want hooklane or bare: %w", o.target, app.ErrUsage)
	}
	if o.reference != referenceBody && o.reference != referenceMessage {
		return fmt.Errorf("--reference %q: want %s or %s: %w", o.reference, referenceBody, referenceMessage, app.ErrUsage)
	}
	if *configPath == "" {
		return fmt.Errorf("no config file: pass --config FILE or set HOOKLANE_CONFIG: %w", app.ErrUsage)
	}
	cfg, err := config.Load(*configPath, e.Getenv)
	if err != nil {
		return err
	}
	if *suite {
		return benchSuite(ctx, e, *configPath, cfg, o)
	}
	return benchOnce(ctx, e, cfg, o)
}

// measurement is one load run and, against hooklane, what it left in
// Postgres.
type measurement struct {
	res *loadgen.Result
	// cpu is the processor time the run took, where /proc tells: the
	// machine's, the load generator's and, if server is set, the server's.
	cpu    *loadgen.CPUSample
	server int // the server's process id, if it runs here
	// checked tells that Postgres was checked: the run's deliveries and
	// events were expected, and drained once the workers caught up.
	checked            bool
	deliveries, events int
	drained            loadgen.Drained
	check              error // lost or doubled, or not drained in time
}

// measure runs load as lc says, against the process server if it runs here
// (else 0), and samples the processor time it takes. With db, it then waits
// for the workers and checks exactly-once.
func measure(ctx context.Context, db *pgx.Conn, lc loadgen.Config, server int, drainTimeout time.Duration) (*measurement, error) {
	var base loadgen.Baseline
	if db != nil {
		var err error
		if base, err = loadgen.ReadBaseline(ctx, db); err != nil {
			return nil, err
		}
	}
	pids := []int{os.Getpid()}
	if server > 0 {
		pids = append(pids, server)
	}
	cpuBefore, cpuErr := loadgen.SampleCPU(pids...)
	res, sent, err := loadgen.Run(ctx, lc)
	if err != nil {
		return nil, err
	}
	m := &measurement{res: res, server: server}
	if cpuAfter, err := loadgen.SampleCPU(pids...); cpuErr == nil && err == nil {
		used := cpuAfter.Sub(cpuBefore)
		m.cpu = &used
	}
	if db == nil {
		return m, nil
	}
	exp, err := sent.Expect(base)
	if err != nil {
		return nil, err
	}
	m.checked, m.deliveries, m.events = true, len(exp.Deliveries), len(exp.Events)
	m.drained, err = loadgen.Drain(ctx, db, exp, drainTimeout)
	if err != nil && !errors.Is(err, loadgen.ErrNotDrained) {
		return nil, err
	}
	m.check = err
	if err := loadgen.Verify(ctx, db, exp); err != nil {
		var verr *loadgen.VerifyError
		if !errors.As(err, &verr) {
			return nil, err
		}
		m.check = errors.Join(m.check, err)
	}
	return m, nil
}

// failures says what makes m a failed run.
func (m *measurement) failures(allowErrors bool) []string {
	var out []string
	if m.check != nil {
		out = append(out, m.check.Error())
	}
	client := 0
	for status, n := range m.res.Status {
		if status < 500 {
			client += n
		}
	}
	if client > 0 {
		out = append(out, fmt.Sprintf("%d requests refused with a 4xx: check the config's secrets", client))
	}
	if !allowErrors && m.res.ServerErrors() > 0 {
		out = append(out, fmt.Sprintf("%d 5xx answers", m.res.ServerErrors()))
	}
	if !allowErrors && m.res.Unanswered() > 0 {
		out = append(out, fmt.Sprintf("%d requests unanswered", m.res.Unanswered()))
	}
	return out
}

// benchOnce is one run against a server already running.
func benchOnce(ctx context.Context, e app.Env, cfg *config.Config, o benchOptions) error {
	gen, err := loadgen.NewGenerator(loadgen.GeneratorConfig{Sources: loadgen.Sources(cfg), Retries: o.retries, Flows: o.flows})
	if err != nil {
		return err
	}
	var db *pgx.Conn
	if o.target == "hooklane" {
		if db, err = pgx.Connect(ctx, cmp.Or(o.databaseURL, cfg.DatabaseURL)); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer db.Close(context.WithoutCancel(ctx))
	}
	lc := loadgen.Config{
		URL: o.url, Generator: gen, Rate: o.rate, Concurrency: o.concurrency,
		Duration: o.duration, Count: o.count, Progress: e.Stderr, Label: o.target,
	}
	m, err := measure(ctx, db, lc, 0, o.drainTimeout)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "run %s\t%s against %s (%s)\n", m.res.RunID, mode(lc), o.url, o.target)
	writeRun(w, m)
	if err := w.Flush(); err != nil {
		return err
	}
	if f := m.failures(o.allowErrors); len(f) > 0 {
		return fmt.Errorf("bench: %s", strings.Join(f, "; "))
	}
	return nil
}

// writeRun writes the rows that describe m.
func writeRun(w io.Writer, m *measurement) {
	r := m.res
	fmt.Fprintf(w, "sent\t%d in %s (%d retries, %d flow requests)\n", r.Sent, r.Elapsed().Round(time.Millisecond), r.Retries, r.FlowsSent)
	fmt.Fprintf(w, "accepted\t%d, %.0f/s\n", r.Accepted, r.AcceptedPerSecond())
	fmt.Fprintf(w, "ack latency\t%s\n", latency(r.Ack))
	if len(r.Status)+len(r.Errors) > 0 {
		var parts []string
		for _, status := range slices.Sorted(maps.Keys(r.Status)) {
			parts = append(parts, fmt.Sprintf("%d: %d", status, r.Status[status]))
		}
		for _, cause := range slices.Sorted(maps.Keys(r.Errors)) {
			parts = append(parts, fmt.Sprintf("%s: %d", cause, r.Errors[cause]))
		}
		fmt.Fprintf(w, "not accepted\t%s\n", strings.Join(parts, ", "))
	}
	if r.FlowsSent > 0 {
		fmt.Fprintf(w, "flows\t%s; %s\n", flowCounts(r), latency(r.FlowLatency))
	}
	if busy, perRequest := cpuNote(m); busy != "" {
		fmt.Fprintf(w, "CPU\t%s; %s\n", busy, perRequest)
	}
	if !m.checked {
		return
	}
	fmt.Fprintf(w, "end-to-end\t%d events stored, %.0f events/s (first request to last row stored)\n",
		m.drained.Events, m.drained.EventsPerSecond(r.Start))
	fmt.Fprintf(w, "exactly-once\t%s: %s\n", verdict(m), detail(m))
}

func mode(lc loadgen.Config) string {
	var bound []string
	if lc.Duration > 0 {
		bound = append(bound, lc.Duration.String())
	}
	if lc.Count > 0 {
		bound = append(bound, fmt.Sprintf("%d requests", lc.Count))
	}
	if lc.Rate > 0 {
		return fmt.Sprintf("open loop at %.0f/s, %s,", lc.Rate, strings.Join(bound, " or "))
	}
	return fmt.Sprintf("closed loop, %d in flight, %s,", cmp.Or(lc.Concurrency, 32), strings.Join(bound, " or "))
}

// verdict and detail say whether m's rows are stored exactly once.
func verdict(m *measurement) string {
	if m.check != nil {
		return "FAILED"
	}
	return "OK"
}

func detail(m *measurement) string {
	if m.check != nil {
		return m.check.Error()
	}
	return fmt.Sprintf("%d deliveries, %d events", m.deliveries, m.events)
}

func flowCounts(r *loadgen.Result) string {
	return fmt.Sprintf("%d answered, %d fallback, %d other",
		r.Flows[loadgen.FlowAnswered], r.Flows[loadgen.FlowFallback], r.Flows[loadgen.FlowOther])
}

func latency(l loadgen.Latency) string {
	if l.N == 0 {
		return "no answers"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s  (%d answers)", ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max), l.N)
}

// ms writes d in milliseconds, with two decimals.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

// The suite's fixed shape; --concurrency and --duration change the rest.
const (
	suiteDatabase    = "hooklane_bench"
	suiteConcurrency = 128
	suitePauseProbe  = 2 * time.Second
	startTimeout     = time.Minute
	stopGrace        = 30 * time.Second
)

// benchSuite starts "hooklane all" (embedding NATS under a temporary
// directory unless NATS_URL names one), "hooklane-bench reference" and
// "hooklane ingest" (on "hooklane nats"), measures them, and stops
// everything it started, whatever happens.
func benchSuite(ctx context.Context, e app.Env, configPath string, cfg *config.Config, o benchOptions) (err error) {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bin, err := exec.LookPath(o.hooklane)
	if err != nil {
		return fmt.Errorf("bench: the hooklane binary: %w (build it with make build, or pass --hooklane)", err)
	}
	// Each server runs in a directory of its own, where a relative path
	// would name nothing.
	if bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	if configPath, err = filepath.Abs(configPath); err != nil {
		return err
	}
	if filepath.IsAbs(cfg.NATS.StoreDir) {
		return fmt.Errorf("bench: nats.store_dir %s is absolute, but the suite runs NATS servers in a temporary directory each: make it relative", cfg.NATS.StoreDir)
	}
	dir, err := os.MkdirTemp("", "hooklane-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	databaseURL := o.databaseURL
	if databaseURL == "" {
		if databaseURL, err = recreateSuiteDatabase(ctx, cfg.DatabaseURL); err != nil {
			return err
		}
	}
	childEnv := append(os.Environ(), "DATABASE_URL="+databaseURL, "HOOKLANE_ADDR=127.0.0.1:0", "HOOKLANE_CONSOLE_ADDR=127.0.0.1:0")

	var logs []string
	// On a failure, not an interruption, the end of each log says why.
	defer func() {
		if err != nil && ctx.Err() == nil {
			for _, path := range logs {
				fmt.Fprintf(e.Stderr, "--- end of %s\n%s", filepath.Base(path), tail(path, 20))
			}
		}
	}()
	// start runs "hooklane <role>" until stop, which the caller defers, in
	// a directory of its own: an embedded NATS stores under it.
	startAs := func(name, configPath, bin, role string, env ...string) (*loadgen.Process, func() error, error) {
		cmd := exec.Command(bin, role, "--config", configPath)
		cmd.Env, cmd.Dir = append(slices.Clone(childEnv), env...), filepath.Join(dir, name)
		if err := os.Mkdir(cmd.Dir, 0o700); err != nil {
			return nil, nil, err
		}
		path := filepath.Join(dir, name+".log")
		logs = append(logs, path)
		f, err := os.Create(path)
		if err != nil {
			return nil, nil, err
		}
		p, err := loadgen.StartProcess(ctx, cmd, f)
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		stop := func() error {
			defer f.Close()
			if err := p.Stop(stopGrace); err != nil {
				return fmt.Errorf("hooklane %s stopped with %w", role, err)
			}
			return nil
		}
		if err := waitReady(ctx, "http://"+p.Addr+"/readyz"); err != nil {
			return nil, nil, errors.Join(fmt.Errorf("hooklane %s: %w", role, err), stop())
		}
		return p, stop, nil
	}
	start := func(bin, role string, env ...string) (*loadgen.Process, func() error, error) {
		return startAs(role, configPath, bin, role, env...)
	}
	all, stopAll, err := start(bin, "all")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopAll()) }()
	// The reference and "hooklane ingest" on its own, with no worker and no
	// Postgres beside it, publish over TCP to one NATS, "hooklane nats",
	// even when NATS_URL names one for "hooklane all": on that one, all's
	// workers would store what ingest alone queues. Their ratio compares
	// the handlers alone, and no server shares the load generator's process.
	natsAddr, err := freeAddr()
	if err != nil {
		return err
	}
	_, stopNATS, err := start(bin, "nats", config.EnvNATSListen+"="+natsAddr)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopNATS()) }()
	natsURL := "nats://" + natsAddr
	ref, stopRef, err := start(self, "reference", config.EnvNATSURL+"="+natsURL, envReferencePublishes+"="+o.reference)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopRef()) }()
	ingestOnly, stopIngest, err := start(bin, "ingest", config.EnvNATSURL+"="+natsURL)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopIngest()) }()

	db, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer db.Close(context.WithoutCancel(ctx))

	gen := func() (*loadgen.Generator, error) {
		return loadgen.NewGenerator(loadgen.GeneratorConfig{Sources: loadgen.Sources(cfg), Retries: o.retries, Flows: o.flows})
	}
	saturate := loadgen.Config{Concurrency: cmp.Or(o.concurrency, suiteConcurrency), Duration: o.duration / 2, Progress: e.Stderr}
	run := func(label string, target *loadgen.Process, db *pgx.Conn, lc loadgen.Config) (*measurement, error) {
		var err error
		if lc.Generator, err = gen(); err != nil {
			return nil, err
		}
		lc.URL, lc.Label = "http://"+target.Addr, label
		runtime.GC() // so that the last run's garbage does not burden this one
		return measure(ctx, db, lc, target.Pid(), o.drainTimeout)
	}
	// How steadily the machine runs threads, with the servers started and
	// idle: the floor of every latency tail below.
	pauses := loadgen.MeasurePauses(runtime.NumCPU(), suitePauseProbe)

	// turns runs a and b in turn, o.rounds times each, under lc: one run
	// moves by a tenth or more with the machine's noise, a tail by more, so
	// the medians count.
	type server struct {
		label string
		proc  *loadgen.Process
		db    *pgx.Conn // checked for exactly-once, if set
	}
	turns := func(lc loadgen.Config, a, b server) (as, bs []*measurement, err error) {
		for range o.rounds {
			for i, s := range []server{a, b} {
				m, err := run(s.label, s.proc, s.db, lc)
				if err != nil {
					return nil, nil, err
				}
				if i == 0 {
					as = append(as, m)
				} else {
					bs = append(bs, m)
				}
			}
		}
		return as, bs, nil
	}
	bares, alones, err := turns(saturate, server{"bare saturation", ref, nil}, server{"ingest alone saturation", ingestOnly, nil})
	if err != nil {
		return err
	}
	sat, err := run("hooklane saturation", all, db, saturate)
	if err != nil {
		return err
	}
	// At half of hooklane's saturation, ingest alone shows the latency with
	// the persistence lane elsewhere, as the separate roles run in production.
	half := loadgen.Config{Rate: sat.res.AcceptedPerSecond() / 2, Duration: o.duration, Progress: e.Stderr}
	opens, openAlones, err := turns(half, server{"hooklane half saturation", all, db}, server{"ingest alone, same load", ingestOnly, nil})
	if err != nil {
		return err
	}

	// The model's cost: "hooklane all" with the model tables and without
	// (model: false), in turns at saturation, when the suite has databases
	// of its own. Each runs anew, on a database and an embedded NATS of its
	// own: the suite's "hooklane all" has stored every run above, and
	// tables and a stream that large are slower to write to.
	var modelOns, modelOffs []*measurement
	if o.databaseURL == "" {
		startFresh := func(name, configPath, database string) (server, func() error, error) {
			url, err := recreateDatabase(ctx, cfg.DatabaseURL, database)
			if err != nil {
				return server{}, nil, err
			}
			proc, stop, err := startAs("all-"+strings.ReplaceAll(name, " ", "-"), configPath, bin, "all",
				"DATABASE_URL="+url, config.EnvNATSURL+"=")
			if err != nil {
				return server{}, nil, err
			}
			db, err := pgx.Connect(ctx, url)
			if err != nil {
				return server{}, nil, errors.Join(fmt.Errorf("bench: %w", err), stop())
			}
			return server{"hooklane saturation, " + name, proc, db}, func() error {
				return errors.Join(db.Close(context.WithoutCancel(ctx)), stop())
			}, nil
		}
		var (
			offConfig       string
			on, off         server
			stopOn, stopOff func() error
		)
		if offConfig, err = modelOffConfig(dir, configPath); err != nil {
			return err
		}
		if on, stopOn, err = startFresh("model on", configPath, suiteModelOnDatabase); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, stopOn()) }()
		if off, stopOff, err = startFresh("model off", offConfig, suiteModelOffDatabase); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, stopOff()) }()
		if modelOns, modelOffs, err = turns(saturate, on, off); err != nil {
			return err
		}
	}

	writeSuite(e.Stdout, cfg, o, pauses, saturate, half, bares, alones, sat, opens, openAlones)
	if len(modelOns) > 0 {
		writeModelRows(e.Stdout, modelOns, modelOffs)
	}
	var failed []string
	for _, m := range slices.Concat([]*measurement{sat}, bares, alones, opens, openAlones, modelOns, modelOffs) {
		failed = append(failed, m.failures(o.allowErrors)...)
	}
	if len(failed) > 0 {
		return fmt.Errorf("bench: %s", strings.Join(failed, "; "))
	}
	return nil
}

// writeSuite prints the suite's table.
func writeSuite(out io.Writer, cfg *config.Config, o benchOptions, pauses loadgen.Pauses, saturate, half loadgen.Config, bares, alones []*measurement, sat *measurement, opens, openAlones []*measurement) {
	bare, alone := median(bares, throughput), median(alones, throughput)
	open, openAlone := median(opens, ackP99), median(openAlones, ackP99)
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	row := func(label, value string, note ...string) {
		fmt.Fprintf(w, "%s\t%s\t%s\n", label, value, strings.Join(note, ", "))
	}
	fmt.Fprintf(w, "\nhooklane-bench: %d CPUs shared by the load generator, NATS, Postgres and both servers; figures are indicative\n", runtime.NumCPU())
	row("machine pauses", "longest "+ms(pauses.Longest), fmt.Sprintf("%d over 1ms, %d over 5ms: %d threads spinning for %s before the load",
		pauses.Over1ms, pauses.Over5ms, pauses.Threads, pauses.Duration))
	row("mix", fmt.Sprintf("%d sources", len(cfg.Sources)), fmt.Sprintf("%.0f%% exact retries, %.0f%% flow requests", 100*o.retries, 100*o.flows))
	row("saturation", "closed loop", fmt.Sprintf("%d in flight, %s each", saturate.Concurrency, saturate.Duration))
	cpuRow := func(m *measurement) {
		if busy, perRequest := cpuNote(m); busy != "" {
			row("    CPU", busy, perRequest)
		}
	}
	refLabel, refShort := "bare reference", "bare"
	if o.reference == referenceMessage {
		refLabel, refShort = "reference (ingest's message)", "reference"
	}
	row("  "+refLabel+" limit", perSecond(bare.res.AcceptedPerSecond(), "req"), spread(bares, throughput, "%.0f"), ackNote(bare.res.Ack))
	cpuRow(bare)
	row("  hooklane ingest alone", perSecond(alone.res.AcceptedPerSecond(), "req"), spread(alones, throughput, "%.0f"), ackNote(alone.res.Ack), "no worker, on the reference's NATS")
	cpuRow(alone)
	row("  ratio ingest / "+refShort, fmt.Sprintf("%.2f", alone.res.AcceptedPerSecond()/bare.res.AcceptedPerSecond()))
	row("  hooklane all limit", perSecond(sat.res.AcceptedPerSecond(), "req"), ackNote(sat.res.Ack), "workers and Postgres on the same CPUs")
	cpuRow(sat)
	row("  ratio all / "+refShort, fmt.Sprintf("%.2f", sat.res.AcceptedPerSecond()/bare.res.AcceptedPerSecond()))
	row("  end-to-end", perSecond(sat.drained.EventsPerSecond(sat.res.Start), "events"), "first request to last row stored", lag(sat))
	row("  exactly-once", verdict(sat), detail(sat))
	row("half saturation", "open loop", fmt.Sprintf("%.0f req/s offered for %s each run", half.Rate, half.Duration))
	row("  accepted", perSecond(open.res.AcceptedPerSecond(), "req"))
	row("  ack p50 / p99", ms(open.res.Ack.P50)+" / "+ms(open.res.Ack.P99),
		"p90 "+ms(open.res.Ack.P90), "max "+ms(open.res.Ack.Max), spread(opens, ackP99, "%.2fms"), "from the scheduled time")
	cpuRow(open)
	row("  end-to-end", perSecond(open.drained.EventsPerSecond(open.res.Start), "events"), lag(open))
	verdictAll, detailAll := checkAll(opens)
	row("  exactly-once", verdictAll, detailAll)
	row("  flows answered / fallback", fmt.Sprintf("%d / %d", open.res.Flows[loadgen.FlowAnswered], open.res.Flows[loadgen.FlowFallback]),
		fmt.Sprintf("other %d", open.res.Flows[loadgen.FlowOther]))
	row("  flows p50 / p99", ms(open.res.FlowLatency.P50)+" / "+ms(open.res.FlowLatency.P99))
	row("  ingest alone: ack p50 / p99", ms(openAlone.res.Ack.P50)+" / "+ms(openAlone.res.Ack.P99),
		"p90 "+ms(openAlone.res.Ack.P90), "max "+ms(openAlone.res.Ack.Max), spread(openAlones, ackP99, "%.2fms"),
		"the same load, with no worker or Postgres beside it")
	cpuRow(openAlone)
	_ = w.Flush()
}

// cpuNote says how busy the machine's CPUs were during m's load, and what
// a request took of them: the server's share (when it runs here), the load
// generator's, and the rest's (NATS when it runs apart, Postgres, anything
// else). Both are empty where /proc does not tell.
func cpuNote(m *measurement) (busy, perRequest string) {
	c := m.cpu
	if c == nil || c.Total <= 0 || m.res.Sent == 0 {
		return "", ""
	}
	per := func(d time.Duration) string {
		return fmt.Sprintf("%.0fµs", float64(max(d, 0))/float64(time.Microsecond)/float64(m.res.Sent))
	}
	generator := c.Procs[os.Getpid()]
	var parts []string
	rest := c.Busy - generator
	if m.server > 0 {
		parts = append(parts, "server "+per(c.Procs[m.server]))
		rest -= c.Procs[m.server]
	}
	parts = append(parts, "load generator "+per(generator), "the rest "+per(rest))
	return fmt.Sprintf("%.0f%% busy", 100*float64(c.Busy)/float64(c.Total)), "a request: " + strings.Join(parts, ", ")
}

// checkAll is verdict and detail for runs: the first failure, else what
// they stored together.
func checkAll(runs []*measurement) (string, string) {
	var deliveries, events int
	for _, m := range runs {
		if m.check != nil {
			return verdict(m), detail(m)
		}
		deliveries, events = deliveries+m.deliveries, events+m.events
	}
	return "OK", fmt.Sprintf("%d deliveries, %d events in %d runs, each checked", deliveries, events, len(runs))
}

// throughput and ackP99 are what the suite takes the median of.
func throughput(m *measurement) float64 { return m.res.AcceptedPerSecond() }

func ackP99(m *measurement) float64 { return float64(m.res.Ack.P99) / float64(time.Millisecond) }

// median is the run of ms with the median by.
func median(ms []*measurement, by func(*measurement) float64) *measurement {
	sorted := slices.SortedFunc(slices.Values(ms), func(a, b *measurement) int {
		return cmp.Compare(by(a), by(b))
	})
	return sorted[len(sorted)/2]
}

// spread says of how many runs a median is, and the range of by, each
// bound written with format.
func spread(ms []*measurement, by func(*measurement) float64, format string) string {
	lo, hi := by(ms[0]), by(ms[0])
	for _, m := range ms[1:] {
		lo, hi = min(lo, by(m)), max(hi, by(m))
	}
	return fmt.Sprintf("median of %d runs, "+format+" to "+format, len(ms), lo, hi)
}

func perSecond(rate float64, what string) string { return fmt.Sprintf("%.0f %s/s", rate, what) }

func ackNote(l loadgen.Latency) string { return "ack p50 " + ms(l.P50) + ", p99 " + ms(l.P99) }

// lag says how long after the last answer the last row was stored.
func lag(m *measurement) string {
	if !m.drained.LastStored.After(m.res.End) {
		return "last row stored before the last answer arrived"
	}
	return fmt.Sprintf("last row stored %s after the last answer", m.drained.LastStored.Sub(m.res.End).Round(time.Millisecond))
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// recreateSuiteDatabase drops the suite's database on the server of
// serverURL, so that each suite starts from empty tables ("hooklane all"
// creates it again), and returns its URL. The database stays after the
// suite, for a look at what it stored.
func recreateSuiteDatabase(ctx context.Context, serverURL string) (string, error) {
	return recreateDatabase(ctx, serverURL, suiteDatabase)
}

// recreateDatabase drops the database name on the server of serverURL and
// returns its URL.
func recreateDatabase(ctx context.Context, serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("bench: database URL: %w", err)
	}
	u.Path = "/postgres"
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("bench: drop %s (is another suite running?): %w", name, err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// waitReady polls url until it answers 2xx.
func waitReady(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w", url, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error() + "\n"
	}
	lines := bytes.SplitAfter(raw, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, nil))
}

// defaultHooklane is the hooklane binary beside this one, as make build
// leaves them in bin/, else "hooklane" from PATH.
func defaultHooklane() string {
	self, err := os.Executable()
	if err != nil {
		return "hooklane"
	}
	sibling := filepath.Join(filepath.Dir(self), "hooklane")
	if _, err := os.Stat(sibling); err != nil {
		return "hooklane"
	}
	return sibling
}
