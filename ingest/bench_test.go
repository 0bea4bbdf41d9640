package ingest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hooklane/hooklane"
)

// platicaDelivery returns the i-th distinct signed Platica delivery as a
// request to path, with the headers Platica sends.
func platicaDelivery(path string, i int64) *http.Request {
	id, resource := fmt.Sprintf("bench-%d", i), fmt.Sprintf("msg_%d", i)
	body := fmt.Sprintf(`{"id":"%s","event":"message.created","workspaceId":"ws_456","timestamp":"2026-05-06T19:00:30.000Z","source":"whatsapp","resourceType":"message","resourceId":"%s","changes":null,"data":{"message":{"id":"%s","text":"Hola, ¿tienen menú?","direction":"inbound"},"conversation":{"id":"conv_123","phoneNumber":"+5215555555555"}}}`, id, resource, resource)
	return post(path, body,
		"User-Agent", "Platica-Webhooks/1.0",
		"X-Webhook-Event", "message.created",
		"X-Webhook-Id", "wh_bench",
		"X-Webhook-Event-Id", id,
		"X-Webhook-Resource-Type", "message",
		"X-Webhook-Resource-Id", resource,
		"X-Webhook-Timestamp", "2026-05-06T19:00:30.000Z",
		"X-Webhook-Signature", sign(platicaSecret, body))
}

// BenchmarkIngest measures hooklane's handler: bounded read, signature,
// inspection, publish and wait for JetStream's acknowledgement.
func BenchmarkIngest(b *testing.B) {
	r := newRig(b, 0)
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := r.do(platicaDelivery("/webhooks/platica", n.Add(1)))
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}

// BenchmarkBareHandler is the floor BenchmarkIngest is measured against: a
// handler that only reads the body, checks its HMAC, awaits a JetStream
// publish on the same stream and answers as ingest does. It publishes
// either the body alone, as the suite's bare reference does, or the message
// ingest would publish for the delivery, with its Nats-Msg-Id, metadata
// headers and expected stream: between the two lies what that message
// costs JetStream and its client, and between the second and
// BenchmarkIngest what ingest's own work costs.
func BenchmarkBareHandler(b *testing.B) {
	b.Run("body", func(b *testing.B) {
		r := newRig(b, 0)
		subject := r.handler.cfg.SubjectPrefix + ".events.bare.message"
		benchmarkBare(b, func(ctx context.Context, _ *http.Request, body []byte) error {
			_, err := r.js.Publish(ctx, subject, body)
			return err
		})
	})
	b.Run("ingest_message", func(b *testing.B) {
		r := newRig(b, 0)
		src := r.handler.sources["platica"]
		var n atomic.Int64
		benchmarkBare(b, func(ctx context.Context, req *http.Request, body []byte) error {
			d := hooklane.Delivery{
				Source: "platica", Provider: "platica", EventType: "message.created",
				DedupeKey: "bench-" + strconv.FormatInt(n.Add(1), 10), ReceivedAt: time.Now(),
				Headers: src.KeptHeaders(req.Header), Body: body,
			}
			_, err := r.js.PublishMsg(ctx, d.Msg(r.handler.cfg.SubjectPrefix), r.handler.publishOpts...)
			return err
		})
	})
}

// benchmarkBare runs the bare handler with publish as its publish.
func benchmarkBare(b *testing.B, publish func(ctx context.Context, req *http.Request, body []byte) error) {
	bare := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mac := hmac.New(sha256.New, []byte(platicaSecret))
		mac.Write(body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if !hmac.Equal([]byte(want), []byte(req.Header.Get("X-Webhook-Signature"))) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if err := publish(req.Context(), req, body); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		writeBody(w, http.StatusOK, okBody) // what every receiver must answer
	})
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			bare.ServeHTTP(rec, platicaDelivery("/", n.Add(1)))
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}
