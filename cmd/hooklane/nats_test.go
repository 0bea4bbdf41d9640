package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hooklane/hooklane/internal/app"
	"github.com/hooklane/hooklane/internal/app/apptest"
	"github.com/hooklane/hooklane/internal/config"
	"github.com/hooklane/hooklane/internal/natstest"
)

func TestNATSServesJetStream(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	addr, logs := startRole(t, "nats", apptest.NATSConfig(t, t.TempDir()), func(k string) string {
		if k == config.EnvNATSListen {
			return listen
		}
		return ""
	})
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("readyz = %d, want 200", resp.StatusCode)
	}

	// Another process's role joins it over TCP and stores a message.
	js, err := jetstream.New(natstest.ConnectURL(t, "nats://"+listen))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "t.1", []byte("stored")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "nats://"+listen) {
		t.Errorf("the log does not name nats://%s:\n%s", listen, logs)
	}
}

func TestNATSNeedsAnAddress(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"nats", "--config", apptest.NATSConfig(t, t.TempDir())}, app.Env{
		Getenv: func(string) string { return "" }, Stdout: io.Discard, Stderr: io.Discard,
	})
	if err == nil || !strings.Contains(err.Error(), config.EnvNATSListen) {
		t.Errorf("run nats without an address = %v, want an error naming %s", err, config.EnvNATSListen)
	}
	if errors.Is(err, app.ErrUsage) {
		t.Errorf("run nats = %v, a usage error", err)
	}
}

// TestNATSToken: "hooklane nats" listening beyond loopback refuses to
// start without nats.token; with HOOKLANE_NATS_TOKEN it refuses clients
// without the token, and another role joins it with the same variable.
func TestNATSToken(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	_, port, _ := strings.Cut(listen, ":")
	open := "0.0.0.0:" + port
	cfg := apptest.NATSConfig(t, t.TempDir())
	err = run(context.Background(), []string{"nats", "--config", cfg}, app.Env{
		Getenv: func(k string) string {
			if k == config.EnvNATSListen {
				return open
			}
			return ""
		}, Stdout: io.Discard, Stderr: io.Discard,
	})
	if err == nil || !strings.Contains(err.Error(), "nats.token") {
		t.Fatalf("run nats on %s without a token = %v, want an error naming nats.token", open, err)
	}

	const token = "nats-test-token"
	startRole(t, "nats", cfg, func(k string) string {
		switch k {
		case config.EnvNATSListen:
			return open
		case config.EnvNATSToken:
			return token
		}
		return ""
	})
	if nc, err := nats.Connect("nats://" + listen); err == nil {
		nc.Close()
		t.Fatal("a client without the token joined")
	}
	addr, _ := startRole(t, "ingest", apptest.WriteConfig(t, ""), func(k string) string {
		switch k {
		case config.EnvNATSURL:
			return "nats://" + listen
		case config.EnvNATSToken:
			return token
		}
		return ""
	})
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("ingest joined with the token: readyz = %d, want 200", resp.StatusCode)
	}
}
