//go:build chaos

package chaos_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hooklane/hooklane/internal/loadgen"
)

// Bounds on a worker during a Postgres outage. They catch a worker that
// does not back off: a hot loop writes thousands of lines and burns a whole
// core. They are sanity bounds, not speed claims. The backoff schedule
// (worker.Config.RetryInitial 500 ms, doubling) allows about two write
// attempts a second at first and fewer later, each worth a line or two of
// log; 20 lines a second per worker is ten times that. The bound holds
// whatever the traffic: during an outage the log must follow the backoff
// schedule, not the rate at which deliveries keep arriving.
const (
	maxOutageLinesPerSecond = 20
	maxOutageCPUShare       = 0.30 // of the wall time, on one core
)

// TestPostgresOutage cuts the workers off Postgres in the middle of the
// load: for 3 s every connection they open is terminated (pg_terminate_backend,
// every 100 ms, of their backends only), then for 5 s the TCP proxy they
// reach Postgres through is closed, so connecting is refused as if
// Postgres were stopped. Ingest goes on accepting (it needs no Postgres).
// The workers must keep running, back off rather than spin (bounded log
// lines and CPU during the outage), dead-letter nothing, and catch up
// after, storing everything exactly once.
func TestPostgresOutage(t *testing.T) {
	s := newStack(t)
	u, err := url.Parse(s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newProxy(t, u.Host)
	appName := "hooklane-chaos-" + strings.ToLower(rand.Text()[:8])
	workerURL := namedURL(t, s.dbURL, proxy.addr, appName)
	s.startIngest("")
	s.startWorker("worker-1", workerURL)
	s.startWorker("worker-2", workerURL)
	base := s.baseline()

	const (
		rate        = 80.0 // requests per second, open loop
		total       = 16 * time.Second
		faultAt     = 3 * time.Second
		killedFor   = 3 * time.Second // connections terminated
		refusedFor  = 5 * time.Second // then connecting refused
		killEvery   = 100 * time.Millisecond
		recoverTime = 15 * time.Second
	)
	l := s.startLoad(loadgen.Config{Generator: s.generator(0.1, 0), Rate: rate, Duration: total})
	time.Sleep(faultAt)

	faultStart := time.Now()
	cpuStart := make([]time.Duration, len(s.workers))
	for i, w := range s.workers {
		if cpuStart[i], err = cpuTime(w.Pid()); err != nil {
			t.Fatal(err)
		}
	}
	// The killer has a connection of its own: a query cut short closes a
	// pgx connection, and the test's is needed after.
	killerDB, err := pgx.Connect(context.Background(), s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer killerDB.Close(context.Background())
	stopKilling := make(chan struct{})
	var killer sync.WaitGroup
	terminated, killErrs := 0, 0
	var killErr error
	killer.Go(func() {
		tick := time.NewTicker(killEvery)
		defer tick.Stop()
		for {
			n, err := terminateBackends(context.Background(), killerDB, appName)
			if err != nil {
				killErrs++
				killErr = err
			}
			terminated += n
			select {
			case <-stopKilling:
				return
			case <-tick.C:
			}
		}
	})
	connectsBefore := proxy.accepted()
	time.Sleep(killedFor)
	connects := proxy.accepted() - connectsBefore
	refusedStart := time.Now()
	proxy.down()
	time.Sleep(refusedFor)
	if err := proxy.up(); err != nil {
		t.Fatalf("proxy back up on %s: %v", proxy.addr, err)
	}
	close(stopKilling)
	killer.Wait()
	faultEnd := time.Now()
	window := faultEnd.Sub(faultStart)

	type during struct {
		lines, killedLines, refusedLines int
		byMsg                            map[string]int
		cpu                              time.Duration
	}
	seen := make([]during, len(s.workers))
	for i, w := range s.workers {
		cpu, err := cpuTime(w.Pid())
		if err != nil {
			t.Fatalf("%s: %v (did it exit?)", w.name, err)
		}
		seen[i].cpu = cpu - cpuStart[i]
		seen[i].lines, seen[i].byMsg = w.log.between(faultStart, faultEnd)
		seen[i].killedLines, _ = w.log.between(faultStart, refusedStart)
		seen[i].refusedLines, _ = w.log.between(refusedStart, faultEnd)
	}

	res, sent := l.wait(t)
	t.Logf("load: %s", describe(res))
	if res.Accepted != res.Sent {
		t.Errorf("ingest refused %v and left %v unanswered: it does not need Postgres", res.Status, res.Errors)
	}
	if killErrs > 0 {
		t.Errorf("%d errors terminating backends, e.g. %v", killErrs, killErr)
	}
	t.Logf("outage %s: %d worker connections terminated in the first %s (%d connections opened by the workers meanwhile), then connecting refused for %s",
		window.Round(time.Millisecond), terminated, killedFor, connects, refusedFor)
	if terminated == 0 {
		t.Errorf("no worker connection was terminated: the test did not find the workers' backends")
	}

	for i, w := range s.workers {
		select {
		case <-w.Done():
			t.Fatalf("%s exited: %v", w.name, w.Err())
		default:
		}
		perSecond := float64(seen[i].lines) / window.Seconds()
		share := seen[i].cpu.Seconds() / window.Seconds()
		t.Logf("%s during the outage: %d log lines (%.1f/s: %.1f/s while connections were killed, %.1f/s while refused; %s), CPU %s (%.1f%% of the wall time)",
			w.name, seen[i].lines, perSecond,
			float64(seen[i].killedLines)/refusedStart.Sub(faultStart).Seconds(),
			float64(seen[i].refusedLines)/faultEnd.Sub(refusedStart).Seconds(),
			byCount(seen[i].byMsg), seen[i].cpu, 100*share)
		if perSecond >= maxOutageLinesPerSecond {
			t.Errorf("%s logged %.1f lines/s during the outage, want < %d (a worker backing off logs a few lines per retry)",
				w.name, perSecond, maxOutageLinesPerSecond)
		}
		if share >= maxOutageCPUShare {
			t.Errorf("%s used %.0f%% of a core during the outage, want < %.0f%%: it is spinning, not backing off",
				w.name, 100*share, 100*maxOutageCPUShare)
		}
		if err := readyWithin(w.url, recoverTime); err != nil {
			t.Errorf("%s not ready again after the outage: %v", w.name, err)
		}
	}

	_, drained := s.exactlyOnce("Postgres outage", base, sent)
	t.Logf("caught up: last event stored %s after Postgres was reachable again", drained.LastStored.Sub(faultEnd).Round(time.Millisecond))
	s.noDeadLetters()
	s.stopAll()
}

// byCount writes counts by message, the largest first.
func byCount(m map[string]int) string {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int { return m[b] - m[a] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%q: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
