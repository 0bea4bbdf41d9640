package main

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
	"runtime/debug"
	"strings"

	"github.com/lmittmann/tint"

	"github.com/hooklane/hooklane/internal/config"
)

// env is what a run takes from its process, so tests can run it in theirs.
type env struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
	// Listening, if set, is told the HTTP server's address once it listens.
	Listening func(net.Addr)
}

const usage = `usage: hooklane <command> [--config FILE]

commands:
  all        every role in one process (NATS embedded unless NATS_URL is set)
  ingest     the HTTP receiver: verify, queue, answer
  worker     persist queued deliveries to Postgres
  migrate    apply the database schema and exit
  nats       only the NATS server "all" embeds, at nats.listen
             (HOOKLANE_NATS_LISTEN), for separate roles to share
  responder-demo
             serve the demo flow ("Cotizador") for every source
  probe URL  exit 0 if URL answers 2xx (a container healthcheck)
  bench      load-test a running hooklane and check exactly-once (bench --help)
  bench-reference
             the bare reference handler bench compares against (HOOKLANE_ADDR)
  version    print the version

The config file comes from --config or HOOKLANE_CONFIG.
Environment: DATABASE_URL, NATS_URL, HOOKLANE_ADDR, HOOKLANE_NATS_LISTEN, LOG_LEVEL,
LOG_FORMAT.`

// errUsage reports a command line that names no known command.
var errUsage = errors.New("see usage above")

func run(ctx context.Context, args []string, e env) error {
	if len(args) == 0 {
		fmt.Fprintln(e.Stderr, usage)
		return errUsage
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "version", "--version", "-v":
		fmt.Fprintln(e.Stdout, "hooklane", version())
		return nil
	case "help", "--help", "-h":
		fmt.Fprintln(e.Stdout, usage)
		return nil
	case "probe":
		return runProbe(ctx, args, e)
	case "bench":
		return runBench(ctx, args, e)
	}
	roles := map[string]func(context.Context, *config.Config, *slog.Logger, env) error{
		"all":             runAll,
		"ingest":          runIngest,
		"worker":          runWorker,
		"migrate":         runMigrate,
		"nats":            runNATS,
		"responder-demo":  runResponderDemo,
		"bench-reference": runBenchReference,
	}
	role, ok := roles[cmd]
	if !ok {
		fmt.Fprintln(e.Stderr, usage)
		return fmt.Errorf("unknown command %q: %w", cmd, errUsage)
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	configPath := fs.String("config", e.Getenv(config.EnvConfig), "config `file` (HOOKLANE_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *configPath == "" {
		return errors.New("no config file: pass --config FILE or set HOOKLANE_CONFIG (hooklane.example.yaml is a start)")
	}
	cfg, err := config.Load(*configPath, e.Getenv)
	if err != nil {
		return err
	}
	logger := newLogger(e.Stderr, e.Getenv(config.EnvLogFormat), e.Getenv(config.EnvLogLevel))
	logger.Info("hooklane starting", "command", cmd, "version", version(), "config", *configPath)
	return role(ctx, cfg, logger, e)
}

// newLogger logs JSON, or coloured text when w is a terminal and format is
// not "json"; level is debug, info, warn or error (default info).
func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(cmp.Or(level, "info"))); err != nil {
		lvl = slog.LevelInfo
	}
	if format != "json" && isTerminal(w) || strings.EqualFold(format, "text") {
		return slog.New(tint.NewTextHandler(w, &tint.Options{Level: lvl, NoColor: !isTerminal(w)}))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl}))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// version is the module version, or the VCS revision of a development build.
func version() string {
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
