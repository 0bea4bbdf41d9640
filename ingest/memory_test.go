package ingest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hooklane/hooklane/internal/httpserver"
	"github.com/hooklane/hooklane/internal/metricstest"
	"github.com/hooklane/hooklane/internal/natstest"
)

// heapBoundBeforeAuth is what 1,000 connections that each claim a 4 MiB
// body and send a few bytes may add to the live heap: their buffers start
// at 16 KiB, and the connections' own state is a few KiB more each. Sized
// from the Content-Length they claim, as before, they held 4 GiB.
const heapBoundBeforeAuth = 96 << 20

// TestClaimedBodiesCostNoMemory: 1,000 connections each claim a 4 MiB body
// and send a few bytes, and stop; the live heap stays within
// heapBoundBeforeAuth while all of them wait in the handler.
func TestClaimedBodiesCostNoMemory(t *testing.T) {
	r := newHostileRig(t, 4<<20)
	srv := httptest.NewServer(r.http)
	t.Cleanup(srv.Close)
	baseline := liveHeap()

	const conns = 1000
	var open []net.Conn
	t.Cleanup(func() {
		for _, c := range open {
			c.Close()
		}
	})
	addr := srv.Listener.Addr().String()
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		open = append(open, c)
		if _, err := fmt.Fprintf(c, "POST /webhooks/whapi HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"a\":", 4<<20); err != nil {
			t.Fatal(err)
		}
	}
	// Every request has reached the body read once the budget holds a
	// first buffer for each; the minute is a bound for a stuck server.
	want := float64(conns * 16 << 10)
	for deadline := time.Now().Add(time.Minute); ; {
		if held := metricstest.Value(t, r.reg, "hooklane_http_unauthenticated_body_bytes"); held == want {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the budget holds %v bytes, want %v: not every request reached its body", held, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	heap := liveHeap()
	t.Logf("live heap %d MiB before the connections, %d MiB with %d connections waiting (bound: +%d MiB)",
		baseline>>20, heap>>20, conns, heapBoundBeforeAuth>>20)
	if heap > baseline+heapBoundBeforeAuth {
		t.Errorf("live heap grew by %d MiB with %d connections claiming 4 MiB each, over the bound of %d MiB",
			(heap-baseline)>>20, conns, heapBoundBeforeAuth>>20)
	}
}

// TestBodyBudgetExhausted: once bodies not yet authenticated hold the
// whole budget, the next request is answered 503 with Retry-After, logged
// and counted, and a request after them is served again.
func TestBodyBudgetExhausted(t *testing.T) {
	t.Parallel()
	js, stream, prefix := newStream(t, natstest.URL(t))
	reg := prometheus.NewRegistry()
	budget, err := httpserver.NewBodyBudget(64<<10, reg)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := newHostileHandler(t, js, stream, prefix, hostileMaxBody)
	h.cfg.BodyBudget = budget
	mux := http.NewServeMux()
	mux.Handle("/webhooks/{source}", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	// Four stalled requests hold 16 KiB each: the budget.
	var stalled []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		stalled = append(stalled, c)
		fmt.Fprintf(c, "POST /webhooks/whapi HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n{", 100<<10)
	}
	for deadline := time.Now().Add(time.Minute); metricstest.Value(t, reg, "hooklane_http_unauthenticated_body_bytes") != 64<<10; {
		if time.Now().After(deadline) {
			t.Fatal("the stalled requests never held the budget")
		}
		time.Sleep(20 * time.Millisecond)
	}
	s := signers[3]
	body := s.body(uniqueID("busy"), "hola")
	resp, err := srv.Client().Do(withURL(s.request(body, s.sign(body)), srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("past the budget: status %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if n := testutil.ToFloat64(h.metrics.deliveries.WithLabelValues("whapi", "whapi", outcomeBusy)); n != 1 {
		t.Errorf("busy deliveries counted %v, want 1", n)
	}
	for _, c := range stalled {
		c.Close()
	}
	for deadline := time.Now().Add(time.Minute); metricstest.Value(t, reg, "hooklane_http_unauthenticated_body_bytes") != 0; {
		if time.Now().After(deadline) {
			t.Fatal("the closed requests still hold the budget")
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err = srv.Client().Do(withURL(s.request(body, s.sign(body)), srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with the budget free again: status %d, want 200", resp.StatusCode)
	}
}

// withURL makes a test request one a client can send to base.
func withURL(req *http.Request, base string) *http.Request {
	out, _ := http.NewRequest(req.Method, base+req.URL.Path, req.Body)
	out.Header = req.Header
	return out
}

// liveHeap is the heap in use once garbage is collected.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
