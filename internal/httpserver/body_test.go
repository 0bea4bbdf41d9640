package httpserver_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hooklane/hooklane/internal/httpserver"
	"github.com/hooklane/hooklane/internal/metricstest"
)

func newBudget(t testing.TB, size int64) (*httpserver.BodyBudget, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	b, err := httpserver.NewBodyBudget(size, reg)
	if err != nil {
		t.Fatal(err)
	}
	return b, reg
}

func held(t *testing.T, reg *prometheus.Registry) float64 {
	return metricstest.Value(t, reg, "hooklane_http_unauthenticated_body_bytes")
}

// stalled is a body that sends a few bytes, then blocks until closed, as a
// client that claims a large Content-Length and stops sending.
type stalled struct {
	first []byte
	stop  chan struct{}
}

func (s *stalled) Read(p []byte) (int, error) {
	if len(s.first) > 0 {
		n := copy(p, s.first)
		s.first = s.first[n:]
		return n, nil
	}
	<-s.stop
	return 0, io.ErrUnexpectedEOF
}

func TestReadBody(t *testing.T) {
	t.Parallel()
	b, reg := newBudget(t, 1<<20)
	for _, tt := range []struct {
		name     string
		body     string
		claimed  int64 // Content-Length; -1: none (chunked)
		limit    int64
		tooLarge bool
	}{
		{"empty", "", 0, 100, false},
		{"small", `{"a":1}`, 7, 100, false},
		{"exactly the limit", strings.Repeat("x", 100), 100, 100, false},
		{"one over the limit", strings.Repeat("x", 101), 101, 100, true},
		{"claims over the limit", "x", 101, 100, true},
		{"unclaimed, over the limit", strings.Repeat("x", 101), -1, 100, true},
		{"unclaimed, grows past the first buffer", strings.Repeat("y", 300<<10), -1, 512 << 10, false},
		{"claimed, grows past the first buffer", strings.Repeat("z", 300<<10), 300 << 10, 512 << 10, false},
		{"claims less than it sends", strings.Repeat("l", 600), 10, 1000, false},
		{"claims less, sends over the limit", strings.Repeat("l", 1001), 10, 1000, true},
	} {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
		req.ContentLength = tt.claimed
		got, err := b.ReadBody(httptest.NewRecorder(), req, tt.limit)
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge != tt.tooLarge {
			t.Errorf("%s: ReadBody error %v, want too large %v", tt.name, err, tt.tooLarge)
			continue
		}
		if err == nil {
			if string(got.Bytes) != tt.body {
				t.Errorf("%s: read %d bytes, want %d", tt.name, len(got.Bytes), len(tt.body))
			}
			if held(t, reg) == 0 && len(tt.body) > 0 {
				t.Errorf("%s: the body holds none of the budget before Release", tt.name)
			}
			got.Release()
			got.Release() // a second call changes nothing
		}
		if h := held(t, reg); h != 0 {
			t.Errorf("%s: %v bytes still held after Release", tt.name, h)
		}
	}
}

// TestReadBodyBudget: bodies that claim much and send little hold 16 KiB
// each at first; once they hold the budget, the next is refused with
// ErrBusy at once, and released bytes serve new ones.
func TestReadBodyBudget(t *testing.T) {
	t.Parallel()
	const size = 256 << 10
	b, reg := newBudget(t, size)
	stop := make(chan struct{})
	type result struct {
		body *httpserver.Body
		err  error
	}
	results := make(chan result)
	for range 20 {
		req := httptest.NewRequest(http.MethodPost, "/", &stalled{first: []byte("{"), stop: stop})
		req.ContentLength = 4 << 20
		go func() {
			body, err := b.ReadBody(httptest.NewRecorder(), req, 4<<20)
			results <- result{body, err}
		}()
	}
	// 16 of 16 KiB fill 256 KiB: the other 4 are refused while those wait.
	for range 4 {
		if r := <-results; !errors.Is(r.err, httpserver.ErrBusy) {
			t.Fatalf("ReadBody = %v, want ErrBusy", r.err)
		}
	}
	if h := held(t, reg); h != size {
		t.Errorf("held %v bytes, want the whole budget, %d", h, size)
	}
	if n := metricstest.Value(t, reg, "hooklane_http_body_budget_exhausted_total"); n != 4 {
		t.Errorf("budget exhausted counter = %v, want 4", n)
	}
	close(stop)
	for range 16 {
		if r := <-results; r.err == nil {
			t.Errorf("a stalled body was read whole")
		}
	}
	if h := held(t, reg); h != 0 {
		t.Errorf("%v bytes held after every read failed", h)
	}
}

// BenchmarkReadBody reads a 3 MB Meta-sized body, and a 2 KB one, with the
// buffer growing as bytes arrive, beside one sized at once from the
// Content-Length as before: the growing costs the copies of its doublings.
func BenchmarkReadBody(b *testing.B) {
	budget, _ := newBudget(b, 0)
	for _, n := range []int{2 << 10, 3 << 20} {
		body := bytes.Repeat([]byte("x"), n)
		b.Run(fmt.Sprintf("%dKiB/growing", n>>10), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
				got, err := budget.ReadBody(httptest.NewRecorder(), req, 4<<20)
				if err != nil {
					b.Fatal(err)
				}
				got.Release()
			}
		})
		b.Run(fmt.Sprintf("%dKiB/presized", n>>10), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
				buf := bytes.NewBuffer(make([]byte, 0, req.ContentLength+bytes.MinRead))
				if _, err := buf.ReadFrom(http.MaxBytesReader(httptest.NewRecorder(), req.Body, 4<<20)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
