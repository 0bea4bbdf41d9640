package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hooklane/hooklane/internal/config"
	"github.com/hooklane/hooklane/internal/natstest"
	"github.com/hooklane/hooklane/storage/storagetest"
)

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	NewLogger(&buf, "", "warn").Info("hidden")
	NewLogger(&buf, "", "warn").Warn("shown", "k", "v", "latency", 1500*time.Microsecond)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line off a terminal: %q", buf.String())
	}
	if line["msg"] != "shown" || line["k"] != "v" {
		t.Errorf("line %v", line)
	}
	if line["latency"] != "1.5ms" {
		t.Errorf("latency logged as %v, want 1.5ms", line["latency"])
	}
	buf.Reset()
	NewLogger(&buf, "text", "").Info("plain", "wait", 2*time.Second)
	if strings.HasPrefix(buf.String(), "{") || !strings.Contains(buf.String(), "plain") {
		t.Errorf("LOG_FORMAT=text gave %q", buf.String())
	}
	if !strings.Contains(buf.String(), "wait=2s") {
		t.Errorf("text log %q lacks wait=2s", buf.String())
	}
}

func writeConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hooklane.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

var quiet = Env{Getenv: func(string) string { return "" }, Stdout: io.Discard, Stderr: io.Discard}

// TestTakenPortTouchesNothing runs "hooklane all" on a port another process
// holds: it fails on the port before its embedded NATS creates its store
// or the database is looked at.
func TestTakenPortTouchesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	store := filepath.Join(t.TempDir(), "nats")
	cfg := writeConfig(t, fmt.Sprintf(`
addr: %s
database_url: postgres://nobody@127.0.0.1:1/none
nats: {store_dir: %q}
sources:
  - {name: whapi, provider: whapi, secrets: [whapi-test-secret]}
`, ln.Addr(), store))
	err = All(t.Context(), cfg, slog.New(slog.DiscardHandler), quiet)
	if err == nil || !strings.Contains(err.Error(), "listen on "+ln.Addr().String()) {
		t.Fatalf("all on a taken port: %v, want the listen error", err)
	}
	if _, err := os.Stat(store); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the embedded NATS store %s exists (%v): NATS started before the port was checked", store, err)
	}
}

// TestSmallNATSTouchesNothing runs "hooklane ingest" against a NATS server
// whose max_payload cannot carry ingest.max_body_bytes: it is refused
// before the stream is created on it.
func TestSmallNATSTouchesNothing(t *testing.T) {
	srv := natstest.Server(t) // max_payload 8 MB
	prefix := natstest.Prefix(t)
	stream := strings.ToUpper(prefix)
	cfg := writeConfig(t, fmt.Sprintf(`
addr: 127.0.0.1:0
nats: {url: %q, subject_prefix: %s, stream: %s}
ingest: {max_body_bytes: 16777216}
sources:
  - {name: whapi, provider: whapi, secrets: [whapi-test-secret]}
`, srv.ClientURL(), prefix, stream))
	// Were the server accepted, ingest would run until the context ends.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err := Ingest(ctx, cfg, slog.New(slog.DiscardHandler), quiet)
	if err == nil || !strings.Contains(err.Error(), "max_payload") {
		t.Fatalf("ingest with 16 MiB bodies on an 8 MB server: %v, want the max_payload error", err)
	}
	js, err := jetstream.New(natstest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(t.Context(), stream); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("stream %s: %v, want none created", stream, err)
	}
}

// TestWorkerMissingDatabase: a worker does not create its database, and
// says how to.
func TestWorkerMissingDatabase(t *testing.T) {
	u, err := url.Parse(storagetest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path, u.RawQuery = "/hooklane_missing_"+strings.ToLower(natstest.Prefix(t)), ""
	cfg := writeConfig(t, fmt.Sprintf(`
addr: 127.0.0.1:0
database_url: %q
nats: {url: nats://127.0.0.1:1}
sources:
  - {name: whapi, provider: whapi, secrets: [whapi-test-secret]}
`, u))
	err = Worker(t.Context(), cfg, slog.New(slog.DiscardHandler), quiet)
	if err == nil || !strings.Contains(err.Error(), "hooklane migrate") {
		t.Fatalf("worker on a missing database: %v, want advice to run hooklane migrate", err)
	}
}
