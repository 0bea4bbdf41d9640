// Package apptest runs hooklane's commands in a test's own process, as
// wtf's main_test runs its real main: cmd/hooklane's and
// cmd/hooklane-bench's tests share it.
package apptest

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hooklane/hooklane/internal/app"
	"github.com/hooklane/hooklane/internal/testlog"
)

// Run is a command's entry point: its arguments after the command name.
type Run func(ctx context.Context, args []string, e app.Env) error

// Start runs run with args and getenv until the test ends, when it must
// stop cleanly, and returns the address it serves HTTP on, once it
// listens, and its log.
func Start(t *testing.T, run Run, args []string, getenv func(string) string) (string, *testlog.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	logs := &testlog.Buffer{}
	go func() {
		done <- run(ctx, args, app.Env{
			Getenv: getenv, Stdout: io.Discard, Stderr: logs,
			Listening: func(a net.Addr) { addr <- a },
		})
	}()
	select {
	case a := <-addr:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%v stopped with %v\n%s", args, err, logs)
			}
		})
		return a.String(), logs
	case err := <-done:
		cancel()
		t.Fatalf("%v did not start: %v\n%s", args, err, logs)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("%v did not listen within 60s\n%s", args, logs)
	}
	return "", nil
}

// WriteConfig writes a config with one Platica source and the given
// settings of its nats section, and returns its path. Its HTTP servers,
// the console's too, listen on free ports, so that tests run in parallel.
func WriteConfig(t *testing.T, nats string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hooklane.yaml")
	yaml := fmt.Sprintf(`
addr: 127.0.0.1:0
console:
  addr: 127.0.0.1:0
nats:
%s
sources:
  - {name: platica, provider: platica, secrets: [platica-test-secret]}
`, nats)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// NATSConfig is WriteConfig for an embedded NATS that stores under dir.
func NATSConfig(t *testing.T, dir string) string {
	t.Helper()
	return WriteConfig(t, fmt.Sprintf("  store_dir: %q", filepath.Join(dir, "nats")))
}
