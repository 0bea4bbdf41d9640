//go:build chaos

package chaos_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hooklane/hooklane/internal/loadgen"
)

// TestDuplicateStorm sends every delivery of the generator's mix three
// times at once, as a provider that retries too eagerly does. Each must be
// stored once: JetStream drops the copies inside its duplicate window
// (ingest still answers 2xx, counted as outcome duplicate), and a copy
// that got past it would be a no-op in Postgres.
func TestDuplicateStorm(t *testing.T) {
	s := newStack(t)
	s.startAsync()
	base := s.baseline()
	gen := s.generator(0, 0)
	sent := loadgen.NewSent(gen.RunID())

	const (
		senders  = 8 // deliveries in flight, each three times
		copies   = 3
		duration = 6 * time.Second
		most     = 20000 // deliveries, whichever bound comes first
	)
	client := newClient(senders * copies)
	var mu sync.Mutex
	deliveries, answered, accepted := 0, 0, 0
	failures := map[string]int{}
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				mu.Lock()
				full := deliveries >= most
				mu.Unlock()
				if full {
					return
				}
				req, _ := gen.Next()
				var answers [copies]answer
				start := make(chan struct{})
				var copiesWG sync.WaitGroup
				for i := range copies {
					copiesWG.Go(func() {
						<-start
						answers[i] = post(context.Background(), client, s.ingest.url, req)
					})
				}
				close(start)
				copiesWG.Wait()
				mu.Lock()
				deliveries++
				for _, a := range answers {
					answered++
					sent.Add(req, a.ok())
					if a.ok() {
						accepted++
					} else {
						failures[fmt.Sprint(a.status, a.err)]++
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("storm: %d deliveries sent %d times each at once: %d answers, %d 2xx, others %v", deliveries, copies, answered, accepted, failures)
	if accepted != answered {
		t.Errorf("%d of %d copies not accepted: %v", answered-accepted, answered, failures)
	}
	exp, _ := s.exactlyOnce("duplicate storm", base, sent)
	if len(exp.Deliveries) != deliveries {
		t.Errorf("%d distinct deliveries expected of %d sent: the generator repeated itself", len(exp.Deliveries), deliveries)
	}

	// The copies were seen as such.
	m := metrics(t, s.ingest.url)
	ingestAccepted := sum(m, "hooklane_ingest_deliveries_total", `outcome="accepted"`)
	ingestDuplicate := sum(m, "hooklane_ingest_deliveries_total", `outcome="duplicate"`)
	workerDuplicate := 0.0
	for _, w := range s.workers {
		workerDuplicate += sum(metrics(t, w.url), "hooklane_worker_deliveries_total", `result="duplicate"`)
	}
	t.Logf("ingest: %.0f accepted, %.0f duplicate (JetStream dropped the copy); workers: %.0f copies found stored already",
		ingestAccepted, ingestDuplicate, workerDuplicate)
	if ingestDuplicate+workerDuplicate < float64(answered-deliveries) {
		t.Errorf("%.0f copies seen as duplicates by ingest and %.0f by the workers, want %d in all",
			ingestDuplicate, workerDuplicate, answered-deliveries)
	}
	if ingestAccepted != float64(deliveries) || ingestDuplicate != float64(answered-deliveries) {
		t.Errorf("ingest counts %.0f accepted and %.0f duplicates, want %d and %d: JetStream's duplicate window let copies through",
			ingestAccepted, ingestDuplicate, deliveries, answered-deliveries)
	}
	s.noDeadLetters()
	s.stopAll()
}

// Out-of-order deliveries: a message's statuses sent before the message,
// and its read status before its delivered status, as the providers' own
// retries can bring them. The bodies follow testdata/payloads.
const (
	metaStatusBody = `{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.%s","status":"%s","timestamp":"%d","recipient_id":"16315551234"}]},"field":"messages"}]}]}`
	whapiAckBody   = `{"event_type":"ack_update","id":"%s","ack":"%s","chat_id":"573001112233@c.us","timestamp":%d}`
	whapiSentBody  = `{"event_type":"message_sent","id":"%s","instance_id":"123","chat_id":"573001112233@c.us","from":"573009998877@c.us","to":"573001112233@c.us","body":"Hola","type":"text","timestamp":%d,"status":"sent"}`
)

// TestOutOfOrder sends, beside the generator's load, messages whose
// statuses come in reverse: read, then delivered, then sent (Meta), and
// read, then delivered, then the message itself (whapi), each only once
// the one before was acknowledged. Every status must be stored, each once.
func TestOutOfOrder(t *testing.T) {
	s := newStack(t)
	s.startAsync()
	base := s.baseline()
	l := s.startLoad(loadgen.Config{Generator: s.generator(0.1, 0), Rate: 100, Duration: 8 * time.Second})

	var meta, whapi *loadgen.Source
	for i := range s.sources {
		switch s.sources[i].Provider {
		case "meta":
			meta = &s.sources[i]
		case "whapi":
			whapi = &s.sources[i]
		}
	}
	runID := loadgen.NewRunID()
	sent := loadgen.NewSent(runID)
	const (
		messages = 60 // per provider
		senders  = 4
	)
	client := newClient(senders)
	var mu sync.Mutex
	var refused []string
	var wg sync.WaitGroup
	for w := range senders {
		wg.Go(func() {
			for i := w; i < messages; i += senders {
				id := runID + "-ooo-" + strconv.Itoa(i)
				at := time.Now().Unix() - 10 // sent at, delivered 1 s later, read 2 s later
				sequences := [][]*loadgen.Request{
					{
						newRequest(meta, "meta/status_read", false, fmt.Appendf(nil, metaStatusBody, id, "read", at+2)),
						newRequest(meta, "meta/status_delivered", false, fmt.Appendf(nil, metaStatusBody, id, "delivered", at+1)),
						newRequest(meta, "meta/status_sent", false, fmt.Appendf(nil, metaStatusBody, id, "sent", at)),
					},
					{
						newRequest(whapi, "whapi/ack_read", false, fmt.Appendf(nil, whapiAckBody, id, "read", at+2)),
						newRequest(whapi, "whapi/ack_delivered", false, fmt.Appendf(nil, whapiAckBody, id, "delivered", at+1)),
						newRequest(whapi, "whapi/message_sent", false, fmt.Appendf(nil, whapiSentBody, id, at)),
					},
				}
				for _, seq := range sequences {
					for _, req := range seq {
						a := post(context.Background(), client, s.ingest.url, req)
						mu.Lock()
						sent.Add(req, a.ok())
						if !a.ok() {
							refused = append(refused, fmt.Sprintf("%s: %d %v", req.Kind, a.status, a.err))
						}
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Wait()
	res, loadSent := l.wait(t)
	t.Logf("load beside: %s", describe(res))
	if len(refused) > 0 {
		t.Errorf("%d out-of-order deliveries refused, e.g. %s", len(refused), refused[0])
	}
	s.exactlyOnce("out of order, load", base, loadSent)
	exp, _ := s.exactlyOnce("out of order", base, sent)

	// Each status of each message, whatever came first.
	rows, err := s.db.Query(context.Background(), `SELECT source, split_part(event_key, ':', 1) AS kind,
			CASE WHEN event_key LIKE 'message:%' THEN 'message' ELSE split_part(event_key, ':', 3) END AS what, count(*)
		FROM events WHERE resource_id LIKE '%' || $1 || '-ooo-%' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, runID)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for rows.Next() {
		var source, kind, what string
		var n int
		if err := rows.Scan(&source, &kind, &what, &n); err != nil {
			t.Fatal(err)
		}
		counts[source+" "+kind+" "+what] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		meta.Name + " status read": messages, meta.Name + " status delivered": messages, meta.Name + " status sent": messages,
		whapi.Name + " ack read": messages, whapi.Name + " ack delivered": messages, whapi.Name + " message message": messages,
	}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%s: %d stored, want %d (all: %v)", k, counts[k], n, counts)
		}
	}
	t.Logf("out of order: %d messages per provider, statuses stored %v; %d events in all", messages, counts, len(exp.Events))
	s.noDeadLetters()
	s.stopAll()
}
