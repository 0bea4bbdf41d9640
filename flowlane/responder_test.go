package flowlane_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hooklane/hooklane/flowlane"
	"github.com/hooklane/hooklane/flowlane/gateway"
	"github.com/hooklane/hooklane/internal/natstest"
)

func TestResponderMostSpecificHandlerWins(t *testing.T) {
	e := newEnv(t)
	e.responder(t, testLogger(t), func(r *flowlane.Responder) {
		for _, h := range []struct{ source, flow, screen string }{
			{"platica", "flow.a", "EXACT"}, // "flow.a" is the subject token "flow_a"
			{"platica", "*", "ANY_FLOW"},
			{"*", "flow_z", "ANY_SOURCE"},
			{"*", "*", "ANY"},
		} {
			r.Handle(h.source, h.flow, func(context.Context, *flowlane.Request) (*flowlane.Response, error) {
				return flowlane.Screen(h.screen, nil), nil
			})
		}
	})
	x := e.exchanger(t)
	for _, tc := range []struct{ source, flow, want string }{
		{"platica", "flow.a", "EXACT"},
		{"platica", "flow_b", "ANY_FLOW"},
		{"platica", "flow_z", "ANY_FLOW"},
		{"meta", "flow_z", "ANY_SOURCE"},
		{"meta", "flow.a", "ANY"},
		{"meta", "", "ANY"},
	} {
		// The four subscriptions overlap: whichever receives the request,
		// the same handler must answer.
		for range 10 {
			req := &flowlane.Request{Action: flowlane.ActionInit, Source: tc.source, FlowID: tc.flow}
			res := x.Exchange(t.Context(), req, gateway.Budget{Total: 5 * time.Second})
			var got flowlane.Response
			if err := json.Unmarshal(res.Answer, &got); err != nil || got.Screen != tc.want {
				t.Fatalf("%s/%s answered %s (%s), want screen %s", tc.source, tc.flow, res.Answer, res.Outcome, tc.want)
			}
		}
	}
}

// TestResponderDrainsOnStop stops a responder while a handler runs: Run
// waits for it, and its answer still reaches the caller.
func TestResponderDrainsOnStop(t *testing.T) {
	e := newEnv(t)
	started, release := make(chan struct{}), make(chan struct{})
	r := flowlane.NewResponder(natstest.ConnectURL(t, e.url), flowlane.ResponderConfig{Prefix: e.prefix, Logger: testLogger(t)})
	r.Handle("platica", "*", func(ctx context.Context, _ *flowlane.Request) (*flowlane.Response, error) {
		close(started)
		<-release
		if err := ctx.Err(); err != nil {
			return nil, err // stopping Run must not cancel running handlers
		}
		return flowlane.Screen("DONE", nil), nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-r.Ready()

	results := make(chan gateway.Result, 1)
	go func() {
		results <- e.exchanger(t).Exchange(context.Background(), exchangeReq("f", "WELCOME"), gateway.Budget{Total: 10 * time.Second})
	}()
	<-started
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) while a handler was running", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if res := <-results; res.Outcome != gateway.OutcomeAnswered || string(res.Answer) != `{"screen":"DONE"}` {
		t.Errorf("outcome %s, answer %s, err %v", res.Outcome, res.Answer, res.Err)
	}
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	// Stopped: nobody listens any more.
	if res := e.exchanger(t).Exchange(t.Context(), exchangeReq("f", "WELCOME"), gateway.Budget{Total: 5 * time.Second}); res.Outcome != gateway.OutcomeNoResponders {
		t.Errorf("after stop: outcome %s", res.Outcome)
	}
}

func TestResponderMisuse(t *testing.T) {
	e := newEnv(t)
	ok := func(context.Context, *flowlane.Request) (*flowlane.Response, error) {
		return flowlane.Screen("OK", nil), nil
	}

	if err := flowlane.NewResponder(e.nc, flowlane.ResponderConfig{}).Run(t.Context()); err == nil {
		t.Error("Run without handlers succeeded")
	}

	r := flowlane.NewResponder(e.nc, flowlane.ResponderConfig{Prefix: e.prefix})
	r.Handle("platica", "*", ok)
	mustPanic(t, "duplicate Handle", func() { r.Handle("platica", "*", ok) })
	mustPanic(t, "nil handler", func() { r.Handle("platica", "x", nil) })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-r.Ready()
	if err := r.Run(t.Context()); err == nil {
		t.Error("second Run succeeded")
	}
	mustPanic(t, "Handle after Run", func() { r.Handle("meta", "*", ok) })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestResponderClosedConnection(t *testing.T) {
	e := newEnv(t)
	nc := natstest.ConnectURL(t, e.url)
	r := flowlane.NewResponder(nc, flowlane.ResponderConfig{Prefix: e.prefix})
	r.Handle("*", "*", func(context.Context, *flowlane.Request) (*flowlane.Response, error) { return nil, errors.New("unused") })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-r.Ready()
	nc.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run hangs after its connection closed")
	}
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	f()
}

// panicky panics when encoded, and when asked for its text.
type panicky struct{}

func (panicky) MarshalJSON() ([]byte, error) { panic("MarshalJSON exploded") }
func (panicky) Error() string                { panic("Error exploded") }

// TestResponderContainsUserPanics: user code the responder runs after the
// handler returns (its response's MarshalJSON, its error's Error method, a
// panic value whose own text panics) cannot take the responder down: each
// is an error reply, and the next request is answered.
func TestResponderContainsUserPanics(t *testing.T) {
	e := newEnv(t)
	e.responder(t, testLogger(t), func(r *flowlane.Responder) {
		r.Handle("platica", "marshal", func(context.Context, *flowlane.Request) (*flowlane.Response, error) {
			return flowlane.Screen("X", map[string]any{"v": panicky{}}), nil
		})
		r.Handle("platica", "error", func(context.Context, *flowlane.Request) (*flowlane.Response, error) {
			return nil, panicky{}
		})
		r.Handle("platica", "value", func(context.Context, *flowlane.Request) (*flowlane.Response, error) {
			panic(panicky{})
		})
		r.Handle("platica", "fine", func(context.Context, *flowlane.Request) (*flowlane.Response, error) {
			return flowlane.Screen("FINE", nil), nil
		})
	})
	x := e.exchanger(t)
	for _, flow := range []string{"marshal", "error", "value", "fine"} {
		res := x.Exchange(t.Context(), exchangeReq(flow, "S"), gateway.Budget{Total: 5 * time.Second})
		if flow == "fine" {
			var got flowlane.Response
			if err := json.Unmarshal(res.Answer, &got); err != nil || got.Screen != "FINE" {
				t.Errorf("after the panics: %s (%s), want screen FINE: the responder did not survive", res.Answer, res.Outcome)
			}
			continue
		}
		if res.Outcome != gateway.OutcomeError {
			t.Errorf("%s: outcome %s, want %s: an error reply", flow, res.Outcome, gateway.OutcomeError)
		}
	}
}
