package loadgen

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Key is a row's unique key: (source, dedupe_key) of a delivery, or
// (source, event_key) of an event.
type Key struct{ Source, Key string }

func (k Key) String() string { return k.Source + " " + k.Key }

// DB is what the checks query: a *pgx.Conn or a *pgxpool.Pool.
type DB interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Baseline is the last delivery and event ids stored before a run: the
// run's rows come after them.
type Baseline struct{ Delivery, Event int64 }

// ReadBaseline reads the baseline for a run about to start.
func ReadBaseline(ctx context.Context, db DB) (Baseline, error) {
	var b Baseline
	err := db.QueryRow(ctx, `SELECT (SELECT coalesce(max(id), 0) FROM deliveries), (SELECT coalesce(max(id), 0) FROM events)`).
		Scan(&b.Delivery, &b.Event)
	if err != nil {
		return Baseline{}, fmt.Errorf("loadgen: read baseline: %w", err)
	}
	return b, nil
}

// Expectation is what a run should have left in Postgres.
type Expectation struct {
	RunID    string
	Baseline Baseline
	// Deliveries and Events are what the 2xx answers promise: every
	// distinct delivery and event once, however often it was sent.
	Deliveries, Events map[Key]bool
	// MayDeliveries and MayEvents belong to requests that never got a 2xx:
	// they may or may not be stored.
	MayDeliveries, MayEvents map[Key]bool
}

// Expect computes what the run should have stored, with hooklane's
// providers, from the bodies it sent. base is the baseline read before
// the run.
func (s *Sent) Expect(base Baseline) (*Expectation, error) {
	exp := &Expectation{
		RunID: s.runID, Baseline: base,
		Deliveries: map[Key]bool{}, Events: map[Key]bool{},
		MayDeliveries: map[Key]bool{}, MayEvents: map[Key]bool{},
	}
	add := func(req *Request, deliveries, events map[Key]bool) error {
		d, evs, err := req.Keys()
		if err != nil {
			return err
		}
		deliveries[d] = true
		for _, e := range evs {
			events[e] = true
		}
		return nil
	}
	for req := range s.accepted {
		if err := add(req, exp.Deliveries, exp.Events); err != nil {
			return nil, err
		}
	}
	for req := range s.refused {
		if s.accepted[req] {
			continue
		}
		if err := add(req, exp.MayDeliveries, exp.MayEvents); err != nil {
			return nil, err
		}
	}
	return exp, nil
}

// The run's rows: after the baseline, from a body that holds the run id.
const (
	runEventsWhere = `FROM events e JOIN deliveries d ON d.id = e.delivery_id
		WHERE e.id > $1 AND d.id > $2 AND position($3::bytea IN d.body) > 0`
	runDeliveriesSQL = `SELECT source, dedupe_key, encode(sha256(body), 'hex') FROM deliveries
		WHERE id > $1 AND position($2::bytea IN body) > 0`
)

// Drained is what a run left in Postgres once the workers caught up.
type Drained struct {
	Events     int       // the run's events stored
	LastStored time.Time // when the last of them was stored (its transaction began)
}

// EventsPerSecond is the end-to-end rate: events stored per second from
// since, the run's first request, to the last one stored.
func (d Drained) EventsPerSecond(since time.Time) float64 {
	if el := d.LastStored.Sub(since); el > 0 {
		return float64(d.Events) / el.Seconds()
	}
	return 0
}

// ErrNotDrained reports that the run's events were not all stored in time.
var ErrNotDrained = errors.New("loadgen: events not all stored in time")

// Drain polls Postgres until the count of the run's events reaches the
// expectation and stops changing, and returns ErrNotDrained (wrapped)
// after timeout. Events of requests that got no 2xx may add to the count.
//
// A poll first counts the events stored after the baseline, a range of the
// primary key: it holds the run's events, so while it falls short so does
// the run's count. Only then does it count the run's own, which reads every
// body after the baseline: polled every time, that scan took a core's tenth
// of a second, out of the CPUs the workers it waits for share.
func Drain(ctx context.Context, db DB, exp *Expectation, timeout time.Duration) (Drained, error) {
	const poll = 200 * time.Millisecond
	deadline := time.Now().Add(timeout)
	last := Drained{Events: -1}
	for {
		var d Drained
		var after int
		err := db.QueryRow(ctx, `SELECT count(*) FROM events WHERE id > $1`, exp.Baseline.Event).Scan(&after)
		if err != nil {
			return Drained{}, fmt.Errorf("loadgen: count the events stored: %w", err)
		}
		d.Events = after
		if after >= len(exp.Events) {
			var stored *time.Time
			err := db.QueryRow(ctx, `SELECT count(*), max(e.stored_at) `+runEventsWhere,
				exp.Baseline.Event, exp.Baseline.Delivery, []byte(exp.RunID)).Scan(&d.Events, &stored)
			if err != nil {
				return Drained{}, fmt.Errorf("loadgen: count the run's events: %w", err)
			}
			if stored != nil {
				d.LastStored = *stored
			}
			if d.Events >= len(exp.Events) && d.Events == last.Events {
				return d, nil
			}
		}
		if time.Now().After(deadline) {
			return d, fmt.Errorf("%w: after %s, %d of %d", ErrNotDrained, timeout, d.Events, len(exp.Events))
		}
		last = d
		select {
		case <-time.After(poll):
		case <-ctx.Done():
			return d, ctx.Err()
		}
	}
}

// VerifyError is what Verify found wrong.
type VerifyError struct {
	Deliveries, Events int // how many were expected
	MissingEvents      []Key
	UnexpectedEvents   []Key // neither expected nor possible: a double under another key
	MissingDeliveries  []Key
	// UnexpectedDeliveries are neither expected nor possible.
	UnexpectedDeliveries []Key
	// DoubledBodies counts bodies stored as more than one delivery.
	DoubledBodies int
}

func (e *VerifyError) Error() string {
	var parts []string
	add := func(keys []Key, of int, what string) {
		if len(keys) == 0 {
			return
		}
		s := fmt.Sprintf("%d %s", len(keys), what)
		if of > 0 {
			s = fmt.Sprintf("%d of %d %s", len(keys), of, what)
		}
		examples := keys[:min(len(keys), 3)]
		parts = append(parts, fmt.Sprintf("%s (e.g. %s)", s, joinKeys(examples)))
	}
	add(e.MissingEvents, e.Events, "events missing")
	add(e.UnexpectedEvents, 0, "unexpected events")
	add(e.MissingDeliveries, e.Deliveries, "deliveries missing")
	add(e.UnexpectedDeliveries, 0, "unexpected deliveries")
	if e.DoubledBodies > 0 {
		parts = append(parts, fmt.Sprintf("%d bodies stored as more than one delivery", e.DoubledBodies))
	}
	return "exactly-once violated: " + strings.Join(parts, "; ")
}

func joinKeys(keys []Key) string {
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = k.String()
	}
	return strings.Join(s, ", ")
}

// Verify checks that Postgres holds the run's rows exactly once: every
// expected delivery and event, no row of the run that no request could
// have caused, and no body stored as two deliveries. (A key stored twice
// cannot happen under the unique indexes, so a double shows up as an
// unexpected key or a doubled body.) It returns a *VerifyError saying
// what is lost or doubled.
func Verify(ctx context.Context, db DB, exp *Expectation) error {
	events, err := collect(ctx, db, `SELECT e.source, e.event_key `+runEventsWhere,
		func(row pgx.CollectableRow) (Key, error) {
			var k Key
			return k, row.Scan(&k.Source, &k.Key)
		}, exp.Baseline.Event, exp.Baseline.Delivery, []byte(exp.RunID))
	if err != nil {
		return fmt.Errorf("loadgen: read the run's events: %w", err)
	}
	type delivery struct {
		key  Key
		body string // its SHA-256
	}
	deliveries, err := collect(ctx, db, runDeliveriesSQL,
		func(row pgx.CollectableRow) (delivery, error) {
			var d delivery
			return d, row.Scan(&d.key.Source, &d.key.Key, &d.body)
		}, exp.Baseline.Delivery, []byte(exp.RunID))
	if err != nil {
		return fmt.Errorf("loadgen: read the run's deliveries: %w", err)
	}

	verr := &VerifyError{Deliveries: len(exp.Deliveries), Events: len(exp.Events)}
	verr.MissingEvents, verr.UnexpectedEvents = compare(exp.Events, exp.MayEvents, events)
	keys := make([]Key, len(deliveries))
	bodies := make(map[Key]int, len(deliveries)) // by source and body hash
	for i, d := range deliveries {
		keys[i] = d.key
		bodies[Key{Source: d.key.Source, Key: d.body}]++
	}
	verr.MissingDeliveries, verr.UnexpectedDeliveries = compare(exp.Deliveries, exp.MayDeliveries, keys)
	for _, n := range bodies {
		if n > 1 {
			verr.DoubledBodies++
		}
	}
	if len(verr.MissingEvents)+len(verr.UnexpectedEvents)+len(verr.MissingDeliveries)+
		len(verr.UnexpectedDeliveries)+verr.DoubledBodies > 0 {
		return verr
	}
	return nil
}

// compare returns the keys of want not in got, and those of got in
// neither want nor may, each sorted.
func compare(want, may map[Key]bool, got []Key) (missing, unexpected []Key) {
	seen := make(map[Key]bool, len(got))
	for _, k := range got {
		seen[k] = true
		if !want[k] && !may[k] {
			unexpected = append(unexpected, k)
		}
	}
	for k := range want {
		if !seen[k] {
			missing = append(missing, k)
		}
	}
	sortKeys := func(a, b Key) int { return strings.Compare(a.String(), b.String()) }
	slices.SortFunc(missing, sortKeys)
	slices.SortFunc(unexpected, sortKeys)
	return missing, unexpected
}

// collect runs sql and scans every row with scan.
func collect[T any](ctx context.Context, db DB, sql string, scan pgx.RowToFunc[T], args ...any) ([]T, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scan)
}
