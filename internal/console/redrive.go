package console

import (
	"context"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hooklane/hooklane/storage"
)

// Redriver sends dead letters back through the workers' normal path, so a
// letter already stored changes nothing.
type Redriver interface {
	// Redrive sends the dead letter id back once. It returns
	// storage.ErrNotFound (wrapped) for an id that does not exist.
	Redrive(ctx context.Context, id int64) error
}

// streamRedriver republishes each dead letter on its subject, with its
// headers, for the workers to take again.
type streamRedriver struct {
	store *storage.Store
	js    jetstream.JetStream
}

// Redrive republishes the letter.
func (r *streamRedriver) Redrive(ctx context.Context, id int64) error {
	l, err := r.store.DeadLetter(ctx, id)
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: l.Subject, Header: nats.Header{}, Data: l.Body}
	for name, values := range l.Headers {
		// A new message: JetStream must neither drop it as a duplicate of
		// the first nor hold it to the first's expectations.
		if strings.HasPrefix(name, "Nats-") {
			continue
		}
		msg.Header[name] = values
	}
	if _, err := r.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("redrive dead letter %d: %w", id, err)
	}
	return nil
}
