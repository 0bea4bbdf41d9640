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

	"github.com/hooklane/hooklane"
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

// answerNow answers at once, and gives the answer until the deadline that
// much later: the time its delivery's publish may take.
type answerNow time.Duration

func (a answerNow) AnswerFlow(context.Context, *hooklane.Delivery) ([]byte, time.Time) {
	return []byte(`{"screen":"WELCOME","data":{}}`), time.Now().Add(time.Duration(a))
}

// flowHandler is an ingest handler publishing through pub, whose flow lane
// answers at once, with a deadline publishWait later.
func flowHandler(t *testing.T, r *rig, pub Publisher, publishWait time.Duration) *httptest.Server {
	t.Helper()
	p, _ := provider.Lookup("platica")
	h, err := New(pub, Config{
		Sources:        []hooklane.Source{{Name: "platica", Provider: p, Secrets: [][]byte{[]byte(platicaSecret)}}},
		Stream:         r.stream,
		SubjectPrefix:  r.handler.cfg.SubjectPrefix,
		PublishTimeout: time.Minute,
		Flows:          answerNow(publishWait),
	}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/webhooks/{source}", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

const flowBody = `{"id":"f-1","event":"whatsapp.flows.init","data":{"flow":{"id":"x"},"flowExchange":{"action":"init","payload":{}}}}`

func postFlow(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/platica", strings.NewReader(flowBody))
	req.Header.Set("X-Webhook-Signature", sign(platicaSecret, flowBody))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestFlowAnsweredOnceQueued(t *testing.T) {
	r := newRig(t, 0)
	// A deadline a slow machine's publish cannot miss.
	resp, body := postFlow(t, flowHandler(t, r, r.js, time.Minute).URL)
	if resp.StatusCode != http.StatusOK || body != `{"screen":"WELCOME","data":{}}` {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if n := r.queued(t); n != 1 {
		t.Errorf("the answered flow delivery is not queued: %d messages", n)
	}
}

func TestFlowNotAcknowledgedUntilQueued(t *testing.T) {
	r := newRig(t, 0)
	held := heldPublisher{Publisher: r.js, release: make(chan struct{})}
	srv := flowHandler(t, r, held, 0) // the deadline has come: flowPublishGrace is all the wait
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(held.release) }) }
	t.Cleanup(release) // before srv.Close, which waits for the handler's publish

	// JetStream does not acknowledge: the answer is a 503, not a 2xx for
	// a delivery that may never be stored, and it does not wait for the
	// publish's own timeout (a minute here) to say so.
	resp, body := postFlow(t, srv.URL)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d %q, want 503 with Retry-After", resp.StatusCode, body)
	}
	release()
	// The held publish goes through after all; the provider's retry will
	// be a duplicate.
	deadline := time.Now().Add(time.Minute)
	for r.queued(t) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the flow delivery was not queued once JetStream answered")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
