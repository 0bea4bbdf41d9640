package operate_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hooklane/hooklane/internal/operate"
	"github.com/hooklane/hooklane/storage"
)

// settled waits until dead letter id's attempt has an outcome other than
// pending, and returns the row.
func settled(t *testing.T, r *rig, id int64, attempt int) storage.StoredDeadLetter {
	t.Helper()
	var l storage.StoredDeadLetter
	eventually(t, "the redrive's outcome is recorded", func() bool {
		var err error
		if l, err = r.store.DeadLetter(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		return l.RedriveCount == attempt && l.Outcome != storage.RedrivePending
	})
	return l
}

func TestRedrive(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.startWorker(t)
	// The cause: a constraint that refuses one message's event.
	if _, err := r.db.Exec(t.Context(), `ALTER TABLE events ADD CONSTRAINT refuse_boom CHECK (event_key <> 'message:BOOM')`); err != nil {
		t.Fatal(err)
	}
	r.post(t, "whapi", whapiMessage("BOOM", "573001112233", "refused until the constraint goes"))
	r.post(t, "whapi", whapiMessage("FINE", "573001112233", "stored at once"))
	eventually(t, "one dead letter and the other delivery stored", func() bool {
		return r.count(t, `SELECT count(*) FROM dead_letters`) == 1 && r.count(t, `SELECT count(*) FROM events WHERE event_key = 'message:FINE'`) == 1
	})
	var first int64
	if err := r.db.QueryRow(t.Context(), `SELECT id FROM dead_letters`).Scan(&first); err != nil {
		t.Fatal(err)
	}
	rd := operate.NewRedriver(r.js, r.store, operate.RedriveConfig{Stream: r.stream})

	// Redriven before the cause is fixed: dead-lettered again, never lost.
	if _, err := rd.Redrive(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	l := settled(t, r, first, 1)
	if l.Outcome != storage.RedriveDeadLettered || l.NextDeadLetterID == 0 {
		t.Fatalf("redrive before the fix: outcome %q, next dead letter %d", l.Outcome, l.NextDeadLetterID)
	}
	second, err := r.store.DeadLetter(t.Context(), l.NextDeadLetterID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(second.Reason, "refuse_boom") || string(second.Body) != string(l.Body) || second.Source != "whapi" {
		t.Errorf("the new dead letter: reason %q, source %q, body %q", second.Reason, second.Source, second.Body)
	}

	// The dry run of --all picks the open one, the new dead letter, and
	// sends nothing.
	dry, err := rd.RedriveAll(t.Context(), storage.DeadLetterFilter{Source: "whapi"}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(dry) != 1 || dry[0].DeadLetterID != second.ID {
		t.Fatalf("dry run would redrive %+v, want dead letter %d alone", dry, second.ID)
	}
	if l, _ := r.store.DeadLetter(t.Context(), second.ID); l.RedriveCount != 0 {
		t.Errorf("the dry run redrove dead letter %d", second.ID)
	}

	// The cause fixed, --all stores it.
	if _, err := r.db.Exec(t.Context(), `ALTER TABLE events DROP CONSTRAINT refuse_boom`); err != nil {
		t.Fatal(err)
	}
	var progressed int
	done, err := rd.RedriveAll(t.Context(), storage.DeadLetterFilter{Source: "whapi", Reason: "REFUSE_BOOM"}, false, func(n int) { progressed = n })
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 1 || progressed != 1 {
		t.Fatalf("redrive --all: %+v (progress %d), want dead letter %d", done, progressed, second.ID)
	}
	if l := settled(t, r, second.ID, 1); l.Outcome != storage.RedriveStored || l.DeliveryID == 0 {
		t.Errorf("redrive after the fix: outcome %q, delivery %d", l.Outcome, l.DeliveryID)
	}

	// The first dead letter, redriven twice more: already stored, so
	// nothing changes.
	for attempt := 2; attempt <= 3; attempt++ {
		if _, err := rd.Redrive(t.Context(), first); err != nil {
			t.Fatal(err)
		}
		if l := settled(t, r, first, attempt); l.Outcome != storage.RedriveDuplicate {
			t.Errorf("attempt %d: outcome %q, want duplicate", attempt, l.Outcome)
		}
	}
	if n := r.count(t, `SELECT count(*) FROM events WHERE event_key = 'message:BOOM'`); n != 1 {
		t.Errorf("events of the redriven message = %d, want 1", n)
	}
	if n := r.count(t, `SELECT count(*) FROM deliveries`); n != 2 {
		t.Errorf("deliveries = %d, want 2", n)
	}
	if n := r.count(t, `SELECT count(*) FROM dead_letters`); n != 2 {
		t.Errorf("dead letters = %d, want 2", n)
	}

	if _, err := rd.Redrive(t.Context(), 999999); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("redrive of a missing dead letter: %v, want ErrNotFound", err)
	}
}
