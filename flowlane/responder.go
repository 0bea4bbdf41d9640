package flowlane

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hooklane/hooklane"
)

// Headers and codes of the wire protocol between hooklane and responders.
const (
	// HeaderDeadline on a request is its absolute deadline (RFC 3339 with
	// nanoseconds). An answer after it is not used.
	HeaderDeadline = "Hooklane-Deadline"
	// HeaderError on a reply with empty data reports that the responder
	// failed; its value is the reason.
	HeaderError = "Hooklane-Error"
	// HeaderErrorCode on an error reply says what kind of failure it was.
	HeaderErrorCode = "Hooklane-Error-Code"
	// ErrorCodeFlowTokenInvalid is the HeaderErrorCode of
	// [ErrFlowTokenInvalid]; HeaderError then holds the user's message.
	ErrorCodeFlowTokenInvalid = "flow_token_invalid"
)

// DefaultQueueGroup is the queue group responders join unless configured
// otherwise.
const DefaultQueueGroup = "hooklane-responders"

// ScreenSuccess is the reserved screen name that completes a flow.
const ScreenSuccess = "SUCCESS"

// ErrFlowTokenInvalid is the error a handler returns when the flow token no
// longer names a live session. hooklane then falls back at once and, on
// Meta's endpoint, answers HTTP 427.
var ErrFlowTokenInvalid = errors.New("flowlane: flow token no longer valid")

// FlowTokenInvalid returns an error that wraps [ErrFlowTokenInvalid] and
// carries msg, the message for the user.
func FlowTokenInvalid(msg string) error { return &tokenError{msg: msg} }

type tokenError struct{ msg string }

func (e *tokenError) Error() string { return ErrFlowTokenInvalid.Error() + ": " + e.msg }
func (e *tokenError) Unwrap() error { return ErrFlowTokenInvalid }

var errPanic = errors.New("handler panicked")

// Screen answers with the screen to show and its data.
func Screen(name string, data map[string]any) *Response {
	return &Response{Screen: name, Data: data}
}

// StayWithError keeps the user on screen and shows message
// (data.error_message).
func StayWithError(screen, message string) *Response {
	return &Response{Screen: screen, Data: map[string]any{"error_message": message}}
}

// Complete ends the flow: screen SUCCESS, with params (and the flow token)
// forwarded to the flow's completion message. params is not modified.
func Complete(flowToken string, params map[string]any) *Response {
	p := make(map[string]any, len(params)+1)
	maps.Copy(p, params)
	p["flow_token"] = flowToken
	return &Response{
		Screen: ScreenSuccess,
		Data:   map[string]any{"extension_message_response": map[string]any{"params": p}},
	}
}

// HandlerFunc answers one flow request. ctx carries the request's deadline,
// after which hooklane has answered with the fallback and the handler's
// answer is dropped, so handlers should honour ctx. Returning an error (or
// panicking) makes hooklane fall back at once.
type HandlerFunc func(ctx context.Context, req *Request) (*Response, error)

// ResponderConfig configures a [Responder].
type ResponderConfig struct {
	// Prefix is the first token of every subject. Defaults to "hooklane".
	Prefix string
	// QueueGroup is the NATS queue group the responder's subscriptions
	// join, so that replicas share the requests. Replicas of one group
	// should register the same handlers. Defaults to DefaultQueueGroup.
	QueueGroup string
	// Logger receives handler failures and recovered panics. Defaults to
	// slog.Default().
	Logger *slog.Logger
}

// A Responder serves flow requests from hooklane with the handlers it has
// been given. Register handlers with Handle, then call Run.
type Responder struct {
	nc     *nats.Conn
	cfg    ResponderConfig
	routes map[route]HandlerFunc // read-only once Run starts
	ready  chan struct{}

	mu      sync.Mutex
	started bool // Run was called
	stopped bool // no more handler goroutines may start
	running sync.WaitGroup
}

// route is a handler's source and flow, as subject tokens or "*".
type route struct{ source, flow string }

// NewResponder returns a Responder that receives requests over nc.
func NewResponder(nc *nats.Conn, cfg ResponderConfig) *Responder {
	cfg.Prefix = cmp.Or(cfg.Prefix, hooklane.DefaultPrefix)
	cfg.QueueGroup = cmp.Or(cfg.QueueGroup, DefaultQueueGroup)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Responder{nc: nc, cfg: cfg, routes: make(map[route]HandlerFunc), ready: make(chan struct{})}
}

// Handle registers h for the requests of one flow of one source. flowID "*"
// matches every flow of the source, and source "*" every source. When
// several registrations match, the most specific wins: exact source and
// flow, then source with any flow, then any source with the flow, then
// "*", "*". Handle panics after Run or when the pair is already registered.
func (r *Responder) Handle(source, flowID string, h HandlerFunc) {
	if h == nil {
		panic("flowlane: nil handler")
	}
	k := route{wildToken(source), wildToken(flowID)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		panic("flowlane: Handle called after Run")
	}
	if _, dup := r.routes[k]; dup {
		panic(fmt.Sprintf("flowlane: a handler for source %q flow %q is already registered", source, flowID))
	}
	r.routes[k] = h
}

func wildToken(s string) string {
	if s == "*" {
		return s
	}
	return hooklane.Token(s)
}

// Ready is closed once Run has subscribed every handler and the server has
// confirmed the subscriptions; a readiness probe can wait on it. It stays
// open when Run fails.
func (r *Responder) Ready() <-chan struct{} { return r.ready }

// Run subscribes the handlers and serves requests, each in its own
// goroutine, until ctx is done. It then drains the subscriptions, so
// requests already delivered are still answered, waits for running handlers
// and returns nil. Handlers run with a context that keeps ctx's values but
// not its cancellation: they end with their request's deadline.
func (r *Responder) Run(ctx context.Context) error {
	r.mu.Lock()
	started := r.started
	r.started = true
	r.mu.Unlock()
	if started {
		return errors.New("flowlane: Run called twice")
	}
	if len(r.routes) == 0 {
		return errors.New("flowlane: no handlers registered")
	}

	base := context.WithoutCancel(ctx)
	subs := make([]*nats.Subscription, 0, len(r.routes))
	closed := make([]chan struct{}, 0, len(r.routes))
	var err error
	for k := range r.routes {
		subject := r.subject(k)
		sub, serr := r.nc.QueueSubscribe(subject, r.cfg.QueueGroup, func(m *nats.Msg) { r.dispatch(base, m) })
		if serr != nil {
			err = fmt.Errorf("flowlane: subscribe %s: %w", subject, serr)
			break
		}
		done := make(chan struct{})
		// Called once the subscription's last callback has returned.
		sub.SetClosedHandler(func(string) { close(done) })
		subs, closed = append(subs, sub), append(closed, done)
	}
	if err == nil {
		if ferr := r.nc.Flush(); ferr != nil {
			err = fmt.Errorf("flowlane: confirm subscriptions: %w", ferr)
		}
	}
	if err == nil {
		close(r.ready)
		<-ctx.Done()
	}

	r.unsubscribe(subs, closed)
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.running.Wait()
	return err
}

// drainWait bounds the wait for a subscription to drain on stop.
const drainWait = 5 * time.Second

// unsubscribe drains subs while connected, so requests already delivered
// are answered. Disconnected, a drain could only time out: the
// subscriptions are dropped at once and their callers fall back.
func (r *Responder) unsubscribe(subs []*nats.Subscription, closed []chan struct{}) {
	timeout := time.NewTimer(drainWait)
	defer timeout.Stop()
	for i, sub := range subs {
		if !r.nc.IsConnected() {
			_ = sub.Unsubscribe()
			continue
		}
		// Drain fails only on a closed connection, which has closed the
		// subscription already.
		if sub.Drain() != nil {
			continue
		}
		select {
		case <-closed[i]:
		case <-timeout.C:
			r.cfg.Logger.Warn("flowlane: subscriptions did not drain in time", "subject", sub.Subject)
			return
		}
	}
}

// subject is the subscription subject of k's handler: the layout of
// FlowSubject, with wildcards.
func (r *Responder) subject(k route) string {
	return r.cfg.Prefix + ".flows." + k.source + "." + k.flow + ".*"
}

// dispatch starts the handler of one request.
func (r *Responder) dispatch(base context.Context, m *nats.Msg) {
	h := r.handler(m.Subject)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped {
		r.running.Go(func() { r.serve(base, m, h) })
	}
}

// handler finds the most specific handler for a request subject,
// <prefix>.flows.<source>.<flow>.<action>. The subscription's subject
// guarantees that one matches.
func (r *Responder) handler(subject string) HandlerFunc {
	rest := subject[:strings.LastIndexByte(subject, '.')]
	i := strings.LastIndexByte(rest, '.')
	flow, rest := rest[i+1:], rest[:i]
	source := rest[strings.LastIndexByte(rest, '.')+1:]
	for _, k := range [...]route{{source, flow}, {source, "*"}, {"*", flow}, {"*", "*"}} {
		if h, ok := r.routes[k]; ok {
			return h
		}
	}
	return nil
}

func (r *Responder) serve(base context.Context, m *nats.Msg, h HandlerFunc) {
	ctx := base
	if d, err := time.Parse(time.RFC3339Nano, m.Header.Get(HeaderDeadline)); err == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(base, d)
		defer cancel()
	}
	reply, failure := r.answer(ctx, m, h)
	if ctx.Err() != nil {
		// The caller has answered with the fallback already.
		r.cfg.Logger.Warn("flowlane: handler missed its deadline", "subject", m.Subject, "error", failure)
		return
	}
	if err := m.RespondMsg(reply); err != nil {
		r.cfg.Logger.Warn("flowlane: reply failed", "subject", m.Subject, "error", err)
	}
}

// answer decodes the request, runs h and builds the reply: the response as
// JSON, or an error reply with failure, its reason. All of it runs under
// one recover, for all of it may run user code: the handler, the
// MarshalJSON of what its response holds, the Error method of the error it
// returns. A panic in any of them is an error reply, and the responder
// serves on.
func (r *Responder) answer(ctx context.Context, m *nats.Msg, h HandlerFunc) (reply *nats.Msg, failure string) {
	defer func() {
		if v := recover(); v != nil {
			r.cfg.Logger.Error("flowlane: handler panicked", "subject", m.Subject, "panic", describePanic(v), "stack", string(debug.Stack()))
			reply, failure = errorReply(m.Reply, errPanic), errPanic.Error()
		}
	}()
	var req Request
	if err := json.Unmarshal(m.Data, &req); err != nil {
		return r.failed(m, fmt.Errorf("decode request: %w", err))
	}
	resp, err := h(ctx, &req)
	if err != nil {
		return r.failed(m, err)
	}
	if resp == nil {
		return r.failed(m, errors.New("handler returned no response"))
	}
	data, err := json.Marshal(resp)
	if err != nil {
		return r.failed(m, fmt.Errorf("encode response: %w", err))
	}
	return &nats.Msg{Subject: m.Reply, Data: data}, ""
}

// failed is the error reply for err, logged once.
func (r *Responder) failed(m *nats.Msg, err error) (*nats.Msg, string) {
	reply := errorReply(m.Reply, err)
	reason := reply.Header.Get(HeaderError)
	r.cfg.Logger.Warn("flowlane: handler failed", "subject", m.Subject, "error", reason)
	return reply, reason
}

// describePanic is v as text, even when its own Error or String method
// panics too.
func describePanic(v any) (s string) {
	defer func() {
		if recover() != nil {
			s = fmt.Sprintf("a %T whose description panics", v)
		}
	}()
	return fmt.Sprint(v)
}

// maxReason bounds the reason an error reply carries.
const maxReason = 512

// errorReply is the reply that reports err: empty data, HeaderError and, for
// an invalid flow token, HeaderErrorCode.
func errorReply(subject string, err error) *nats.Msg {
	m := nats.NewMsg(subject)
	reason := err.Error()
	if te := (*tokenError)(nil); errors.As(err, &te) && te.msg != "" {
		reason = te.msg
	}
	if errors.Is(err, ErrFlowTokenInvalid) {
		m.Header.Set(HeaderErrorCode, ErrorCodeFlowTokenInvalid)
	}
	// A header value is one line of bounded length.
	reason = strings.Map(func(c rune) rune {
		if c < ' ' || c == 0x7f {
			return ' '
		}
		return c
	}, reason)
	if len(reason) > maxReason {
		reason = strings.ToValidUTF8(reason[:maxReason], "")
	}
	m.Header.Set(HeaderError, reason)
	return m
}
