package httpserver

import (
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"
)

// ErrBusy reports a body refused because the requests not yet
// authenticated already hold the whole BodyBudget: answer 503 with
// Retry-After.
var ErrBusy = errors.New("too many bytes held by requests not yet authenticated; retry later")

// DefaultBodyBudget is the default of the bytes that bodies not yet
// authenticated may hold in one process: 16 bodies of 4 MiB.
const DefaultBodyBudget = 64 << 20

// Reading a body starts with a buffer for the Content-Length it claims,
// up to maxInitialBody, and doubles as bytes arrive: a claim costs no
// memory until the bytes are there. Without a Content-Length it starts at
// minBody.
const (
	minBody        = 512
	maxInitialBody = 16 << 10
)

// BodyBudget bounds the memory that request bodies hold before their
// request is authenticated, across every handler of a process that shares
// it: a semaphore by bytes. A body takes from it as its buffer grows and
// gives back when the handler calls Body.Release, once the request's
// signature or token is checked. It is safe for concurrent use.
type BodyBudget struct {
	sem     *semaphore.Weighted
	size    int64
	held    prometheus.Gauge
	refused prometheus.Counter
}

// NewBodyBudget returns a budget of size bytes (DefaultBodyBudget when
// size is 0), its metrics registered with reg.
func NewBodyBudget(size int64, reg prometheus.Registerer) (*BodyBudget, error) {
	if size <= 0 {
		size = DefaultBodyBudget
	}
	b := &BodyBudget{
		sem:  semaphore.NewWeighted(size),
		size: size,
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hooklane_http_unauthenticated_body_bytes",
			Help: "Bytes of request bodies read and not yet authenticated.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hooklane_http_body_budget_exhausted_total",
			Help: "Requests answered 503 because bodies not yet authenticated held the whole budget.",
		}),
	}
	for _, c := range []prometheus.Collector{b.held, b.refused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Size is the budget's size in bytes.
func (b *BodyBudget) Size() int64 { return b.size }

// Body is a request body read under a BodyBudget.
type Body struct {
	// Bytes is the body, byte for byte.
	Bytes  []byte
	budget *BodyBudget
	once   sync.Once
	held   int64
}

// Release gives the body's bytes back to its budget: call it once the
// request is authenticated, and, with defer, when its handling ends.
// Calls after the first do nothing.
func (b *Body) Release() {
	b.once.Do(func() {
		if b.budget != nil && b.held > 0 {
			b.budget.release(b.held)
		}
	})
}

func (b *BodyBudget) acquire(n int64) bool {
	if !b.sem.TryAcquire(n) {
		b.refused.Inc()
		return false
	}
	b.held.Add(float64(n))
	return true
}

func (b *BodyBudget) release(n int64) {
	b.held.Sub(float64(n))
	b.sem.Release(n)
}

// ReadBody reads r's whole body, at most limit bytes, whatever its
// Content-Length says: a claim over limit is refused before a byte is read,
// and the buffer grows only as bytes arrive, from at most 16 KiB. Past limit
// it returns an *http.MaxBytesError (and the server closes the connection
// after the answer), when the budget is held by others ErrBusy, and
// otherwise the read's error. The caller releases the returned Body.
func (b *BodyBudget) ReadBody(w http.ResponseWriter, r *http.Request, limit int64) (*Body, error) {
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	size := int64(minBody)
	if r.ContentLength >= 0 {
		size = min(max(r.ContentLength+1, minBody), maxInitialBody) // +1: room to see the end
	}
	size = min(size, limit+1)
	body := &Body{budget: b}
	if !b.acquire(size) {
		return nil, ErrBusy
	}
	body.held = size
	buf := make([]byte, 0, size)
	src := http.MaxBytesReader(w, r.Body, limit)
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit { // MaxBytesReader says so on its next read
				body.Release()
				return nil, &http.MaxBytesError{Limit: limit}
			}
			grown := min(2*int64(cap(buf)), limit+1)
			if r.ContentLength >= int64(cap(buf)) { // net/http reads no further than it
				grown = min(grown, r.ContentLength+1)
			}
			if !b.acquire(grown - int64(cap(buf))) {
				body.Release()
				return nil, ErrBusy
			}
			body.held = grown
			buf = append(make([]byte, 0, grown), buf...)
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			body.Bytes = buf
			return body, nil
		}
		if err != nil {
			body.Release()
			return nil, err
		}
	}
}
