package queue

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkPublishSync publishes a 2 KB delivery and awaits JetStream's
// ack, on the embedded server as it runs by default (the file store
// syncs to disk every 2 minutes) and with SyncAlways (synced before the
// ack), one at a time and with 64 in flight, as ingest's requests are.
func BenchmarkPublishSync(b *testing.B) {
	body := []byte(`{"event_type":"message_received","body":"` + strings.Repeat("x", 2000) + `"}`)
	for _, always := range []bool{false, true} {
		name := "default"
		if always {
			name = "always"
		}
		for _, inFlight := range []int{1, 64} {
			b.Run(fmt.Sprintf("sync=%s/in_flight=%d", name, inFlight), func(b *testing.B) {
				srv, err := Embedded(EmbeddedConfig{StoreDir: b.TempDir(), SyncAlways: always})
				if err != nil {
					b.Fatal(err)
				}
				defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
				nc, err := Connect("", "bench", slog.New(slog.DiscardHandler), nats.InProcessServer(srv))
				if err != nil {
					b.Fatal(err)
				}
				defer nc.Close()
				js, _ := jetstream.New(nc)
				ctx := context.Background()
				if _, err := EnsureStream(ctx, js, StreamConfig{Name: "BENCH", SubjectPrefix: "hl"}); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(body)))
				work := make(chan struct{})
				var wg sync.WaitGroup
				for range inFlight {
					wg.Go(func() {
						for range work {
							if _, err := js.Publish(ctx, "hl.events.whapi.message_received", body); err != nil {
								b.Error(err)
							}
						}
					})
				}
				for b.Loop() {
					work <- struct{}{}
				}
				close(work)
				wg.Wait()
			})
		}
	}
}
