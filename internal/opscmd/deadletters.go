package opscmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/hooklane/hooklane/internal/app"
	"github.com/hooklane/hooklane/internal/operate"
	"github.com/hooklane/hooklane/storage"
)

const deadLettersUsage = `usage: hooklane dead-letters list [--source S] [--reason TEXT] [--since T] [--limit N]
       hooklane dead-letters show [--max-bytes N] ID
       hooklane dead-letters redrive [--dry-run] ID...
       hooklane dead-letters redrive --all [--source S] [--reason TEXT] [--since T] [--dry-run]

What the workers could not store, and why. "redrive" sends dead letters back
through the workers, as they were published: exactly-once holds, so a redrive
of something already stored stores nothing. Each row records the redrive and,
once a worker took it, what became of it: stored, duplicate, or
dead_lettered again as a new dead letter with its new reason. "--all" picks
the dead letters never redriven (or whose redrive could not be published).
T is a time (2026-05-06T19:00:00Z), a date or an age (36h, 7d).

flags:`

// DeadLetters is "hooklane dead-letters": list, show and redrive dead
// letters.
func DeadLetters(ctx context.Context, args []string, e app.Env) error {
	sub := ""
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	c := newOpsCommand("dead-letters "+sub, deadLettersUsage, e)
	switch sub {
	case "list":
		return deadLettersList(ctx, c, args)
	case "show":
		return deadLettersShow(ctx, c, args)
	case "redrive":
		return deadLettersRedrive(ctx, c, args)
	case "help", "-h", "--help":
		c.printUsage(e.Stdout)
		return nil
	case "":
		return c.usageError("name a subcommand: list, show or redrive")
	}
	return c.usageError("unknown subcommand %q", sub)
}

// filterFlags adds --source, --reason and --since to c; resolve reads them.
func filterFlags(c *opsCommand) (resolve func() (storage.DeadLetterFilter, error)) {
	var f storage.DeadLetterFilter
	var since string
	c.fs.StringVar(&f.Source, "source", "", "only this `source`'s")
	c.fs.StringVar(&f.Reason, "reason", "", "only those whose reason contains `TEXT`, ignoring case")
	c.fs.StringVar(&since, "since", "", "only those dead-lettered since `T`")
	return func() (storage.DeadLetterFilter, error) {
		var err error
		f.Since, err = parseTime("since", since, time.Now())
		if err != nil {
			return f, c.usageError("%v", err)
		}
		return f, nil
	}
}

func deadLettersList(ctx context.Context, c *opsCommand, args []string) error {
	filter := filterFlags(c)
	limit := c.fs.Int("limit", 100, "at most `N` rows, the oldest first")
	if help, err := c.parse(args); help || err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return c.usageError("unexpected argument %q", c.fs.Arg(0))
	}
	f, err := filter()
	if err != nil {
		return err
	}
	f.Limit = *limit
	cs, err := c.connect(ctx, false, true)
	if err != nil {
		return err
	}
	defer cs.close()
	store := cs.store
	letters, err := store.DeadLetters(ctx, f)
	if err != nil {
		return err
	}
	if len(letters) == 0 {
		fmt.Fprintln(c.e.Stdout, "no dead letters")
		return nil
	}
	tw := tabwriter.NewWriter(c.e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDEAD-LETTERED\tSOURCE\tSUBJECT\tTRIES\tBYTES\tREDRIVE\tREASON")
	for _, l := range letters {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", l.ID, l.CreatedAt.UTC().Format(time.DateTime), orDash(l.Source),
			l.Subject, l.NumDelivered, l.BodyBytes, redriveState(l), truncate(l.Reason, 60))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(letters) == f.Limit {
		fmt.Fprintf(c.e.Stderr, "showing the first %d; --limit shows more\n", f.Limit)
	}
	return nil
}

// redriveState says in a word or two what became of l's last redrive.
func redriveState(l storage.StoredDeadLetter) string {
	switch l.Outcome {
	case "":
		return "-"
	case storage.RedriveDeadLettered:
		return "dead_lettered as " + strconv.FormatInt(l.NextDeadLetterID, 10)
	case storage.RedriveStored, storage.RedriveDuplicate:
		if l.DeliveryID != 0 {
			return l.Outcome + " as delivery " + strconv.FormatInt(l.DeliveryID, 10)
		}
	}
	return l.Outcome
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func deadLettersShow(ctx context.Context, c *opsCommand, args []string) error {
	maxBytes := c.fs.Int("max-bytes", 64<<10, "print at most `N` bytes of the body")
	if help, err := c.parse(args); help || err != nil {
		return err
	}
	if c.fs.NArg() != 1 {
		return c.usageError("show takes one dead letter ID")
	}
	id, err := strconv.ParseInt(c.fs.Arg(0), 10, 64)
	if err != nil || id <= 0 {
		return c.usageError("%q is not a dead letter ID", c.fs.Arg(0))
	}
	cs, err := c.connect(ctx, false, true)
	if err != nil {
		return err
	}
	defer cs.close()
	store := cs.store
	l, err := store.DeadLetter(ctx, id)
	if err != nil {
		return err
	}
	w := c.e.Stdout
	fmt.Fprintf(w, "dead letter %d\n", l.ID)
	fmt.Fprintf(w, "  dead-lettered  %s, after %d deliveries\n", l.CreatedAt.UTC().Format(time.RFC3339), l.NumDelivered)
	fmt.Fprintf(w, "  stream         %s, sequence %d\n", l.Stream, l.Sequence)
	fmt.Fprintf(w, "  subject        %s\n", l.Subject)
	fmt.Fprintf(w, "  source         %s\n", orDash(l.Source))
	fmt.Fprintf(w, "  reason         %s\n", l.Reason)
	if l.RedriveCount > 0 {
		fmt.Fprintf(w, "  redriven       %d times, last %s: %s\n", l.RedriveCount, l.RedrivenAt.UTC().Format(time.RFC3339), redriveState(l))
		if l.RedriveError != "" {
			fmt.Fprintf(w, "  redrive error  %s\n", l.RedriveError)
		}
	}
	fmt.Fprintln(w, "headers")
	names := make([]string, 0, len(l.Headers))
	for name := range l.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, v := range l.Headers[name] {
			fmt.Fprintf(w, "  %s: %s\n", name, v)
		}
	}
	fmt.Fprintf(w, "body (%d bytes)\n", len(l.Body))
	return printBody(w, l.Body, *maxBytes)
}

// printBody writes body indented when it is JSON, as text when it is UTF-8
// and quoted otherwise, cut at maxBytes.
func printBody(w io.Writer, body []byte, maxBytes int) error {
	var out []byte
	var pretty bytes.Buffer
	switch {
	case json.Indent(&pretty, body, "  ", "  ") == nil:
		out = append([]byte("  "), pretty.Bytes()...)
	case utf8.Valid(body):
		out = body
	default:
		out = []byte(strconv.Quote(string(body)))
	}
	cut := len(out) > maxBytes
	if cut {
		out = out[:maxBytes]
		for len(out) > 0 && !utf8.Valid(out) {
			out = out[:len(out)-1]
		}
	}
	if _, err := fmt.Fprintf(w, "%s\n", out); err != nil {
		return err
	}
	if cut {
		fmt.Fprintf(w, "… cut at %d bytes (--max-bytes)\n", maxBytes)
	}
	return nil
}

func deadLettersRedrive(ctx context.Context, c *opsCommand, args []string) error {
	filter := filterFlags(c)
	all := c.fs.Bool("all", false, "every dead letter never redriven, or only those --source, --reason and --since select")
	dryRun := c.fs.Bool("dry-run", false, "say what would be redriven, and do nothing")
	if help, err := c.parse(args); help || err != nil {
		return err
	}
	f, err := filter()
	if err != nil {
		return err
	}
	var ids []int64
	for _, arg := range c.fs.Args() {
		id, err := strconv.ParseInt(arg, 10, 64)
		if err != nil || id <= 0 {
			return c.usageError("%q is not a dead letter ID", arg)
		}
		ids = append(ids, id)
	}
	switch {
	case *all && len(ids) > 0:
		return c.usageError("give IDs or --all, not both")
	case !*all && len(ids) == 0:
		return c.usageError("give the IDs to redrive, or --all")
	case !*all && (f.Source != "" || f.Reason != "" || !f.Since.IsZero()):
		return c.usageError("--source, --reason and --since select for --all")
	}
	cs, err := c.connect(ctx, !*dryRun, true)
	if err != nil {
		return err
	}
	defer cs.close()
	store := cs.store
	r := operate.NewRedriver(cs.js, store, operate.RedriveConfig{Stream: c.cfg.NATS.Stream})
	w := c.e.Stdout
	if *all {
		prog := newProgress(c.e.Stderr)
		done, err := r.RedriveAll(ctx, f, *dryRun, func(n int) { prog.update("redrive: %d dead letters so far", n) })
		prog.done()
		for _, rd := range done {
			printRedriven(w, rd, *dryRun)
		}
		verb := "redriven"
		if *dryRun {
			verb = "would be redriven"
		}
		fmt.Fprintf(w, "%d dead letters %s\n", len(done), verb)
		return err
	}
	for _, id := range ids {
		if *dryRun {
			l, err := store.DeadLetter(ctx, id)
			if err != nil {
				return err
			}
			printRedriven(w, operate.Redriven{DeadLetterID: id, Attempt: l.RedriveCount + 1, Subject: l.Subject}, true)
			continue
		}
		rd, err := r.Redrive(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("%w (dead-letters list shows the IDs)", err)
		}
		if err != nil {
			return err
		}
		printRedriven(w, rd, false)
	}
	return nil
}

func printRedriven(w io.Writer, rd operate.Redriven, dryRun bool) {
	if dryRun {
		fmt.Fprintf(w, "would redrive dead letter %d to %s (attempt %d)\n", rd.DeadLetterID, rd.Subject, rd.Attempt)
		return
	}
	fmt.Fprintf(w, "redrove dead letter %d to %s (attempt %d, stream sequence %d); dead-letters show %d tells its outcome\n",
		rd.DeadLetterID, rd.Subject, rd.Attempt, rd.StreamSeq, rd.DeadLetterID)
}
