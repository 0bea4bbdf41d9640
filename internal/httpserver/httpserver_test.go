package httpserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hooklane/hooklane/internal/httpserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// randomID is the form of an id WithRequestID makes up.
var randomID = regexp.MustCompile(`^[0-9a-f]{24}$`)

func TestRequestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		keep bool
	}{
		{"sane id kept", "req-42", true},
		{"uuid kept", "5e3a1b9c-7d12-4a8e-9c5f-1e6b8d0a2c4f", true},
		{"printable punctuation kept", "a:b/c=d~e!", true},
		{"128 characters kept", strings.Repeat("a", 128), true},
		{"129 characters replaced", strings.Repeat("a", 129), false},
		{"64 KiB replaced", strings.Repeat("a", 64<<10), false},
		{"missing gets one", "", false},
		{"space replaced", "a b", false},
		{"tab replaced", "a\tb", false},
		{"newline replaced", "a\r\nX-Injected: 1", false},
		{"NUL replaced", "a\x00b", false},
		{"escape replaced", "abc\x1b[31m", false},
		{"DEL replaced", "a\x7fb", false},
		{"non-ASCII replaced", "idé", false},
		{"invalid UTF-8 replaced", "id\xff", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var seen string
			h := httpserver.WithRequestID(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				seen = httpserver.RequestID(r.Context())
			}))
			req := httptest.NewRequest(http.MethodPost, "/webhooks/x", nil)
			if tt.in != "" {
				req.Header.Set(httpserver.HeaderRequestID, tt.in)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Get(httpserver.HeaderRequestID)
			if got != seen {
				t.Fatalf("answer says %q, handler saw %q", got, seen)
			}
			if tt.keep {
				if got != tt.in {
					t.Fatalf("id %q replaced by %q, want it kept", tt.in, got)
				}
				return
			}
			if !randomID.MatchString(got) {
				t.Fatalf("id %q became %q, want a fresh 24-hex-digit id", tt.in, got)
			}
		})
	}
	t.Run("fresh ids differ", func(t *testing.T) {
		t.Parallel()
		h := httpserver.WithRequestID(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		ids := map[string]bool{}
		for range 100 {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			ids[rec.Header().Get(httpserver.HeaderRequestID)] = true
		}
		if len(ids) != 100 {
			t.Fatalf("100 requests got %d distinct ids", len(ids))
		}
	})
	t.Run("no id outside WithRequestID", func(t *testing.T) {
		t.Parallel()
		if id := httpserver.RequestID(context.Background()); id != "" {
			t.Fatalf("RequestID of a bare context = %q", id)
		}
	})
}

func TestHealth(t *testing.T) {
	t.Parallel()
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("connection refused") }
	tests := []struct {
		name   string
		checks []httpserver.Check
		status int
		want   map[string]string
	}{
		{"no checks", nil, 200, map[string]string{}},
		{"all pass", []httpserver.Check{{Name: "jetstream", Func: ok}, {Name: "postgres", Func: ok}}, 200,
			map[string]string{"jetstream": "ok", "postgres": "ok"}},
		// A failing check does not hide the others: each is named with its
		// own result.
		{"one fails", []httpserver.Check{{Name: "jetstream", Func: down}, {Name: "postgres", Func: ok}}, 503,
			map[string]string{"jetstream": "connection refused", "postgres": "ok"}},
		{"all fail", []httpserver.Check{{Name: "jetstream", Func: down}, {Name: "postgres", Func: down}}, 503,
			map[string]string{"jetstream": "connection refused", "postgres": "connection refused"}},
		{"a check bounded by two seconds", []httpserver.Check{{Name: "slow", Func: func(ctx context.Context) error {
			deadline, ok := ctx.Deadline()
			if !ok || time.Until(deadline) > 2*time.Second {
				return errors.New("no two-second deadline")
			}
			return nil
		}}}, 200, map[string]string{"slow": "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mux := http.NewServeMux()
			httpserver.Health(mux, tt.checks...)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != tt.status {
				t.Fatalf("readyz status %d, want %d (%s)", rec.Code, tt.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var got map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("readyz body %q: %v", rec.Body, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("readyz = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("readyz[%s] = %q, want %q", k, got[k], v)
				}
			}
		})
	}
	t.Run("healthz and methods", func(t *testing.T) {
		t.Parallel()
		mux := http.NewServeMux()
		// healthz says the process is alive even when a dependency is down.
		httpserver.Health(mux, httpserver.Check{Name: "postgres", Func: down})
		for _, tc := range []struct {
			method, path string
			status       int
			body         string
		}{
			{http.MethodGet, "/healthz", 200, `{"status":"ok"}` + "\n"},
			{http.MethodHead, "/healthz", 200, ""},
			{http.MethodPost, "/healthz", 405, ""},
			{http.MethodDelete, "/readyz", 405, ""},
			{http.MethodGet, "/healthz/", 404, ""},
			{http.MethodGet, "/HEALTHZ", 404, ""},
		} {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.status {
				t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, rec.Code, tc.status)
			}
			if tc.status == 405 && !strings.Contains(rec.Header().Get("Allow"), "GET") {
				t.Errorf("%s %s: Allow %q", tc.method, tc.path, rec.Header().Get("Allow"))
			}
			if tc.body != "" && rec.Body.String() != tc.body {
				t.Errorf("%s %s: body %q, want %q", tc.method, tc.path, rec.Body, tc.body)
			}
		}
	})
}

// running is an httpserver.Run in progress.
type running struct {
	addr string
	done chan struct{} // closed when Run returns
	err  error         // Run's result, once done is closed
}

func (r *running) wait() error {
	<-r.done
	return r.err
}

// server runs httpserver.Run on a fresh listener until ctx is done or the
// test ends.
func server(t *testing.T, ctx context.Context, h http.Handler, cfg httpserver.Config) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &running{addr: ln.Addr().String(), done: make(chan struct{})}
	go func() {
		r.err = httpserver.Run(ctx, ln, h, cfg, slog.New(slog.DiscardHandler))
		close(r.done)
	}()
	t.Cleanup(func() {
		cancel()
		_ = r.wait()
	})
	return r
}

// rawRequest writes req on a fresh connection and reads one answer. The
// write runs beside the read: a server that refuses a request may answer
// and hang up before reading all of it.
func rawRequest(t *testing.T, addr, req string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() { _, _ = io.WriteString(conn, req) }()
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	})
}

// TestRunGraceful: once ctx is cancelled, Run refuses new connections, lets
// the request in flight finish with its whole answer, and returns nil.
func TestRunGraceful(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var ctxErrInHandler error
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		// The request's context is not the server's: shutting down does
		// not cancel the work in hand.
		ctxErrInHandler = r.Context().Err()
		_, _ = io.WriteString(w, "finished")
	})
	ctx, cancel := context.WithCancel(t.Context())
	srv := server(t, ctx, h, httpserver.Config{ShutdownTimeout: time.Minute})
	addr := srv.addr

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	type answer struct {
		status int
		body   string
		err    error
	}
	inFlight := make(chan answer, 1)
	go func() {
		resp, err := client.Post("http://"+addr+"/", "application/json", strings.NewReader(`{}`))
		if err != nil {
			inFlight <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inFlight <- answer{resp.StatusCode, string(b), err}
	}()
	<-entered
	cancel()

	// New connections are refused once the listener is closed. The bound
	// is for a Run that never stops listening, not a speed requirement.
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			close(release)
			t.Fatal("still accepting connections 30s after ctx was cancelled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-srv.done:
		close(release)
		t.Fatalf("Run returned %v with a request in flight", srv.err)
	default:
	}
	close(release)
	got := <-inFlight
	if got.err != nil || got.status != 200 || got.body != "finished" {
		t.Fatalf("in-flight request: %d %q %v, want 200 finished", got.status, got.body, got.err)
	}
	if ctxErrInHandler != nil {
		t.Errorf("the in-flight request's context was cancelled by the shutdown: %v", ctxErrInHandler)
	}
	if err := srv.wait(); err != nil {
		t.Fatalf("Run = %v, want nil after a clean stop", err)
	}
}

// TestRunShutdownTimeout: a request that outlives ShutdownTimeout makes Run
// return an error rather than hang.
func TestRunShutdownTimeout(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(entered)
		<-release
	})
	ctx, cancel := context.WithCancel(t.Context())
	srv := server(t, ctx, h, httpserver.Config{ShutdownTimeout: 100 * time.Millisecond})
	conn, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-entered
	cancel()
	if err := srv.wait(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v, want the shutdown deadline exceeded", err)
	}
}

func TestRunListenerFails(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	err = httpserver.Run(t.Context(), ln, okHandler(), httpserver.Config{}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "http server") {
		t.Fatalf("Run on a closed listener = %v, want an http server error", err)
	}
}

// closedWithin reads from conn until the server closes it or limit passes,
// and returns what the server sent, how long after start it closed, and
// whether it did.
func closedWithin(conn net.Conn, start time.Time, limit time.Duration) (sent string, after time.Duration, closed bool) {
	_ = conn.SetReadDeadline(start.Add(limit))
	b, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return string(b), time.Since(start), false
	}
	return string(b), time.Since(start), true
}

// TestSlowloris: a client that sends its headers a byte at a time, slower
// than ReadHeaderTimeout allows, is cut off once the timeout passes, never
// before, and the server keeps serving others meanwhile.
func TestSlowloris(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	addr := server(t, t.Context(), okHandler(), httpserver.Config{ReadHeaderTimeout: timeout}).addr

	// Other slow clients pin nothing: open several, then a normal request.
	var others []net.Conn
	for range 20 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		others = append(others, c)
		_, _ = io.WriteString(c, "POST /webhooks/x HTTP/1.1\r\nHost: x\r\n")
	}
	defer func() {
		for _, c := range others {
			c.Close()
		}
	}()
	if resp, body := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("a normal request beside slow clients: %d %q", resp.StatusCode, body)
	}

	// The server's clock starts once it accepts, which is after the dial
	// begins: measured from here, the cut can come no earlier.
	start := time.Now()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The whole request would take 20 times the timeout to send.
	header := "POST /webhooks/x HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 200) + "\r\n\r\n"
	interval := 20 * timeout / time.Duration(len(header))
	writeFailed := make(chan time.Duration, 1)
	go func() {
		for i := range len(header) {
			if _, err := conn.Write([]byte{header[i]}); err != nil {
				writeFailed <- time.Since(start)
				return
			}
			time.Sleep(interval)
		}
		writeFailed <- 0
	}()
	sent, after, closed := closedWithin(conn, start, 20*timeout)
	if !closed {
		t.Fatalf("the server still held a slowloris connection %v after it opened (ReadHeaderTimeout %v)", after, timeout)
	}
	if after < timeout {
		t.Fatalf("connection closed after %v, before ReadHeaderTimeout %v", after, timeout)
	}
	// net/http answers a request cut off mid-headers with a 400 (or
	// nothing, or a 408 in other versions): never a handler's answer.
	if sent != "" && !strings.HasPrefix(sent, "HTTP/1.1 400 ") && !strings.HasPrefix(sent, "HTTP/1.1 408 ") {
		t.Fatalf("slowloris got %q", sent)
	}
	conn.Close()
	<-writeFailed
}

// TestSlowBody: headers in time, then a body slower than ReadTimeout: the
// handler's read fails with a timeout instead of waiting forever.
func TestSlowBody(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	readErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
		w.WriteHeader(http.StatusBadRequest)
	})
	addr := server(t, t.Context(), h, httpserver.Config{ReadTimeout: timeout}).addr
	start := time.Now()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(timeout / 10):
				if _, err := conn.Write([]byte("a")); err != nil {
					return
				}
			}
		}
	}()
	select {
	case err := <-readErr:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("handler read error %v, want a timeout", err)
		}
		if after := time.Since(start); after < timeout {
			t.Fatalf("body read cut after %v, before ReadTimeout %v", after, timeout)
		}
	case <-time.After(20 * timeout):
		t.Fatalf("body still being read 20×ReadTimeout after it began")
	}
}

// TestHeaderLimit: headers past MaxHeaderBytes (default 64 KiB; net/http
// allows 4 KiB of slack on top) get 431 and never reach the handler.
func TestHeaderLimit(t *testing.T) {
	t.Parallel()
	var reached sync.Map
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Store(r.URL.Path, true)
		_, _ = io.WriteString(w, "ok")
	})
	addr := server(t, t.Context(), h, httpserver.Config{}).addr
	manyHeaders := func(total int) string {
		var b strings.Builder
		for i := 0; b.Len() < total; i++ {
			b.WriteString("X-Filler-")
			b.WriteString(strings.Repeat("a", i%10))
			b.WriteString(": ")
			b.WriteString(strings.Repeat("b", 40))
			b.WriteString("\r\n")
		}
		return b.String()
	}
	for _, tc := range []struct {
		path   string
		bytes  int
		status int
	}{
		{"/under", 60 << 10, 200},
		{"/over", 80 << 10, 431},
		{"/way-over", 1 << 20, 431},
	} {
		resp, _ := rawRequest(t, addr, "GET "+tc.path+" HTTP/1.1\r\nHost: x\r\n"+manyHeaders(tc.bytes)+"Connection: close\r\n\r\n")
		if resp.StatusCode != tc.status {
			t.Errorf("%d bytes of headers: status %d, want %d", tc.bytes, resp.StatusCode, tc.status)
		}
		if _, ok := reached.Load(tc.path); ok != (tc.status == 200) {
			t.Errorf("%d bytes of headers: handler reached = %v", tc.bytes, ok)
		}
	}
}
