// Package worker persists what the stream holds to Postgres: deliveries,
// fanned out into their events, and flow exchange records. Any number of
// workers share one durable pull consumer; each fetches a batch, writes it
// in one transaction and acknowledges only after the commit. Uniqueness in Postgres makes a
// redelivery harmless, so a crash between commit and ack stores nothing twice.
//
// The fate of each message is decided in one place, settle:
//   - stored, or already stored: Ack;
//   - a store failure: NakWithDelay with exponential backoff;
//   - undecodable, a store failure the data causes (isolated by writing
//     the batch's items one by one), or still failing after MaxDeliveries:
//     a dead-letter row, then Term.
package worker

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/excerpt"
	"github.com/hooklane/hooklane/internal/provider"
	"github.com/hooklane/hooklane/storage"
)

// Store is where a worker writes; *storage.Store is one.
type Store interface {
	Save(ctx context.Context, records []storage.Record) (storage.SaveResult, error)
	SaveFlowExchanges(ctx context.Context, exchanges []hooklane.FlowExchange) error
	SaveDeadLetters(ctx context.Context, letters []storage.DeadLetter) error
	SettleRedrives(ctx context.Context, settled []storage.RedriveSettled) error
}

// Defaults of Config; internal/config applies the same.
const (
	DefaultConsumer      = "hooklane-worker"
	DefaultBatchSize     = 1024
	DefaultBatchBytes    = 8 << 20
	DefaultBatchEvents   = 10_000
	DefaultConcurrency   = 2
	DefaultMaxDeliveries = 20
	DefaultAckWait       = 30 * time.Second
	DefaultPollWait      = time.Second
	DefaultBatchWait     = 10 * time.Millisecond
	DefaultRetryInitial  = 500 * time.Millisecond
	DefaultRetryMax      = time.Minute
	DefaultSettleTimeout = 20 * time.Second
	DefaultWriteTimeout  = 5 * time.Minute
)

// Config configures a Worker.
type Config struct {
	// Stream holding the deliveries. Defaults to hooklane.DefaultStream.
	Stream string
	// SubjectPrefix is the subjects' first token. Defaults to "hooklane".
	SubjectPrefix string
	// Consumer is the durable consumer all workers share.
	// Defaults to "hooklane-worker".
	Consumer string
	// BatchSize is the most deliveries written in one transaction.
	// Defaults to 1024: a larger batch merges more of its facts into one
	// model row before writing (BenchmarkSave).
	BatchSize int
	// BatchBytes bounds the messages fetched for one batch beyond its
	// first, which may be as large as the server's max_payload.
	// Defaults to 8 MiB.
	BatchBytes int
	// BatchEvents bounds the events decoded and written at once: a batch
	// is written in parts of about that many events, each acknowledged
	// once stored. One delivery fans out to provider.MaxEvents at most.
	// Defaults to 10,000.
	BatchEvents int
	// Concurrency is how many batches one worker writes at once, so that
	// Postgres works on one while another commits. Defaults to 2.
	Concurrency int
	// MaxDeliveries is how often a failing delivery is tried before it is
	// dead-lettered. Defaults to 20.
	MaxDeliveries int
	// AckWait is how long JetStream waits for an ack before redelivering.
	// Defaults to 30s.
	AckWait time.Duration
	// PollWait bounds one wait for new messages, and so how long a stop
	// can take while idle. Defaults to 1s.
	PollWait time.Duration
	// BatchWait is how long a batch, once its first message is in hand,
	// waits for more before it is written. Under light load it trades that
	// much end-to-end latency for fewer, larger transactions. Defaults to
	// 10ms; it must be under half of AckWait, or messages would be
	// redelivered while their batch still waits.
	BatchWait time.Duration
	// RetryInitial is the first redelivery delay after a transient failure;
	// each further failure doubles it, up to RetryMax.
	// Defaults to 500ms.
	RetryInitial time.Duration
	// RetryMax caps the redelivery delay. Defaults to 1m.
	RetryMax time.Duration
	// SettleTimeout bounds writing and acking the batch in hand once a stop
	// is requested. Defaults to 20s.
	SettleTimeout time.Duration
	// WriteTimeout bounds writing and acking one batch while the worker
	// runs: far above what the largest delivery takes (seconds for 100,000
	// statuses with the model, more on a busy database), so that only a hung
	// database ends it. Defaults to 5m.
	WriteTimeout time.Duration
}

func (c Config) withDefaults() Config {
	c.Stream = cmp.Or(c.Stream, hooklane.DefaultStream)
	c.SubjectPrefix = cmp.Or(c.SubjectPrefix, hooklane.DefaultPrefix)
	c.Consumer = cmp.Or(c.Consumer, DefaultConsumer)
	c.BatchSize = cmp.Or(c.BatchSize, DefaultBatchSize)
	c.BatchBytes = cmp.Or(c.BatchBytes, DefaultBatchBytes)
	c.BatchEvents = cmp.Or(c.BatchEvents, DefaultBatchEvents)
	c.Concurrency = cmp.Or(c.Concurrency, DefaultConcurrency)
	c.MaxDeliveries = cmp.Or(c.MaxDeliveries, DefaultMaxDeliveries)
	c.AckWait = cmp.Or(c.AckWait, DefaultAckWait)
	c.PollWait = cmp.Or(c.PollWait, DefaultPollWait)
	c.BatchWait = cmp.Or(c.BatchWait, DefaultBatchWait)
	c.RetryInitial = cmp.Or(c.RetryInitial, DefaultRetryInitial)
	c.RetryMax = cmp.Or(c.RetryMax, DefaultRetryMax)
	c.SettleTimeout = cmp.Or(c.SettleTimeout, DefaultSettleTimeout)
	c.WriteTimeout = cmp.Or(c.WriteTimeout, DefaultWriteTimeout)
	return c
}

// Worker consumes deliveries and persists them.
type Worker struct {
	js      jetstream.JetStream
	store   Store
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	// exchangesPrefix starts the subjects of flow exchange records.
	exchangesPrefix string
	// failures counts writes failed in a row, across the worker's loops.
	failures atomic.Int64
	// afterCommit, when set, runs between a batch's commit and its acks;
	// an error stops the worker there, unacked, as a crash would.
	afterCommit func() error
}

// New returns a Worker. Its metrics are registered with reg.
func New(js jetstream.JetStream, store Store, cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Worker, error) {
	cfg = cfg.withDefaults()
	if cfg.BatchWait >= cfg.AckWait/2 {
		return nil, fmt.Errorf("worker: batch wait %v must be under half of the ack wait %v", cfg.BatchWait, cfg.AckWait)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	if err := reg.Register(newConsumerCollector(js, cfg.Stream, cfg.Consumer)); err != nil {
		return nil, err
	}
	return &Worker{js: js, store: store, cfg: cfg, log: logger, metrics: m,
		exchangesPrefix: strings.TrimSuffix(hooklane.ExchangesWildcard(cfg.SubjectPrefix), ">")}, nil
}

// Consumer creates or updates the shared durable consumer, over the whole
// stream: deliveries and flow exchange records. JetStream's own redelivery
// limit is off: the worker decides when a message is dead.
func (w *Worker) Consumer(ctx context.Context) (jetstream.Consumer, error) {
	cons, err := w.js.CreateOrUpdateConsumer(ctx, w.cfg.Stream, jetstream.ConsumerConfig{
		Durable:       w.cfg.Consumer,
		Description:   "hooklane workers persisting deliveries to Postgres",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: max(4*w.cfg.BatchSize*w.cfg.Concurrency, 1024),
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", w.cfg.Consumer, w.cfg.Stream, err)
	}
	return cons, nil
}

// Run consumes until ctx is done, then settles the batch in hand and
// returns nil.
func (w *Worker) Run(ctx context.Context) error {
	cons, err := w.Consumer(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it began
		}
		return err
	}
	w.log.Info("worker consuming", "stream", w.cfg.Stream, "consumer", w.cfg.Consumer,
		"batch_size", w.cfg.BatchSize, "batch_wait", w.cfg.BatchWait.String(), "concurrency", w.cfg.Concurrency)
	g, gctx := errgroup.WithContext(ctx)
	for range w.cfg.Concurrency {
		g.Go(func() error { return w.loop(gctx, cons) })
	}
	err = g.Wait()
	w.log.Info("worker stopped")
	return err
}

// loop fetches and settles batches until ctx is done.
func (w *Worker) loop(ctx context.Context, cons jetstream.Consumer) error {
	for ctx.Err() == nil {
		batch, err := w.fetch(ctx, cons)
		if err != nil {
			w.log.Warn("fetch failed; retrying", "err", err)
			sleep(ctx, w.cfg.PollWait)
			continue
		}
		if len(batch) == 0 {
			continue
		}
		settleCtx, cancel := w.settleContext(ctx)
		err = w.process(settleCtx, batch)
		cancel()
		if err != nil {
			return err
		}
		// While writes fail, fetch no further than the backoff allows: the
		// store is tried, and the log written, at its pace, not the traffic's.
		if n := w.failures.Load(); n > 0 {
			sleep(ctx, w.retryDelay(uint64(n)))
		}
	}
	return nil
}

// fetch waits up to PollWait for one message, then up to BatchWait for
// more, up to BatchSize and BatchBytes: batches fill under load, and a lone
// delivery is held back BatchWait at most.
func (w *Worker) fetch(ctx context.Context, cons jetstream.Consumer) ([]jetstream.Msg, error) {
	waitCtx, cancel := context.WithTimeout(ctx, w.cfg.PollWait)
	defer cancel()
	first, err := cons.Next(jetstream.FetchContext(waitCtx))
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) ||
			errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) {
			return nil, nil
		}
		return nil, err
	}
	batch := []jetstream.Msg{first}
	if w.cfg.BatchSize > 1 {
		more, err := cons.Fetch(w.cfg.BatchSize-1, jetstream.FetchMaxWait(w.cfg.BatchWait),
			jetstream.FetchMaxBytes(w.cfg.BatchBytes))
		if err != nil {
			return batch, nil
		}
		for msg := range more.Messages() {
			batch = append(batch, msg)
		}
	}
	return batch, nil
}

// maxReasonBytes bounds a dead letter's reason, which may quote what a
// delivery holds, in the table and in the log.
const maxReasonBytes = 1024

// item is one fetched message on its way to its fate: a delivery's record
// or a flow exchange.
type item struct {
	msg      jetstream.Msg
	meta     *jetstream.MsgMetadata
	record   *storage.Record
	exchange *hooklane.FlowExchange
	redrive  storage.Redrive // set when the message is a dead letter's redrive
}

// settleContext is the context a fetched batch is written and acked in. The
// batch in hand is finished even when a stop arrives meanwhile: the context
// ends WriteTimeout after the write began, or SettleTimeout after ctx ends,
// whichever comes first. A large delivery's write is not cut short while the
// worker runs, and a stop stays bounded.
func (w *Worker) settleContext(ctx context.Context) (context.Context, context.CancelFunc) {
	settle, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.WriteTimeout)
	stopped := context.AfterFunc(ctx, func() { time.AfterFunc(w.cfg.SettleTimeout, cancel) })
	return settle, func() {
		stopped()
		cancel()
	}
}

// hold tells JetStream, every third of AckWait until the returned function
// is called, that the batch in hand is still being worked on: a write that
// takes longer than AckWait (a delivery of 100,000 statuses takes tens of
// seconds with the model) is then not redelivered to another worker, which
// would write it again in vain. A message already settled ignores it.
func (w *Worker) hold(batch []jetstream.Msg) (release func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(w.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, msg := range batch {
					_ = msg.InProgress() // ErrMsgAlreadyAckd once settled
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// process decodes a batch, stores it and settles every message, in parts
// of about BatchEvents events, so that no more than that are decoded at
// once (and one delivery's, provider.MaxEvents at most). It returns an
// error only when the worker must stop.
func (w *Worker) process(ctx context.Context, batch []jetstream.Msg) error {
	defer w.hold(batch)()
	var stop error
	began := time.Now()
	items := make([]item, 0, len(batch))
	var dead []deadItem
	events := 0
	for _, msg := range batch {
		if events >= w.cfg.BatchEvents && stop == nil {
			var lost []deadItem
			lost, stop = w.write(ctx, items)
			dead = append(dead, lost...)
			items, events = nil, 0 // the written ones can be collected
		}
		meta, err := msg.Metadata()
		if err != nil {
			w.log.Error("message without JetStream metadata; terminating", "subject", msg.Subject(), "err", err)
			_ = msg.Term()
			continue
		}
		if meta.NumDelivered > 1 {
			w.metrics.redeliveries.Inc()
		}
		var redrive storage.Redrive
		redrive.DeadLetterID, redrive.Attempt = hooklane.RedriveOf(msg.Headers())
		it, err := w.decode(msg)
		if err != nil {
			dead = append(dead, deadItem{msg: msg, meta: meta, redrive: redrive, reason: excerpt.Clip("decode: "+err.Error(), maxReasonBytes)})
			continue
		}
		it.meta, it.redrive = meta, redrive
		items = append(items, it)
		if it.record != nil {
			events += len(it.record.Events)
		}
	}
	w.metrics.batchSize.Observe(float64(len(batch)))
	if len(items) > 0 && stop == nil {
		var lost []deadItem
		lost, stop = w.write(ctx, items)
		dead = append(dead, lost...)
	}
	w.deadLetter(ctx, dead)
	w.metrics.batchSeconds.Observe(time.Since(began).Seconds())
	return stop
}

// write stores items in one transaction and settles them. A failure that is
// not transient is isolated by writing each item alone; the items that still
// fail for their data are returned for the dead-letter table.
func (w *Worker) write(ctx context.Context, items []item) ([]deadItem, error) {
	res, err := w.save(ctx, items)
	switch {
	case err == nil:
		w.failures.Store(0)
		if w.afterCommit != nil {
			if err := w.afterCommit(); err != nil {
				return nil, err
			}
		}
		w.metrics.persisted(res)
		w.settleRedrives(ctx, items)
		for _, it := range items {
			w.ack(it)
		}
		return nil, nil
	case storage.IsTransient(err) || len(items) == 1:
		return w.retryOrDie(items, err), nil
	}
	// Not the database's own trouble: the data of one item may cause it
	// (storage.IsDataError), or a failure no class names yet. Written one
	// by one, only the items that fail again are retried or dead-lettered,
	// and the rest are stored after this one failed try.
	w.log.Warn("batch write failed, not for the database's own trouble; writing its items one by one", "size", len(items), "err", err)
	var dead []deadItem
	for _, it := range items {
		lost, stop := w.write(ctx, []item{it})
		if stop != nil {
			return dead, stop
		}
		dead = append(dead, lost...)
	}
	return dead, nil
}

// save writes the items' records, then their exchanges. When the second
// write fails the first is repeated on redelivery, harmlessly.
func (w *Worker) save(ctx context.Context, items []item) (storage.SaveResult, error) {
	var records []storage.Record
	var exchanges []hooklane.FlowExchange
	for _, it := range items {
		if it.record != nil {
			records = append(records, *it.record)
		} else {
			exchanges = append(exchanges, *it.exchange)
		}
	}
	began := time.Now()
	defer func() { w.metrics.writeSeconds.Observe(time.Since(began).Seconds()) }()
	res, err := w.store.Save(ctx, records)
	if err != nil || len(exchanges) == 0 {
		return res, err
	}
	return res, w.store.SaveFlowExchanges(ctx, exchanges)
}

// retryOrDie settles items whose write failed with err: redelivered later
// with backoff, or, when the data caused it or they are out of deliveries,
// dead-lettered.
func (w *Worker) retryOrDie(items []item, err error) []deadItem {
	hopeless := storage.IsDataError(err)
	var dead []deadItem
	var retry []item
	for _, it := range items {
		if hopeless || it.meta.NumDelivered >= uint64(w.cfg.MaxDeliveries) {
			dead = append(dead, deadItem{msg: it.msg, meta: it.meta, source: it.source(), redrive: it.redrive,
				reason: excerpt.Clip("store: "+err.Error(), maxReasonBytes)})
			continue
		}
		retry = append(retry, it)
	}
	w.retryLater(retry, "store failed", err)
	return dead
}

// retryLater sends items back for a delayed redelivery, each after the
// backoff of its own delivery count, and logs the failure once. The
// worker's loops then pause too, until a write succeeds.
func (w *Worker) retryLater(items []item, what string, cause error) {
	if len(items) == 0 {
		return
	}
	failures := w.failures.Add(1)
	var nakFailed int
	for _, it := range items {
		w.metrics.retries.Inc()
		if err := it.msg.NakWithDelay(w.retryDelay(it.meta.NumDelivered)); err != nil {
			nakFailed++ // redelivered after AckWait instead
		}
	}
	w.log.Warn(what+"; redelivering later", "messages", len(items), "first_stream_seq", items[0].meta.Sequence.Stream,
		"consecutive_failures", failures, "naks_failed", nakFailed, "err", cause)
}

// retryDelay is the exponential backoff delay after the n-th delivery.
func (w *Worker) retryDelay(n uint64) time.Duration {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(w.cfg.RetryInitial),
		backoff.WithMaxInterval(w.cfg.RetryMax),
		backoff.WithMultiplier(2),
		backoff.WithMaxElapsedTime(0),
	)
	delay := b.NextBackOff()
	for i := uint64(1); i < min(n, 32); i++ {
		delay = b.NextBackOff()
	}
	return delay
}

// settleRedrives reports, on the dead letters they came from, that the
// stored items among redrives were stored. The items are stored whatever
// happens here, so a failure is only logged: the dead letter then stays
// pending.
func (w *Worker) settleRedrives(ctx context.Context, items []item) {
	var settled []storage.RedriveSettled
	for _, it := range items {
		if it.redrive.DeadLetterID == 0 {
			continue
		}
		s := storage.RedriveSettled{Redrive: it.redrive}
		if it.record != nil {
			s.Source, s.DedupeKey = it.record.Delivery.Source, it.record.Delivery.DedupeKey
		}
		settled = append(settled, s)
	}
	if err := w.store.SettleRedrives(ctx, settled); err != nil {
		w.log.Warn("redrive outcomes not recorded; the dead letters stay pending", "redrives", len(settled), "err", err)
	}
}

func (w *Worker) ack(it item) {
	if err := it.msg.Ack(); err != nil {
		// Stored already: a redelivery will find the rows and be acked.
		w.log.Warn("ack failed after commit; the redelivery will be a no-op",
			"stream_seq", it.meta.Sequence.Stream, "err", err)
	}
}

// decode turns a queued message into what to store: a flow exchange for
// subjects under <prefix>.exchanges., else a delivery and its events.
func (w *Worker) decode(msg jetstream.Msg) (item, error) {
	if strings.HasPrefix(msg.Subject(), w.exchangesPrefix) {
		ex := new(hooklane.FlowExchange)
		if err := json.Unmarshal(msg.Data(), ex); err != nil {
			return item{}, fmt.Errorf("flow exchange: %w", err)
		}
		if ex.ID == "" || ex.Source == "" {
			return item{}, errors.New("flow exchange without id or source")
		}
		return item{msg: msg, exchange: ex}, nil
	}
	d, err := hooklane.FromMsg(msg.Headers(), msg.Data())
	if err != nil {
		return item{}, err
	}
	p, ok := provider.Lookup(d.Provider)
	if !ok {
		return item{}, fmt.Errorf("unknown provider %q", d.Provider)
	}
	events, err := p.Events(d.Body)
	if err != nil {
		return item{}, fmt.Errorf("%s events: %w", d.Provider, err)
	}
	return item{msg: msg, record: &storage.Record{Delivery: d, Events: events}}, nil
}

func (it item) source() string {
	if it.record != nil {
		return it.record.Delivery.Source
	}
	return it.exchange.Source
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
