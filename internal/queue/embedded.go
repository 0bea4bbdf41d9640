package queue

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedMaxPayload is the embedded server's largest message: room for a
// 4 MiB body (Meta sends up to 3 MB) and its headers.
const EmbeddedMaxPayload = 8 << 20

// Embedded starts a NATS server inside this process with JetStream storing
// under storeDir, taking messages up to EmbeddedMaxPayload. It listens on no port: connect with
// nats.InProcessServer(srv). Shut it down with Shutdown and WaitForShutdown.
func Embedded(storeDir string) (*server.Server, error) {
	srv, err := server.NewServer(&server.Options{
		ServerName: "hooklane-embedded",
		DontListen: true,
		JetStream:  true,
		StoreDir:   storeDir,
		NoSigs:     true,
		MaxPayload: EmbeddedMaxPayload,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready after 10s (store %s)", storeDir)
	}
	return srv, nil
}
