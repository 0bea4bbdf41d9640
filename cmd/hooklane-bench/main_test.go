package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"testing"

	"github.com/hooklane/hooklane/internal/app"
	"github.com/hooklane/hooklane/internal/app/apptest"
	"github.com/hooklane/hooklane/internal/testlog"
)

// startRole runs "hooklane-bench <role>" with cfgFile and getenv until the
// test ends (see apptest.Start).
func startRole(t *testing.T, role, cfgFile string, getenv func(string) string) (string, *testlog.Buffer) {
	t.Helper()
	return apptest.Start(t, run, []string{role, "--config", cfgFile}, getenv)
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
		case tt.help && !errors.Is(err, flag.ErrHelp), tt.usage && !errors.Is(err, app.ErrUsage), !tt.help && !tt.usage && err != nil:
			t.Errorf("hooklane-bench %v: err = %v", tt.args, err)
		}
	}
}
