package opscmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hooklane/hooklane/internal/app"
	"github.com/hooklane/hooklane/internal/config"
	"github.com/hooklane/hooklane/storage"
)

// opsCommand is what the operating commands (tail, dead-letters, replay,
// purge) share: a flag set whose --help prints the usage and succeeds and
// whose bad flags are usage errors, and the config it loads.
type opsCommand struct {
	name  string
	usage string
	fs    *flag.FlagSet
	e     app.Env
	cfg   *config.Config
	path  *string
}

func newOpsCommand(name, usage string, e app.Env) *opsCommand {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := &opsCommand{name: name, usage: usage, fs: fs, e: e}
	c.path = fs.String("config", e.Getenv(config.EnvConfig), "config `file` (HOOKLANE_CONFIG)")
	return c
}

// parse reads args; help reports that --help was asked for and answered.
// It loads the config unless help was asked for.
func (c *opsCommand) parse(args []string) (help bool, err error) {
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.printUsage(c.e.Stdout)
			return true, nil
		}
		c.printUsage(c.e.Stderr)
		return false, fmt.Errorf("%s: %v: %w", c.name, err, app.ErrUsage)
	}
	if *c.path == "" {
		return false, fmt.Errorf("%s: no config file: pass --config FILE or set HOOKLANE_CONFIG: %w", c.name, app.ErrUsage)
	}
	cfg, err := config.LoadLookup(*c.path, c.e.Lookup)
	if err != nil {
		return false, err
	}
	c.cfg = cfg
	return false, nil
}

// usageError reports a command line the command cannot take.
func (c *opsCommand) usageError(format string, args ...any) error {
	c.printUsage(c.e.Stderr)
	return fmt.Errorf("%s: %s: %w", c.name, fmt.Sprintf(format, args...), app.ErrUsage)
}

func (c *opsCommand) printUsage(w io.Writer) {
	fmt.Fprintln(w, c.usage)
	c.fs.SetOutput(w)
	c.fs.PrintDefaults()
	c.fs.SetOutput(io.Discard)
}

// conns is what an operating command connects to; close closes it.
type conns struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	store *storage.Store
}

func (c *conns) close() {
	if c.store != nil {
		c.store.Close()
	}
	if c.nc != nil {
		c.nc.Close()
	}
}

// connect joins what the command needs: NATS (nats.url or NATS_URL) when
// withNATS is set, the database, brought up to date, when withStore is.
func (c *opsCommand) connect(ctx context.Context, withNATS, withStore bool) (*conns, error) {
	cs := &conns{}
	if withNATS {
		if c.cfg.NATS.URL == "" {
			return nil, fmt.Errorf("%s: no NATS: set NATS_URL or nats.url (with \"hooklane all\", the nats.listen address)", c.name)
		}
		nc, err := nats.Connect(c.cfg.NATS.URL, nats.Name("hooklane-"+strings.ReplaceAll(c.name, " ", "-")))
		if err != nil {
			return nil, fmt.Errorf("%s: connect to nats at %s: %w", c.name, c.cfg.NATS.URL, err)
		}
		cs.nc = nc
		if cs.js, err = jetstream.New(nc); err != nil {
			cs.close()
			return nil, fmt.Errorf("%s: jetstream: %w", c.name, err)
		}
	}
	if withStore {
		if err := storage.Migrate(ctx, c.cfg.DatabaseURL); err != nil {
			cs.close()
			return nil, fmt.Errorf("%s: database: %w", c.name, err)
		}
		store, err := storage.Open(ctx, c.cfg.DatabaseURL, storage.Config{MaxConns: 2})
		if err != nil {
			cs.close()
			return nil, fmt.Errorf("%s: database: %w", c.name, err)
		}
		cs.store = store
	}
	return cs, nil
}

// parseTime reads a flag's time: RFC 3339 ("2026-05-06T19:00:00Z"), a date
// ("2026-05-06", UTC) or an age before now ("90m", "36h", "7d").
func parseTime(flagName, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	var age config.Age
	if err := age.UnmarshalText([]byte(s)); err == nil && age >= 0 {
		return now.Add(-time.Duration(age)), nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: give a time (2026-05-06T19:00:00Z), a date (2026-05-06) or an age (36h, 7d)", flagName, s)
}

// progress writes a line to w once work has taken a second, and then at
// most once a second, for work that takes long; work done sooner prints
// none.
type progress struct {
	w       io.Writer
	mu      sync.Mutex
	last    time.Time // when the last line was written, or the work began
	line    string    // the latest line, if not written yet
	printed bool
}

func newProgress(w io.Writer) *progress { return &progress{w: w, last: time.Now()} }

func (p *progress) update(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line = fmt.Sprintf(format, args...)
	if time.Since(p.last) >= time.Second {
		p.last, p.printed = time.Now(), true
		fmt.Fprintln(p.w, p.line)
		p.line = ""
	}
}

// done writes the latest line not yet written, if any line was.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.printed && p.line != "" {
		fmt.Fprintln(p.w, p.line)
		p.line = ""
	}
}

// truncate cuts s to n runes, marking the cut.
func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
