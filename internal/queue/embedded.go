package queue

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedMaxPayload is the embedded server's largest message: room for a
// 4 MiB body (Meta sends up to 3 MB) and its headers.
const EmbeddedMaxPayload = 8 << 20

// Embedded starts a NATS server inside this process with JetStream storing
// under storeDir, taking messages up to EmbeddedMaxPayload. Connect with
// nats.InProcessServer(srv). With listen ("host:port") it also takes client
// connections there, so responders and more workers can join; otherwise it
// listens on no port. Shut it down with Shutdown and WaitForShutdown.
func Embedded(storeDir, listen string) (*server.Server, error) {
	opts := &server.Options{
		ServerName: "hooklane-embedded",
		DontListen: listen == "",
		JetStream:  true,
		StoreDir:   storeDir,
		NoSigs:     true,
		MaxPayload: EmbeddedMaxPayload,
	}
	if listen != "" {
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
		opts.Host = host
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
