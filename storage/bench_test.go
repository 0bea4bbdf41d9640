package storage_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/storage"
	"github.com/hooklane/hooklane/storage/storagetest"
)

// BenchmarkSave stores batches of new Meta-like records, to choose the
// worker's batch size: records of one event (a message) and of three (a
// message and two statuses).
func BenchmarkSave(b *testing.B) {
	for _, events := range []int{1, 3} {
		for _, size := range []int{1, 100, 500} {
			b.Run(fmt.Sprintf("events=%d/batch=%d", events, size), func(b *testing.B) {
				s := storagetest.New(b)
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

// benchRecord returns the nth record of a benchmark, with one event or three.
func benchRecord(n, events int) storage.Record {
	wamid := "wamid.HBgNNTUxMTk5OTk5OTk5ORUCABIYFjNFQjA" + strconv.Itoa(n)
	now := time.Now()
	message := json.RawMessage(`{"from":"5511999999999","id":"` + wamid + `","timestamp":"1717243845",` +
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
		`"phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Maria"},"wa_id":"5511999999999"}],` +
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
	return r
}
