package opscmd

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hooklane/hooklane/internal/app"
	"github.com/hooklane/hooklane/internal/operate"
)

const tailUsage = `usage: hooklane tail [--source S] [--type T] [--contact C] [--json] [--config FILE]

Prints each event of the deliveries ingest accepts from now on, until
interrupted: time, source, event type, key, contact and a one-line summary.
It reads the stream with an ephemeral consumer of its own, which leaves the
workers' consumer undisturbed. It needs NATS_URL (or nats.url).

flags:`

// Tail is "hooklane tail": it prints deliveries as ingest accepts them.
func Tail(ctx context.Context, args []string, e app.Env) error {
	c := newOpsCommand("tail", tailUsage, e)
	var f operate.Filter
	c.fs.StringVar(&f.Source, "source", "", "only this configured `source`")
	c.fs.StringVar(&f.Type, "type", "", "only events of this `type` (message, status...) or deliveries of it (messages, message.created...)")
	c.fs.StringVar(&f.Contact, "contact", "", "only events of this `contact`: a phone number (its digits match) or JID")
	asJSON := c.fs.Bool("json", false, "one JSON object a line")
	if help, err := c.parse(args); help || err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return c.usageError("unexpected argument %q", c.fs.Arg(0))
	}
	if f.Source != "" {
		if _, ok := c.cfg.Source(f.Source); !ok {
			return c.usageError("no source %q in the config", f.Source)
		}
	}
	cs, err := c.connect(ctx, true, false)
	if err != nil {
		return err
	}
	defer cs.close()
	entries, err := operate.Tail(ctx, cs.js, operate.TailConfig{
		Stream: c.cfg.NATS.Stream, SubjectPrefix: c.cfg.NATS.SubjectPrefix, Filter: f,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "tailing %s from now; interrupt to stop\n", c.cfg.NATS.Stream)
	enc := json.NewEncoder(e.Stdout)
	for entry, err := range entries {
		if err != nil {
			return err
		}
		if *asJSON {
			if err := enc.Encode(entry); err != nil {
				return err
			}
			continue
		}
		contact := entry.Contact
		if contact == "" {
			contact = "-"
		}
		fmt.Fprintf(e.Stdout, "%s  %s  %s  %s  %s  %s\n", entry.Time.UTC().Format("2006-01-02T15:04:05.000Z"),
			entry.Source, entry.Type, truncate(entry.Key, 48), contact, entry.Summary)
	}
	return nil
}
