package natstest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/natstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestServerJetStream(t *testing.T) {
	srv := natstest.Server(t)
	if !srv.JetStreamEnabled() {
		t.Fatal("JetStream is off")
	}
	js, err := jetstream.New(natstest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "t.1", []byte("x")); err != nil {
		t.Fatal(err)
	}
}

func TestRestartServerKeepsPortAndStore(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv, nats.ReconnectWait(20*time.Millisecond), nats.MaxReconnects(-1))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "t.1", []byte("x")); err != nil {
		t.Fatal(err)
	}

	restarted := natstest.RestartServer(t, srv)
	if restarted.ClientURL() != srv.ClientURL() {
		t.Fatalf("restarted on %s, want %s", restarted.ClientURL(), srv.ClientURL())
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for !nc.IsConnected() {
		select {
		case <-ctx.Done():
			t.Fatal("client did not reconnect")
		case <-time.After(10 * time.Millisecond):
		}
	}
	var info *jetstream.StreamInfo
	for { // JetStream recovers the stream shortly after the server accepts clients.
		s, err := js.Stream(ctx, "T")
		if err == nil {
			if info, err = s.Info(ctx); err == nil {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("stream after restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("stream has %d messages after restart, want 1", info.State.Msgs)
	}
}

func TestURL(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		t.Setenv("TEST_NATS_URL", "")
		u := natstest.URL(t)
		if !strings.HasPrefix(u, "nats://127.0.0.1:") {
			t.Fatalf("URL = %q", u)
		}
		natstest.ConnectURL(t, u)
	})
	t.Run("external", func(t *testing.T) {
		t.Setenv("TEST_NATS_URL", "nats://example.invalid:4222")
		if u := natstest.URL(t); u != "nats://example.invalid:4222" {
			t.Fatalf("URL = %q", u)
		}
	})
}

func TestPrefix(t *testing.T) {
	a, b := natstest.Prefix(t), natstest.Prefix(t)
	if a == b {
		t.Fatalf("two prefixes are both %q", a)
	}
	if !strings.HasPrefix(a, "hooklane_t") || hooklane.Token(a) != a {
		t.Fatalf("prefix %q is not one subject token", a)
	}
}
