package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hooklane/hooklane/internal/app"
	"github.com/hooklane/hooklane/storage"
	"github.com/hooklane/hooklane/storage/storagetest"
)

// opsConfig writes a config of one whapi source on databaseURL, with the
// given retention section, and returns its path.
func opsConfig(t *testing.T, databaseURL, retention string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hooklane.yaml")
	yaml := fmt.Sprintf("database_url: %q\nsources:\n  - {name: whapi, provider: whapi, secrets: [whapi-test-secret]}\n%s", databaseURL, retention)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runOps runs hooklane with args and returns what it printed and its error.
func runOps(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(t.Context(), args, app.Env{Getenv: func(string) string { return "" }, Stdout: &out, Stderr: &errOut})
	return out.String(), errOut.String(), err
}

func TestOpsHelpSucceeds(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"tail", "--help"}, {"dead-letters", "--help"}, {"dead-letters", "list", "-h"}, {"dead-letters", "show", "--help"},
		{"dead-letters", "redrive", "--help"}, {"replay", "--help"}, {"purge", "--help"},
	} {
		out, _, err := runOps(t, args...)
		if err != nil || !strings.HasPrefix(out, "usage: hooklane "+args[0]) || !strings.Contains(out, "-config") {
			t.Errorf("hooklane %s: %v, printed %q", strings.Join(args, " "), err, out)
		}
	}
}

func TestOpsUsageErrors(t *testing.T) {
	t.Parallel()
	cfg := opsConfig(t, "postgres://127.0.0.1:1/none", "")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"tail", "--nope"}, "flag provided but not defined"},
		{[]string{"tail", "--config", cfg, "--source", "unknown"}, `no source "unknown"`},
		{[]string{"dead-letters"}, "name a subcommand"},
		{[]string{"dead-letters", "purge"}, `unknown subcommand "purge"`},
		{[]string{"dead-letters", "show", "--config", cfg, "abc"}, `"abc" is not a dead letter ID`},
		{[]string{"dead-letters", "show", "--config", cfg}, "one dead letter ID"},
		{[]string{"dead-letters", "redrive", "--config", cfg}, "give the IDs to redrive, or --all"},
		{[]string{"dead-letters", "redrive", "--config", cfg, "--all", "3"}, "not both"},
		{[]string{"dead-letters", "redrive", "--config", cfg, "--source", "whapi", "3"}, "select for --all"},
		{[]string{"dead-letters", "list", "--config", cfg, "--since", "yesterday"}, "--since \"yesterday\""},
		{[]string{"replay", "--config", cfg}, "--source is required"},
		{[]string{"replay", "--config", cfg, "--source", "wa"}, `no source "wa"`},
		{[]string{"purge", "--config", cfg, "extra"}, `unexpected argument "extra"`},
		{[]string{"purge"}, "no config file"},
	} {
		_, stderr, err := runOps(t, tt.args...)
		if !errors.Is(err, app.ErrUsage) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("hooklane %s: %v, want a usage error saying %q", strings.Join(tt.args, " "), err, tt.want)
		}
		if !strings.Contains(tt.want, "no config") && !strings.Contains(stderr, "usage: hooklane") {
			t.Errorf("hooklane %s printed no usage: %q", strings.Join(tt.args, " "), stderr)
		}
	}
}

func TestPurgeAndDeadLettersCommands(t *testing.T) {
	t.Parallel()
	databaseURL := storagetest.URL(t)
	cfg := opsConfig(t, databaseURL, "retention:\n  deliveries: 30d\n  events: 30d\n  dead_letters: 90d\n")

	out, _, err := runOps(t, "purge", "--config", cfg, "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"events          30d         0", "flow_exchanges  kept        -", "would delete 0 rows"} {
		if !strings.Contains(out, want) {
			t.Errorf("purge --dry-run printed\n%s\nwant a line with %q", out, want)
		}
	}

	s, err := storage.Open(t.Context(), databaseURL, storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SaveDeadLetters(context.Background(), []storage.DeadLetter{{
		Stream: "HOOKLANE_EVENTS", Sequence: 7, Subject: "hooklane.events.whapi.message_received", Source: "whapi",
		Headers: map[string][]string{"Hooklane-Source": {"whapi"}}, Body: []byte(`{"id":"X","body":"hola"}`),
		Reason: "store: ERROR: value too long", NumDelivered: 20,
	}}); err != nil {
		t.Fatal(err)
	}
	out, _, err = runOps(t, "dead-letters", "list", "--config", cfg, "--reason", "too LONG", "--since", "1h")
	if err != nil || !strings.Contains(out, "hooklane.events.whapi.message_received") || !strings.Contains(out, "store: ERROR: value too long") {
		t.Errorf("dead-letters list: %v\n%s", err, out)
	}
	out, _, err = runOps(t, "dead-letters", "list", "--config", cfg, "--source", "wa")
	if err != nil || out != "no dead letters\n" {
		t.Errorf("dead-letters list of another source: %v, %q", err, out)
	}
	out, _, err = runOps(t, "dead-letters", "show", "--config", cfg, "1")
	if err != nil || !strings.Contains(out, "Hooklane-Source: whapi") || !strings.Contains(out, "  {\n    \"id\": \"X\",") {
		t.Errorf("dead-letters show: %v\n%s", err, out)
	}
	out, _, err = runOps(t, "dead-letters", "show", "--config", cfg, "--max-bytes", "10", "1")
	if err != nil || !strings.Contains(out, "cut at 10 bytes") {
		t.Errorf("dead-letters show --max-bytes 10: %v\n%s", err, out)
	}
	if _, _, err := runOps(t, "dead-letters", "show", "--config", cfg, "2"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("dead-letters show of a missing id: %v", err)
	}
	out, _, err = runOps(t, "dead-letters", "redrive", "--config", cfg, "--all", "--dry-run")
	if err != nil || !strings.Contains(out, "would redrive dead letter 1 to hooklane.events.whapi.message_received (attempt 1)") {
		t.Errorf("dead-letters redrive --all --dry-run: %v\n%s", err, out)
	}
}
