package gateway

import (
	"crypto/sha256"
	"sync"
	"time"
)

// maxReplays bounds the sessions remembered: 64 bytes each, 64 MiB at
// most. Past it the oldest are forgotten before their window ends.
const maxReplays = 1 << 20

// replays remembers the sessions of encrypted requests for a window, to
// refuse a request that repeats one.
type replays struct {
	mu     sync.Mutex
	window time.Duration
	max    int
	seen   map[[sha256.Size]byte]time.Time
	order  []replay // oldest first
}

type replay struct {
	id [sha256.Size]byte
	at time.Time
}

func newReplays(window time.Duration, max int) *replays {
	return &replays{window: window, max: max, seen: make(map[[sha256.Size]byte]time.Time)}
}

// first records id at now and reports whether it is new: not seen within
// the window.
func (r *replays) first(id [sha256.Size]byte, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.order) > 0 && (now.Sub(r.order[0].at) > r.window || len(r.order) >= r.max) {
		delete(r.seen, r.order[0].id)
		r.order = r.order[1:]
	}
	if _, ok := r.seen[id]; ok {
		return false
	}
	r.seen[id] = now
	r.order = append(r.order, replay{id, now})
	return true
}
