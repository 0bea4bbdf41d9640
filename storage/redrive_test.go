package storage_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hooklane/hooklane/storage"
)

func TestDeadLetterFiltersAndRedriveStates(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	ctx := t.Context()
	if err := s.SaveDeadLetters(ctx, []storage.DeadLetter{
		{Stream: "S", Sequence: 1, Subject: "h.events.wa.messages", Source: "wa", Reason: "store: ERROR: value too long", Body: []byte(`{}`)},
		{Stream: "S", Sequence: 2, Subject: "h.events.wa.messages", Source: "wa", Reason: "decode: malformed", Body: []byte(`x`)},
		{Stream: "S", Sequence: 3, Subject: "h.events.whapi.ack_update", Source: "whapi", Reason: "store: ERROR: Value Too Long", Body: []byte(`{}`)},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `UPDATE dead_letters SET created_at = now() - interval '2 days' WHERE stream_seq = 1`); err != nil {
		t.Fatal(err)
	}
	ids := func(f storage.DeadLetterFilter) []int64 {
		t.Helper()
		letters, err := s.DeadLetters(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, l := range letters {
			if l.Body != nil {
				t.Errorf("a list carries dead letter %d's body", l.ID)
			}
			out = append(out, l.ID)
		}
		return out
	}
	for _, tt := range []struct {
		name string
		f    storage.DeadLetterFilter
		want []int64
	}{
		{"all", storage.DeadLetterFilter{}, []int64{1, 2, 3}},
		{"source", storage.DeadLetterFilter{Source: "wa"}, []int64{1, 2}},
		{"reason ignores case", storage.DeadLetterFilter{Reason: "too long"}, []int64{1, 3}},
		{"since", storage.DeadLetterFilter{Since: time.Now().Add(-time.Hour)}, []int64{2, 3}},
		{"page", storage.DeadLetterFilter{AfterID: 1, Limit: 1}, []int64{2}},
	} {
		if got := ids(tt.f); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}

	l, err := s.BeginRedrive(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if l.RedriveCount != 1 || l.Outcome != storage.RedrivePending || l.RedrivenAt.IsZero() || string(l.Body) != "x" {
		t.Errorf("begun redrive: %+v", l)
	}
	if got := ids(storage.DeadLetterFilter{Open: true}); !slices.Equal(got, []int64{1, 3}) {
		t.Errorf("open while 2 is pending: %v", got)
	}
	if err := s.RedriveUnpublished(ctx, storage.Redrive{DeadLetterID: 2, Attempt: 1}, "nats: no responders"); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.DeadLetter(ctx, 2); l.Outcome != storage.RedriveUnpublished || l.RedriveError != "nats: no responders" {
		t.Errorf("unpublished redrive: outcome %q, error %q", l.Outcome, l.RedriveError)
	}
	if got := ids(storage.DeadLetterFilter{Open: true}); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("open once 2's redrive failed to publish: %v", got)
	}
	// A stale attempt settles nothing.
	if err := s.SettleRedrives(ctx, []storage.RedriveSettled{{Redrive: storage.Redrive{DeadLetterID: 2, Attempt: 7}}}); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.DeadLetter(ctx, 2); l.Outcome != storage.RedriveUnpublished {
		t.Errorf("a stale attempt settled dead letter 2: %q", l.Outcome)
	}
	if _, err := s.BeginRedrive(ctx, 99); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("redrive of a missing dead letter: %v", err)
	}
}
