// Command hooklane-bench load-tests hooklane and checks exactly-once: it
// sends signed deliveries of every configured source, measures latency and
// throughput against a bare reference handler ("hooklane-bench reference"),
// and verifies in Postgres that every acknowledged event is stored once.
// "make bench" builds it beside hooklane and runs its suite. It lives apart
// from cmd/hooklane so that the product binary does not link the load tool.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/hooklane/hooklane/internal/app"
	"github.com/hooklane/hooklane/internal/config"
)

func main() { app.Main("hooklane-bench", run) }

// run is hooklane-bench with args, the command line without its name.
func run(ctx context.Context, args []string, e app.Env) error {
	if len(args) > 0 && args[0] == "help" {
		fmt.Fprintln(e.Stdout, benchUsage)
		return nil
	}
	if len(args) == 0 || args[0] != "reference" {
		return runBench(ctx, args, e)
	}
	fs := flag.NewFlagSet("reference", flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	configPath := fs.String("config", e.Getenv(config.EnvConfig), "config `file` (HOOKLANE_CONFIG)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("reference: unexpected argument %q: %w", fs.Arg(0), app.ErrUsage)
	}
	if *configPath == "" {
		return fmt.Errorf("reference: no config file: pass --config FILE or set HOOKLANE_CONFIG: %w", app.ErrUsage)
	}
	cfg, err := config.Load(*configPath, e.Getenv)
	if err != nil {
		return err
	}
	logger := app.NewLogger(e.Stderr, e.Getenv(config.EnvLogFormat), e.Getenv(config.EnvLogLevel))
	return runReference(ctx, cfg, logger, e)
}

// usageError marks a flag error as a usage error; --help stays
// flag.ErrHelp.
func usageError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return fmt.Errorf("%w: %w", err, app.ErrUsage)
}
