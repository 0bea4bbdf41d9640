package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
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

// natsConfig writes a config whose embedded NATS stores under dir.
func natsConfig(t *testing.T, dir string) string {
	t.Helper()
	return writeConfig(t, fmt.Sprintf("  store_dir: %q", filepath.Join(dir, "nats")))
}

// writeConfig writes a config with one Platica source and the given
// settings of its nats section, and returns its path.
func writeConfig(t *testing.T, nats string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hooklane.yaml")
	yaml := fmt.Sprintf(`
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

// startRole runs "hooklane-bench <role>" until the test ends, and returns
// the address it listens on and its log.
func startRole(t *testing.T, role, cfgFile string, getenv func(string) string) (string, *testlog.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	logs := &testlog.Buffer{}
	go func() {
		done <- run(ctx, []string{role, "--config", cfgFile}, app.Env{
			Getenv: getenv, Stdout: io.Discard, Stderr: logs,
			Listening: func(a net.Addr) { addr <- a },
		})
	}()
	select {
	case a := <-addr:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("hooklane-bench %s stopped with %v\n%s", role, err, logs)
			}
		})
		return a.String(), logs
	case err := <-done:
		cancel()
		t.Fatalf("hooklane-bench %s did not start: %v\n%s", role, err, logs)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("hooklane-bench %s did not listen within 60s\n%s", role, logs)
	}
	return "", nil
}

func hmacHex(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

// TestCommandLine checks what main turns into its exit code: help and
// --help succeed, a command line it does not understand is a usage error.
func TestCommandLine(t *testing.T) {
	for _, tt := range []struct {
		args        []string
		help, usage bool
	}{
		{args: []string{"help"}},
		{args: []string{"--help"}, help: true},
		{args: []string{"reference", "--help"}, help: true},
		{args: []string{"--nope"}, usage: true},
		{args: []string{"--rounds", "0", "--config", "x.yaml"}, usage: true},
		{args: []string{"extra"}, usage: true},
		{args: []string{"reference"}, usage: true},
	} {
		err := run(context.Background(), tt.args, app.Env{Getenv: func(string) string { return "" }, Stdout: io.Discard, Stderr: io.Discard})
		switch {
		case tt.help && !errors.Is(err, flag.ErrHelp), tt.usage && !errors.Is(err, errUsage), !tt.help && !tt.usage && err != nil:
			t.Errorf("hooklane-bench %v: err = %v", tt.args, err)
		}
	}
}
