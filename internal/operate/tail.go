package operate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/provider"
)

// TailConfig says what a tail follows.
type TailConfig struct {
	// Stream holding the deliveries. Defaults to hooklane.DefaultStream.
	Stream string
	// SubjectPrefix is the subjects' first token. Defaults to hooklane.DefaultPrefix.
	SubjectPrefix string
	// Filter selects the entries; zero fields select everything.
	Filter Filter
}

// Filter selects tail entries.
type Filter struct {
	// Source selects one configured source; the stream filters on it.
	Source string
	// Type selects events of this type ("message", "status") or of
	// deliveries of this type as the provider names it ("messages",
	// "message.created"), ignoring case.
	Type string
	// Contact selects events whose contact (the phone or JID the provider's
	// body names) matches: by its digits when it has any, so "+52 1 55..."
	// matches "5215..." and "5215...@s.whatsapp.net", else by substring.
	Contact string
}

// Entry is one event of a delivery ingest accepted.
type Entry struct {
	Time         time.Time `json:"time"` // when ingest received the delivery
	Source       string    `json:"source"`
	Provider     string    `json:"provider"`
	DeliveryType string    `json:"delivery_type"` // the delivery's type as the provider names it
	DedupeKey    string    `json:"dedupe_key"`
	Type         string    `json:"type"` // the event's type
	Key          string    `json:"key"`  // the event's natural key
	Contact      string    `json:"contact,omitempty"`
	Summary      string    `json:"summary"` // one line: the text, the status...
	StreamSeq    uint64    `json:"stream_seq"`
}

// Tail follows the deliveries published from the moment it returns on, with
// an ephemeral ordered consumer of its own, which leaves the workers' durable
// consumer undisturbed and goes away with the tail. Each event of each
// delivery that matches the filter is one Entry; a delivery today's parser
// cannot read yields one entry saying why. The sequence ends when ctx is
// done, or with an error when the stream fails.
//
// It is the tail that "hooklane tail" prints, and what a server can relay as
// server-sent events:
//
//	entries, err := operate.Tail(ctx, js, operate.TailConfig{Filter: f})
//	if err != nil { ... }
//	for e, err := range entries { ... }
func Tail(ctx context.Context, js jetstream.JetStream, cfg TailConfig) (iter.Seq2[Entry, error], error) {
	streamName := cmp.Or(cfg.Stream, hooklane.DefaultStream)
	prefix := cmp.Or(cfg.SubjectPrefix, hooklane.DefaultPrefix)
	stream, err := js.Stream(ctx, streamName)
	if err != nil {
		return nil, fmt.Errorf("tail: stream %s: %w", streamName, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("tail: stream %s: %w", streamName, err)
	}
	subject := hooklane.EventsWildcard(prefix)
	if cfg.Filter.Source != "" {
		subject = prefix + ".events." + hooklane.Token(cfg.Filter.Source) + ".>"
	}
	// From the sequence after the last one now: what is published once Tail
	// has returned is seen, whenever the iteration begins.
	cons, err := js.OrderedConsumer(ctx, streamName, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{subject},
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       info.State.LastSeq + 1,
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("tail: consumer on %s: %w", streamName, err)
	}
	f := cfg.Filter
	return func(yield func(Entry, error) bool) {
		msgs, err := cons.Messages()
		if err != nil {
			yield(Entry{}, fmt.Errorf("tail: %w", err))
			return
		}
		defer msgs.Stop()
		stop := context.AfterFunc(ctx, msgs.Stop)
		defer stop()
		for {
			msg, err := msgs.Next()
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					return
				}
				yield(Entry{}, fmt.Errorf("tail: %w", err))
				return
			}
			for _, e := range entries(msg) {
				if f.match(e) && !yield(e, nil) {
					return
				}
			}
		}
	}, nil
}

// entries reads a delivery message into the entries of its events.
func entries(msg jetstream.Msg) []Entry {
	var seq uint64
	if meta, err := msg.Metadata(); err == nil {
		seq = meta.Sequence.Stream
	}
	d, err := hooklane.FromMsg(msg.Headers(), msg.Data())
	if err != nil {
		return []Entry{{Source: msg.Headers().Get(hooklane.HeaderSource), Type: "?", StreamSeq: seq,
			Summary: "unreadable message: " + err.Error()}}
	}
	base := Entry{Time: d.ReceivedAt, Source: d.Source, Provider: d.Provider, DeliveryType: d.EventType,
		DedupeKey: d.DedupeKey, StreamSeq: seq}
	p, ok := provider.Lookup(d.Provider)
	if !ok {
		base.Type, base.Summary = d.EventType, fmt.Sprintf("unknown provider %q", d.Provider)
		return []Entry{base}
	}
	events, err := p.Events(d.Body)
	if err != nil {
		base.Type, base.Summary = d.EventType, "unparsable: "+err.Error()
		return []Entry{base}
	}
	out := make([]Entry, len(events))
	for i, ev := range events {
		e := base
		e.Type, e.Key, e.Contact, e.Summary = ev.Type, ev.Key, ev.Phone, Summarize(ev.Payload)
		out[i] = e
	}
	return out
}

func (f Filter) match(e Entry) bool {
	if f.Source != "" && e.Source != f.Source {
		return false
	}
	if f.Type != "" && !strings.EqualFold(f.Type, e.Type) && !strings.EqualFold(f.Type, e.DeliveryType) {
		return false
	}
	return f.Contact == "" || ContactMatches(f.Contact, e.Contact)
}

// ContactMatches reports whether contact, as a provider names it, is the one
// want names: by their digits when want has any, else by substring, ignoring
// case.
func ContactMatches(want, contact string) bool {
	if w := digits(want); w != "" {
		return w == digits(contact)
	}
	return strings.Contains(strings.ToLower(contact), strings.ToLower(want))
}

// digits keeps the digits of s before any '@', so that a JID's server part
// does not count.
func digits(s string) string {
	s, _, _ = strings.Cut(s, "@")
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}
