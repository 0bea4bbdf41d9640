package ingest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hooklane/hooklane/internal/delivery"
	"github.com/hooklane/hooklane/internal/provider"
)

// heldPublisher holds every publish until release is closed.
type heldPublisher struct {
	Publisher
	release chan struct{}
}

func (p heldPublisher) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	<-p.release
	return p.Publisher.PublishMsg(ctx, msg, opts...)
}

type answerFunc func(context.Context, *delivery.Delivery) []byte

func (f answerFunc) AnswerFlow(ctx context.Context, d *delivery.Delivery) []byte { return f(ctx, d) }

func TestFlowAnswerDoesNotWaitForStorage(t *testing.T) {
	r := newRig(t, 0)
	held := heldPublisher{Publisher: r.js, release: make(chan struct{})}
	p, _ := provider.Lookup("platica")
	h, err := New(held, Config{
		Sources:        []Source{{Name: "platica", Provider: p, Secrets: [][]byte{[]byte(platicaSecret)}}},
		Stream:         r.stream,
		SubjectPrefix:  r.handler.cfg.SubjectPrefix,
		PublishTimeout: time.Minute,
		Flows: answerFunc(func(context.Context, *delivery.Delivery) []byte {
			return []byte(`{"screen":"WELCOME","data":{}}`)
		}),
	}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/webhooks/{source}", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(held.release) }) }
	defer release() // before srv.Close, which waits for the handler

	body := `{"id":"f-1","event":"whatsapp.flows.init","data":{"flow":{"id":"x"},"flowExchange":{"action":"init","payload":{}}}}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/platica", strings.NewReader(body))
	req.Header.Set("X-Webhook-Signature", sign(platicaSecret, body))
	answered := make(chan string, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answered <- string(b)
	}()
	select {
	case got := <-answered:
		if got != `{"screen":"WELCOME","data":{}}` {
			t.Errorf("answer %q", got)
		}
	case <-time.After(10 * time.Second): // a deadlock bound, not a speed requirement
		t.Fatal("the flow answer waited for the storage publish")
	}
	release()
	// The delivery is still stored once the publish goes through.
	deadline := time.Now().Add(time.Minute)
	for r.queued(t) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the flow delivery was not queued")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
