// Package httpserver holds what every hooklane role's HTTP server shares:
// timeouts that keep slow clients from pinning it, request ids, liveness and
// readiness probes, and a graceful run loop.
package httpserver

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Config tunes a server.
type Config struct {
	// ReadHeaderTimeout bounds reading the request headers. Defaults to 5s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request. Defaults to 30s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response. Defaults to 30s.
	WriteTimeout time.Duration
	// IdleTimeout bounds an idle keep-alive connection. Defaults to 120s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request headers. Defaults to 64 KiB. It is
	// the one bound on headers: net/http's count of header values (500 by
	// default since Go 1.27) is set high enough, a quarter of
	// MaxHeaderBytes, that the shortest header line, "a:" and CRLF, reaches
	// the byte limit first.
	MaxHeaderBytes int
	// ShutdownTimeout bounds the wait for in-flight requests on shutdown.
	// Defaults to 25s.
	ShutdownTimeout time.Duration
	// TLSCertFile and TLSKeyFile, when set, serve HTTPS (TLS 1.2 and
	// later, HTTP/2 included) with this PEM certificate chain and key.
	// Defaults to none: plain HTTP.
	TLSCertFile, TLSKeyFile string
}

// tlsConfig loads cfg's certificate, so that a bad one fails the start.
func tlsConfig(cfg Config) (*tls.Config, error) {
	if cfg.TLSCertFile == "" && cfg.TLSKeyFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: certificate %s, key %s: %w", cfg.TLSCertFile, cfg.TLSKeyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// DefaultShutdownTimeout is Config.ShutdownTimeout's default, which
// internal/config applies too.
const DefaultShutdownTimeout = 25 * time.Second

// Run serves h on ln until ctx is done, then stops accepting connections and
// waits for in-flight requests to finish. It returns nil on a clean stop.
// With a certificate in cfg it serves HTTPS.
func Run(ctx context.Context, ln net.Listener, h http.Handler, cfg Config, logger *slog.Logger) error {
	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		return err
	}
	maxHeaderBytes := cmp.Or(cfg.MaxHeaderBytes, 64<<10)
	srv := &http.Server{
		TLSConfig:           tlsCfg,
		Handler:             h,
		ReadHeaderTimeout:   cmp.Or(cfg.ReadHeaderTimeout, 5*time.Second),
		ReadTimeout:         cmp.Or(cfg.ReadTimeout, 30*time.Second),
		WriteTimeout:        cmp.Or(cfg.WriteTimeout, 30*time.Second),
		IdleTimeout:         cmp.Or(cfg.IdleTimeout, 120*time.Second),
		MaxHeaderBytes:      maxHeaderBytes,
		MaxHeaderValueCount: maxHeaderBytes / 4,
		ErrorLog:            slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:         func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	served := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			served <- srv.ServeTLS(ln, "", "")
			return
		}
		served <- srv.Serve(ln)
	}()
	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	logger.Info("http server stopping: finishing in-flight requests", "addr", ln.Addr().String())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cmp.Or(cfg.ShutdownTimeout, DefaultShutdownTimeout))
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	if err != nil {
		return fmt.Errorf("http server shutdown: %w", err)
	}
	return nil
}

type requestIDKey struct{}

// HeaderRequestID is the request id header, taken from the request when
// present and set on every answer.
const HeaderRequestID = "X-Request-Id"

// WithRequestID gives every request an id: the caller's X-Request-Id when it
// is a sane token, else a random one. The id is set on the answer and carried
// in the request's context.
func WithRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderRequestID)
		if !saneID(id) {
			id = newID()
		}
		w.Header().Set(HeaderRequestID, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// RequestID returns the request id WithRequestID put in ctx.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func saneID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
