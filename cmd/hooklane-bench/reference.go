package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/app"
	"github.com/hooklane/hooklane/internal/config"
	"github.com/hooklane/hooklane/internal/httpserver"
	"github.com/hooklane/hooklane/internal/queue"
)

// envReferencePublishes says what "hooklane-bench reference" publishes:
// referenceBody, the default, or referenceMessage.
const (
	envReferencePublishes = "HOOKLANE_REFERENCE_PUBLISHES"
	referenceBody         = "body"
	referenceMessage      = "message"
	referenceEventType    = "reference"
)

// acceptedAnswer is what ingest answers a queued delivery; TestLoad checks
// that both answer the same.
const acceptedAnswer = `{"ok":true}` + "\n"

// runReference is "hooklane-bench reference": the floor hooklane's
// ingest is measured against. POST /webhooks/{source} reads the body,
// checks the source's HMAC and awaits a JetStream publish on a stream of
// its own, then answers 200 with the body ingest answers, which WhatzMeAPI
// requires of any receiver; nothing else: no inspection, no flow answers.
// It publishes the body alone, or with HOOKLANE_REFERENCE_PUBLISHES=message
// the message ingest would publish for the delivery: its Nats-Msg-Id (from
// the body's SHA-256, as no JSON is read), metadata and kept headers, and
// the expected stream. Its NATS is the configured one, or one embedded as
// hooklane all embeds its own, storing beside it. An empty answer would
// spare its HTTP server, and the load generator's client, work that no
// receiver can skip: 5 to 10 µs a request each on the suite's machine.
func runReference(ctx context.Context, cfg *config.Config, logger *slog.Logger, e app.Env) error {
	publishes := cmp.Or(e.Getenv(envReferencePublishes), referenceBody)
	if publishes != referenceBody && publishes != referenceMessage {
		return fmt.Errorf("%s=%q: want %s or %s", envReferencePublishes, publishes, referenceBody, referenceMessage)
	}
	own := *cfg
	own.NATS.StoreDir += "-reference"
	cfg = &own
	p, err := app.NewProcess(cfg, logger, e)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.Dial("hooklane-bench-reference", true); err != nil {
		return err
	}
	js := p.JetStream()
	prefix, stream := cfg.NATS.SubjectPrefix+"_reference", cfg.NATS.Stream+"_REFERENCE"
	// Nothing consumes the reference's stream: it keeps an hour, as
	// limits allow, rather than everything as the delivery stream does.
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: stream, Subjects: []string{hooklane.EventsWildcard(prefix)}, Storage: jetstream.FileStorage,
		Replicas: cfg.NATS.Replicas, MaxAge: time.Hour, Duplicates: cfg.NATS.DuplicateWindow,
	})
	if err != nil {
		return fmt.Errorf("reference stream %s: %w", stream, err)
	}
	p.AddCheck(httpserver.Check{Name: "jetstream", Func: queue.StreamReady(js, stream)})
	srcs, err := app.Sources(cfg)
	if err != nil {
		return err
	}
	sources := make(map[string]*hooklane.Source, len(srcs))
	for i := range srcs {
		sources[srcs[i].Name] = &srcs[i]
	}
	p.Handle("POST /webhooks/{source}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		src, ok := sources[r.PathValue("source")]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, cfg.Ingest.MaxBodyBytes))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if src.Authenticate(r.Header, body) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), cfg.Ingest.PublishTimeout)
		defer cancel()
		if publishes == referenceMessage {
			sum := sha256.Sum256(body)
			d := hooklane.Delivery{
				Source: src.Name, Provider: src.Provider.Name(), EventType: referenceEventType,
				DedupeKey: hex.EncodeToString(sum[:]), ReceivedAt: time.Now(), RequestID: httpserver.RequestID(r.Context()),
				Headers: src.KeptHeaders(r.Header), Body: body,
			}
			_, err = js.PublishMsg(ctx, d.Msg(prefix), jetstream.WithExpectStream(stream))
		} else {
			_, err = js.Publish(ctx, hooklane.EventSubject(prefix, src.Name, referenceEventType), body)
		}
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(acceptedAnswer)))
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, acceptedAnswer)
	}))
	return p.Run(ctx)
}
