// Package queue connects hooklane's roles to NATS: the connection settings
// every role shares, the JetStream stream that holds deliveries, and the
// embedded server that "hooklane all" runs when no NATS URL is given.
package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hooklane/hooklane"
)

// Connect dials url with settings fit for a long-running role: it retries
// the first connection, reconnects forever, and fails a publish at once while
// disconnected (no reconnect buffer), so ingest answers 503 instead of
// acknowledging a delivery that only sits in client memory.
func Connect(url, name string, logger *slog.Logger, opts ...nats.Option) (*nats.Conn, error) {
	base := []nats.Option{
		nats.Name(name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: closed on purpose
				logger.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			logger.Error("nats async error", "subject", subject, "err", err)
		}),
	}
	nc, err := nats.Connect(url, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats at %s: %w", url, err)
	}
	return nc, nil
}

// connectWait bounds the wait for a role's first connection to NATS.
const connectWait = 30 * time.Second

// WaitConnected waits until nc has made its first connection (Connect
// retries it in the background), so that what the server allows is known
// before anything is created on it. It fails once ctx is done or after 30s.
func WaitConnected(ctx context.Context, nc *nats.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, connectWait)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !nc.IsConnected() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("no connection to NATS (%s): %w", nc.Status(), ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// Defaults of StreamConfig; internal/config applies the same.
const (
	DefaultReplicas        = 1
	DefaultDuplicateWindow = 2 * time.Minute
	// DefaultMaxBytes, -1, lets the stream grow to what the server's
	// JetStream storage allows: a fixed size would be reserved on the
	// server, and refused where it has less.
	DefaultMaxBytes = -1
)

// StreamConfig describes the stream deliveries are published to.
type StreamConfig struct {
	// Name of the stream. Defaults to hooklane.DefaultStream.
	Name string
	// SubjectPrefix is the subjects' first token. Defaults to "hooklane".
	SubjectPrefix string
	// Replicas of the stream. Defaults to 1.
	Replicas int
	// MaxBytes is the most the stream holds; once full, a publish is
	// refused (ingest answers 503) rather than an older message dropped.
	// Defaults to DefaultMaxBytes.
	MaxBytes int64
	// DuplicateWindow is how long message ids are remembered.
	// Defaults to 2m.
	DuplicateWindow time.Duration
	// Consumer is the workers' durable consumer, created with the stream
	// if it is missing, so that the stream keeps every message from the
	// first for the workers. Defaults to "hooklane-worker".
	Consumer string
}

// EnsureStream creates the delivery stream, or updates it to cfg, and
// returns it. It holds deliveries (<prefix>.events.>) and flow exchange
// records (<prefix>.exchanges.>) in files.
//
// No message leaves the stream before the workers have stored it: the
// retention is by interest, with no age limit, so a message stays until
// every consumer of the stream has acknowledged it, and the workers' durable
// consumer, created here along with the stream, acknowledges only after the
// commit. When the stream is full (MaxBytes), a publish is refused and
// ingest answers 503, so the provider retries; nothing stored is dropped.
//
// Other consumers of the stream (tails, your own) count too: a durable one
// holds every message until it acknowledges it, so use AckNone, or ack, or
// delete it when done; an ephemeral one goes away once unused for its
// InactiveThreshold, and with it its hold. A consumer created later sees
// only what the workers have not yet stored.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (jetstream.Stream, error) {
	prefix := cmp.Or(cfg.SubjectPrefix, hooklane.DefaultPrefix)
	sc := jetstream.StreamConfig{
		Name:        cmp.Or(cfg.Name, hooklane.DefaultStream),
		Description: "hooklane webhook deliveries",
		Subjects:    []string{hooklane.EventsWildcard(prefix), hooklane.ExchangesWildcard(prefix)},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.InterestPolicy,
		Replicas:    cmp.Or(cfg.Replicas, DefaultReplicas),
		MaxBytes:    cmp.Or(cfg.MaxBytes, DefaultMaxBytes),
		Duplicates:  cmp.Or(cfg.DuplicateWindow, DefaultDuplicateWindow),
		Discard:     jetstream.DiscardNew,
	}
	stream, err := js.CreateOrUpdateStream(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", sc.Name, err)
	}
	// Interest first, then messages: a message published while the stream
	// has no consumer would be dropped at once.
	consumer := cmp.Or(cfg.Consumer, "hooklane-worker")
	if _, err := stream.Consumer(ctx, consumer); errors.Is(err, jetstream.ErrConsumerNotFound) {
		_, err = stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       consumer,
			Description:   "hooklane workers persisting deliveries to Postgres",
			AckPolicy:     jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			MaxDeliver:    -1,
		})
		if err != nil && !errors.Is(err, jetstream.ErrConsumerExists) {
			return nil, fmt.Errorf("ensure consumer %s on %s: %w", consumer, sc.Name, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("ensure consumer %s on %s: %w", consumer, sc.Name, err)
	}
	return stream, nil
}

// StreamReady reports whether JetStream answers and the stream exists.
func StreamReady(js jetstream.JetStream, name string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		_, err := js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("stream %s does not exist", name)
		}
		return err
	}
}

// headerRoom is what a delivery's metadata and kept headers may add to its
// body on the wire.
const headerRoom = 64 << 10

// CheckPayload fails when the server nc is connected to cannot carry a
// body of maxBody bytes with its headers: such deliveries would be refused
// with 503 on every retry and never stored.
func CheckPayload(nc *nats.Conn, maxBody int64) error {
	if limit := nc.MaxPayload(); limit < maxBody+headerRoom {
		return fmt.Errorf("the NATS server takes messages up to %d bytes, too few for ingest.max_body_bytes %d: "+
			"set max_payload: 8MB in its config, or lower ingest.max_body_bytes below %d", limit, maxBody, limit-headerRoom)
	}
	return nil
}
