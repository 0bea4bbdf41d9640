package opscmd

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/hooklane/hooklane/internal/app"
	"github.com/hooklane/hooklane/internal/config"
	"github.com/hooklane/hooklane/storage"
)

const purgeUsage = `usage: hooklane purge [--dry-run] [--config FILE]

Runs retention once, as the workers do in the background: deletes the rows
older than the config's retention ages, in batches, and prints what it
deleted (or, with --dry-run, would delete). Tables without an age keep their
rows. One process purges at a time: if a worker is purging, it says so and
exits.

flags:`

// Purge is "hooklane purge": it runs retention once and prints what it
// deleted.
func Purge(ctx context.Context, args []string, e app.Env) error {
	c := newOpsCommand("purge", purgeUsage, e)
	dryRun := c.fs.Bool("dry-run", false, "count what would be deleted, and delete nothing")
	if help, err := c.parse(args); help || err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return c.usageError("unexpected argument %q", c.fs.Arg(0))
	}
	rc := c.cfg.Retention
	if rc.Off() {
		fmt.Fprintln(e.Stdout, "retention is off: no table has an age (see retention: in the configuration reference)")
		return nil
	}
	cs, err := c.connect(ctx, false, true)
	if err != nil {
		return err
	}
	defer cs.close()
	store := cs.store
	prog := newProgress(e.Stderr)
	began := time.Now()
	res, err := store.Purge(ctx, app.StorageRetention(rc), storage.PurgeConfig{
		BatchSize: rc.BatchSize, Pause: rc.Pause, DryRun: *dryRun,
		Progress: func(table string, n int64) { prog.update("purge: %d rows deleted from %s so far", n, table) },
	})
	prog.done()
	if errors.Is(err, storage.ErrPurgeBusy) {
		return errors.New("purge: a worker is purging now; try again once it is done")
	}
	verb := "deleted"
	if *dryRun {
		verb = "would delete"
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "TABLE\tOLDER THAN\t%s\n", map[bool]string{true: "WOULD DELETE", false: "DELETED"}[*dryRun])
	for _, row := range []struct {
		table string
		age   config.Age
		n     int64
	}{
		{"events", rc.Events, res.Events}, {"deliveries", rc.Deliveries, res.Deliveries},
		{"flow_exchanges", rc.FlowExchanges, res.FlowExchanges}, {"dead_letters", rc.DeadLetters, res.DeadLetters},
	} {
		if row.age == 0 {
			fmt.Fprintf(tw, "%s\tkept\t-\n", row.table)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\n", row.table, row.age, row.n)
	}
	if ferr := tw.Flush(); ferr != nil {
		return ferr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "%s %d rows in %s\n", verb, res.Total(), time.Since(began).Round(time.Millisecond))
	return nil
}
