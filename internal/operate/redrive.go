package operate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/storage"
)

// Redriver sends dead letters back through the workers: each is published
// again on its subject, with its original headers, and a worker stores it as
// it would have the first time. Postgres' unique keys keep exactly-once: a
// redrive of something already stored stores nothing. The dead letter's row
// records the attempt, and the worker that takes it reports the outcome
// there: stored, duplicate (already stored), or dead_lettered again, as a new
// dead letter with its new reason.
type Redriver struct {
	js    jetstream.JetStream
	store *storage.Store
	cfg   RedriveConfig
}

// RedriveConfig configures a Redriver.
type RedriveConfig struct {
	// Stream the workers consume, which a redrive must land in.
	// Defaults to hooklane.DefaultStream.
	Stream string
}

// NewRedriver returns a Redriver publishing with js and recording in store.
func NewRedriver(js jetstream.JetStream, store *storage.Store, cfg RedriveConfig) *Redriver {
	cfg.Stream = cmp.Or(cfg.Stream, hooklane.DefaultStream)
	return &Redriver{js: js, store: store, cfg: cfg}
}

// Redriven is one dead letter sent back.
type Redriven struct {
	DeadLetterID int64
	Attempt      int    // the dead letter's redrive count, this attempt included
	Subject      string // where it was published
	StreamSeq    uint64 // its new stream sequence
}

// Redrive sends the dead letter id back once. It returns storage.ErrNotFound
// (wrapped) for an id that does not exist. A publish that fails is recorded
// on the row as unpublished, with why, and returned.
func (r *Redriver) Redrive(ctx context.Context, id int64) (Redriven, error) {
	l, err := r.store.BeginRedrive(ctx, id)
	if err != nil {
		return Redriven{}, err
	}
	attempt := storage.Redrive{DeadLetterID: l.ID, Attempt: l.RedriveCount}
	ack, err := r.js.PublishMsg(ctx, redriveMsg(l), jetstream.WithExpectStream(r.cfg.Stream))
	if err != nil {
		err = fmt.Errorf("redrive dead letter %d: publish %s: %w", id, l.Subject, err)
		if rerr := r.store.RedriveUnpublished(context.WithoutCancel(ctx), attempt, err.Error()); rerr != nil {
			return Redriven{}, errors.Join(err, rerr)
		}
		return Redriven{}, err
	}
	return Redriven{DeadLetterID: l.ID, Attempt: l.RedriveCount, Subject: l.Subject, StreamSeq: ack.Sequence}, nil
}

// redriveMsg rebuilds the dead letter's message: its subject, data and
// headers, less JetStream's own (Nats-*) and an earlier redrive's, plus the
// headers naming this attempt and a message id of its own, which JetStream's
// duplicate window does not hold.
func redriveMsg(l storage.StoredDeadLetter) *nats.Msg {
	h := make(nats.Header, len(l.Headers)+3)
	for name, values := range l.Headers {
		if strings.HasPrefix(name, "Nats-") || name == hooklane.HeaderRedriveOf || name == hooklane.HeaderRedriveAttempt {
			continue
		}
		h[name] = values
	}
	h.Set(nats.MsgIdHdr, hooklane.RedriveMsgID(l.ID, l.RedriveCount))
	h.Set(hooklane.HeaderRedriveOf, strconv.FormatInt(l.ID, 10))
	h.Set(hooklane.HeaderRedriveAttempt, strconv.Itoa(l.RedriveCount))
	return &nats.Msg{Subject: l.Subject, Header: h, Data: l.Body}
}

// RedriveAll sends back every open dead letter f selects (never redriven, or
// whose redrive could not be published), in id order, a page at a time, and
// tells progress, if set, after each. With dryRun it sends nothing and
// returns the letters it would send, as Redriven without a stream sequence.
// It stops at the first failure.
func (r *Redriver) RedriveAll(ctx context.Context, f storage.DeadLetterFilter, dryRun bool, progress func(done int)) ([]Redriven, error) {
	f.Open = true
	var done []Redriven
	for {
		page, err := r.store.DeadLetters(ctx, f)
		if err != nil {
			return done, err
		}
		if len(page) == 0 {
			return done, nil
		}
		for _, l := range page {
			if dryRun {
				done = append(done, Redriven{DeadLetterID: l.ID, Attempt: l.RedriveCount + 1, Subject: l.Subject})
				continue
			}
			rd, err := r.Redrive(ctx, l.ID)
			if err != nil {
				return done, err
			}
			done = append(done, rd)
		}
		f.AfterID = page[len(page)-1].ID
		if progress != nil {
			progress(len(done))
		}
	}
}
