package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/hooklane/hooklane/internal/config"
	"github.com/hooklane/hooklane/internal/console"
	"github.com/hooklane/hooklane/internal/httpserver"
	"github.com/hooklane/hooklane/storage"
)

// listenConsole refuses a console that would listen beyond loopback
// without credentials, then opens its listener at console.addr: both fail
// the start before anything else is touched.
func (p *Process) listenConsole() error {
	c := p.cfg.Console
	if err := console.CheckAddr(c.Addr, c.Token != "" || c.User != ""); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("console: listen on %s: %w", c.Addr, err)
	}
	p.consoleLn = ln
	return nil
}

// consoleServer builds the web console on store and returns the part that
// serves it on the listener listenConsole opened.
func (p *Process) consoleServer(store *storage.Store) (func(context.Context) error, error) {
	sources := make([]console.Source, len(p.cfg.Sources))
	for i, s := range p.cfg.Sources {
		sources[i] = console.Source{Name: s.Name, Provider: s.Provider, FlowBudget: s.Flows.Budget}
	}
	c, err := console.New(store, p.js, console.Config{
		Addr:          p.cfg.Console.Addr,
		Token:         p.cfg.Console.Token,
		User:          p.cfg.Console.User,
		Password:      p.cfg.Console.Password,
		Stream:        p.cfg.NATS.Stream,
		SubjectPrefix: p.cfg.NATS.SubjectPrefix,
		Consumer:      p.cfg.Worker.Consumer,
		Sources:       sources,
	}, p.log, p.registry)
	if err != nil {
		return nil, err
	}
	ln := p.consoleLn
	p.consoleLn = nil // the console's server closes it
	p.log.Info("console listening", "url", "http://"+ln.Addr().String()+"/")
	if p.env.ConsoleListening != nil {
		p.env.ConsoleListening(ln.Addr())
	}
	handler := httpserver.WithRequestID(c)
	return func(ctx context.Context) error {
		defer context.AfterFunc(ctx, c.Close)()
		return httpserver.Run(ctx, ln, handler, httpserver.Config{ShutdownTimeout: p.cfg.Ingest.ShutdownTimeout}, p.log)
	}, nil
}

// Console is "hooklane console": the web console at console.addr, with
// health, readiness and metrics on addr as every role.
func Console(ctx context.Context, cfg *config.Config, logger *slog.Logger, e Env) error {
	p, err := NewProcess(cfg, logger, e)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.listenConsole(); err != nil {
		return err
	}
	store, err := p.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := p.connect(ctx, "hooklane-console", false); err != nil {
		return err
	}
	serve, err := p.consoleServer(store)
	if err != nil {
		return err
	}
	return p.Run(ctx, serve)
}
