package ingest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// platicaDelivery returns the i-th distinct signed Platica delivery.
func platicaDelivery(i int64) (string, string) {
	body := fmt.Sprintf(`{"id":"bench-%d","event":"message.created","workspaceId":"ws_456","timestamp":"2026-05-06T19:00:30.000Z","source":"whatsapp","resourceType":"message","resourceId":"msg_%d","changes":null,"data":{"message":{"id":"msg_%d","text":"Hola, ¿tienen menú?","direction":"inbound"},"conversation":{"id":"conv_123","phoneNumber":"+5215555555555"}}}`, i, i, i)
	return body, sign(platicaSecret, body)
}

// BenchmarkIngest measures hooklane's handler: bounded read, signature,
// inspection, publish and wait for JetStream's acknowledgement.
func BenchmarkIngest(b *testing.B) {
	r := newRig(b, 0)
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body, sig := platicaDelivery(n.Add(1))
			rec := r.do(post("/webhooks/platica", body, "X-Webhook-Signature", sig))
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}

// BenchmarkBareHandler is the floor BenchmarkIngest is measured against: a
// handler that only reads the body, checks its HMAC, awaits a JetStream
// publish on the same stream and answers as ingest does.
func BenchmarkBareHandler(b *testing.B) {
	r := newRig(b, 0)
	subject := r.handler.cfg.SubjectPrefix + ".events.bare.message"
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
		if _, err := r.js.Publish(req.Context(), subject, body); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		writeBody(w, http.StatusOK, okBody) // what every receiver must answer
	})
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body, sig := platicaDelivery(n.Add(1))
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
			req.Header.Set("X-Webhook-Signature", sig)
			rec := httptest.NewRecorder()
			bare.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}

// BenchmarkReadBody isolates the bounded read of a 3 MB Meta-sized body.
func BenchmarkReadBody(b *testing.B) {
	h := &Handler{cfg: Config{MaxBodyBytes: 4 << 20}}
	body := bytes.Repeat([]byte("x"), 3<<20)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		if _, err := h.readBody(httptest.NewRecorder(), req); err != nil {
			b.Fatal(err)
		}
	}
}
