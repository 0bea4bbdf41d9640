package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/storage"
)

// attemptStore counts, per delivery and exchange, the writes that failed
// while it was in the batch. The worker runs one loop, so a failed
// SaveFlowExchanges belongs to the Save just before it.
type attemptStore struct {
	*storage.Store
	mu     sync.Mutex
	last   []string // keys of the last Save's records
	failed map[string]int
}

func (s *attemptStore) Save(ctx context.Context, records []storage.Record) (storage.SaveResult, error) {
	res, err := s.Store.Save(ctx, records)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = s.last[:0]
	for _, r := range records {
		s.last = append(s.last, r.Delivery.DedupeKey)
		if err != nil {
			s.failed[r.Delivery.DedupeKey]++
		}
	}
	return res, err
}

func (s *attemptStore) SaveFlowExchanges(ctx context.Context, exchanges []hooklane.FlowExchange) error {
	err := s.Store.SaveFlowExchanges(ctx, exchanges)
	if err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, x := range exchanges {
			s.failed[x.ID]++
		}
		for _, k := range s.last {
			s.failed[k]++
		}
	}
	return err
}

// TestOneHostileDeliveryAmongThousands is the invariant of the poison
// items: among 2,000 good deliveries, the hostile ones (a 9 KB chat_id, a
// 10 KB event type, a flow exchange of a 4 KB flow id: all over what an
// index row holds) are stored like the rest, and a record PostgreSQL refuses
// for its data costs the good ones in its batch one failed try at most and
// dead-letters nothing but itself.
func TestOneHostileDeliveryAmongThousands(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.cfg.Concurrency = 1 // attemptStore pairs a batch's two writes
	r.cfg.MaxDeliveries = 100
	const good = 2000
	publish := func(subject string, d *hooklane.Delivery, data []byte) {
		t.Helper()
		var err error
		if d != nil {
			_, err = r.js.PublishMsg(context.Background(), d.Msg(r.prefix))
		} else {
			_, err = r.js.Publish(context.Background(), subject, data)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	whapi := func(key, eventType, body string) *hooklane.Delivery {
		return &hooklane.Delivery{Source: "whapi", Provider: "whapi", EventType: eventType, DedupeKey: key,
			ReceivedAt: time.Now(), Body: []byte(body)}
	}
	exchange := func(id, flowID, outcome string) []byte {
		b, _ := json.Marshal(hooklane.FlowExchange{ID: id, Source: "platica", FlowID: flowID, Action: "init",
			Outcome: outcome, At: time.Now()})
		return b
	}
	chatID := incompressible(9<<10) + "@c.us"
	eventType := incompressible(10 << 10)
	for i := range good {
		switch i {
		case 300:
			publish("", whapi("hostile-chat", "message_received",
				`{"event_type":"message_received","id":"CHAT9K","chat_id":"`+chatID+`","from":"`+chatID+`","body":"x","type":"text"}`), nil)
		case 700:
			publish("", whapi("hostile-type", eventType, `{"event_type":"`+eventType+`","id":"TYPE10K"}`), nil)
		case 1100:
			publish(hooklane.ExchangeSubject(r.prefix, "platica"), nil, exchange("hostile-flow", incompressible(4<<10), "answered"))
		case 1500:
			// A record PostgreSQL refuses whatever its form: an outcome
			// its CHECK does not allow.
			publish(hooklane.ExchangeSubject(r.prefix, "platica"), nil, exchange("guilty", "flow", "exploded"))
		}
		r.publish(t, i, "read")
	}
	store := &attemptStore{Store: r.store, failed: map[string]int{}}
	r.start(t, store, nil)
	r.settled(t, good+2, "SELECT count(*) FROM events")
	r.settled(t, 1, "SELECT count(*) FROM dead_letters")
	if n := r.count(t, "SELECT count(*) FROM dead_letters WHERE position('guilty'::bytea in body) > 0"); n != 1 {
		t.Errorf("the guilty record is not the dead letter")
	}
	if n := r.count(t, "SELECT count(*) FROM flow_exchanges"); n != 1 {
		t.Errorf("flow exchanges = %d, want the one with the 4 KB flow id", n)
	}
	if n := r.count(t, "SELECT count(*) FROM deliveries"); n != good+2 {
		t.Errorf("deliveries = %d, want %d", n, good+2)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	for key, n := range store.failed {
		if key != "guilty" && n > 1 {
			t.Errorf("%.40s was in %d failed writes, want 1 at most", key, n)
		}
	}
	if store.failed["guilty"] == 0 {
		t.Error("the guilty record never failed a write: the test proves nothing")
	}
}

// incompressible is n bytes of hex that PostgreSQL cannot compress into an
// index row, as random ids are.
func incompressible(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		sum := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	return b.String()[:n]
}

// TestDeadLetterReasonIsBounded: a reason quoting what a delivery holds
// (here a 40 KB provider name) is cut short in the table.
func TestDeadLetterReasonIsBounded(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	d := hooklane.Delivery{Source: "whapi", Provider: strings.Repeat("p", 40<<10), EventType: "x", DedupeKey: "k",
		ReceivedAt: time.Now(), Body: []byte(`{}`)}
	if _, err := r.js.PublishMsg(context.Background(), d.Msg(r.prefix)); err != nil {
		t.Fatal(err)
	}
	r.start(t, r.store, nil)
	r.settled(t, 1, "SELECT count(*) FROM dead_letters")
	if n := r.count(t, "SELECT max(length(reason)) FROM dead_letters"); n > maxReasonBytes+32 {
		t.Errorf("a dead letter's reason of %d bytes, want about %d at most", n, maxReasonBytes)
	}
}
