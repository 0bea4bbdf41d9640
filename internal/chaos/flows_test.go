//go:build chaos

package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hooklane/hooklane/flowlane"
	"github.com/hooklane/hooklane/flowlane/gateway"
	"github.com/hooklane/hooklane/internal/loadgen"
	"github.com/hooklane/hooklane/internal/natstest"
)

// flowSlack is what a flow answer may take beyond its source's budget, as
// the load generator measures it: from before the request is written to
// after the answer is read, on a shared two-core machine that also runs
// NATS, Postgres and every hooklane process. The gateway itself answers a
// margin (10%, at most 50 ms) before the budget ends. A bound that catches
// an answer waiting for a hung responder, not a latency claim.
const flowSlack = 300 * time.Millisecond

// flowRate is the load of the flow cases, half of it Platica flow
// requests: open loop, so that requests answered at once by a fallback do
// not make it a flood. (Ingest records exchanges one awaited publish at a
// time and drops, counted, what finds its buffer of 4096 full: thousands
// of flows a second overflow it on this machine.)
const flowRate = 100.0

// flowLoad runs the flow cases' load for duration, and returns what it
// measured and sent.
func flowLoad(t *testing.T, s *stack, duration time.Duration) (*loadgen.Generator, *loadgen.Result, *loadgen.Sent) {
	t.Helper()
	gen := s.generator(0, 0.5)
	res, sent, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: s.ingest.url, Generator: gen, Rate: flowRate, Duration: duration,
	})
	if err != nil {
		t.Fatal(err)
	}
	return gen, res, sent
}

// TestFlowResponderFaults runs Flows load against a responder that hangs,
// one whose handler panics, and one that answers garbage, in turn. Every
// flow request must get the source's fallback within its budget (plus
// flowSlack), the exchange must be recorded with the outcome that says
// why (timeout, error, invalid), and the async lane beside it must store
// everything exactly once.
func TestFlowResponderFaults(t *testing.T) {
	s := newStack(t)
	s.startAsync()
	const duration = 4 * time.Second

	cases := []struct {
		name    string
		outcome gateway.Outcome
		serve   func(t *testing.T) (stop func())
	}{
		{"hang", gateway.OutcomeTimeout, func(t *testing.T) func() {
			// Hangs for good: ignores its deadline until the test lets go.
			release := make(chan struct{})
			stop := serveResponder(t, s, func(context.Context, *flowlane.Request) (*flowlane.Response, error) {
				<-release
				return flowlane.Screen("TOO_LATE", nil), nil
			})
			return func() { close(release); stop() }
		}},
		{"panic", gateway.OutcomeError, func(t *testing.T) func() {
			return serveResponder(t, s, func(context.Context, *flowlane.Request) (*flowlane.Response, error) {
				panic("chaos: responder handler panics")
			})
		}},
		{"garbage", gateway.OutcomeInvalid, func(t *testing.T) func() {
			// A responder in another language gone wrong: raw replies that
			// are no answer a provider accepts.
			garbage := [][]byte{
				[]byte("not json"), []byte(`{"screen":""}`), []byte(`[1,2,3]`), []byte(`{"data":"x"}`),
				[]byte(`{"screen":"WELCOME"`), {0xff, 0xfe, 0x00}, []byte(`null`), []byte(`{"DATA":{}}`),
			}
			nc := natstest.Connect(t, s.nats)
			n := 0
			sub, err := nc.QueueSubscribe(s.cfg.NATS.SubjectPrefix+".flows.>", flowlane.DefaultQueueGroup, func(m *nats.Msg) {
				n++
				_ = m.Respond(garbage[n%len(garbage)])
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			return func() { _ = sub.Drain(); nc.Close() }
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer s.on(t)()
			stop := c.serve(t)
			base := s.baseline()
			gen, res, sent := flowLoad(t, s, duration)
			stop()
			t.Logf("load: %s; flow latency p50 %s, p99 %s, max %s", describe(res),
				res.FlowLatency.P50, res.FlowLatency.P99, res.FlowLatency.Max)
			s.exactlyOnce("responder "+c.name, base, sent)

			flows := flowRequestsAnswered(res)
			if res.FlowsSent == 0 || flows != res.FlowsSent {
				t.Fatalf("%d flow requests, %d answered 2xx: every one must be answered", res.FlowsSent, flows)
			}
			if res.Flows[loadgen.FlowFallback] != flows {
				t.Errorf("flow answers %v: want the fallback for every one", res.Flows)
			}
			if bound := s.budget + flowSlack; res.FlowLatency.Max > bound {
				t.Errorf("slowest flow answer %s, want within the budget %s plus %s", res.FlowLatency.Max, s.budget, flowSlack)
			}
			outcomes := s.flowOutcomes(gen.RunID(), flows, 15*time.Second)
			if outcomes[string(c.outcome)] != flows || len(outcomes) != 1 {
				t.Errorf("recorded outcomes %v, want %s for all %d", outcomes, c.outcome, flows)
			}
			t.Logf("responder %s: %d flow requests, all answered with the fallback (max %s, budget %s); recorded %v",
				c.name, flows, res.FlowLatency.Max.Round(time.Millisecond), s.budget, outcomes)
		})
	}
	s.stopAll()
}

// TestFlowResponderKilled runs Flows load against "hooklane
// responder-demo", kills it with SIGKILL, and starts another 3 s later.
// Flow requests are answered by the demo before the kill, get the fallback
// while no responder runs (recorded no_responders, or timeout for those
// in flight at the kill), and are answered again once the new responder is
// ready, without anything else restarting.
func TestFlowResponderKilled(t *testing.T) {
	s := newStack(t)
	s.startAsync()
	first := s.start("responder-1", "responder-demo")
	base := s.baseline()
	gen := s.generator(0, 0.5)

	const (
		total  = 12 * time.Second
		killAt = 3 * time.Second
		gap    = 3 * time.Second
	)
	l := s.startLoad(loadgen.Config{Generator: gen, Rate: flowRate, Duration: total})
	started := time.Now()
	time.Sleep(killAt)
	// A request that arrives while the responder dies is in neither window
	// around the kill: it may find it alive or not.
	killing := time.Now()
	s.kill(first)
	killed := time.Now()
	time.Sleep(gap)
	restart := time.Now()
	s.start("responder-2", "responder-demo")
	ready := time.Now()
	res, sent := l.wait(t)
	t.Logf("load: %s", describe(res))
	s.exactlyOnce("responder killed", base, sent)

	flows := flowRequestsAnswered(res)
	if flows != res.FlowsSent {
		t.Errorf("%d flow requests, %d answered 2xx: every one must be answered", res.FlowsSent, flows)
	}
	if res.Flows[loadgen.FlowAnswered] == 0 || res.Flows[loadgen.FlowFallback] == 0 || res.Flows[loadgen.FlowOther] > 0 {
		t.Errorf("flow answers %v: want the demo's screens and fallbacks, nothing else", res.Flows)
	}
	if bound := s.budget + flowSlack; res.FlowLatency.Max > bound {
		t.Errorf("slowest flow answer %s, want within the budget %s plus %s", res.FlowLatency.Max, s.budget, flowSlack)
	}
	s.flowOutcomes(gen.RunID(), flows, 15*time.Second)

	// The outcomes, by when each request arrived.
	windows := []struct {
		name     string
		from, to time.Time
	}{
		{"before the kill", started.Add(-time.Second), killing},
		{"responder dead", killed, restart},
		{"new responder starting", restart, ready},
		{"new responder ready", ready, time.Now()},
	}
	got := make([]map[string]int, len(windows))
	for i, w := range windows {
		got[i] = map[string]int{}
		rows, err := s.db.Query(context.Background(), `SELECT outcome, count(*) FROM flow_exchanges
			WHERE flow_token LIKE $1 || '-%' AND created_at >= $2 AND created_at < $3 GROUP BY outcome`,
			gen.RunID(), w.from, w.to)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var o string
			var n int
			if err := rows.Scan(&o, &n); err != nil {
				t.Fatal(err)
			}
			got[i][o] = n
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s (%s): %v", w.name, w.to.Sub(w.from).Round(time.Millisecond), got[i])
	}
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	before, dead, after := got[0], got[1], got[3]
	check(before["answered"] > 0 && before["no_responders"] == 0, "before the kill: %v, want answered", before)
	check(dead["answered"] == 0 && dead["no_responders"] > 0, "while no responder ran: %v, want no_responders (and timeouts for requests in flight at the kill)", dead)
	check(after["answered"] > 0 && after["no_responders"]+after["timeout"] == 0, "once the new responder was ready: %v, want answered", after)
	if err := errors.Join(errs...); err != nil {
		t.Error(err)
	}
	s.stopAll()
}
