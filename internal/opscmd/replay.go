package opscmd

import (
	"context"
	"fmt"
	"time"

	"github.com/hooklane/hooklane/internal/app"
	"github.com/hooklane/hooklane/internal/operate"
	"github.com/hooklane/hooklane/storage"
)

const replayUsage = `usage: hooklane replay --source S [--since T] [--until T] [--type T] [--restart] [--config FILE]

Re-derives the events of a source's stored deliveries with today's parsers,
after a parser fix, and stores the events that are missing; events already
stored stay as they are, so a replay can run again, and beside running
workers. It works in batches, each committed with a checkpoint: run the same
command again after an interruption and it resumes (--restart starts over).
T is a time (2026-05-06T19:00:00Z), a date or an age (36h, 7d); --type is
the delivery's type as the provider names it (deliveries.event_type).

flags:`

// Replay is "hooklane replay": it re-derives a source's events with
// today's parsers.
func Replay(ctx context.Context, args []string, e app.Env) error {
	c := newOpsCommand("replay", replayUsage, e)
	var job storage.ReplayJob
	var since, until string
	c.fs.StringVar(&job.Source, "source", "", "the configured `source` (required)")
	c.fs.StringVar(&since, "since", "", "only deliveries received since `T`")
	c.fs.StringVar(&until, "until", "", "only deliveries received before `T`")
	c.fs.StringVar(&job.EventType, "type", "", "only deliveries of this `type` (deliveries.event_type)")
	restart := c.fs.Bool("restart", false, "start over instead of resuming an interrupted replay")
	batch := c.fs.Int("batch", operate.DefaultReplayBatchSize, "deliveries per transaction")
	if help, err := c.parse(args); help || err != nil {
		return err
	}
	switch {
	case c.fs.NArg() > 0:
		return c.usageError("unexpected argument %q", c.fs.Arg(0))
	case job.Source == "":
		return c.usageError("--source is required")
	case *batch <= 0:
		return c.usageError("--batch must be positive")
	}
	if _, ok := c.cfg.Source(job.Source); !ok {
		return c.usageError("no source %q in the config", job.Source)
	}
	now := time.Now()
	var err error
	if job.Since, err = parseTime("since", since, now); err != nil {
		return c.usageError("%v", err)
	}
	if job.Until, err = parseTime("until", until, now); err != nil {
		return c.usageError("%v", err)
	}
	// Named as given, so that "--since 36h" resumes with the times its
	// first run resolved.
	job.Name = job.Source
	for _, f := range []struct{ name, value string }{{"since", since}, {"until", until}, {"type", job.EventType}} {
		if f.value != "" {
			job.Name += " " + f.name + "=" + f.value
		}
	}
	cs, err := c.connect(ctx, false, true)
	if err != nil {
		return err
	}
	defer cs.close()
	store := cs.store
	prog := newProgress(e.Stderr)
	res, err := operate.Replay(ctx, store, job, operate.ReplayConfig{BatchSize: *batch, Restart: *restart,
		Progress: func(cp storage.ReplayCheckpoint) {
			prog.update("replay %s: %d deliveries re-derived, %d events stored, at delivery %d of %d",
				job.Source, cp.Deliveries, cp.Events, cp.LastDeliveryID, cp.UntilDeliveryID)
		}})
	prog.done()
	if res.Resumed {
		fmt.Fprintf(e.Stdout, "resumed the unfinished replay %q\n", job.Key())
	}
	if err != nil {
		return fmt.Errorf("%w (run the same command again to resume)", err)
	}
	fmt.Fprintf(e.Stdout, "replay %s: %d deliveries re-derived, %d missing events stored, %d deliveries unparsable\n",
		job.Key(), res.Deliveries, res.Events, res.Unparsable)
	return nil
}
