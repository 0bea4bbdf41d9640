package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/ingest"
	"github.com/hooklane/hooklane/internal/config"
	"github.com/hooklane/hooklane/internal/httpserver"
	"github.com/hooklane/hooklane/internal/provider"
	"github.com/hooklane/hooklane/internal/queue"
	"github.com/hooklane/hooklane/storage"
	"github.com/hooklane/hooklane/worker"
)

// Process holds what the roles of one process share, and closes it in
// order: NATS after every role has stopped, the embedded server last.
type Process struct {
	cfg      *config.Config
	log      *slog.Logger
	env      Env
	nc       *nats.Conn
	js       jetstream.JetStream
	embedded *server.Server
	registry *prometheus.Registry
	mux      *http.ServeMux
	checks   []httpserver.Check
	webhooks bool         // the webhook receiver is mounted
	ln       net.Listener // opened by NewProcess, until Run serves on it
	// background runs beside the roles' parts: ingest's summary lines.
	background []func(context.Context) error
	// consoleLn is the console's listener, until its server serves on it.
	consoleLn net.Listener
	// budget bounds the bodies of requests not yet authenticated, across
	// the webhook receiver and the flow endpoint.
	budget *httpserver.BodyBudget
}

// bodyBudget is the process's one budget for request bodies not yet
// authenticated, created with its metrics on first use.
func (p *Process) bodyBudget() (*httpserver.BodyBudget, error) {
	if p.budget == nil {
		b, err := httpserver.NewBodyBudget(p.cfg.Ingest.MaxUnauthenticatedBytes, p.registry)
		if err != nil {
			return nil, err
		}
		p.budget = b
	}
	return p.budget, nil
}

// NewProcess returns a Process with its metrics registry and HTTP mux,
// listening on the configured address and connected to nothing yet: a
// taken port fails the start before anything else is touched.
func NewProcess(cfg *config.Config, logger *slog.Logger, e Env) (*Process, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	p := &Process{cfg: cfg, log: logger, env: e, registry: reg, mux: mux}
	if err := p.listen(); err != nil {
		return nil, err
	}
	return p, nil
}

// JetStream is the JetStream context of the NATS that Dial joined.
func (p *Process) JetStream() jetstream.JetStream { return p.js }

// Handle mounts h on the process's HTTP server at pattern.
func (p *Process) Handle(pattern string, h http.Handler) { p.mux.Handle(pattern, h) }

// AddCheck adds a readiness check to /readyz.
func (p *Process) AddCheck(c httpserver.Check) { p.checks = append(p.checks, c) }

// connect joins NATS (see Dial), checks that its server carries the
// largest delivery, and only then makes sure the stream exists on it.
func (p *Process) connect(ctx context.Context, name string, embed bool) error {
	if err := p.Dial(name, embed); err != nil {
		return err
	}
	if err := queue.WaitConnected(ctx, p.nc); err != nil {
		return err
	}
	if err := queue.CheckPayload(p.nc, p.cfg.Ingest.MaxBodyBytes); err != nil {
		return err
	}
	_, err := queue.EnsureStream(ctx, p.js, queue.StreamConfig{
		Name:            p.cfg.NATS.Stream,
		SubjectPrefix:   p.cfg.NATS.SubjectPrefix,
		Replicas:        p.cfg.NATS.Replicas,
		MaxBytes:        p.cfg.NATS.MaxBytes,
		Consumer:        p.cfg.Worker.Consumer,
		DuplicateWindow: p.cfg.NATS.DuplicateWindow,
	})
	if err != nil {
		return err
	}
	p.checks = append(p.checks, httpserver.Check{Name: "jetstream", Func: queue.StreamReady(p.js, p.cfg.NATS.Stream)})
	return nil
}

// Dial joins the configured NATS, or, when embed is set and no URL is
// configured, a server embedded in this process.
func (p *Process) Dial(name string, embed bool) error {
	natsURL := p.cfg.NATS.URL
	var opts []nats.Option
	if natsURL == "" {
		if !embed {
			return errors.New("no NATS: set NATS_URL or nats.url (only \"hooklane all\" embeds a server)")
		}
		srv, err := queue.Embedded(p.embeddedConfig())
		if err != nil {
			return err
		}
		p.embedded = srv
		opts = append(opts, nats.InProcessServer(srv))
		if p.cfg.NATS.Listen != "" {
			p.log.Info("embedded NATS started", "store_dir", p.cfg.NATS.StoreDir, "url", srv.ClientURL())
		} else {
			p.log.Info("embedded NATS started", "store_dir", p.cfg.NATS.StoreDir)
		}
	}
	if p.cfg.NATS.Token != "" {
		opts = append(opts, nats.Token(p.cfg.NATS.Token))
	}
	nc, err := queue.Connect(natsURL, name, p.log, opts...)
	if err != nil {
		return err
	}
	p.nc = nc
	if p.js, err = jetstream.New(nc); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	return nil
}

// embeddedConfig is the embedded server's part of the config.
func (p *Process) embeddedConfig() queue.EmbeddedConfig {
	return queue.EmbeddedConfig{StoreDir: p.cfg.NATS.StoreDir, Listen: p.cfg.NATS.Listen, Token: p.cfg.NATS.Token,
		SyncAlways: p.cfg.NATS.SyncAlways}
}

// openStore prepares the database (creating it when create is set, for a
// first try) and opens the store.
func (p *Process) openStore(ctx context.Context, create bool) (*storage.Store, error) {
	if err := prepareDatabase(ctx, p.cfg.DatabaseURL, create, p.log); err != nil {
		return nil, err
	}
	store, err := storage.Open(ctx, p.cfg.DatabaseURL, storage.Config{SkipModel: !p.cfg.ModelOn()})
	if err != nil {
		return nil, err
	}
	p.checks = append(p.checks, httpserver.Check{Name: "postgres", Func: store.Ping})
	return store, nil
}

// Sources are the configured sources, as every route serves them:
// ingest's webhooks, the flow endpoint and the load tool's reference.
func Sources(cfg *config.Config) ([]hooklane.Source, error) {
	sources := make([]hooklane.Source, 0, len(cfg.Sources))
	for _, s := range cfg.Sources {
		prov, ok := provider.Lookup(s.Provider)
		if !ok {
			return nil, fmt.Errorf("source %s: unknown provider %q", s.Name, s.Provider)
		}
		secrets := make([][]byte, len(s.Secrets))
		for i, secret := range s.Secrets {
			secrets[i] = []byte(secret)
		}
		sources = append(sources, hooklane.Source{
			Name: s.Name, Provider: prov, Secrets: secrets, AllowUnsigned: s.AllowUnsigned,
			VerifyToken: s.VerifyToken, BearerToken: s.BearerToken,
		})
	}
	return sources, nil
}

// ingestHandler mounts the webhook receiver and the flow lane. The caller
// closes the returned recorder once the HTTP server has stopped.
func (p *Process) ingestHandler() (*queue.ExchangeRecorder, error) {
	if len(p.cfg.Sources) == 0 {
		return nil, config.ErrNoSources
	}
	flows, recorder, err := p.flowGateway()
	if err != nil {
		return nil, err
	}
	sources, err := Sources(p.cfg)
	if err != nil {
		closeRecorder(recorder)
		return nil, err
	}
	budget, err := p.bodyBudget()
	if err != nil {
		closeRecorder(recorder)
		return nil, err
	}
	h, err := ingest.New(p.js, ingest.Config{
		Sources:        sources,
		Stream:         p.cfg.NATS.Stream,
		SubjectPrefix:  p.cfg.NATS.SubjectPrefix,
		MaxBodyBytes:   p.cfg.Ingest.MaxBodyBytes,
		PublishTimeout: p.cfg.Ingest.PublishTimeout,
		RetryAfter:     p.cfg.Ingest.RetryAfter,
		Flows:          flows,
		BodyBudget:     budget,
	}, p.log, p.registry)
	if err != nil {
		closeRecorder(recorder)
		return nil, err
	}
	p.mux.Handle("/webhooks/{source}", h)
	p.webhooks = true
	p.background = append(p.background, func(ctx context.Context) error { return h.RunSummary(ctx, 0) })
	return recorder, nil
}

func (p *Process) worker(store *storage.Store) (*worker.Worker, error) {
	return worker.New(p.js, store, worker.Config{
		Stream:        p.cfg.NATS.Stream,
		SubjectPrefix: p.cfg.NATS.SubjectPrefix,
		Consumer:      p.cfg.Worker.Consumer,
		BatchSize:     p.cfg.Worker.BatchSize,
		BatchBytes:    p.cfg.Worker.BatchBytes,
		BatchEvents:   p.cfg.Worker.BatchEvents,
		BatchWait:     p.cfg.Worker.BatchWait,
		Concurrency:   p.cfg.Worker.Concurrency,
		MaxDeliveries: p.cfg.Worker.MaxDeliveries,
		AckWait:       p.cfg.Worker.AckWait,
	}, p.log, p.registry)
}

// listen opens the HTTP listener.
func (p *Process) listen() error {
	ln, err := net.Listen("tcp", p.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", p.cfg.Addr, err)
	}
	p.ln = ln
	return nil
}

// Run runs parts and the HTTP server (health, readiness, metrics and what
// the roles mounted) on the listener NewProcess opened, until ctx is done
// or one of them fails, and waits for all of them.
func (p *Process) Run(ctx context.Context, parts ...func(context.Context) error) error {
	ln := p.ln
	p.ln = nil // the HTTP server closes it
	p.log.Info("http listening", "addr", ln.Addr().String())
	if p.webhooks {
		p.logWebhookURLs(ln.Addr().String())
	}
	if p.env.Listening != nil {
		p.env.Listening(ln.Addr())
	}
	httpserver.Health(p.mux, p.checks...)
	handler := httpserver.WithRequestID(p.mux)
	g, gctx := errgroup.WithContext(ctx)
	for _, part := range append(parts, p.background...) {
		g.Go(func() error { return part(gctx) })
	}
	g.Go(func() error {
		return httpserver.Run(gctx, ln, handler, httpserver.Config{
			ShutdownTimeout: p.cfg.Ingest.ShutdownTimeout,
			TLSCertFile:     p.cfg.TLS.CertFile,
			TLSKeyFile:      p.cfg.TLS.KeyFile,
		}, p.log)
	})
	return g.Wait()
}

// logWebhookURLs tells the user which URL to give each provider.
func (p *Process) logWebhookURLs(addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	scheme := "http://"
	if p.cfg.TLS.Enabled() {
		scheme = "https://"
	}
	base := scheme + net.JoinHostPort(host, port)
	for _, s := range p.cfg.Sources {
		p.log.Info("webhook URL to configure", "source", s.Name, "provider", s.Provider,
			"url", base+"/webhooks/"+s.Name, "flow_endpoint", base+"/flows/"+s.Name)
	}
}

// Close flushes pending acks and publishes, then closes NATS and stops an
// embedded server.
func (p *Process) Close() {
	if p.ln != nil {
		p.ln.Close()
	}
	if p.consoleLn != nil {
		p.consoleLn.Close()
	}
	if p.nc != nil {
		if p.nc.IsConnected() {
			if err := p.nc.FlushTimeout(5 * time.Second); err != nil {
				p.log.Warn("nats flush on close", "err", err)
			}
		}
		p.nc.Close()
	}
	if p.embedded != nil {
		p.embedded.Shutdown()
		p.embedded.WaitForShutdown()
	}
}

// All is "hooklane all": every role in one process, with a NATS server
// embedded unless one is configured; it creates the database if it is
// missing.
func All(ctx context.Context, cfg *config.Config, logger *slog.Logger, e Env) error {
	p, err := NewProcess(cfg, logger, e)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.listenConsole(); err != nil {
		return err
	}
	store, err := p.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := p.connect(ctx, "hooklane-all", true); err != nil {
		return err
	}
	recorder, err := p.ingestHandler()
	if err != nil {
		return err
	}
	defer closeRecorder(recorder)
	persist, err := p.persisters(store)
	if err != nil {
		return err
	}
	serveConsole, err := p.consoleServer(store)
	if err != nil {
		return err
	}
	return p.Run(ctx, append(persist, p.demoResponder().Run, serveConsole)...)
}

// persisters are what a worker role runs on store: the worker, and the
// retention purge in its background.
func (p *Process) persisters(store *storage.Store) ([]func(context.Context) error, error) {
	w, err := p.worker(store)
	if err != nil {
		return nil, err
	}
	purger, err := p.retention(store)
	if err != nil {
		return nil, err
	}
	return []func(context.Context) error{w.Run, purger.Run}, nil
}

// NATS is "hooklane nats": the server "hooklane all" embeds, on its own
// and listening at nats.listen, for separate roles to share where no NATS
// is installed.
func NATS(ctx context.Context, cfg *config.Config, logger *slog.Logger, e Env) error {
	if cfg.NATS.Listen == "" {
		return errors.New("nats: no address to listen on: set nats.listen or " + config.EnvNATSListen)
	}
	p, err := NewProcess(cfg, logger, e)
	if err != nil {
		return err
	}
	defer p.Close()
	srv, err := queue.Embedded(p.embeddedConfig())
	if err != nil {
		return err
	}
	p.embedded = srv
	logger.Info("NATS listening", "url", srv.ClientURL(), "store_dir", cfg.NATS.StoreDir)
	p.checks = append(p.checks, httpserver.Check{Name: "jetstream", Func: func(context.Context) error {
		if h := srv.Healthz(&server.HealthzOptions{JSEnabledOnly: true}); h.Status != "ok" {
			return fmt.Errorf("embedded NATS %s: %s", h.Status, h.Error)
		}
		return nil
	}})
	return p.Run(ctx)
}

// Ingest is "hooklane ingest": the webhook receiver and the flow lane.
func Ingest(ctx context.Context, cfg *config.Config, logger *slog.Logger, e Env) error {
	p, err := NewProcess(cfg, logger, e)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.connect(ctx, "hooklane-ingest", false); err != nil {
		return err
	}
	recorder, err := p.ingestHandler()
	if err != nil {
		return err
	}
	defer closeRecorder(recorder)
	return p.Run(ctx)
}

// Worker is "hooklane worker": it persists queued deliveries and exchange
// records, and runs the retention purge.
func Worker(ctx context.Context, cfg *config.Config, logger *slog.Logger, e Env) error {
	p, err := NewProcess(cfg, logger, e)
	if err != nil {
		return err
	}
	defer p.Close()
	store, err := p.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := p.connect(ctx, "hooklane-worker", false); err != nil {
		return err
	}
	persist, err := p.persisters(store)
	if err != nil {
		return err
	}
	return p.Run(ctx, persist...)
}

// Migrate is "hooklane migrate": it creates the database if it is missing,
// applies the schema and returns.
func Migrate(ctx context.Context, cfg *config.Config, logger *slog.Logger, _ Env) error {
	if err := prepareDatabase(ctx, cfg.DatabaseURL, true, logger); err != nil {
		return err
	}
	logger.Info("schema is up to date")
	return nil
}

// prepareDatabase creates the database when create is set and it is missing,
// then applies the schema. When no Postgres answers it says how to get one.
func prepareDatabase(ctx context.Context, databaseURL string, create bool, logger *slog.Logger) error {
	if create {
		created, err := storage.EnsureDatabase(ctx, databaseURL)
		if err != nil {
			return explainDatabase(databaseURL, err)
		}
		if created {
			logger.Info("database created", "url", redact(databaseURL))
		}
	}
	if err := storage.Migrate(ctx, databaseURL); err != nil {
		return explainDatabase(databaseURL, err)
	}
	return nil
}

func explainDatabase(databaseURL string, err error) error {
	if storage.IsMissingDatabase(err) {
		return fmt.Errorf("database %s: %w\n  create it and its schema with:  hooklane migrate --config FILE", redact(databaseURL), err)
	}
	if !storage.IsTransient(err) {
		return fmt.Errorf("database %s: %w", redact(databaseURL), err)
	}
	return fmt.Errorf(`no Postgres answers at %s: %w
  start one:  sudo apt-get install -y postgresql && sudo pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
         or:  docker run -d -p 127.0.0.1:5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:16
  or point DATABASE_URL at yours, e.g. DATABASE_URL=postgres://user:pass@host:5432/hooklane`, redact(databaseURL), err)
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
