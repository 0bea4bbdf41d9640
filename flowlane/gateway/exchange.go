package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/flowlane"
)

// Outcome is how an exchange ended.
type Outcome string

// The outcomes of [Exchanger.Exchange]. Every outcome but OutcomeAnswered
// answers with the fallback.
const (
	OutcomeAnswered     Outcome = "answered"      // a valid answer arrived in time
	OutcomeTimeout      Outcome = "timeout"       // no answer before the deadline
	OutcomeNoResponders Outcome = "no_responders" // no responder listens on the subject
	OutcomeInvalid      Outcome = "invalid"       // the answer fails ValidAnswer
	OutcomeError        Outcome = "error"         // the responder failed, or the request could not be sent
)

// Errors in [Result.Err] that callers may branch on, besides
// [flowlane.ErrFlowTokenInvalid], [nats.ErrNoResponders] and
// [context.DeadlineExceeded].
var (
	// ErrInvalidAnswer: the reply fails [ValidAnswer] (OutcomeInvalid).
	ErrInvalidAnswer = errors.New("flowlane: invalid answer")
	// ErrResponder: the responder replied with [flowlane.HeaderError] (OutcomeError).
	ErrResponder = errors.New("flowlane: responder failed")
)

// DefaultBudget is the budget of a request whose [Budget] and context give
// none: Platica's 700 ms, the tightest of the providers.
const DefaultBudget = 700 * time.Millisecond

// maxMargin caps the default safety margin.
const maxMargin = 50 * time.Millisecond

// The answers to a ping and to an error notification, which reach no
// responder; Meta acknowledges an error with what is also the fallback.
const (
	pingAnswer = `{"data":{"status":"active"}}`
	errorAck   = Fallback
)

// Budget is the time a provider gives hooklane to answer. The responder's
// deadline is the end of the budget less a safety margin, so that hooklane's
// answer, fallback included, leaves before the provider gives up.
type Budget struct {
	// Start is when the request arrived. Defaults to the time Exchange is
	// called.
	Start time.Time
	// Total is how long the provider waits, counted from Start. An earlier
	// deadline on Exchange's context wins. Defaults to the context's
	// deadline, else DefaultBudget.
	Total time.Duration
	// Margin is kept back from the end of the budget. Defaults to 10% of
	// the budget, at most 50 ms (70 ms of a 700 ms budget is more than
	// writing the answer needs; 1 s of Meta's 10 s would waste it).
	// Negative means none.
	Margin time.Duration
}

// deadline is the responder's deadline for a request under b, with now the
// time Exchange was called.
func (b Budget) deadline(ctx context.Context, now time.Time) time.Time {
	start := b.Start
	if start.IsZero() {
		start = now
	}
	end, ok := ctx.Deadline()
	total := b.Total
	if total <= 0 && !ok {
		total = DefaultBudget
	}
	if e := start.Add(total); total > 0 && (!ok || e.Before(end)) {
		end = e
	}
	margin := b.Margin
	if margin == 0 {
		margin = min(end.Sub(start)/10, maxMargin)
	}
	return end.Add(-max(margin, 0))
}

// ExchangerConfig configures an [Exchanger].
type ExchangerConfig struct {
	// Prefix is the first token of every subject. Defaults to "hooklane".
	Prefix string
	// Fallback is the answer when no valid answer arrives in time. It must
	// be an answer the provider accepts. Defaults to Fallback.
	Fallback []byte
	// Logger receives one line per fallback. Defaults to slog.Default().
	Logger *slog.Logger
}

// An Exchanger asks responders for the answers to flow requests. It is safe
// for concurrent use.
type Exchanger struct {
	nc       *nats.Conn
	cfg      ExchangerConfig
	warnings warnings
}

// NewExchanger returns an Exchanger that sends requests over nc.
func NewExchanger(nc *nats.Conn, cfg ExchangerConfig) *Exchanger {
	cfg.Prefix = cmp.Or(cfg.Prefix, hooklane.DefaultPrefix)
	if cfg.Fallback == nil {
		cfg.Fallback = []byte(Fallback)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Exchanger{nc: nc, cfg: cfg}
}

// Result is the outcome of one exchange.
type Result struct {
	// Answer is the body for the provider: the responder's answer, or the
	// fallback for every outcome but OutcomeAnswered. It may be shared;
	// do not modify it.
	Answer  []byte
	Outcome Outcome
	// Latency is how long Exchange took.
	Latency time.Duration
	// Deadline is the deadline the responder was given; zero for ping and
	// error notifications, which reach no responder.
	Deadline time.Time
	// Err says why the answer is the fallback.
	Err error
	// FlowTokenInvalid reports a responder that returned
	// ErrFlowTokenInvalid (Meta's endpoint answers HTTP 427).
	FlowTokenInvalid bool
	// ErrorMessage is the responder's reason for OutcomeError; with
	// FlowTokenInvalid, the message for the user.
	ErrorMessage string
}

// Exchange asks the responders of req's source and flow for the answer to
// req, sending it on <prefix>.flows.<source>.<flow id>.<action>, and waits
// until the deadline the budget leaves. It never fails: Result.Answer is
// always a body to send. Pings and error notifications are answered
// without a responder.
func (x *Exchanger) Exchange(ctx context.Context, req *flowlane.Request, b Budget) Result {
	now := time.Now()
	switch req.Action {
	case flowlane.ActionPing:
		return Result{Answer: []byte(pingAnswer), Outcome: OutcomeAnswered, Latency: time.Since(now)}
	case flowlane.ActionError:
		return Result{Answer: []byte(errorAck), Outcome: OutcomeAnswered, Latency: time.Since(now)}
	}
	subject := flowlane.Subject(x.cfg.Prefix, req.Source, req.FlowID, string(req.Action))
	deadline := b.deadline(ctx, now)
	res := x.exchange(ctx, subject, req, deadline)
	res.Latency, res.Deadline = time.Since(now), deadline
	if res.Outcome != OutcomeAnswered {
		res.Answer = x.cfg.Fallback
		if n, ok := x.warnings.allow(res.Outcome, time.Now()); ok {
			x.cfg.Logger.Warn("flowlane: answering with the fallback", "subject", subject, "outcome", res.Outcome,
				"error", res.Err, "latency", res.Latency, "fallbacks_since_last_warning", n)
		}
	}
	return res
}

// warnEvery bounds the fallback warnings to one per outcome per interval,
// so a responder outage does not write a line per request: every fallback
// is counted in the metrics and recorded anyway.
const warnEvery = 10 * time.Second

// warnings rate-limits the fallback warnings.
type warnings struct {
	mu    sync.Mutex
	last  map[Outcome]time.Time
	count map[Outcome]int
}

// allow reports whether a warning for outcome may be logged at now, and
// how many fallbacks of that outcome there were since the last one.
func (w *warnings) allow(outcome Outcome, now time.Time) (int, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		w.last, w.count = map[Outcome]time.Time{}, map[Outcome]int{}
	}
	w.count[outcome]++
	if last, ok := w.last[outcome]; ok && now.Sub(last) < warnEvery {
		return 0, false
	}
	n := w.count[outcome]
	w.last[outcome], w.count[outcome] = now, 0
	return n, true
}

func (x *Exchanger) exchange(ctx context.Context, subject string, req *flowlane.Request, deadline time.Time) Result {
	data, err := json.Marshal(req)
	if err != nil {
		return Result{Outcome: OutcomeError, Err: fmt.Errorf("flowlane: encode request: %w", err)}
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	reply, err := x.nc.RequestMsgWithContext(ctx, &nats.Msg{
		Subject: subject,
		Header:  nats.Header{flowlane.HeaderDeadline: {deadline.UTC().Format(time.RFC3339Nano)}},
		Data:    data,
	})
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return Result{Outcome: OutcomeNoResponders, Err: fmt.Errorf("flowlane: %s: %w", subject, err)}
	case errors.Is(err, context.DeadlineExceeded):
		return Result{Outcome: OutcomeTimeout, Err: fmt.Errorf("flowlane: %s: %w", subject, err)}
	case err != nil:
		return Result{Outcome: OutcomeError, Err: fmt.Errorf("flowlane: %s: %w", subject, err)}
	}
	if reason := reply.Header.Get(flowlane.HeaderError); reason != "" {
		if reply.Header.Get(flowlane.HeaderErrorCode) == flowlane.ErrorCodeFlowTokenInvalid {
			return Result{Outcome: OutcomeError, Err: flowlane.FlowTokenInvalid(reason), FlowTokenInvalid: true, ErrorMessage: reason}
		}
		return Result{Outcome: OutcomeError, Err: fmt.Errorf("%w: %s", ErrResponder, reason), ErrorMessage: reason}
	}
	if !ValidAnswer(reply.Data) {
		return Result{Outcome: OutcomeInvalid, Err: fmt.Errorf("%w: %.80q", ErrInvalidAnswer, reply.Data)}
	}
	return Result{Answer: reply.Data, Outcome: OutcomeAnswered}
}
