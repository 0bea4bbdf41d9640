package gateway

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/flowlane"
	"github.com/hooklane/hooklane/internal/excerpt"
	"github.com/hooklane/hooklane/internal/httpserver"
)

// Verifier checks a plain flow request's signature over its raw body, as
// the source's webhook provider signs. It returns an error that says why a
// request is not authentic.
type Verifier func(header http.Header, body []byte) error

// Source is one source whose flow requests a [Gateway] answers.
type Source struct {
	// Name is the configured source name.
	Name string
	// Budget is how long the provider waits for an answer, from the
	// request's arrival. Defaults to DefaultBudget.
	Budget time.Duration
	// Fallback is answered when no valid answer comes in time.
	// Defaults to Fallback.
	Fallback []byte
	// Verify, if set, authenticates every request to POST /flows/{source}
	// over its raw body, as the source's webhooks are (hooklane's wiring
	// gives it [hooklane.Source.Authenticate]); a failure is answered 401,
	// or 432 on the encrypted endpoint. A plain source without it accepts
	// requests unsigned; an encrypted one requires it.
	Verify Verifier
	// PrivateKey, if set, makes POST /flows/{source} Meta's encrypted
	// endpoint, whose X-Hub-Signature-256 Verify checks.
	PrivateKey *rsa.PrivateKey
}

// Recorder keeps exchange records. Record must not block: it is called on
// the answer's path, after the answer is written.
type Recorder interface {
	Record(hooklane.FlowExchange)
}

// GatewayConfig configures a [Gateway].
type GatewayConfig struct {
	// Prefix is the first token of every subject. Defaults to "hooklane".
	Prefix string
	// Sources are the sources served.
	Sources []Source
	// MaxBodyBytes bounds a flow request's body. Defaults to 1 MiB.
	MaxBodyBytes int64
	// BodyBudget bounds the bytes that bodies hold until their request is
	// authenticated, shared with the process's other handlers; past it a
	// request is answered 503. It must hold a body of MaxBodyBytes.
	// Defaults to a budget of httpserver.DefaultBodyBudget of its own.
	BodyBudget *httpserver.BodyBudget
	// ReplayWindow is how long an encrypted request's AES key and IV are
	// remembered: a request that repeats them is refused (421), for its
	// answer would be sealed under the nonce of the first. Defaults to 10m.
	ReplayWindow time.Duration
	// Recorder receives every exchange; nil keeps none.
	Recorder Recorder
}

// A Gateway is the server side of the flow lane: it answers Platica's
// whatsapp.flows.* deliveries for ingest, and serves POST /flows/{source}
// (and /flows/{source}/{flow}) as a WhatsApp Flows data endpoint, in plain
// JSON or in Meta's encrypted form. Every request is answered within its
// source's budget.
type Gateway struct {
	cfg       GatewayConfig
	sources   map[string]*Source
	exchanger map[string]*Exchanger // by source, each with its fallback
	log       *slog.Logger
	exchanges *prometheus.CounterVec
	seconds   *prometheus.HistogramVec
	replays   *replays
}

// NewGateway returns a Gateway asking responders over nc. Its metrics are
// registered with reg.
func NewGateway(nc *nats.Conn, cfg GatewayConfig, logger *slog.Logger, reg prometheus.Registerer) (*Gateway, error) {
	cfg.Prefix = cmp.Or(cfg.Prefix, hooklane.DefaultPrefix)
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, 1<<20)
	cfg.ReplayWindow = cmp.Or(cfg.ReplayWindow, 10*time.Minute)
	if cfg.BodyBudget == nil {
		var err error
		if cfg.BodyBudget, err = httpserver.NewBodyBudget(0, reg); err != nil {
			return nil, err
		}
	}
	if cfg.BodyBudget.Size() <= cfg.MaxBodyBytes {
		return nil, fmt.Errorf("gateway: the body budget of %d bytes cannot hold one body of %d", cfg.BodyBudget.Size(), cfg.MaxBodyBytes)
	}
	g := &Gateway{
		replays:   newReplays(cfg.ReplayWindow, maxReplays),
		cfg:       cfg,
		sources:   make(map[string]*Source, len(cfg.Sources)),
		exchanger: make(map[string]*Exchanger, len(cfg.Sources)),
		log:       logger,
		exchanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hooklane_flow_exchanges_total",
			Help: "Flow requests answered, by source and outcome.",
		}, []string{"source", "outcome"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hooklane_flow_seconds",
			Help:    "Time from a flow request's arrival to its answer.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, .7, 1, 2.5, 5, 10},
		}, []string{"source"}),
	}
	for _, c := range []prometheus.Collector{g.exchanges, g.seconds} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for i := range cfg.Sources {
		s := &cfg.Sources[i]
		s.Budget = cmp.Or(s.Budget, DefaultBudget)
		if s.Fallback == nil {
			s.Fallback = []byte(Fallback)
		}
		if !ValidAnswer(s.Fallback) {
			return nil, errors.New("gateway: source " + s.Name + ": the fallback is not an answer providers accept")
		}
		if s.PrivateKey != nil && s.Verify == nil {
			return nil, errors.New("gateway: source " + s.Name + ": an encrypted endpoint needs Verify to check X-Hub-Signature-256")
		}
		g.sources[s.Name] = s
		g.exchanger[s.Name] = NewExchanger(nc, ExchangerConfig{Prefix: cfg.Prefix, Fallback: s.Fallback, Logger: logger})
	}
	return g, nil
}

// AnswerFlow answers a verified Platica whatsapp.flows.* delivery: the
// responder's answer, or the source's fallback. The budget counts from the
// delivery's arrival; deadline is when the answer must leave (the budget's
// end less its margin), for whatever the caller does before sending it.
func (g *Gateway) AnswerFlow(ctx context.Context, d *hooklane.Delivery) (answer []byte, deadline time.Time) {
	src, ok := g.sources[d.Source]
	if !ok {
		g.log.Error("flow delivery from a source the flow lane does not serve", "source", d.Source)
		return []byte(Fallback), time.Now()
	}
	deadline = Budget{Start: d.ReceivedAt, Total: src.Budget}.deadline(ctx, time.Now())
	req, err := ParsePlatica(d.Body, d.Source)
	if err != nil {
		g.log.Warn("flow delivery not understood; answering the fallback",
			"source", d.Source, "request_id", d.RequestID, "err", err)
		g.count(src, OutcomeInvalid, d.ReceivedAt)
		return src.Fallback, deadline
	}
	return g.exchange(ctx, src, req, d.ReceivedAt, d.RequestID).Answer, deadline
}

// exchange asks the responders, counts and records the exchange.
func (g *Gateway) exchange(ctx context.Context, src *Source, req *flowlane.Request, start time.Time, requestID string) Result {
	res := g.exchanger[src.Name].Exchange(ctx, req, Budget{Start: start, Total: src.Budget})
	g.count(src, res.Outcome, start)
	if g.cfg.Recorder != nil {
		g.cfg.Recorder.Record(hooklane.FlowExchange{
			ID:          newExchangeID(),
			Source:      src.Name,
			FlowID:      req.FlowID,
			FlowToken:   req.FlowToken,
			Action:      string(req.Action),
			Screen:      req.Screen,
			RequestID:   requestID,
			RequestData: req.Data,
			Answer:      res.Answer,
			Outcome:     string(res.Outcome),
			LatencyMS:   float64(time.Since(start).Microseconds()) / 1000,
			At:          start,
		})
	}
	return res
}

func (g *Gateway) count(src *Source, outcome Outcome, start time.Time) {
	g.exchanges.WithLabelValues(src.Name, string(outcome)).Inc()
	g.seconds.WithLabelValues(src.Name).Observe(time.Since(start).Seconds())
}

// Status codes of Meta's encrypted flow endpoint.
const (
	StatusCannotDecrypt    = 421 // the client refetches the public key and retries
	StatusTokenInvalid     = 427 // the flow token is no longer valid
	StatusSignatureInvalid = 432 // X-Hub-Signature-256 does not match
)

// ServeHTTP serves a WhatsApp Flows data endpoint at POST /flows/{source}
// and /flows/{source}/{flow}. Meta's requests do not name their flow, so
// without {flow} the flow id is empty (subject token "_").
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	src, ok := g.sources[r.PathValue("source")]
	if !ok {
		g.reject(w, r, http.StatusNotFound, "unknown flow source", nil)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		g.reject(w, r, http.StatusMethodNotAllowed, "method "+excerpt.Quote(r.Method)+" not allowed", nil)
		return
	}
	read, err := g.cfg.BodyBudget.ReadBody(w, r, g.cfg.MaxBodyBytes)
	if err != nil {
		status := http.StatusBadRequest
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			status = http.StatusRequestEntityTooLarge
		} else if errors.Is(err, httpserver.ErrBusy) {
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "1")
		}
		g.reject(w, r, status, "body: "+err.Error(), nil)
		return
	}
	defer read.Release()
	body := read.Bytes
	if src.PrivateKey != nil {
		g.serveEncrypted(w, r, src, read, start)
		return
	}
	if src.Verify != nil {
		if err := src.Verify(r.Header, body); err != nil {
			g.reject(w, r, http.StatusUnauthorized, err.Error(), nil)
			return
		}
	}
	read.Release() // authenticated: its bytes no longer count against the budget
	req, err := ParseEndpoint(body, src.Name)
	if err != nil {
		g.reject(w, r, http.StatusBadRequest, err.Error(), nil)
		return
	}
	g.answer(w, r, src, req, start, nil)
}

// serveEncrypted is Meta's protocol: signature (432), decryption (421),
// then an answer encrypted with the request's key and flipped IV.
func (g *Gateway) serveEncrypted(w http.ResponseWriter, r *http.Request, src *Source, read *httpserver.Body, start time.Time) {
	body := read.Bytes
	if err := src.Verify(r.Header, body); err != nil {
		g.reject(w, r, StatusSignatureInvalid, err.Error(), nil)
		return
	}
	read.Release() // authenticated: its bytes no longer count against the budget
	plain, session, err := DecryptRequest(src.PrivateKey, body)
	if err != nil {
		g.reject(w, r, StatusCannotDecrypt, err.Error(), nil)
		return
	}
	// A replay is refused in the clear: sealing any answer to it would
	// reuse the first request's nonce.
	if !g.replays.first(session.id, time.Now()) {
		g.reject(w, r, StatusCannotDecrypt, "replayed request: its AES key and IV were used within "+g.cfg.ReplayWindow.String(), nil)
		return
	}
	req, err := ParseEndpoint(plain, src.Name)
	if err != nil {
		g.reject(w, r, http.StatusBadRequest, err.Error(), session)
		return
	}
	g.answer(w, r, src, req, start, session)
}

// answer asks the responders for req and writes their answer, or 427 when
// the flow token is no longer valid; sealed with session when set, as
// Meta's encrypted protocol wants.
func (g *Gateway) answer(w http.ResponseWriter, r *http.Request, src *Source, req *flowlane.Request, start time.Time, session *Session) {
	req.FlowID = r.PathValue("flow")
	res := g.exchange(r.Context(), src, req, start, requestID(r))
	status, body := http.StatusOK, res.Answer
	if res.FlowTokenInvalid {
		status, body = StatusTokenInvalid, tokenInvalidBody(res.ErrorMessage)
	}
	writeSealed(w, status, body, session)
}

// reject answers a refused flow request and logs why, once. With a session
// the error body is encrypted, as Meta expects of a decrypted request.
func (g *Gateway) reject(w http.ResponseWriter, r *http.Request, status int, reason string, session *Session) {
	g.exchanges.WithLabelValues(sourceLabel(g, r), "rejected_"+strconv.Itoa(status)).Inc()
	// The source of an unknown path and the reason may carry request text
	// (a 900 KB action): both are bounded, in the log and in the answer.
	reason = excerpt.Clip(reason, maxReasonBytes)
	g.log.Warn("flow request rejected", "source", excerpt.Clip(r.PathValue("source"), excerpt.MaxBytes), "status", status,
		"reason", reason, "request_id", requestID(r), "remote", r.RemoteAddr)
	body, _ := json.Marshal(map[string]string{"error": reason})
	writeSealed(w, status, body, session)
}

// writeSealed writes body as JSON, or, with a session, encrypted and
// base64 as text/plain.
func writeSealed(w http.ResponseWriter, status int, body []byte, session *Session) {
	if session != nil {
		writeAnswer(w, status, "text/plain", []byte(session.EncryptResponse(body)))
		return
	}
	writeAnswer(w, status, "application/json", body)
}

// sourceLabel keeps unknown sources out of the metric's label values.
func sourceLabel(g *Gateway, r *http.Request) string {
	if _, ok := g.sources[r.PathValue("source")]; ok {
		return r.PathValue("source")
	}
	return "unknown"
}

func tokenInvalidBody(msg string) []byte {
	b, _ := json.Marshal(map[string]string{"error_msg": cmp.Or(msg, "The flow token is no longer valid.")})
	return b
}

func writeAnswer(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// maxReasonBytes bounds a rejection's reason in the log and the answer.
const maxReasonBytes = 512

func requestID(r *http.Request) string { return httpserver.RequestID(r.Context()) }

func newExchangeID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
