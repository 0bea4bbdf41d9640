package operate_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hooklane/hooklane/internal/operate"
	"github.com/hooklane/hooklane/storage"
)

// eventRows is every column of a source's events but the row id and the
// time it was written, in key order.
func eventRows(t *testing.T, r *rig, source string) [][]any {
	t.Helper()
	rows, err := r.db.Query(t.Context(), `
SELECT delivery_id, source, provider, event_type, event_key, account, resource_type, resource_id,
	conversation_id, phone, occurred_at, received_at, payload::text
FROM events WHERE source = $1 ORDER BY event_key`, source)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) ([]any, error) { return row.Values() })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReplayRestoresDeletedEvents(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.startWorker(t)
	for _, f := range []string{"messages_batch", "statuses", "flow_completion", "template_status"} {
		body, err := os.ReadFile("../../testdata/payloads/meta/" + f + ".json")
		if err != nil {
			t.Fatal(err)
		}
		r.post(t, "wa", string(body))
	}
	r.post(t, "whapi", whapiMessage("KEEP", "573001112233", "another source"))
	eventually(t, "every delivery stored", func() bool { return r.count(t, `SELECT count(*) FROM deliveries`) == 5 })
	want := eventRows(t, r, "wa")
	if len(want) < 8 {
		t.Fatalf("only %d events from the Meta samples", len(want))
	}
	others := eventRows(t, r, "whapi")
	if _, err := r.db.Exec(t.Context(), `DELETE FROM events WHERE source = 'wa'`); err != nil {
		t.Fatal(err)
	}

	// Interrupted after its first batch of one delivery...
	job := storage.ReplayJob{Source: "wa", Name: "wa since=30d", Since: time.Now().Add(-30 * 24 * time.Hour)}
	ctx, cancel := context.WithCancel(t.Context())
	res, err := operate.Replay(ctx, r.store, job, operate.ReplayConfig{BatchSize: 1, Progress: func(storage.ReplayCheckpoint) { cancel() }})
	if !errors.Is(err, context.Canceled) || res.Deliveries != 1 {
		t.Fatalf("interrupted replay: %d deliveries, err %v", res.Deliveries, err)
	}
	// ...it resumes where it stopped, with the times it began with.
	job.Since = time.Now()
	res, err = operate.Replay(t.Context(), r.store, job, operate.ReplayConfig{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.Deliveries != 4 || res.Events != int64(len(want)) || res.Unparsable != 0 {
		t.Errorf("resumed replay: %+v, want 4 deliveries and %d events", res, len(want))
	}
	if got := eventRows(t, r, "wa"); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("after the replay the events are\n%v\nwant\n%v", got, want)
	}
	if got := eventRows(t, r, "whapi"); !slices.EqualFunc(got, others, slices.Equal) {
		t.Errorf("another source's events changed: %v, want %v", got, others)
	}

	// Again: a fresh run, which finds nothing missing.
	res, err = operate.Replay(t.Context(), r.store, storage.ReplayJob{Source: "wa"}, operate.ReplayConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed || res.Deliveries != 4 || res.Events != 0 {
		t.Errorf("second replay: %+v, want 4 deliveries re-derived and no event stored", res)
	}
	// Filters select deliveries.
	res, err = operate.Replay(t.Context(), r.store, storage.ReplayJob{Source: "wa", EventType: "no-such-type"}, operate.ReplayConfig{})
	if err != nil || res.Deliveries != 0 {
		t.Errorf("replay of no delivery type: %+v, %v", res, err)
	}
}
