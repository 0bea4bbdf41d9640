package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/natstest"
	"github.com/hooklane/hooklane/internal/queue"
	"github.com/hooklane/hooklane/storage"
	"github.com/hooklane/hooklane/storage/storagetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"))
}

// rig is a stream on its own NATS and a store on its own schema.
type rig struct {
	js     jetstream.JetStream
	store  *storage.Store
	db     *pgx.Conn
	cfg    Config
	prefix string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	return newRigAt(t, natstest.URL(t))
}

// newRigAt is newRig on the NATS server at natsURL.
func newRigAt(t *testing.T, natsURL string) *rig {
	t.Helper()
	nc := natstest.ConnectURL(t, natsURL)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	prefix := natstest.Prefix(t)
	cfg := Config{
		Stream: strings.ToUpper(prefix), SubjectPrefix: prefix, Consumer: "workers",
		BatchSize: 64, AckWait: time.Second, PollWait: 200 * time.Millisecond,
		RetryInitial: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond, MaxDeliveries: 4,
	}
	if _, err := queue.EnsureStream(context.Background(), js, queue.StreamConfig{Name: cfg.Stream, SubjectPrefix: prefix, Consumer: cfg.Consumer}); err != nil {
		t.Fatal(err)
	}
	dbURL := storagetest.URL(t)
	ctx := context.Background()
	if err := storage.Migrate(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	store, err := storage.Open(ctx, dbURL, storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	return &rig{js: js, store: store, db: db, cfg: cfg, prefix: prefix}
}

// publish queues the i-th whapi delivery: message i, with the given ack.
func (r *rig) publish(t *testing.T, i int, ack string) {
	t.Helper()
	body := fmt.Sprintf(`{"event_type":"ack_update","id":"MSG-%d","ack":%q}`, i, ack)
	d := hooklane.Delivery{
		Source: "whapi", Provider: "whapi", EventType: "ack_update",
		DedupeKey: fmt.Sprintf("body-%d-%s", i, ack), ReceivedAt: time.Now(), Body: []byte(body),
	}
	if _, err := r.js.PublishMsg(context.Background(), d.Msg(r.prefix)); err != nil {
		t.Fatal(err)
	}
}

// start runs a worker on store until the test ends. The returned wait
// blocks until the worker's Run returns and gives its error.
func (r *rig) start(t *testing.T, store Store, hook func() error) (*Worker, func() error) {
	t.Helper()
	w, err := New(r.js, store, r.cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	w.afterCommit = hook
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var runErr error
	wait := func() error {
		once.Do(func() { runErr = <-done })
		return runErr
	}
	t.Cleanup(func() {
		cancel()
		if err := wait(); err != nil && hook == nil {
			t.Errorf("worker stopped with %v", err)
		}
	})
	return w, wait
}

func (r *rig) count(t *testing.T, sql string) int {
	t.Helper()
	var n int
	if err := r.db.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// settled waits until sql counts want and the consumer has nothing
// pending or unacknowledged. The minute is a bound for a stuck worker.
func (r *rig) settled(t *testing.T, want int, sql string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute) // a busy machine may take minutes; success returns at once
	for {
		got := r.count(t, sql)
		info, err := r.js.Consumer(context.Background(), r.cfg.Stream, r.cfg.Consumer)
		var pending, unacked int
		if err == nil {
			ci, err := info.Info(context.Background())
			if err == nil {
				pending, unacked = int(ci.NumPending), ci.NumAckPending
			}
		}
		if got == want && pending == 0 && unacked == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d (want %d); consumer pending %d, unacked %d", sql, got, want, pending, unacked)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestStoresAndAcks(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	for i := range 100 {
		r.publish(t, i, "delivered")
		r.publish(t, i, "read")
	}
	w, _ := r.start(t, r.store, nil)
	r.settled(t, 200, "SELECT count(*) FROM events")
	if got := testutil.ToFloat64(w.metrics.events); got != 200 {
		t.Errorf("events persisted metric = %v, want 200", got)
	}
}

func TestCrashBetweenCommitAndAckStoresOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	for i := range 5 {
		r.publish(t, i, "read")
	}
	crash := errors.New("crashed after commit")
	_, wait := r.start(t, r.store, func() error { return crash })
	if err := wait(); !errors.Is(err, crash) {
		t.Fatalf("first worker stopped with %v", err)
	}
	if n := r.count(t, "SELECT count(*) FROM events"); n == 0 {
		t.Fatal("the first worker committed nothing before its crash")
	}
	// The unacked messages come back after AckWait to a new worker, whose
	// writes find the rows already there.
	r.start(t, r.store, nil)
	r.settled(t, 5, "SELECT count(*) FROM events")
	if n := r.count(t, "SELECT count(*) FROM deliveries"); n != 5 {
		t.Errorf("deliveries = %d, want 5", n)
	}
}

func TestTwoWorkersStoreEachEventOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.start(t, r.store, nil)
	r.start(t, r.store, nil)
	for i := range 300 {
		r.publish(t, i, "delivered")
		// The same event again under another delivery id, past
		// JetStream's duplicate window: only Postgres can catch it.
		if i%3 == 0 {
			body := fmt.Sprintf(`{"event_type":"ack_update","id":"MSG-%d","ack":"delivered","retry":true}`, i)
			d := hooklane.Delivery{Source: "whapi", Provider: "whapi", EventType: "ack_update",
				DedupeKey: fmt.Sprintf("again-%d", i), ReceivedAt: time.Now(), Body: []byte(body)}
			if _, err := r.js.PublishMsg(context.Background(), d.Msg(r.prefix)); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.settled(t, 300, "SELECT count(*) FROM events")
	if n := r.count(t, "SELECT count(*) FROM deliveries"); n != 400 {
		t.Errorf("deliveries = %d, want 400 (each kept once)", n)
	}
}

func TestPoisonIsDeadLetteredAndTheRestStored(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	// No hooklane headers: cannot be decoded.
	if _, err := r.js.Publish(context.Background(), r.prefix+".events.whapi.junk", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	// A record Postgres refuses for its data: an outcome its CHECK does
	// not allow. A permanent store error.
	poison := `{"id":"x1","source":"platica","action":"init","outcome":"exploded","latency_ms":1,"at":"2026-05-06T19:00:00Z"}`
	if _, err := r.js.Publish(context.Background(), hooklane.ExchangeSubject(r.prefix, "platica"), []byte(poison)); err != nil {
		t.Fatal(err)
	}
	// Valid JSON that jsonb refuses as it is: stored, sanitised.
	d := hooklane.Delivery{Source: "whapi", Provider: "whapi", EventType: "message_received", DedupeKey: "nul",
		ReceivedAt: time.Now(), Body: []byte(`{"event_type":"message_received","id":"NUL","body":"a\u0000b"}`)}
	if _, err := r.js.PublishMsg(context.Background(), d.Msg(r.prefix)); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		r.publish(t, i, "read")
	}
	w, _ := r.start(t, r.store, nil)
	r.settled(t, 11, "SELECT count(*) FROM events")
	r.settled(t, 2, "SELECT count(*) FROM dead_letters")
	if n := r.count(t, "SELECT count(*) FROM dead_letters WHERE reason LIKE 'decode:%'"); n != 1 {
		t.Errorf("decode dead letters = %d, want 1", n)
	}
	if n := r.count(t, "SELECT count(*) FROM dead_letters WHERE reason LIKE 'store:%' AND body = convert_to('"+poison+"', 'UTF8')"); n != 1 {
		t.Errorf("store dead letters with the raw body = %d, want 1", n)
	}
	if n := r.count(t, "SELECT count(*) FROM events WHERE sanitised AND payload->>'body' = 'a\uFFFDb'"); n != 1 {
		t.Errorf("sanitised events = %d, want the one with \\u0000", n)
	}
	if got := testutil.ToFloat64(w.metrics.deadLetters); got != 2 {
		t.Errorf("dead letters metric = %v", got)
	}
}

// flakyStore fails its first Saves with an error Postgres gives when the
// server goes away.
type flakyStore struct {
	*storage.Store
	failures atomic.Int32
}

func (f *flakyStore) Save(ctx context.Context, records []storage.Record) (storage.SaveResult, error) {
	if f.failures.Add(-1) >= 0 {
		return storage.SaveResult{}, &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}
	}
	return f.Store.Save(ctx, records)
}

func TestTransientErrorsBackOffThenStore(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	for i := range 3 {
		r.publish(t, i, "read")
	}
	flaky := &flakyStore{Store: r.store}
	flaky.failures.Store(2)
	w, _ := r.start(t, flaky, nil)
	r.settled(t, 3, "SELECT count(*) FROM events")
	if n := r.count(t, "SELECT count(*) FROM dead_letters"); n != 0 {
		t.Errorf("%d dead letters after transient errors", n)
	}
	if got := testutil.ToFloat64(w.metrics.retries); got < 2 {
		t.Errorf("retries = %v, want at least one per failed save", got)
	}
	if got := testutil.ToFloat64(w.metrics.redeliveries); got < 1 {
		t.Errorf("redeliveries = %v, want the nakked messages back", got)
	}
}

func TestOutOfDeliveriesIsDeadLettered(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.publish(t, 1, "read")
	flaky := &flakyStore{Store: r.store}
	flaky.failures.Store(1 << 20)
	r.start(t, flaky, nil)
	r.settled(t, 1, "SELECT count(*) FROM dead_letters WHERE num_delivered >= 4")
}

func TestRetryDelayGrowsAndIsCapped(t *testing.T) {
	w := &Worker{cfg: Config{RetryInitial: 100 * time.Millisecond, RetryMax: 2 * time.Second}.withDefaults()}
	// The library jitters by ±50%; compare the bounds.
	if d := w.retryDelay(1); d < 50*time.Millisecond || d > 150*time.Millisecond {
		t.Errorf("first delay %v, want about 100ms", d)
	}
	if d := w.retryDelay(4); d < 400*time.Millisecond {
		t.Errorf("fourth delay %v, want it grown to about 800ms", d)
	}
	if d := w.retryDelay(30); d > 3*time.Second {
		t.Errorf("delay %v past the 2s cap (with jitter)", d)
	}
}

// countingStore fails every Save and counts the calls.
type countingStore struct {
	*storage.Store
	saves atomic.Int32
}

func (c *countingStore) Save(context.Context, []storage.Record) (storage.SaveResult, error) {
	c.saves.Add(1)
	return storage.SaveResult{}, &pgconn.PgError{Code: "08006", Message: "connection failure"}
}

// lineCounter counts log lines that contain a word.
type lineCounter struct {
	word  string
	lines atomic.Int32
}

func (l *lineCounter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), l.word) {
		l.lines.Add(1)
	}
	return len(p), nil
}

func TestOutageLogsPerBatchAndBacksOff(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	for i := range 300 {
		r.publish(t, i, "read")
	}
	store := &countingStore{Store: r.store}
	logs := &lineCounter{word: "redelivering later"}
	r.cfg.RetryInitial, r.cfg.RetryMax = 200*time.Millisecond, time.Second
	w, err := New(r.js, store, r.cfg, slog.New(slog.NewTextHandler(logs, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	// Wait for a few failed writes, then stop.
	deadline := time.Now().Add(time.Minute)
	for store.saves.Load() < 4 {
		if time.Now().After(deadline) {
			t.Fatal("the worker did not try to write")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	saves, lines := store.saves.Load(), logs.lines.Load()
	if lines != saves {
		t.Errorf("%d log lines for %d failed writes of 300 messages: want one line per failed write", lines, saves)
	}
	if got := testutil.ToFloat64(w.metrics.retries); got < float64(4*lines) {
		t.Errorf("%v messages sent back under %d log lines: batches should be logged, not messages", got, lines)
	}
	if w.failures.Load() < 2 {
		t.Errorf("consecutive failures = %d", w.failures.Load())
	}
}

// inHand reports whether the worker holds n deliveries, unacknowledged.
func (r *rig) inHand(n int) bool {
	cons, err := r.js.Consumer(context.Background(), r.cfg.Stream, r.cfg.Consumer)
	if err != nil {
		return false // not created yet
	}
	info, err := cons.Info(context.Background())
	return err == nil && info.NumAckPending == n
}

// batchSizes records how many records each Save carried.
type batchSizes struct {
	*storage.Store
	mu    sync.Mutex
	sizes []int
}

func (b *batchSizes) Save(ctx context.Context, records []storage.Record) (storage.SaveResult, error) {
	b.mu.Lock()
	b.sizes = append(b.sizes, len(records))
	b.mu.Unlock()
	return b.Store.Save(ctx, records)
}

func TestBatchWaitGathersLateDeliveries(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.cfg.Concurrency, r.cfg.BatchWait, r.cfg.AckWait = 1, 2*time.Second, 30*time.Second
	store := &batchSizes{Store: r.store}
	r.start(t, store, nil)
	r.publish(t, 0, "delivered")
	// Once the first delivery is in the worker's hands, the rest arrive
	// while its batch waits to fill.
	for deadline := time.Now().Add(time.Minute); !r.inHand(1); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first delivery never reached the worker")
		}
	}
	for i := 1; i < 5; i++ {
		r.publish(t, i, "delivered")
	}
	r.settled(t, 5, "SELECT count(*) FROM events")
	store.mu.Lock()
	defer store.mu.Unlock()
	if len(store.sizes) != 1 || store.sizes[0] != 5 {
		t.Errorf("batches of %v, want one of 5", store.sizes)
	}
}

func TestBatchWaitMustBeShorterThanAckWait(t *testing.T) {
	_, err := New(nil, nil, Config{AckWait: time.Second, BatchWait: 600 * time.Millisecond},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err == nil || !strings.Contains(err.Error(), "batch wait") {
		t.Fatalf("err = %v, want a batch wait too long for the ack wait", err)
	}
}

func TestStopBeforeConsumingIsNoError(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	w, err := New(r.js, r.store, r.cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Run(ctx); err != nil {
		t.Errorf("Run stopped before it began: %v, want nil", err)
	}
}

// slowStore holds its first Save for hold before writing, as a write of a
// very large delivery does.
type slowStore struct {
	*storage.Store
	hold  time.Duration
	saves atomic.Int32
}

func (s *slowStore) Save(ctx context.Context, records []storage.Record) (storage.SaveResult, error) {
	if s.saves.Add(1) == 1 {
		select {
		case <-ctx.Done():
			return storage.SaveResult{}, ctx.Err()
		case <-time.After(s.hold):
		}
	}
	return s.Store.Save(ctx, records)
}

// TestLongWriteIsNeitherCutShortNorRedelivered: a write that takes longer
// than the ack wait and the settle timeout, as a delivery of 100,000
// statuses does on a busy machine, is finished once and not handed out again.
func TestLongWriteIsNeitherCutShortNorRedelivered(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	// The batch is held for over three ack waits; the worker's progress
	// reports come every third of one, so two may be missed. The settle
	// timeout bounds a stop only.
	r.cfg.AckWait, r.cfg.SettleTimeout = 3*time.Second, time.Second
	r.publish(t, 1, "read")
	slow := &slowStore{Store: r.store, hold: 10 * time.Second}
	w, _ := r.start(t, slow, nil)
	r.settled(t, 1, "SELECT count(*) FROM events")
	if got := testutil.ToFloat64(w.metrics.redeliveries); got != 0 {
		t.Errorf("redeliveries = %v, want none while the write was in progress", got)
	}
	if got := slow.saves.Load(); got != 1 {
		t.Errorf("%d saves, want 1: the write was cut short or handed out again", got)
	}
}
