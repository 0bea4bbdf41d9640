package app

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/flowlane"
	"github.com/hooklane/hooklane/flowlane/demo"
	"github.com/hooklane/hooklane/flowlane/gateway"
	"github.com/hooklane/hooklane/internal/config"
	"github.com/hooklane/hooklane/internal/httpserver"
	"github.com/hooklane/hooklane/internal/queue"
)

// flowGateway builds the flow lane for every configured source, mounts its
// endpoint at /flows/{source}[/{flow}], and starts the recorder of its
// exchanges, which the caller closes once the HTTP server has stopped.
func (p *Process) flowGateway() (*gateway.Gateway, *queue.ExchangeRecorder, error) {
	srcs, err := Sources(p.cfg)
	if err != nil {
		return nil, nil, err
	}
	sources := make([]gateway.Source, 0, len(p.cfg.Sources))
	for i, s := range p.cfg.Sources {
		fs, err := flowSource(s, &srcs[i])
		if err != nil {
			return nil, nil, fmt.Errorf("source %s: %w", s.Name, err)
		}
		sources = append(sources, fs)
	}
	recorder, err := queue.NewExchangeRecorder(p.js, p.cfg.NATS.SubjectPrefix, 4096, p.log, p.registry)
	if err != nil {
		return nil, nil, err
	}
	budget, err := p.bodyBudget()
	if err != nil {
		recorder.Close(context.Background())
		return nil, nil, err
	}
	gw, err := gateway.NewGateway(p.nc, gateway.GatewayConfig{
		Prefix:       p.cfg.NATS.SubjectPrefix,
		Sources:      sources,
		MaxBodyBytes: p.cfg.Ingest.MaxBodyBytes,
		BodyBudget:   budget,
		Recorder:     recorder,
	}, p.log, p.registry)
	if err != nil {
		recorder.Close(context.Background())
		return nil, nil, err
	}
	p.mux.Handle("/flows/{source}", gw)
	p.mux.Handle("/flows/{source}/{flow}", gw)
	return gw, recorder, nil
}

func flowSource(s config.Source, src *hooklane.Source) (gateway.Source, error) {
	fs := gateway.Source{Name: s.Name, Budget: s.Flows.Budget, Fallback: []byte(s.Flows.Fallback)}
	if len(src.Secrets) > 0 || src.BearerToken != "" {
		// The same checks as the source's webhooks.
		fs.Verify = src.Authenticate
	}
	if s.Flows.PrivateKey != "" {
		key, err := loadPrivateKey(s.Flows.PrivateKey, s.Flows.PrivateKeyPassphrase)
		if err != nil {
			return gateway.Source{}, fmt.Errorf("flows.private_key: %w", err)
		}
		fs.PrivateKey = key
	}
	return fs, nil
}

// loadPrivateKey reads a PEM value, or the file it names.
func loadPrivateKey(value, passphrase string) (*rsa.PrivateKey, error) {
	pem := []byte(value)
	if !strings.Contains(value, "-----BEGIN") {
		var err error
		if pem, err = os.ReadFile(value); err != nil {
			return nil, err
		}
	}
	return gateway.LoadPrivateKey(pem, passphrase)
}

// closeRecorder publishes the exchange records still queued.
func closeRecorder(recorder *queue.ExchangeRecorder) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	recorder.Close(ctx)
}

// demoResponder registers the demo flow ("Cotizador") for every source.
func (p *Process) demoResponder() *flowlane.Responder {
	r := flowlane.NewResponder(p.nc, flowlane.ResponderConfig{Prefix: p.cfg.NATS.SubjectPrefix, Logger: p.log})
	for _, s := range p.cfg.Sources {
		demo.RegisterCotizador(r, s.Name)
	}
	p.checks = append(p.checks, httpserver.Check{Name: "responder", Func: func(context.Context) error {
		select {
		case <-r.Ready():
			return nil
		default:
			return errors.New("responder not subscribed yet")
		}
	}})
	return r
}

// ResponderDemo is "hooklane responder-demo": the demo flow ("Cotizador")
// for every source.
func ResponderDemo(ctx context.Context, cfg *config.Config, logger *slog.Logger, e Env) error {
	p, err := NewProcess(cfg, logger, e)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.Dial("hooklane-responder-demo", false); err != nil {
		return err
	}
	p.checks = append(p.checks, httpserver.Check{Name: "nats", Func: func(context.Context) error {
		if !p.nc.IsConnected() {
			return errors.New("nats not connected: " + p.nc.Status().String())
		}
		return nil
	}})
	return p.Run(ctx, p.demoResponder().Run)
}
