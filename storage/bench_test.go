package storage_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/provider"
	"github.com/hooklane/hooklane/storage"
	"github.com/hooklane/hooklane/storage/storagetest"
)

// BenchmarkSave stores batches of new Meta-like records, to choose the
// worker's batch size: records of one event (a message) and of three (a
// message and two statuses), with the model tables written (model=on) and
// without (model=off), side by side.
func BenchmarkSave(b *testing.B) {
	for _, events := range []int{1, 3} {
		for _, size := range []int{1, 256, 1024} {
			for _, model := range []string{"off", "on"} {
				b.Run(fmt.Sprintf("events=%d/batch=%d/model=%s", events, size, model), func(b *testing.B) {
					s := storagetest.NewConfig(b, storage.Config{SkipModel: model == "off"})
					n := 0
					for b.Loop() {
						batch := make([]storage.Record, size)
						for i := range batch {
							batch[i] = benchRecord(n, events)
							n++
						}
						if _, err := s.Save(b.Context(), batch); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
				})
			}
		}
	}
}

// BenchmarkDiskPerEvent stores 10,000 records of three events each (a
// message and two statuses, among 500 contacts), then reports each table's
// size on disk, indexes and TOAST included, per event stored.
func BenchmarkDiskPerEvent(b *testing.B) {
	const records, events = 10000, 3
	for b.Loop() {
		databaseURL := storagetest.URL(b)
		if err := storage.Migrate(b.Context(), databaseURL); err != nil {
			b.Fatal(err)
		}
		s, err := storage.Open(b.Context(), databaseURL, storage.Config{})
		if err != nil {
			b.Fatal(err)
		}
		for n := 0; n < records; n += 250 {
			batch := make([]storage.Record, 250)
			for i := range batch {
				batch[i] = benchRecord(n+i, events)
			}
			if _, err := s.Save(b.Context(), batch); err != nil {
				b.Fatal(err)
			}
		}
		s.Close()
		conn, err := pgx.Connect(b.Context(), databaseURL)
		if err != nil {
			b.Fatal(err)
		}
		var total int64
		for _, table := range []string{"deliveries", "events", "messages", "contacts", "conversations"} {
			var size int64
			if _, err := conn.Exec(b.Context(), "VACUUM "+table); err != nil {
				b.Fatal(err)
			}
			if err := conn.QueryRow(b.Context(), "SELECT pg_total_relation_size($1::regclass)", table).Scan(&size); err != nil {
				b.Fatal(err)
			}
			total += size
			b.ReportMetric(float64(size)/(records*events), table+"-B/event")
		}
		b.ReportMetric(float64(total)/(records*events), "total-B/event")
		conn.Close(b.Context())
	}
}

// benchRecord returns the nth record of a benchmark, with one event or three.
func benchRecord(n, events int) storage.Record {
	wamid := "wamid.HBgNNTUxMTk5OTk5OTk5ORUCABIYFjNFQjA" + strconv.Itoa(n)
	now := time.Now()
	message := json.RawMessage(`{"from":"55119999` + fmt.Sprintf("%05d", n%500) + `","id":"` + wamid + `","timestamp":"1717243845",` +
		`"type":"text","text":{"body":"Olá! Gostaria de remarcar minha consulta para amanhã às 15h, é possível?"}}`)
	status := func(s string) json.RawMessage {
		return json.RawMessage(`{"id":"` + wamid + `","status":"` + s + `","timestamp":"1717243846",` +
			`"recipient_id":"5511999999999","conversation":{"id":"c1f2e3d4","origin":{"type":"service"}},` +
			`"pricing":{"billable":true,"pricing_model":"CBP","category":"service"}}`)
	}
	r := storage.Record{
		Delivery: hooklane.Delivery{
			Source:     "meta",
			Provider:   "meta",
			EventType:  "messages",
			DedupeKey:  "sha256:" + strconv.Itoa(n),
			ReceivedAt: now,
			RequestID:  "req-" + strconv.Itoa(n),
			Headers: http.Header{
				"User-Agent":          {"facebookexternalua"},
				"Content-Type":        {"application/json"},
				"X-Hub-Signature-256": {"sha256=02fe0c96d28c59ddb7cf81eff0ca05809b360ba73b63c28210b5906a0a107d1f"},
			},
		},
		Events: []hooklane.Event{{
			Type: "message", Key: "message:" + wamid, OccurredAt: now, Account: "106540352242922",
			ResourceType: "message", ResourceID: wamid, ConversationID: "5511999999999",
			Phone: "5511999999999", Payload: message,
		}},
	}
	body := `{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages",` +
		`"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881",` +
		`"phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Maria"},"wa_id":"55119999` + fmt.Sprintf("%05d", n%500) + `"}],` +
		`"messages":[` + string(message) + `]`
	if events == 3 {
		for _, s := range []string{"delivered", "read"} {
			r.Events = append(r.Events, hooklane.Event{
				Type: "status", Key: "status:" + wamid + ":" + s, OccurredAt: now, Account: "106540352242922",
				ResourceType: "message", ResourceID: wamid, ConversationID: "5511999999999",
				Phone: "5511999999999", Payload: status(s),
			})
		}
		body += `,"statuses":[` + string(status("delivered")) + `,` + string(status("read")) + `]`
	}
	r.Delivery.Body = []byte(body + `}}]}]}`)
	// The events as the worker has them: with their facts.
	parsed, err := benchProvider.Events(r.Delivery.Body)
	if err != nil {
		panic(err)
	}
	for i := range r.Events {
		r.Events[i].Facts = parsed[i].Facts
	}
	return r
}

var benchProvider, _ = provider.Lookup("meta")

// BenchmarkSaveLargeDelivery stores one Meta delivery of 100,000 statuses
// (4 MB), the most events a delivery may fan out to, with the model tables
// written and without.
func BenchmarkSaveLargeDelivery(b *testing.B) {
	statuses := make([]string, 100_000)
	for i := range statuses {
		statuses[i] = fmt.Sprintf(`{"id":"wamid.LARGE%d","status":"delivered","timestamp":"%d","recipient_id":"5215512345678"}`, i, 1700000000+i)
	}
	body := metaBody(`"statuses":[` + strings.Join(statuses, ",") + `]`)
	for _, model := range []string{"off", "on"} {
		b.Run("model="+model, func(b *testing.B) {
			s := storagetest.NewConfig(b, storage.Config{SkipModel: model == "off"})
			parsed := delivered(b, "src-meta", "meta", body, received)
			n := 0
			for b.Loop() {
				// A source of its own each time, so that every event is new.
				r := parsed
				r.Delivery.Source = "src-" + strconv.Itoa(n)
				n++
				if _, err := s.Save(b.Context(), []storage.Record{r}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
