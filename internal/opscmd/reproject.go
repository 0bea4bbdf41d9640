package opscmd

import (
	"context"
	"fmt"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/app"
	"github.com/hooklane/hooklane/internal/provider"
	"github.com/hooklane/hooklane/storage"
)

const reprojectUsage = `usage: hooklane reproject [--source S] [--batch N] [--config FILE]

Rebuilds the messages, contacts and conversations tables (of one source, or
all) from the stored deliveries and events, read with today's parsers, after
a mapping fix. It may run beside running workers: they wait for it only while
it empties the tables; until it finishes the tables are incomplete.

flags:`

// Reproject is hooklane reproject: it rebuilds the model tables from the
// stored deliveries and events with today's parsers.
func Reproject(ctx context.Context, args []string, e app.Env) error {
	c := newOpsCommand("reproject", reprojectUsage, e)
	cfg := storage.ReprojectConfig{}
	c.fs.StringVar(&cfg.Source, "source", "", "rebuild only this `source`'s rows; default every source")
	c.fs.IntVar(&cfg.BatchSize, "batch", 500, "deliveries per transaction")
	if help, err := c.parse(args); help || err != nil {
		return err
	}
	switch {
	case c.fs.NArg() > 0:
		return c.usageError("unexpected argument %q", c.fs.Arg(0))
	case cfg.BatchSize <= 0:
		return c.usageError("--batch must be positive")
	}
	cs, err := c.connect(ctx, false, true)
	if err != nil {
		return err
	}
	defer cs.close()
	cfg.Derive = func(name string, body []byte) ([]hooklane.Event, error) {
		p, ok := provider.Lookup(name)
		if !ok {
			return nil, fmt.Errorf("unknown provider %q", name)
		}
		return p.Events(body)
	}
	prog := newProgress(e.Stderr)
	cfg.Progress = func(p storage.ReprojectProgress) {
		prog.update("reproject: %d/%d deliveries (%.0f%%), %d events merged",
			p.Deliveries, p.Total, 100*float64(p.Deliveries)/float64(max(p.Total, 1)), p.Events)
	}
	p, err := cs.store.Reproject(ctx, cfg)
	prog.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "reproject: %d deliveries, %d events merged, %d deliveries unparsable\n",
		p.Deliveries, p.Events, p.Skipped)
	return nil
}
