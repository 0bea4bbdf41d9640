// Package natstest runs NATS for tests: an embedded nats-server with
// JetStream per test, or the external server named by TEST_NATS_URL.
//
// Tests that may share an external server take their subjects under
// [Prefix], so concurrent test runs never see each other's messages.
package natstest

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// storeDirs maps each server started here to its JetStream store directory,
// which the server itself forgets once shut down.
var storeDirs sync.Map

// Server starts an embedded nats-server with JetStream on a random port,
// storing in t.TempDir(), and shuts it down when the test ends. The server
// logs only under go test -v.
func Server(t testing.TB) *server.Server {
	t.Helper()
	return start(t, server.RANDOM_PORT, t.TempDir())
}

// RestartServer shuts old down if it is still running and starts a fresh
// server on the same port and store directory, so connected clients
// reconnect to it and JetStream finds its streams again.
func RestartServer(t testing.TB, old *server.Server) *server.Server {
	t.Helper()
	dir, ok := storeDirs.Load(old)
	if !ok {
		t.Fatal("natstest: RestartServer needs a server started by natstest")
	}
	u, err := url.Parse(old.ClientURL())
	if err != nil {
		t.Fatalf("natstest: parse client URL: %v", err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("natstest: client URL port: %v", err)
	}
	old.Shutdown()
	old.WaitForShutdown()
	return start(t, port, dir.(string))
}

func start(t testing.TB, port int, dir string) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  dir,
		NoLog:     !testing.Verbose(),
		NoSigs:    true,
		// As hooklane's own embedded server and deployment configs: room
		// for a 4 MiB body and its headers.
		MaxPayload: 8 << 20,
	})
	if err != nil {
		t.Fatalf("natstest: new server: %v", err)
	}
	if testing.Verbose() {
		srv.ConfigureLogger()
	}
	storeDirs.Store(srv, dir)
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
		storeDirs.Delete(srv)
	})
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatalf("natstest: server on port %d not ready after 10s", port)
	}
	return srv
}

// URL returns TEST_NATS_URL when it is set, else the client URL of a new
// embedded [Server].
func URL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("TEST_NATS_URL"); u != "" {
		return u
	}
	return Server(t).ClientURL()
}

// Connect connects to srv and closes the connection when the test ends.
func Connect(t testing.TB, srv *server.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	return ConnectURL(t, srv.ClientURL(), opts...)
}

// ConnectURL connects to the server at url and closes the connection when
// the test ends. A server that cannot be reached fails the test.
func ConnectURL(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("natstest: connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Prefix returns a subject prefix of the form hooklane_t<random>, unique to
// the calling test.
func Prefix(t testing.TB) string {
	t.Helper()
	p := fmt.Sprintf("hooklane_t%016x", rand.Uint64())
	t.Logf("natstest: subject prefix %s", p)
	return p
}
