package queue

import (
	"cmp"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedMaxPayload is the embedded server's largest message: room for a
// 4 MiB body (Meta sends up to 3 MB) and its headers.
const EmbeddedMaxPayload = 8 << 20

// EmbeddedConfig configures the embedded server.
type EmbeddedConfig struct {
	// StoreDir is the JetStream store directory.
	StoreDir string
	// Listen ("host:port"), if set, makes the server take client
	// connections there too; an empty host is 127.0.0.1. Otherwise it
	// listens on no port.
	Listen string
	// Token, if set, is required of every client, in-process ones too
	// (connect with nats.Token, or a URL nats://TOKEN@host:port). A Listen
	// other than loopback requires it.
	Token string
	// SyncAlways makes the file store sync each message to disk before
	// JetStream acknowledges it; otherwise it syncs every 2 minutes, and a
	// power loss of the machine can lose what was acknowledged since.
	SyncAlways bool
}

// Embedded starts a NATS server inside this process with JetStream storing
// under cfg.StoreDir, taking messages up to EmbeddedMaxPayload. Connect with
// nats.InProcessServer(srv). Shut it down with Shutdown and WaitForShutdown.
func Embedded(cfg EmbeddedConfig) (*server.Server, error) {
	storeDir, listen := cfg.StoreDir, cfg.Listen
	opts := &server.Options{
		ServerName:    "hooklane-embedded",
		DontListen:    listen == "",
		JetStream:     true,
		StoreDir:      storeDir,
		NoSigs:        true,
		MaxPayload:    EmbeddedMaxPayload,
		Authorization: cfg.Token,
		SyncAlways:    cfg.SyncAlways,
	}
	if listen != "" {
		if cfg.Token == "" && !ListenIsLoopback(listen) {
			return nil, fmt.Errorf("embedded nats: listen %q takes connections from other machines: it needs a token (nats.token)", listen)
		}
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: listen %q: %w", listen, err)
		}
		if opts.Port, err = strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("embedded nats: listen %q: port: %w", listen, err)
		}
		if opts.Port == 0 {
			opts.Port = server.RANDOM_PORT // NATS reads 0 as its default, 4222
		}
		opts.Host = cmp.Or(host, "127.0.0.1")
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		if listen != "" {
			return nil, fmt.Errorf("embedded nats: not ready after 10s: is %s free? (store %s)", listen, storeDir)
		}
		return nil, fmt.Errorf("embedded nats: not ready after 10s (store %s)", storeDir)
	}
	return srv, nil
}

// ListenIsLoopback reports whether a host:port listen address takes only
// connections from this machine. An empty host means loopback: the
// embedded NATS binds 127.0.0.1 unless a host is named.
func ListenIsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "" || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
