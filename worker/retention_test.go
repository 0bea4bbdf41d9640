package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/metricstest"
	"github.com/hooklane/hooklane/internal/natstest"
	"github.com/hooklane/hooklane/internal/queue"
)

// TestNothingLeavesTheStreamUnstored: with no worker running, deliveries
// stay in the stream, and once it is full a publish is refused rather than
// an older delivery dropped; the oldest unstored one's age is reported;
// once the workers have stored them, they leave the stream.
func TestNothingLeavesTheStreamUnstored(t *testing.T) {
	t.Parallel()
	// The server hooklane embeds: NATS 2.9 (TEST_NATS_URL) lets an interest
	// stream past its MaxBytes.
	r := newRigAt(t, natstest.Server(t).ClientURL())
	ctx := context.Background()
	// A small stream in place of the rig's: room for a few deliveries. It
	// takes a name of its own, as a store deleted and made anew under the
	// same name at once may still be going ("error creating store").
	if err := r.js.DeleteStream(ctx, r.cfg.Stream); err != nil {
		t.Fatal(err)
	}
	r.cfg.Stream += "_SMALL"
	stream, err := queue.EnsureStream(ctx, r.js, queue.StreamConfig{Name: r.cfg.Stream, SubjectPrefix: r.prefix,
		Consumer: r.cfg.Consumer, MaxBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := info.Config; c.MaxAge != 0 || c.Retention != jetstream.InterestPolicy || c.Discard != jetstream.DiscardNew {
		t.Fatalf("stream max age %v, retention %v, discard %v; want none, interest, new", c.MaxAge, c.Retention, c.Discard)
	}
	published := 0
	for i := range 100 {
		d := hooklane.Delivery{Source: "whapi", Provider: "whapi", EventType: "ack_update",
			DedupeKey: "fill-" + string(rune('a'+i%26)) + string(rune('a'+i/26)), ReceivedAt: time.Now(),
			Body: []byte(`{"event_type":"ack_update","id":"FILL-` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `","ack":"read"}`)}
		if _, err := r.js.PublishMsg(ctx, d.Msg(r.prefix)); err != nil {
			var apiErr *jetstream.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("publish into a full stream: %v, want JetStream's refusal", err)
			}
			break
		}
		published++
	}
	if published == 0 || published == 100 {
		t.Fatalf("%d of 100 deliveries published into a 4 KiB stream; want the stream to fill and refuse", published)
	}
	info, _ = stream.Info(ctx)
	if int(info.State.Msgs) != published {
		t.Errorf("the stream holds %d messages, want all %d published: nothing dropped", info.State.Msgs, published)
	}
	collector := newConsumerCollector(r.js, r.cfg.Stream, r.cfg.Consumer)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector)
	// The age only grows while the deliveries wait; the minute bounds a
	// metric that never reports them.
	for deadline := time.Now().Add(time.Minute); oldestUnstored(t, reg) <= 0; {
		if time.Now().After(deadline) {
			t.Fatalf("oldest unstored age stays 0 with %d deliveries waiting", published)
		}
		time.Sleep(10 * time.Millisecond)
	}

	r.start(t, r.store, nil)
	r.settled(t, published, "SELECT count(*) FROM events")
	for deadline := time.Now().Add(time.Minute); ; {
		info, _ = stream.Info(ctx)
		if info.State.Msgs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream still holds %d stored messages", info.State.Msgs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if age := oldestUnstored(t, reg); age != 0 {
		t.Errorf("oldest unstored age = %v with everything stored, want 0", age)
	}
}

func oldestUnstored(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	n, err := testutil.GatherAndCount(reg, "hooklane_stream_oldest_unstored_age_seconds")
	if err != nil || n != 1 {
		t.Fatalf("hooklane_stream_oldest_unstored_age_seconds: %d samples, %v", n, err)
	}
	return metricstest.Value(t, reg, "hooklane_stream_oldest_unstored_age_seconds")
}
