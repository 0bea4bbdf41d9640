package console

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hooklane/hooklane"
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
