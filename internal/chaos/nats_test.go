//go:build chaos

package chaos_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hooklane/hooklane/internal/loadgen"
	"github.com/hooklane/hooklane/internal/natstest"
)

// probed is one request of a probe sent beside the load, and its answer.
type probed struct {
	req *loadgen.Request
	answer
}

// probe sends one request of gen every interval until ctx is done, and
// returns what each got once stop is called.
func probe(ctx context.Context, base string, gen *loadgen.Generator, interval time.Duration) (stop func() []probed) {
	ctx, cancel := context.WithCancel(ctx)
	client := newClient(1)
	var out []probed
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			req, _ := gen.Next()
			// Not ctx: a probe in flight is answered, not cut.
			a := post(context.Background(), client, base, req)
			out = append(out, probed{req: req, answer: a})
		}
	})
	return func() []probed {
		cancel()
		wg.Wait()
		return out
	}
}

// TestNATSOutage stops NATS in the middle of the load and starts it again
// 4 s later on the same port and store. While it is down, ingest must
// answer 503 with Retry-After (never a 2xx: nothing is acknowledged that
// JetStream did not take), and once it is back ingest must answer 2xx
// again by itself, without a restart. What was acknowledged before the
// outage must survive it, and the workers must store it all exactly once.
func TestNATSOutage(t *testing.T) {
	s := newStack(t)
	s.startAsync()
	ingestPid := s.ingest.Pid()
	base := s.baseline()
	// Flows too: a flow request is answered 2xx only once its delivery is
	// queued, so one that arrives during the outage gets a 503 like any
	// other delivery, and Verify holds them to the same promise.
	gen := s.generator(0.1, 0.05)

	const (
		rate    = 100.0 // requests per second, open loop
		total   = 14 * time.Second
		downAt  = 3 * time.Second
		outage  = 4 * time.Second
		recover = 10 * time.Second // bound on ingest's recovery after NATS is back
	)
	l := s.startLoad(loadgen.Config{Generator: gen, Rate: rate, Duration: total})
	// The probe sees each answer's time and headers, which Run does not
	// keep.
	stopProbe := probe(context.Background(), s.ingest.url, gen, 50*time.Millisecond)

	time.Sleep(downAt)
	down := time.Now()
	s.nats.Shutdown()
	s.nats.WaitForShutdown()
	time.Sleep(outage)
	s.nats = natstest.RestartServer(t, s.nats)
	up := time.Now()
	readyErr := readyWithin(s.ingest.url, recover)
	readyAfter := time.Since(up)

	res, sent := l.wait(t)
	probes := stopProbe()
	for _, p := range probes {
		sent.Add(p.req, p.ok())
	}
	t.Logf("load: %s", describe(res))

	if readyErr != nil {
		t.Errorf("ingest not ready %s after NATS came back: %v", recover, readyErr)
	}
	select {
	case <-s.ingest.Done():
		t.Fatalf("ingest exited during the outage: %v", s.ingest.Err())
	default:
	}
	if s.ingest.Pid() != ingestPid {
		t.Fatal("ingest was restarted")
	}

	// Every request was answered, with a 2xx or a 503.
	for status, n := range res.Status {
		if status != http.StatusServiceUnavailable {
			t.Errorf("%d answers %d: only 2xx and 503 are expected", n, status)
		}
	}
	if res.Unanswered() > 0 {
		t.Errorf("%v requests unanswered: ingest must answer 503 within its publish timeout", res.Errors)
	}

	// The probe: 503s with Retry-After only around the outage, 2xx after.
	var first503, last503, firstOKAfter time.Time
	n503, noRetryAfter := 0, 0
	for _, p := range probes {
		switch {
		case p.err != nil:
			t.Errorf("probe unanswered at %s: %v", p.at.Sub(down), p.err)
		case p.status == http.StatusServiceUnavailable:
			n503++
			if first503.IsZero() {
				first503 = p.at
			}
			last503 = p.at
			if p.retryAfter != "5" {
				noRetryAfter++
			}
		case p.ok():
			// Nothing can be acknowledged while no JetStream exists; an
			// answer shortly after the stop may carry an ack from before.
			if p.at.After(down.Add(500*time.Millisecond)) && p.at.Before(up) {
				t.Errorf("a 2xx %s into the outage: acknowledged with NATS down", p.at.Sub(down))
			}
		default:
			t.Errorf("probe answered %d", p.status)
		}
	}
	for _, p := range probes {
		if p.ok() && p.at.After(last503) {
			firstOKAfter = p.at
			break
		}
	}
	if n503 == 0 || res.Status[http.StatusServiceUnavailable] == 0 {
		t.Fatalf("no 503 during the outage (probe %d, load %d)", n503, res.Status[http.StatusServiceUnavailable])
	}
	if noRetryAfter > 0 {
		t.Errorf("%d of %d 503s without Retry-After: 5", noRetryAfter, n503)
	}
	if first503.Before(down) || last503.After(up.Add(recover)) {
		t.Errorf("503s from %s to %s relative to the stop; NATS was down from 0 to %s", first503.Sub(down), last503.Sub(down), up.Sub(down))
	}
	if firstOKAfter.IsZero() {
		t.Errorf("no 2xx after the last 503: ingest did not recover")
	}
	t.Logf("NATS down %s; probe: %d 503s (all with Retry-After: %v) from +%s to +%s after the stop, first 2xx again at +%s (%s after NATS was back); ingest ready again %s after; load: %d 503s of %d requests",
		up.Sub(down).Round(time.Millisecond), n503, noRetryAfter == 0,
		first503.Sub(down).Round(time.Millisecond), last503.Sub(down).Round(time.Millisecond),
		firstOKAfter.Sub(down).Round(time.Millisecond), firstOKAfter.Sub(up).Round(time.Millisecond),
		readyAfter.Round(time.Millisecond), res.Status[http.StatusServiceUnavailable], res.Sent)

	_, drained := s.exactlyOnce("NATS outage", base, sent)
	t.Logf("caught up: last event stored %s after NATS came back", drained.LastStored.Sub(up).Round(time.Millisecond))
	s.noDeadLetters()
	s.stopAll()
}
