package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/hooklane/hooklane/internal/app"
	"github.com/hooklane/hooklane/internal/config"
	"github.com/hooklane/hooklane/internal/opscmd"
)

const usage = `usage: hooklane <command> [--config FILE]

commands:
  all        every role in one process (NATS embedded unless NATS_URL is set)
  ingest     the HTTP receiver: verify, queue, answer
  worker     persist queued deliveries to Postgres
  migrate    create the database if missing, apply the schema and exit
  console    the web console at console.addr (default 127.0.0.1:8081)
  nats       only the NATS server "all" embeds, at nats.listen
             (HOOKLANE_NATS_LISTEN), for separate roles to share
  responder-demo
             serve the demo flow ("Cotizador") for every source
  probe URL  exit 0 if URL answers 2xx (a container healthcheck)
  version    print the version
  help       print this help

operating on what is stored (each with --help):
  tail       print deliveries as ingest accepts them
  dead-letters list | show ID | redrive ID... | redrive --all
             what the workers could not store; send it back through them
  replay     re-derive a source's events with today's parsers
  reproject  rebuild the messages, contacts and conversations tables
  purge      run retention once and print what it deleted

The config file comes from --config or HOOKLANE_CONFIG.
Environment: DATABASE_URL, NATS_URL, HOOKLANE_ADDR, HOOKLANE_NATS_LISTEN, LOG_LEVEL,
LOG_FORMAT, HOOKLANE_CONSOLE_ADDR, HOOKLANE_CONSOLE_TOKEN, HOOKLANE_CONSOLE_USER,
HOOKLANE_CONSOLE_PASSWORD. The load tool is a command of its own: hooklane-bench
(make bench).`

// roles are the commands that run with a config.
var roles = map[string]app.Role{
	"all":            app.All,
	"ingest":         app.Ingest,
	"worker":         app.Worker,
	"migrate":        app.Migrate,
	"console":        app.Console,
	"nats":           app.NATS,
	"responder-demo": app.ResponderDemo,
}

// run is hooklane with args, the command line without its name. It returns
// flag.ErrHelp once --help has printed a command's usage.
func run(ctx context.Context, args []string, e app.Env) error {
	if len(args) == 0 {
		fmt.Fprintln(e.Stderr, usage)
		return fmt.Errorf("no command: %w", app.ErrUsage)
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "version", "--version", "-v":
		fmt.Fprintln(e.Stdout, "hooklane", app.Version())
		return nil
	case "help", "--help", "-h":
		fmt.Fprintln(e.Stdout, usage)
		return nil
	case "probe":
		return runProbe(ctx, args, e)
	case "tail":
		return opscmd.Tail(ctx, args, e)
	case "dead-letters":
		return opscmd.DeadLetters(ctx, args, e)
	case "replay":
		return opscmd.Replay(ctx, args, e)
	case "purge":
		return opscmd.Purge(ctx, args, e)
	case "reproject":
		return opscmd.Reproject(ctx, args, e)
	}
	role, ok := roles[cmd]
	if !ok {
		fmt.Fprintln(e.Stderr, usage)
		return fmt.Errorf("unknown command %q: %w", cmd, app.ErrUsage)
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.Stderr, "usage: hooklane %s [--config FILE]\n\nflags:\n", cmd)
		fs.PrintDefaults()
	}
	configPath := fs.String("config", e.Getenv(config.EnvConfig), "config `file` (HOOKLANE_CONFIG)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%s: %w: %w", cmd, err, app.ErrUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q: %w", cmd, fs.Arg(0), app.ErrUsage)
	}
	if *configPath == "" {
		return errors.New("no config file: pass --config FILE or set HOOKLANE_CONFIG (hooklane.example.yaml is a start)")
	}
	cfg, err := config.LoadLookup(*configPath, e.Lookup)
	if err != nil {
		return err
	}
	logger := app.NewLogger(e.Stderr, e.Getenv(config.EnvLogFormat), e.Getenv(config.EnvLogLevel))
	logger.Info("hooklane starting", "command", cmd, "version", app.Version(), "config", *configPath)
	for _, s := range cfg.Skipped {
		logger.Info("source left out: its secret variable is not set", "source", s.Name, "variables", s.Variables)
	}
	return role(ctx, cfg, logger, e)
}
