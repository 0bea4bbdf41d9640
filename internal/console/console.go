// Package console serves hooklane's web console: server-rendered pages over
// what Postgres and the stream hold (an overview, live deliveries, events,
// conversations with their message statuses, flows and dead letters).
//
// It is read-only except for redriving dead letters, a POST that must come
// from the console's own pages (net/http's CrossOriginProtection and a form
// token). Every page is one request plus cached assets embedded in the
// binary; the live page alone runs a few lines of JavaScript, for its
// EventSource. Payload text is always escaped by html/template, and no
// credential, bearer or signature header is ever shown.
package console

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/operate"
	"github.com/hooklane/hooklane/storage"
)

// DefaultAddr is where the console listens unless configured otherwise.
const DefaultAddr = "127.0.0.1:8081"

// ErrExposed reports a console that would listen beyond loopback with no
// credentials to ask for.
var ErrExposed = errors.New("the console listens beyond loopback without credentials")

// Config configures a Console.
type Config struct {
	// Addr is the address the console listens on, checked by New: any but a
	// loopback one needs Token or User and Password. Defaults to
	// "127.0.0.1:8081".
	Addr string
	// Token, if set, is asked of every request: as a Bearer token, or as
	// the password of HTTP basic auth with any user name.
	Token string
	// User and Password, if set, are asked of every request as HTTP basic
	// auth.
	User, Password string
	// Stream is the JetStream stream of deliveries. Defaults to
	// hooklane.DefaultStream.
	Stream string
	// SubjectPrefix is the first token of every subject. Defaults to
	// hooklane.DefaultPrefix.
	SubjectPrefix string
	// Consumer is the workers' durable consumer, whose lag the overview
	// shows. Required.
	Consumer string
	// Sources are the configured sources, for the filters and the flows'
	// budgets.
	Sources []Source
}

// Source is one configured source.
type Source struct {
	Name     string
	Provider string
	// FlowBudget is the time the source allows a flow answer.
	FlowBudget time.Duration
}

// Console is the console's HTTP handler. It is safe for concurrent use.
type Console struct {
	store    *storage.Store
	js       jetstream.JetStream
	redriver *operate.Redriver // sends dead letters back, as "hooklane dead-letters redrive"
	cfg      Config
	log      *slog.Logger
	pages    map[string]*template.Template
	assets   fs.FS
	version  string // of the assets, for their URLs
	csrf     string // the redrive form's token
	handler  http.Handler
	metrics  *metrics
	// closed ends the live streams, which would otherwise hold a server's
	// shutdown for as long as a page stays open.
	closed context.Context
	close  context.CancelFunc
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// New returns the console on store and js. It refuses an Addr beyond
// loopback without credentials (ErrExposed), and credentials given by
// halves.
func New(store *storage.Store, js jetstream.JetStream, cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Console, error) {
	cfg.Addr = cmp.Or(cfg.Addr, DefaultAddr)
	cfg.Stream = cmp.Or(cfg.Stream, hooklane.DefaultStream)
	cfg.SubjectPrefix = cmp.Or(cfg.SubjectPrefix, hooklane.DefaultPrefix)
	if cfg.Consumer == "" {
		return nil, errors.New("console: no consumer: name the workers' durable consumer")
	}
	if (cfg.User == "") != (cfg.Password == "") {
		return nil, errors.New("console: set both a user and a password for basic auth, or neither")
	}
	if err := CheckAddr(cfg.Addr, cfg.Token != "" || cfg.User != ""); err != nil {
		return nil, err
	}
	c := &Console{store: store, js: js, cfg: cfg, log: logger,
		redriver: operate.NewRedriver(js, store, operate.RedriveConfig{Stream: cfg.Stream})}
	c.closed, c.close = context.WithCancel(context.Background())
	if err := c.parse(); err != nil {
		return nil, err
	}
	c.csrf = formToken(cfg.Token + "\x00" + cfg.User + "\x00" + cfg.Password)
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	c.handler = c.routes()
	return c, nil
}

// CheckAddr checks that a console may listen on addr: one reachable from
// other machines needs credentials (ErrExposed).
func CheckAddr(addr string, credentials bool) error {
	loopback, err := isLoopback(addr)
	if err != nil {
		return fmt.Errorf("console: address %q: %w", addr, err)
	}
	if !loopback && !credentials {
		return fmt.Errorf("console: %w: %s is reachable from other machines; set console.token "+
			"(or console.user and console.password), or listen on 127.0.0.1", ErrExposed, addr)
	}
	return nil
}

// isLoopback reports whether addr (host:port) can be reached from this
// machine only: a loopback IP, or "localhost". An empty host listens
// everywhere.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// formToken is the token the redrive forms carry. With credentials it is
// derived from them, so every replica of the console agrees on it; without,
// it is random to this process.
func formToken(credentials string) string {
	key := []byte(credentials)
	if credentials == "\x00\x00" {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("hooklane console redrive"))
	return hex.EncodeToString(mac.Sum(nil))
}

func (c *Console) parse() error {
	sum := sha256.New()
	err := fs.WalkDir(assetFS, "assets", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assetFS.ReadFile(path)
		sum.Write(b)
		return err
	})
	if err != nil {
		return fmt.Errorf("console assets: %w", err)
	}
	c.version = hex.EncodeToString(sum.Sum(nil))[:12]
	c.assets, _ = fs.Sub(assetFS, "assets")

	c.pages = make(map[string]*template.Template)
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	for _, name := range names {
		page := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
		if page == "layout" {
			continue
		}
		t, err := template.New(page).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", name)
		if err != nil {
			return fmt.Errorf("console template %s: %w", page, err)
		}
		c.pages[page] = t
	}
	return nil
}

// Close ends the live streams in progress, and those that begin later at
// once, so that the HTTP server's shutdown need not wait for the pages that
// show them. The other pages are served as before.
func (c *Console) Close() { c.close() }

// ServeHTTP serves the console.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.handler.ServeHTTP(w, r) }

func (c *Console) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.overview)
	mux.HandleFunc("GET /live", c.live)
	mux.HandleFunc("GET /live/stream", c.liveStream)
	mux.HandleFunc("GET /events", c.events)
	mux.HandleFunc("GET /events/{id}", c.event)
	mux.HandleFunc("GET /conversations", c.conversations)
	mux.HandleFunc("GET /conversations/{source}/{id...}", c.conversation)
	mux.HandleFunc("GET /flows", c.flows)
	mux.HandleFunc("GET /flows/exchanges/{id}", c.exchange)
	mux.HandleFunc("GET /dead-letters", c.deadLetters)
	mux.HandleFunc("GET /dead-letters/{id}", c.deadLetter)
	mux.HandleFunc("POST /dead-letters/redrive", c.redrive)
	mux.HandleFunc("GET /assets/{name}", c.asset)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusNotFound, "no such page", nil)
	})

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusForbidden, "cross-origin request refused", nil)
	}))
	return c.measure(c.authenticate(secureHeaders(cop.Handler(mux))))
}

// authenticate asks for the configured credentials, if any.
func (c *Console) authenticate(next http.Handler) http.Handler {
	if c.cfg.Token == "" && c.cfg.User == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.authorized(r) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="hooklane console", charset="UTF-8"`)
		c.fail(w, r, http.StatusUnauthorized, "credentials required", nil)
	})
}

func (c *Console) authorized(r *http.Request) bool {
	if user, password, ok := r.BasicAuth(); ok {
		if c.cfg.User != "" && equal(user, c.cfg.User) && equal(password, c.cfg.Password) {
			return true
		}
		return c.cfg.Token != "" && equal(password, c.cfg.Token)
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return ok && c.cfg.Token != "" && strings.EqualFold(scheme, "Bearer") && equal(strings.TrimSpace(token), c.cfg.Token)
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// secureHeaders keeps the pages from being framed, sniffed or made to load
// anything but the console's own assets.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

func (c *Console) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	b, err := fs.ReadFile(c.assets, name)
	if err != nil {
		c.fail(w, r, http.StatusNotFound, "no such asset", nil)
		return
	}
	if r.URL.Query().Get("v") == c.version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("ETag", `"`+c.version+`"`)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

// layout is what every page's frame shows.
type layout struct {
	Title   string
	Nav     string
	Version string
	CSRF    string
	Now     time.Time
}

// render executes page with data into a buffer, so a failing template
// answers a clean 500 rather than half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	t, ok := c.pages[page]
	if !ok {
		c.fail(w, r, http.StatusInternalServerError, "page unavailable", fmt.Errorf("no template %q", page))
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		c.fail(w, r, http.StatusInternalServerError, "page unavailable", fmt.Errorf("render %s: %w", page, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (c *Console) frame(title, nav string) layout {
	return layout{Title: title, Nav: nav, Version: c.version, CSRF: c.csrf, Now: time.Now().UTC()}
}

// errorPage is the data of the error page.
type errorPage struct {
	layout
	Status  int
	Message string
}

// fail answers status with message, and logs err, the reason a request
// failed on the server's side, once.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, message string, err error) {
	if err != nil {
		c.log.Error("console request failed", "path", r.URL.Path, "status", status, "err", err)
	} else {
		c.log.Warn("console request refused", "method", r.Method, "path", r.URL.Path, "status", status, "reason", message)
	}
	if _, ok := c.pages["error"]; !ok || r.Header.Get("Accept") == "text/event-stream" {
		http.Error(w, message, status)
		return
	}
	c.render(w, r, status, "error", errorPage{layout: c.frame(http.StatusText(status), ""), Status: status, Message: message})
}

// metrics count the console's requests.
type metrics struct {
	requests *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hooklane_console_requests_total",
		Help: "Console requests by route and HTTP status.",
	}, []string{"route", "code"})}
	if reg != nil {
		if err := reg.Register(m.requests); err != nil {
			return nil, fmt.Errorf("console metrics: %w", err)
		}
	}
	return m, nil
}

// measure counts each request by its route pattern and status.
func (c *Console) measure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" || route == "/" {
			route = "other"
		}
		c.metrics.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
	})
}

// statusWriter remembers the status written, and lets the live stream
// flush and lift its write deadline through it.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
