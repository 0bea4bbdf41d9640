package worker

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/natstest"
)

// heapCeiling is the most a worker's live heap grows, with the default
// BatchBytes and BatchEvents, whatever ingest accepts: the README states it.
const heapCeiling = 384 << 20

// metaStatuses is a Meta delivery whose one change carries the statuses.
func metaStatuses(statuses []string) []byte {
	return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"PNID"},"statuses":[` +
		strings.Join(statuses, ",") + `]}}]}]}`)
}

// TestWorkerMemoryCeiling: a 3.9 MB Meta delivery of 1.3 million {}
// statuses (dead-lettered whole: it fans out past provider.MaxEvents) and
// one of 20,000 distinct statuses (stored, every one, in statements of
// 10,000 events) keep the worker's heap within heapCeiling. The heap is
// sampled while they are written.
func TestWorkerMemoryCeiling(t *testing.T) {
	r := newRigAt(t, natstest.Server(t).ClientURL()) // 8 MB messages, whatever TEST_NATS_URL allows
	r.cfg.BatchSize = 256
	r.cfg.AckWait = time.Minute // a write this large takes seconds with the model
	empty := make([]string, 1_300_000)
	for i := range empty {
		empty[i] = "{}"
	}
	distinct := make([]string, 20_000)
	for i := range distinct {
		distinct[i] = fmt.Sprintf(`{"id":"wamid.%d","status":"read"}`, i)
	}
	for i, body := range [][]byte{metaStatuses(empty), metaStatuses(distinct)} {
		if len(body) > 4<<20 {
			t.Fatalf("delivery %d is %d bytes, over ingest's default max_body_bytes", i, len(body))
		}
		d := hooklane.Delivery{Source: "wa", Provider: "meta", EventType: "messages", DedupeKey: fmt.Sprintf("big-%d", i),
			ReceivedAt: time.Now(), Body: body}
		if _, err := r.js.PublishMsg(context.Background(), d.Msg(r.prefix)); err != nil {
			t.Fatal(err)
		}
	}
	empty, distinct = nil, nil
	baseline := liveHeap()

	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	r.start(t, r.store, nil)
	r.settled(t, 20_000, "SELECT count(*) FROM events")
	r.settled(t, 1, "SELECT count(*) FROM dead_letters WHERE reason LIKE '%more events than a delivery may%'")
	close(stop)
	<-sampled
	grew := int64(peak.Load()) - int64(baseline)
	t.Logf("heap %d MiB before, peak %d MiB while writing (growth %d MiB, ceiling %d MiB)",
		baseline>>20, peak.Load()>>20, grew>>20, heapCeiling>>20)
	if grew > heapCeiling {
		t.Errorf("the worker's heap grew by %d MiB, over the ceiling of %d MiB", grew>>20, heapCeiling>>20)
	}
}

// liveHeap is the heap in use once garbage is collected.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
