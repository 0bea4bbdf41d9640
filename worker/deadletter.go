package worker

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hooklane/hooklane/storage"
)

// deadItem is a message that will not be stored as events.
type deadItem struct {
	msg     jetstream.Msg
	meta    *jetstream.MsgMetadata
	source  string
	redrive storage.Redrive
	reason  string
}

// deadLetter records items in the dead-letter table and only then
// terminates them. If the record cannot be written the messages are
// redelivered instead, so nothing is dropped unrecorded.
func (w *Worker) deadLetter(ctx context.Context, items []deadItem) {
	if len(items) == 0 {
		return
	}
	letters := make([]storage.DeadLetter, len(items))
	for i, it := range items {
		letters[i] = storage.DeadLetter{
			Stream:       it.meta.Stream,
			Sequence:     it.meta.Sequence.Stream,
			Subject:      it.msg.Subject(),
			Source:       it.source,
			Headers:      it.msg.Headers(),
			Body:         it.msg.Data(),
			Reason:       it.reason,
			NumDelivered: it.meta.NumDelivered,
			Redrive:      it.redrive,
		}
	}
	if err := w.store.SaveDeadLetters(ctx, letters); err != nil {
		retry := make([]item, len(items))
		for i, it := range items {
			retry[i] = item{msg: it.msg, meta: it.meta, redrive: it.redrive}
		}
		w.retryLater(retry, "dead letters not written", err)
		return
	}
	for _, it := range items {
		w.metrics.deadLetters.Inc()
		w.log.Error("delivery dead-lettered", "stream_seq", it.meta.Sequence.Stream,
			"subject", it.msg.Subject(), "deliveries", it.meta.NumDelivered, "reason", it.reason)
		// Plain Term: NATS 2.9 does not parse a reason after +TERM and would
		// leave the message unacknowledged; the reason is in the table.
		if err := it.msg.Term(); err != nil {
			w.log.Warn("term failed; the redelivery will be dead-lettered again harmlessly",
				"stream_seq", it.meta.Sequence.Stream, "err", err)
		}
	}
}
