package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/provider"
)

// backlog is what the workers have yet to store.
type backlog struct {
	Found bool // the consumer exists
	// Lag counts the messages the consumer has not acknowledged: not yet
	// delivered, or delivered and in a worker's hands.
	Lag         uint64
	AckPending  int
	Oldest      time.Time // receipt time of the oldest unstored delivery; zero if none
	OldestSeq   uint64
	OldestTopic string // its subject
}

// backlog reads the workers' consumer and the first message it has not
// acknowledged: the oldest delivery not yet stored.
func (c *Console) backlog(ctx context.Context) (backlog, error) {
	cons, err := c.js.Consumer(ctx, c.cfg.Stream, c.cfg.Consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return backlog{}, nil
	}
	if err != nil {
		return backlog{}, fmt.Errorf("consumer %s: %w", c.cfg.Consumer, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return backlog{}, fmt.Errorf("consumer %s: %w", c.cfg.Consumer, err)
	}
	b := backlog{Found: true, Lag: info.NumPending + uint64(info.NumAckPending), AckPending: info.NumAckPending}
	if b.Lag == 0 {
		return b, nil
	}
	stream, err := c.js.Stream(ctx, c.cfg.Stream)
	if err != nil {
		return b, fmt.Errorf("stream %s: %w", c.cfg.Stream, err)
	}
	msg, err := stream.GetMsg(ctx, info.AckFloor.Stream+1, jetstream.WithGetMsgSubject(hooklane.EventsWildcard(c.cfg.SubjectPrefix)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return b, nil // only exchange records wait
	}
	if err != nil {
		return b, fmt.Errorf("oldest unstored message: %w", err)
	}
	b.Oldest, b.OldestSeq, b.OldestTopic = msg.Time.UTC(), msg.Sequence, msg.Subject
	if at, err := time.Parse(time.RFC3339Nano, msg.Header.Get(hooklane.HeaderReceivedAt)); err == nil {
		b.Oldest = at.UTC()
	}
	return b, nil
}

// liveFilter selects the entries the live page shows. Zero fields select
// everything.
type liveFilter struct {
	Source  string // one configured source; the stream filters on it
	Type    string // the event's type, or the delivery's as the provider names it, ignoring case
	Contact string // part of the contact's phone or JID
}

func (f liveFilter) match(e liveEntry) bool {
	if f.Type != "" && !strings.EqualFold(f.Type, e.Type) && !strings.EqualFold(f.Type, e.DeliveryType) {
		return false
	}
	return f.Contact == "" || strings.Contains(strings.ToLower(e.Contact), strings.ToLower(f.Contact))
}

// liveEntry is one event of a delivery ingest accepted, as the live page
// shows it.
type liveEntry struct {
	Time         time.Time `json:"time"` // when ingest received the delivery
	Source       string    `json:"source"`
	Provider     string    `json:"provider"`
	DeliveryType string    `json:"delivery_type"`
	DedupeKey    string    `json:"dedupe_key"`
	Type         string    `json:"type"` // the event's type
	Key          string    `json:"key"`  // the event's natural key
	Contact      string    `json:"contact,omitempty"`
	Summary      string    `json:"summary"`
	StreamSeq    uint64    `json:"stream_seq"`
}

// tailStart is the stream sequence a tail that begins now starts from:
// the one after the last.
func (c *Console) tailStart(ctx context.Context) (uint64, error) {
	stream, err := c.js.Stream(ctx, c.cfg.Stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", c.cfg.Stream, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", c.cfg.Stream, err)
	}
	return info.State.LastSeq + 1, nil
}

// tail calls each with every entry f selects of the deliveries the stream
// holds from sequence from on, until ctx is done or each fails. It reads
// through an ordered ephemeral consumer, which leaves the workers' durable
// consumer undisturbed.
func (c *Console) tail(ctx context.Context, from uint64, f liveFilter, each func(liveEntry) error) error {
	subject := hooklane.EventsWildcard(c.cfg.SubjectPrefix)
	if f.Source != "" {
		subject = c.cfg.SubjectPrefix + ".events." + hooklane.Token(f.Source) + ".>"
	}
	cons, err := c.js.OrderedConsumer(ctx, c.cfg.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{subject},
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("tail %s: %w", c.cfg.Stream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("tail %s: %w", c.cfg.Stream, err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("tail %s: %w", c.cfg.Stream, err)
		}
		for _, e := range entries(msg) {
			if !f.match(e) {
				continue
			}
			if err := each(e); err != nil {
				return err
			}
		}
	}
}

// entries reads a delivery message into the entries of its events.
func entries(msg jetstream.Msg) []liveEntry {
	var seq uint64
	if meta, err := msg.Metadata(); err == nil {
		seq = meta.Sequence.Stream
	}
	d, err := hooklane.FromMsg(msg.Headers(), msg.Data())
	if err != nil {
		return []liveEntry{{Source: msg.Headers().Get(hooklane.HeaderSource), Type: "?", StreamSeq: seq,
			Summary: "unreadable message: " + err.Error()}}
	}
	base := liveEntry{Time: d.ReceivedAt.UTC(), Source: d.Source, Provider: d.Provider, DeliveryType: d.EventType,
		DedupeKey: d.DedupeKey, StreamSeq: seq}
	p, ok := provider.Lookup(d.Provider)
	if !ok {
		base.Type, base.Summary = d.EventType, fmt.Sprintf("unknown provider %q", d.Provider)
		return []liveEntry{base}
	}
	events, err := p.Events(d.Body)
	if err != nil {
		base.Type, base.Summary = d.EventType, "unparsable: "+err.Error()
		return []liveEntry{base}
	}
	out := make([]liveEntry, len(events))
	for i, ev := range events {
		e := base
		e.Type, e.Key, e.Contact, e.Summary = ev.Type, ev.Key, ev.Phone, summarize(ev.Payload)
		out[i] = e
	}
	return out
}

// summarize finds the first text an event's payload carries, under the
// names the providers give it, else its status.
func summarize(payload []byte) string {
	var v map[string]any
	if json.Unmarshal(payload, &v) != nil {
		return ""
	}
	for _, path := range [][]string{
		{"text", "body"}, {"body"}, {"message", "conversation"}, {"message", "extendedTextMessage", "text"},
		{"data", "message", "content"}, {"content"}, {"caption"}, {"status"}, {"ack"},
	} {
		cur := any(v)
		for _, key := range path {
			m, ok := cur.(map[string]any)
			if !ok {
				cur = nil
				break
			}
			cur = m[key]
		}
		switch x := cur.(type) {
		case string:
			if x != "" {
				return shorten(x, 120)
			}
		case float64:
			return path[len(path)-1] + " " + strconv.FormatFloat(x, 'f', -1, 64)
		}
	}
	return ""
}
