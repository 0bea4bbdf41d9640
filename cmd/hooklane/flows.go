package main

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hooklane/hooklane/flowlane"
	"github.com/hooklane/hooklane/flowlane/demo"
	"github.com/hooklane/hooklane/internal/config"
	"github.com/hooklane/hooklane/internal/httpserver"
	"github.com/hooklane/hooklane/internal/provider"
	"github.com/hooklane/hooklane/internal/queue"
)

// flowGateway builds the flow lane for every configured source, mounts its
// endpoint at /flows/{source}[/{flow}], and starts the recorder of its
// exchanges, which the caller closes once the HTTP server has stopped.
func (p *process) flowGateway() (*flowlane.Gateway, *queue.ExchangeRecorder, error) {
	sources := make([]flowlane.Source, 0, len(p.cfg.Sources))
	for _, s := range p.cfg.Sources {
		fs, err := flowSource(s)
		if err != nil {
			return nil, nil, fmt.Errorf("source %s: %w", s.Name, err)
		}
		sources = append(sources, fs)
	}
	recorder, err := queue.NewExchangeRecorder(p.js, p.cfg.NATS.SubjectPrefix, 4096, p.log, p.registry)
	if err != nil {
		return nil, nil, err
	}
	gw, err := flowlane.NewGateway(p.nc, flowlane.GatewayConfig{
		Prefix:       p.cfg.NATS.SubjectPrefix,
		Sources:      sources,
		MaxBodyBytes: p.cfg.Ingest.MaxBodyBytes,
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

func flowSource(s config.Source) (flowlane.Source, error) {
	secrets := make([][]byte, len(s.Secrets))
	for i, secret := range s.Secrets {
		secrets[i] = []byte(secret)
	}
	fs := flowlane.Source{Name: s.Name, Budget: s.Flows.Budget, Fallback: []byte(s.Flows.Fallback), AppSecrets: secrets}
	if len(secrets) > 0 || s.BearerToken != "" {
		prov, _ := provider.Lookup(s.Provider)
		// The same checks as the source's webhooks: its bearer token,
		// then its signature.
		fs.Verify = func(h http.Header, body []byte) error {
			if s.BearerToken != "" && !httpserver.BearerMatches(h.Get("Authorization"), s.BearerToken) {
				return errors.New("bearer token missing or wrong")
			}
			if len(secrets) == 0 {
				return nil
			}
			return prov.Verify(h, body, secrets)
		}
	}
	if s.Flows.PrivateKey != "" {
		key, err := loadPrivateKey(s.Flows.PrivateKey, s.Flows.PrivateKeyPassphrase)
		if err != nil {
			return flowlane.Source{}, fmt.Errorf("flows.private_key: %w", err)
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
	return flowlane.LoadPrivateKey(pem, passphrase)
}

// closeRecorder publishes the exchange records still queued.
func closeRecorder(recorder *queue.ExchangeRecorder) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	recorder.Close(ctx)
}

// demoResponder registers the demo flow ("Cotizador") for every source.
func (p *process) demoResponder() *flowlane.Responder {
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

func runResponderDemo(ctx context.Context, cfg *config.Config, logger *slog.Logger, e env) error {
	p := newProcess(cfg, logger, e)
	defer p.close()
	if err := p.dial("hooklane-responder-demo", false); err != nil {
		return err
	}
	p.checks = append(p.checks, httpserver.Check{Name: "nats", Func: func(context.Context) error {
		if !p.nc.IsConnected() {
			return errors.New("nats not connected: " + p.nc.Status().String())
		}
		return nil
	}})
	return p.run(ctx, p.demoResponder().Run)
}
