// Package app wires hooklane's roles (ingest, worker, the flow gateway, the
// demo responder, the embedded NATS, the console) from a loaded configuration, so that
// cmd/hooklane only parses its command line and cmd/hooklane-bench can run
// its reference handler the way hooklane runs its roles. Each role is a
// [Role]: it starts what it needs, serves health, readiness and metrics over
// HTTP until its context is done, and stops in order.
//
// Every role checks before it touches: it listens on its HTTP address
// before anything else starts, so a second "hooklane all" fails on the
// taken port before it opens an embedded NATS on the same store, and it
// refuses a NATS server too small for ingest.max_body_bytes before it
// creates the stream there.
package app

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/lmittmann/tint"

	"github.com/hooklane/hooklane/internal/config"
)

// Env is what a role takes from its process, so tests can run it in theirs.
type Env struct {
	Getenv func(string) string
	// LookupEnv, if set, tells a variable set to "" from an unset one.
	LookupEnv func(string) (string, bool)
	Stdout    io.Writer
	Stderr    io.Writer
	// Listening, if set, is told the HTTP server's address once it listens.
	Listening func(net.Addr)
	// ConsoleListening, if set, is told the console's address once it
	// listens.
	ConsoleListening func(net.Addr)
}

// Lookup is LookupEnv, or Getenv taking an empty value for an unset one.
func (e Env) Lookup(name string) (string, bool) {
	if e.LookupEnv != nil {
		return e.LookupEnv(name)
	}
	v := e.Getenv(name)
	return v, v != ""
}

// Role runs one of hooklane's commands until ctx is done, and returns nil
// on a clean stop.
type Role func(ctx context.Context, cfg *config.Config, logger *slog.Logger, e Env) error

// NewLogger logs JSON, or coloured text when w is a terminal and format is
// not "json"; level is debug, info, warn or error (default info). Either
// way a time.Duration is written with its unit ("1.5ms"), not as a count
// of nanoseconds.
func NewLogger(w io.Writer, format, level string) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(cmp.Or(level, "info"))); err != nil {
		lvl = slog.LevelInfo
	}
	if format != "json" && isTerminal(w) || strings.EqualFold(format, "text") {
		return slog.New(tint.NewTextHandler(w, &tint.Options{Level: lvl, NoColor: !isTerminal(w), ReplaceAttr: durationText}))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl, ReplaceAttr: durationText}))
}

// durationText renders a duration as its String.
func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	if d, ok := a.Value.Any().(time.Duration); ok && a.Value.Kind() == slog.KindAny {
		return slog.String(a.Key, d.String())
	}
	return a
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// buildVersion is set by make build and the Dockerfile: -ldflags
// "-X github.com/hooklane/hooklane/internal/app.buildVersion=$(git describe ...)".
var buildVersion string

// Version is the version stamped at build time, else the module version,
// or the VCS revision of a development build.
func Version() string {
	if buildVersion != "" {
		return buildVersion
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "devel-" + s.Value[:12]
		}
	}
	return "devel"
}

// ErrUsage reports a command line a command does not understand: Main
// exits 2 on it.
var ErrUsage = errors.New("see the usage above")

// Main runs a command's run with the process's arguments, environment and
// signals, and exits: 0 on a clean stop and after --help (flag.ErrHelp), 2
// on ErrUsage, 1 on any other error, which it prints after the command's
// name.
func Main(name string, run func(ctx context.Context, args []string, e Env) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], Env{Getenv: os.Getenv, LookupEnv: os.LookupEnv, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, ErrUsage):
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
