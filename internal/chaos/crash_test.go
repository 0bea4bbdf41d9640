//go:build chaos

package chaos_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hooklane/hooklane/flowlane"
	"github.com/hooklane/hooklane/internal/loadgen"
	"github.com/hooklane/hooklane/internal/natstest"
)

// TestWorkerKilledMidBatch kills a worker with SIGKILL while it is
// provably in the middle of a batch: the test holds a lock on the
// deliveries table, so the workers' writes wait inside their transaction.
// With worker-1 blocked so, deliveries pile up in the stream for a second;
// then worker-2 starts, takes them as one batch, blocks on the lock too,
// and is killed. The lock goes and worker-3 starts. What worker-2 held,
// unacknowledged, comes back to the others after ack_wait, and everything
// is stored exactly once, whether or not worker-2's orphaned transaction
// committed.
func TestWorkerKilledMidBatch(t *testing.T) {
	s := newStack(t)
	s.startIngest("")
	survivorApp := "hooklane-chaos-" + strings.ToLower(rand.Text()[:8])
	victimApp := "hooklane-chaos-" + strings.ToLower(rand.Text()[:8])
	survivor := s.startWorker("worker-1", namedURL(t, s.dbURL, "", survivorApp))
	base := s.baseline()

	const (
		rate   = 150.0 // requests per second, open loop
		total  = 12 * time.Second
		lockAt = 3 * time.Second
		pileUp = time.Second
	)
	l := s.startLoad(loadgen.Config{Generator: s.generator(0.1, 0), Rate: rate, Duration: total})
	time.Sleep(lockAt)

	// The lock has a connection of its own: inside its transaction,
	// pg_stat_activity would not change.
	ctx := context.Background()
	locker, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(ctx)
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `LOCK TABLE deliveries IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	if _, err := waitForLockWait(s, survivorApp, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(pileUp)
	heldBefore := s.consumerInfo().NumAckPending
	victim := s.startWorker("worker-2", namedURL(t, s.dbURL, "", victimApp))
	// Its backend waits for the lock: it is inside a batch's transaction,
	// the batch fetched and not acknowledged.
	if _, err := waitForLockWait(s, victimApp, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	heldAfter := s.consumerInfo().NumAckPending
	s.kill(victim)
	killed := time.Now()
	var exitErr *exec.ExitError
	if err := victim.Err(); !errors.As(err, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("worker-2 exited with %v, want killed by SIGKILL", err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	batch := heldAfter - heldBefore
	t.Logf("worker-2 killed while its write of a batch waited for the lock: about %d deliveries unacknowledged in its hands (%d held by worker-1)",
		batch, heldBefore)
	if batch <= 0 {
		t.Errorf("worker-2 held no delivery when killed (%d unacknowledged before it started, %d after)", heldBefore, heldAfter)
	}
	restarted := s.startWorker("worker-3", "")

	res, sent := l.wait(t)
	t.Logf("load: %s", describe(res))
	if res.Accepted != res.Sent {
		t.Errorf("ingest refused %v and left %v unanswered: it does not depend on the workers", res.Status, res.Errors)
	}
	_, drained := s.exactlyOnce("worker SIGKILL", base, sent)
	t.Logf("caught up: last event stored %s after the kill", drained.LastStored.Sub(killed).Round(time.Millisecond))

	// The batch worker-2 held comes back to the others after ack_wait,
	// and everything is acknowledged in the end.
	s.waitAcked(ackWait + 15*time.Second)
	redelivered, duplicates := 0.0, 0.0
	for _, w := range []*proc{survivor, restarted} {
		m := metrics(t, w.url)
		n := sum(m, "hooklane_worker_redeliveries_total")
		d := sum(m, "hooklane_worker_deliveries_total", `result="duplicate"`)
		t.Logf("%s: %.0f deliveries stored, %.0f found stored already; %.0f redeliveries seen",
			w.name, sum(m, "hooklane_worker_deliveries_total", `result="stored"`), d, n)
		redelivered += n
		duplicates += d
	}
	orphan := "its orphaned transaction did not commit"
	if duplicates > 0 {
		orphan = "its orphaned transaction committed once the lock went, and the redeliveries were no-ops"
	}
	t.Logf("all acknowledged %s after the kill; %.0f redeliveries reached worker-1 and worker-3, %.0f of them found stored already: %s",
		time.Since(killed).Round(time.Millisecond), redelivered, duplicates, orphan)
	if redelivered < float64(batch) {
		t.Errorf("%.0f redeliveries seen by the surviving workers, want at least the %d worker-2 held", redelivered, batch)
	}
	s.noDeadLetters()
	s.stopAll()
}

// waitForLockWait waits until a backend named appName waits for a lock, and
// returns how many do.
func waitForLockWait(s *stack, appName string, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		var n int
		err := s.db.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1 AND wait_event_type = 'Lock'`, appName).Scan(&n)
		if err != nil || n > 0 {
			return n, err
		}
		if time.Now().After(deadline) {
			return 0, errors.New(appName + " never waited for the lock within " + timeout.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// discardLogger drops a responder's log: a panic's stack is expected.
var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// serveResponder runs a flowlane responder with h for every Platica flow
// on the stack's NATS until the returned stop is called.
func serveResponder(t *testing.T, s *stack, h flowlane.HandlerFunc) (stop func()) {
	t.Helper()
	nc := natstest.Connect(t, s.nats)
	r := flowlane.NewResponder(nc, flowlane.ResponderConfig{Logger: discardLogger})
	r.Handle(s.platica.Name, "*", h)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = r.Run(ctx) })
	select {
	case <-r.Ready():
	case <-time.After(10 * time.Second):
		cancel()
		wg.Wait()
		t.Fatalf("responder not ready: %v", runErr)
	}
	return func() {
		cancel()
		wg.Wait()
		nc.Close()
		if runErr != nil {
			t.Errorf("responder: %v", runErr)
		}
	}
}

// TestIngestSIGTERM stops ingest with SIGTERM under load. Eight flow
// requests are in flight when the signal comes, held by the responder
// until just after it: they must be answered (the load's own flow
// requests take 300 ms each). The load's requests must each get a 2xx,
// a 503 or a connection error, never anything else, and every 2xx must be
// stored (a 2xx answered by a dying ingest is a promise too). Ingest must
// exit 0 within its shutdown timeout; a new ingest on the same address
// then takes the load again.
func TestIngestSIGTERM(t *testing.T) {
	s := newStack(t)
	s.startAsync()
	// The in-flight requests come from a generator of their own, whose
	// flow tokens hold its run id: the responder holds each until the
	// signal has been sent (or its deadline comes).
	flowGen, err := loadgen.NewGenerator(loadgen.GeneratorConfig{Sources: s.sources, Flows: 1})
	if err != nil {
		t.Fatal(err)
	}
	var held atomic.Int32
	release := make(chan struct{})
	const slow = 300 * time.Millisecond
	stopResponder := serveResponder(t, s, func(ctx context.Context, req *flowlane.Request) (*flowlane.Response, error) {
		// One of the two channels is nil, and never ready.
		timer, released := time.After(slow), (<-chan struct{})(nil)
		if strings.HasPrefix(req.FlowToken, flowGen.RunID()+"-") {
			held.Add(1)
			timer, released = nil, release
		}
		select {
		case <-timer:
		case <-released:
		case <-ctx.Done():
		}
		return flowlane.Screen("SLOW", map[string]any{"ok": true}), nil
	})
	defer func() { stopResponder() }()
	base := s.baseline()

	const (
		rate     = 150.0
		total    = 10 * time.Second
		termAt   = 3 * time.Second
		inFlight = 8
	)
	l := s.startLoad(loadgen.Config{Generator: s.generator(0.1, 0.1), Rate: rate, Duration: total})
	time.Sleep(termAt)

	flowSent := loadgen.NewSent(flowGen.RunID())
	client := newClient(inFlight)
	answers := make([]answer, inFlight)
	reqs := make([]*loadgen.Request, inFlight)
	var wg sync.WaitGroup
	for i := range inFlight {
		reqs[i], _ = flowGen.Next()
		wg.Go(func() { answers[i] = post(context.Background(), client, s.ingest.url, reqs[i]) })
	}
	for deadline := time.Now().Add(5 * time.Second); held.Load() < inFlight; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d flow requests reached the responder", held.Load(), inFlight)
		}
	}
	addr := s.ingest.Addr
	term := time.Now()
	if err := s.ingest.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	var exitErr error
	select {
	case <-s.ingest.Done():
		exitErr = s.ingest.Err()
	case <-time.After(shutdownTimeout + 10*time.Second):
		t.Fatalf("ingest still running %s after SIGTERM", shutdownTimeout+10*time.Second)
	}
	exited := time.Since(term)
	s.ingest.killed = true // stopped already
	if exitErr != nil {
		t.Errorf("ingest exited with %v after SIGTERM, want status 0", exitErr)
	}
	if exited > shutdownTimeout {
		t.Errorf("ingest took %s to exit, more than its shutdown timeout %s", exited, shutdownTimeout)
	}

	answered, fallbacks := 0, 0
	for i, a := range answers {
		flowSent.Add(reqs[i], a.ok())
		switch {
		case !a.ok():
			t.Errorf("flow request in flight at SIGTERM: status %d, %v; want it finished", a.status, a.err)
		case strings.Contains(string(a.body), `"SLOW"`):
			answered++
		case string(a.body) == string(s.fallback):
			fallbacks++ // its deadline came first, on a slow machine
		default:
			t.Errorf("flow request in flight at SIGTERM answered %s", a.body)
		}
	}
	// New requests are refused: nothing listens.
	probeReq, _ := flowGen.Next()
	refused := post(context.Background(), newClient(1), "http://"+addr, probeReq)
	flowSent.Add(probeReq, refused.ok())
	if !errors.Is(refused.err, syscall.ECONNREFUSED) {
		t.Errorf("a request after the stop got status %d, %v; want the connection refused", refused.status, refused.err)
	}
	t.Logf("SIGTERM: %d flow requests in flight at the responder: %d answered by it, %d with the fallback; ingest exited (error: %v) %s after the signal (shutdown timeout %s); a new request then: %v",
		inFlight, answered, fallbacks, exitErr, exited.Round(time.Millisecond), shutdownTimeout, refused.err)

	time.Sleep(time.Second)
	s.startIngest(addr)
	again := post(context.Background(), newClient(1), s.ingest.url, probeReq)
	flowSent.Add(probeReq, again.ok())
	if !again.ok() {
		t.Errorf("the restarted ingest answered %d, %v", again.status, again.err)
	}

	res, sent := l.wait(t)
	t.Logf("load: %s", describe(res))
	for status, n := range res.Status {
		if status != http.StatusServiceUnavailable {
			t.Errorf("%d answers %d: want only 2xx, 503 and connection errors", n, status)
		}
	}
	if res.Unanswered() == 0 {
		t.Errorf("no request of the load met the stopped ingest: the test did not stop it under load")
	}
	s.exactlyOnce("ingest SIGTERM, load", base, sent)
	s.exactlyOnce("ingest SIGTERM, in-flight flow requests", base, flowSent)
	s.noDeadLetters()
	stopResponder()
	stopResponder = func() {}
	s.stopAll()
}
