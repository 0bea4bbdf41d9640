// Package ingest is hooklane's HTTP front door. It reads each webhook
// delivery with a bounded reader, verifies its signature over the raw bytes,
// publishes it to JetStream and answers 2xx only once JetStream has
// acknowledged it. Every rejection has its own status, one log line with the
// reason and a metric, and queues nothing.
package ingest

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/excerpt"
	"github.com/hooklane/hooklane/internal/httpserver"
)

// source is one configured webhook sender, ready to serve: its metrics are
// set by New, so that no request looks them up.
type source struct {
	hooklane.Source
	metrics sourceMetrics
}

// Publisher publishes to JetStream and waits for its acknowledgement;
// jetstream.JetStream is one.
type Publisher interface {
	PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// FlowAnswerer answers a verified delivery that needs a synchronous answer
// (a Platica whatsapp.flows.* event). It always returns an answer to send,
// and the time by which it must be sent.
type FlowAnswerer interface {
	AnswerFlow(ctx context.Context, d *hooklane.Delivery) (answer []byte, deadline time.Time)
}

// Defaults of Config; internal/config applies the same.
const (
	DefaultMaxBodyBytes   = 4 << 20 // Meta sends up to 3 MB
	DefaultPublishTimeout = time.Second
	DefaultRetryAfter     = 5 * time.Second
)

// Config configures a Handler.
type Config struct {
	// Sources are served at /webhooks/<name>.
	Sources []hooklane.Source
	// Stream is the JetStream stream deliveries must land in.
	Stream string
	// SubjectPrefix is the subjects' first token. Defaults to "hooklane".
	SubjectPrefix string
	// MaxBodyBytes is the largest body accepted. Defaults to 4 MiB.
	MaxBodyBytes int64
	// PublishTimeout bounds the wait for JetStream's acknowledgement.
	// Defaults to 1s.
	PublishTimeout time.Duration
	// RetryAfter is sent with a 503. Defaults to 5s.
	RetryAfter time.Duration
	// Flows answers flow deliveries; without it they are only queued.
	Flows FlowAnswerer
	// BodyBudget bounds the bytes bodies hold until their request is
	// authenticated, shared with the process's other handlers; past it a
	// request is answered 503. It must hold a body of MaxBodyBytes.
	// Defaults to a budget of httpserver.DefaultBodyBudget of its own.
	BodyBudget *httpserver.BodyBudget
}

// Handler serves POST /webhooks/{source} and, for meta sources, the GET
// verification handshake. Mount it on a pattern with a {source} wildcard.
type Handler struct {
	pub        Publisher
	cfg        Config
	sources    map[string]*source
	retryAfter string
	// publishOpts make JetStream refuse a publish that would land in
	// another stream than Config.Stream.
	publishOpts []jetstream.PublishOpt
	log         *slog.Logger
	metrics     *metrics
	created     time.Time // when the counts RunSummary reports began
}

// New returns a Handler publishing through pub. Its metrics are registered
// with reg.
func New(pub Publisher, cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Handler, error) {
	cfg.SubjectPrefix = cmp.Or(cfg.SubjectPrefix, hooklane.DefaultPrefix)
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	cfg.PublishTimeout = cmp.Or(cfg.PublishTimeout, DefaultPublishTimeout)
	cfg.RetryAfter = cmp.Or(cfg.RetryAfter, DefaultRetryAfter)
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	if cfg.BodyBudget == nil {
		if cfg.BodyBudget, err = httpserver.NewBodyBudget(0, reg); err != nil {
			return nil, err
		}
	}
	if cfg.BodyBudget.Size() <= cfg.MaxBodyBytes {
		return nil, fmt.Errorf("ingest: the body budget of %d bytes cannot hold one body of max_body_bytes %d", cfg.BodyBudget.Size(), cfg.MaxBodyBytes)
	}
	h := &Handler{
		pub:        pub,
		cfg:        cfg,
		sources:    make(map[string]*source, len(cfg.Sources)),
		retryAfter: strconv.Itoa(int((cfg.RetryAfter + time.Second - 1) / time.Second)),
		log:        logger,
		metrics:    m,
		created:    time.Now(),
	}
	if cfg.Stream != "" {
		h.publishOpts = []jetstream.PublishOpt{jetstream.WithExpectStream(cfg.Stream)}
	}
	for _, s := range cfg.Sources {
		if len(s.Secrets) == 0 && !s.AllowUnsigned {
			return nil, errors.New("ingest: source " + s.Name + " has no secret and does not allow unsigned deliveries")
		}
		h.sources[s.Name] = &source{Source: s, metrics: m.forSource(s.Name, s.Provider.Name())}
	}
	return h, nil
}

// Outcomes of a request, as logged and counted.
const (
	outcomeAccepted         = "accepted"
	outcomeDuplicate        = "duplicate"
	outcomeFlowAnswered     = "flow_answered"
	outcomeVerified         = "handshake_ok"
	outcomeUnknownSource    = "unknown_source"
	outcomeMethod           = "method_not_allowed"
	outcomeTooLarge         = "too_large"
	outcomeUnauthorized     = "unauthorized"
	outcomeBadSignature     = "bad_signature"
	outcomeBadJSON          = "bad_json"
	outcomeHandshakeFailed  = "handshake_forbidden"
	outcomeQueueUnavailable = "queue_unavailable"
	outcomeBadRequest       = "bad_request"
	outcomeBusy             = "busy"
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := r.PathValue("source")
	src, ok := h.sources[name]
	if !ok {
		h.reject(w, r, nil, http.StatusNotFound, outcomeUnknownSource, "unknown source")
		return
	}
	switch {
	case r.Method == http.MethodPost:
		h.receive(w, r, src, start)
	case r.Method == http.MethodGet && src.Provider.Name() == "meta":
		h.handshake(w, r, src)
	default:
		allow := "POST"
		if src.Provider.Name() == "meta" {
			allow = "GET, POST"
		}
		w.Header().Set("Allow", allow)
		h.reject(w, r, src, http.StatusMethodNotAllowed, outcomeMethod, "method "+excerpt.Quote(r.Method)+" not allowed")
	}
}

func (h *Handler) receive(w http.ResponseWriter, r *http.Request, src *source, start time.Time) {
	read, err := h.cfg.BodyBudget.ReadBody(w, r, h.cfg.MaxBodyBytes)
	if err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			h.reject(w, r, src, http.StatusRequestEntityTooLarge, outcomeTooLarge,
				"body over the limit of "+strconv.FormatInt(h.cfg.MaxBodyBytes, 10)+" bytes")
		case errors.Is(err, httpserver.ErrBusy):
			w.Header().Set("Retry-After", h.retryAfter)
			h.reject(w, r, src, http.StatusServiceUnavailable, outcomeBusy, err.Error())
		default:
			h.reject(w, r, src, http.StatusBadRequest, outcomeBadRequest, "reading body: "+err.Error())
		}
		return
	}
	defer read.Release()
	body := read.Bytes
	if err := src.Authenticate(r.Header, body); err != nil {
		outcome := outcomeBadSignature
		if errors.Is(err, hooklane.ErrUnauthorized) {
			outcome = outcomeUnauthorized
		}
		h.reject(w, r, src, http.StatusUnauthorized, outcome, err.Error())
		return
	}
	read.Release() // authenticated: its bytes no longer count against the budget
	summary, err := src.Provider.Inspect(body)
	if err != nil {
		h.reject(w, r, src, http.StatusBadRequest, outcomeBadJSON, err.Error())
		return
	}
	summary = bounded(summary, body)
	d := &hooklane.Delivery{
		Source:     src.Name,
		Provider:   src.Provider.Name(),
		EventType:  summary.EventType,
		DedupeKey:  summary.DedupeKey,
		ReceivedAt: start,
		RequestID:  httpserver.RequestID(r.Context()),
		Headers:    src.KeptHeaders(r.Header),
		Body:       body,
	}
	if summary.Flow && h.cfg.Flows != nil {
		h.answerFlow(w, r, src, d, start)
		return
	}
	ack, err := h.publish(r.Context(), d)
	if err != nil {
		w.Header().Set("Retry-After", h.retryAfter)
		h.reject(w, r, src, http.StatusServiceUnavailable, outcomeQueueUnavailable, "publish: "+err.Error())
		return
	}
	counter := src.metrics.accepted
	if ack.Duplicate {
		counter = src.metrics.duplicate
	}
	src.metrics.observe(counter, start)
	writeBody(w, http.StatusOK, okBody)
}

// flowPublishGrace is how long an answer ready at its deadline may still
// wait for its delivery's publish; the budget's margin covers it.
const flowPublishGrace = 20 * time.Millisecond

// answerFlow answers a flow delivery within its budget, and only once the
// delivery is queued for storage too, as every 2xx promises. The publish
// runs alongside the exchange and may take until the answer's deadline
// (at least flowPublishGrace); when it fails or takes longer, the answer is
// 503: the provider then sends its own fallback and retries the delivery.
func (h *Handler) answerFlow(w http.ResponseWriter, r *http.Request, src *source, d *hooklane.Delivery, start time.Time) {
	published := make(chan error, 1)
	go func() {
		_, err := h.publish(r.Context(), d)
		published <- err
	}()
	answer, deadline := h.cfg.Flows.AnswerFlow(r.Context(), d)
	grace := time.NewTimer(max(time.Until(deadline), flowPublishGrace))
	defer grace.Stop()
	var err error
	select {
	case err = <-published:
	case <-grace.C:
		err = errors.New("JetStream has not acknowledged the flow delivery in time")
	}
	if err != nil {
		w.Header().Set("Retry-After", h.retryAfter)
		h.reject(w, r, src, http.StatusServiceUnavailable, outcomeQueueUnavailable, "publish: "+err.Error())
		return
	}
	src.metrics.observe(src.metrics.flowAnswered, start)
	writeBody(w, http.StatusOK, answer)
}

// publish queues d and waits, at most PublishTimeout, for JetStream's
// acknowledgement. A client that hangs up does not cut the wait short, so
// the outcome logged is the one JetStream reached.
func (h *Handler) publish(ctx context.Context, d *hooklane.Delivery) (*jetstream.PubAck, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.PublishTimeout)
	defer cancel()
	began := time.Now()
	ack, err := h.pub.PublishMsg(ctx, d.Msg(h.cfg.SubjectPrefix), h.publishOpts...)
	h.metrics.publishSeconds.Observe(time.Since(began).Seconds())
	return ack, err
}

func (h *Handler) handshake(w http.ResponseWriter, r *http.Request, src *source) {
	q := r.URL.Query()
	token := q.Get("hub.verify_token")
	if q.Get("hub.mode") != "subscribe" || src.VerifyToken == "" ||
		subtle.ConstantTimeCompare([]byte(token), []byte(src.VerifyToken)) != 1 {
		h.reject(w, r, src, http.StatusForbidden, outcomeHandshakeFailed, "verification handshake: wrong mode or token")
		return
	}
	h.metrics.deliveries.WithLabelValues(src.Name, src.Provider.Name(), outcomeVerified).Inc()
	h.log.Info("verification handshake answered", "source", src.Name, "request_id", httpserver.RequestID(r.Context()))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff") // the challenge is echoed as given
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, q.Get("hub.challenge"))
}

// reject answers a refused request, logs the reason once and counts it.
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, src *source, status int, outcome, reason string) {
	name, prov := r.PathValue("source"), ""
	if src != nil {
		prov = src.Provider.Name()
	}
	// The label of an unknown source is fixed, so a scan of random paths
	// cannot grow the metric without bound.
	label := name
	if src == nil {
		label = "unknown"
	}
	h.metrics.deliveries.WithLabelValues(label, prov, outcome).Inc()
	// The source of an unknown path and the detail may carry request text:
	// both are bounded, in the log and in the answer.
	detail := excerpt.Clip(reason, maxDetailBytes)
	h.log.Warn("delivery rejected",
		"source", excerpt.Clip(name, excerpt.MaxBytes), "provider", prov, "status", status, "reason", outcome, "detail", detail,
		"request_id", httpserver.RequestID(r.Context()), "remote", r.RemoteAddr)
	writeBody(w, status, errorBody(detail))
}

// maxDetailBytes bounds a rejection's detail in the log and the answer.
const maxDetailBytes = 512

// okBody is the body of the 200 that acknowledges a queued delivery, as
// JSON: WhatzMeAPI requires {"ok":true}.
var okBody = []byte(`{"ok":true}` + "\n")

func errorBody(reason string) []byte {
	b, _ := jsonString(reason)
	return []byte(`{"error":` + b + "}\n")
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
