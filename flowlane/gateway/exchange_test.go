package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hooklane/hooklane/flowlane"
	"github.com/hooklane/hooklane/flowlane/gateway"
	"github.com/hooklane/hooklane/internal/natstest"
	"github.com/hooklane/hooklane/internal/testlog"
)

// slack absorbs goroutine scheduling on a loaded machine under -race. Tests
// compare against deadlines the code computed, never against a speed.
const slack = 2 * time.Second

func exchangeReq(flowID, screen string) *flowlane.Request {
	return &flowlane.Request{Action: flowlane.ActionDataExchange, Source: "platica", FlowID: flowID, Screen: screen, FlowToken: "tok"}
}

func TestExchangeAnswered(t *testing.T) {
	e := newEnv(t)
	e.responder(t, testLogger(t), func(r *flowlane.Responder) {
		r.Handle("platica", "flow_a", func(_ context.Context, req *flowlane.Request) (*flowlane.Response, error) {
			return flowlane.Screen("PAYMENT", map[string]any{"from": req.Screen, "token": req.FlowToken}), nil
		})
	})
	res := e.exchanger(t).Exchange(t.Context(), exchangeReq("flow_a", "WELCOME"), gateway.Budget{Total: 5 * time.Second})
	if res.Outcome != gateway.OutcomeAnswered || res.Err != nil {
		t.Fatalf("outcome %s, err %v", res.Outcome, res.Err)
	}
	if want := `{"screen":"PAYMENT","data":{"from":"WELCOME","token":"tok"}}`; string(res.Answer) != want {
		t.Errorf("answer %s, want %s", res.Answer, want)
	}
	if res.Latency <= 0 || res.Deadline.IsZero() {
		t.Errorf("latency %v, deadline %v", res.Latency, res.Deadline)
	}
}

func TestExchangeTimeout(t *testing.T) {
	e := newEnv(t)
	e.responder(t, testLogger(t), func(r *flowlane.Responder) {
		r.Handle("platica", "slow", func(ctx context.Context, _ *flowlane.Request) (*flowlane.Response, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
	})
	start := time.Now()
	budget := gateway.Budget{Start: start, Total: 300 * time.Millisecond}
	res := e.exchanger(t).Exchange(t.Context(), exchangeReq("slow", "WELCOME"), budget)
	returned := time.Now()

	if res.Outcome != gateway.OutcomeTimeout || !errors.Is(res.Err, context.DeadlineExceeded) {
		t.Fatalf("outcome %s, err %v", res.Outcome, res.Err)
	}
	if string(res.Answer) != gateway.Fallback {
		t.Errorf("answer %s, want the fallback", res.Answer)
	}
	// 10% of 300 ms is kept back.
	if want := start.Add(270 * time.Millisecond); !res.Deadline.Equal(want) {
		t.Errorf("deadline %v after start, want 270ms", res.Deadline.Sub(start))
	}
	if returned.Before(res.Deadline) || returned.After(res.Deadline.Add(slack)) {
		t.Errorf("returned %v after the deadline, want within [0, %v]", returned.Sub(res.Deadline), slack)
	}
}

func TestExchangeNoResponders(t *testing.T) {
	e := newEnv(t)
	const budget = 5 * time.Second
	start := time.Now()
	res := e.exchanger(t).Exchange(t.Context(), exchangeReq("nobody", "WELCOME"), gateway.Budget{Total: budget})
	if res.Outcome != gateway.OutcomeNoResponders || !errors.Is(res.Err, nats.ErrNoResponders) {
		t.Fatalf("outcome %s, err %v", res.Outcome, res.Err)
	}
	if string(res.Answer) != gateway.Fallback {
		t.Errorf("answer %s, want the fallback", res.Answer)
	}
	// The answer came from NATS, not from the timer: far from the deadline.
	if elapsed := time.Since(start); elapsed > budget/2 {
		t.Errorf("took %v of a %v budget", elapsed, budget)
	}
}

func TestExchangeCustomFallback(t *testing.T) {
	e := newEnv(t)
	fallback := []byte(`{"screen":"SORRY"}`)
	x := gateway.NewExchanger(e.nc, gateway.ExchangerConfig{Prefix: e.prefix, Fallback: fallback, Logger: testLogger(t)})
	res := x.Exchange(t.Context(), exchangeReq("nobody", "WELCOME"), gateway.Budget{})
	if string(res.Answer) != string(fallback) {
		t.Errorf("answer %s, want %s", res.Answer, fallback)
	}
}

// TestExchangeInvalidAnswers answers from a raw NATS responder, as one
// written in another language could, picking the answer by the screen.
func TestExchangeInvalidAnswers(t *testing.T) {
	e := newEnv(t)
	answers := map[string]string{
		"string":       `"hello"`,
		"array":        `[]`,
		"empty screen": `{"screen":""}`,
		"data array":   `{"data":[1]}`,
		"data string":  `{"data":"x"}`,
		"empty object": `{}`,
		"not JSON":     `<html>oops</html>`,
		"empty":        ``,
		"upper case":   `{"DATA":{}}`,
		"truncated":    `{"data":{}`,
	}
	sub, err := e.nc.Subscribe(flowlane.Subject(e.prefix, "platica", "raw", string(flowlane.ActionDataExchange)), func(m *nats.Msg) {
		var req flowlane.Request
		if err := json.Unmarshal(m.Data, &req); err != nil {
			t.Errorf("request: %v", err)
		}
		_ = m.Respond([]byte(answers[req.Screen]))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	x := e.exchanger(t)
	for name := range answers {
		t.Run(name, func(t *testing.T) {
			res := x.Exchange(t.Context(), exchangeReq("raw", name), gateway.Budget{Total: 5 * time.Second})
			if res.Outcome != gateway.OutcomeInvalid || !errors.Is(res.Err, gateway.ErrInvalidAnswer) {
				t.Fatalf("outcome %s, err %v", res.Outcome, res.Err)
			}
			if string(res.Answer) != gateway.Fallback {
				t.Errorf("answer %s, want the fallback", res.Answer)
			}
		})
	}
}

// TestExchangeHandlerFailures checks that a failing handler makes the
// exchange fall back at once, and that the responder serves on.
func TestExchangeHandlerFailures(t *testing.T) {
	e := newEnv(t)
	var logs testlog.Buffer
	e.responder(t, slog.New(slog.NewTextHandler(&logs, nil)), func(r *flowlane.Responder) {
		r.Handle("platica", "*", func(_ context.Context, req *flowlane.Request) (*flowlane.Response, error) {
			switch req.Screen {
			case "ERROR":
				return nil, errors.New("catalogue down\nretry later")
			case "PANIC":
				panic("boom")
			case "NIL":
				return nil, nil
			case "UNENCODABLE":
				return flowlane.Screen("X", map[string]any{"f": func() {}}), nil
			}
			return flowlane.Screen("OK", nil), nil
		})
	})
	x := e.exchanger(t)
	const budget = 5 * time.Second
	for _, tc := range []struct{ screen, reason string }{
		{"ERROR", "catalogue down retry later"},
		{"PANIC", "handler panicked"},
		{"NIL", "handler returned no response"},
		{"UNENCODABLE", "encode response: json: unsupported type: func()"},
	} {
		start := time.Now()
		res := x.Exchange(t.Context(), exchangeReq("f", tc.screen), gateway.Budget{Total: budget})
		if res.Outcome != gateway.OutcomeError || !errors.Is(res.Err, gateway.ErrResponder) || res.FlowTokenInvalid {
			t.Fatalf("%s: outcome %s, err %v", tc.screen, res.Outcome, res.Err)
		}
		if res.ErrorMessage != tc.reason || string(res.Answer) != gateway.Fallback {
			t.Errorf("%s: message %q, answer %s", tc.screen, res.ErrorMessage, res.Answer)
		}
		if elapsed := time.Since(start); elapsed > budget/2 {
			t.Errorf("%s: took %v of a %v budget; an error must not wait for the deadline", tc.screen, elapsed, budget)
		}
		if res := x.Exchange(t.Context(), exchangeReq("f", "NEXT"), gateway.Budget{Total: budget}); res.Outcome != gateway.OutcomeAnswered {
			t.Fatalf("after %s: outcome %s, err %v", tc.screen, res.Outcome, res.Err)
		}
	}
	if l := logs.String(); !strings.Contains(l, "handler panicked") || !strings.Contains(l, "boom") {
		t.Errorf("the panic was not logged:\n%s", l)
	}
}

func TestExchangeFlowTokenInvalid(t *testing.T) {
	e := newEnv(t)
	const msg = "Tu sesión expiró. Abre el flow de nuevo."
	e.responder(t, testLogger(t), func(r *flowlane.Responder) {
		r.Handle("platica", "expired", func(context.Context, *flowlane.Request) (*flowlane.Response, error) {
			return nil, flowlane.FlowTokenInvalid(msg)
		})
		r.Handle("platica", "wrapped", func(context.Context, *flowlane.Request) (*flowlane.Response, error) {
			return nil, fmt.Errorf("session lookup: %w", flowlane.ErrFlowTokenInvalid)
		})
	})
	x := e.exchanger(t)
	for flow, wantMsg := range map[string]string{
		"expired": msg,
		"wrapped": "session lookup: flowlane: flow token no longer valid",
	} {
		res := x.Exchange(t.Context(), exchangeReq(flow, "WELCOME"), gateway.Budget{Total: 5 * time.Second})
		if res.Outcome != gateway.OutcomeError || !res.FlowTokenInvalid || !errors.Is(res.Err, flowlane.ErrFlowTokenInvalid) {
			t.Fatalf("%s: outcome %s, flow token invalid %v, err %v", flow, res.Outcome, res.FlowTokenInvalid, res.Err)
		}
		if res.ErrorMessage != wantMsg || string(res.Answer) != gateway.Fallback {
			t.Errorf("%s: message %q, answer %s", flow, res.ErrorMessage, res.Answer)
		}
	}
}

func TestExchangeHandlerDeadline(t *testing.T) {
	e := newEnv(t)
	deadlines := make(chan time.Time, 1)
	e.responder(t, testLogger(t), func(r *flowlane.Responder) {
		r.Handle("*", "*", func(ctx context.Context, _ *flowlane.Request) (*flowlane.Response, error) {
			d, ok := ctx.Deadline()
			if !ok {
				return nil, errors.New("no deadline")
			}
			deadlines <- d
			return flowlane.Screen("OK", nil), nil
		})
	})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	res := e.exchanger(t).Exchange(ctx, exchangeReq("f", "WELCOME"), gateway.Budget{})
	if res.Outcome != gateway.OutcomeAnswered {
		t.Fatalf("outcome %s, err %v", res.Outcome, res.Err)
	}
	// Without a Total, the context's deadline is the budget's end.
	ctxDeadline, _ := ctx.Deadline()
	if want := ctxDeadline.Add(-50 * time.Millisecond); !res.Deadline.Equal(want) {
		t.Errorf("deadline %v before the context's, want 50ms", ctxDeadline.Sub(res.Deadline))
	}
	if got := <-deadlines; !got.Equal(res.Deadline) {
		t.Errorf("handler deadline %v, exchange deadline %v", got, res.Deadline)
	}
}

func TestExchangePingAndErrorNotification(t *testing.T) {
	e := newEnv(t) // no responders at all
	x := e.exchanger(t)
	for file, want := range map[string]string{
		"endpoint_ping.json":  `{"data":{"status":"active"}}`,
		"endpoint_error.json": `{"data":{"acknowledged":true}}`,
	} {
		req, err := gateway.ParseEndpoint(readTestdata(t, file), "meta")
		if err != nil {
			t.Fatal(err)
		}
		res := x.Exchange(t.Context(), req, gateway.Budget{})
		if res.Outcome != gateway.OutcomeAnswered || string(res.Answer) != want || !res.Deadline.IsZero() {
			t.Errorf("%s: outcome %s, answer %s, deadline %v", file, res.Outcome, res.Answer, res.Deadline)
		}
	}
}

func TestExchangeReplicasShareLoad(t *testing.T) {
	e := newEnv(t)
	var counts [2]atomic.Int64
	for i := range counts {
		e.responder(t, testLogger(t), func(r *flowlane.Responder) {
			r.Handle("platica", "*", func(context.Context, *flowlane.Request) (*flowlane.Response, error) {
				counts[i].Add(1)
				return flowlane.Screen("OK", nil), nil
			})
		})
	}
	x := e.exchanger(t)
	const n = 50
	for range n {
		if res := x.Exchange(t.Context(), exchangeReq("f", "WELCOME"), gateway.Budget{Total: 5 * time.Second}); res.Outcome != gateway.OutcomeAnswered {
			t.Fatalf("outcome %s, err %v", res.Outcome, res.Err)
		}
	}
	a, b := counts[0].Load(), counts[1].Load()
	if a+b != n || a == 0 || b == 0 {
		t.Errorf("replicas served %d and %d of %d requests; want both, once each", a, b, n)
	}
}

func TestExchangeAfterServerRestart(t *testing.T) {
	srv := natstest.Server(t)
	opts := []nats.Option{nats.ReconnectWait(20 * time.Millisecond), nats.MaxReconnects(-1)}
	nc := natstest.Connect(t, srv, opts...)
	x := gateway.NewExchanger(nc, gateway.ExchangerConfig{Logger: testLogger(t)})
	r := flowlane.NewResponder(natstest.Connect(t, srv, opts...), flowlane.ResponderConfig{Logger: testLogger(t)})
	r.Handle("platica", "*", func(context.Context, *flowlane.Request) (*flowlane.Response, error) {
		return flowlane.Screen("OK", nil), nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	<-r.Ready()

	natstest.RestartServer(t, srv)
	// While the clients reconnect, exchanges fall back; once they have,
	// the responder's resubscribed handler answers again.
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := x.Exchange(t.Context(), exchangeReq("f", "WELCOME"), gateway.Budget{Total: time.Second})
		if res.Outcome == gateway.OutcomeAnswered {
			break
		}
		if string(res.Answer) != gateway.Fallback {
			t.Fatalf("outcome %s answered %s, not the fallback", res.Outcome, res.Answer)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer 10s after the restart: last outcome %s, err %v", res.Outcome, res.Err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
