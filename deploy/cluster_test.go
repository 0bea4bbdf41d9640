package deploy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/ingest"
	"github.com/hooklane/hooklane/internal/natstest"
	"github.com/hooklane/hooklane/internal/provider"
	"github.com/hooklane/hooklane/internal/queue"
)

// TestClusterNodeLossLosesNoAckedDelivery runs ingest against a stream
// replicated on three nodes and shuts down, while deliveries keep coming,
// the node that both leads the stream and holds ingest's connection: every
// delivery answered 200 must still be in the stream, and ingest must go on
// answering 200 with two nodes left.
func TestClusterNodeLossLosesNoAckedDelivery(t *testing.T) {
	const (
		total    = 600 // deliveries to have acknowledged in all
		killAt   = total / 3
		senders  = 4
		deadline = 15 * time.Second
	)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	servers := startCluster(t)
	logger := slog.New(slog.DiscardHandler)

	// Create the stream, then connect ingest to its leader first.
	prefix := natstest.Prefix(t)
	stream := strings.ToUpper(prefix)
	setup := natstest.ConnectURL(t, clientURLs(servers))
	setupJS, err := jetstream.New(setup)
	if err != nil {
		t.Fatal(err)
	}
	s, err := queue.EnsureStream(ctx, setupJS, queue.StreamConfig{Name: stream, SubjectPrefix: prefix, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var victim *server.Server
	for _, srv := range servers {
		if srv.Name() == info.Cluster.Leader {
			victim = srv
		}
	}
	if victim == nil || info.Config.Replicas != 3 {
		t.Fatalf("stream leader %q, replicas %d; want a leader among the servers and 3 replicas", info.Cluster.Leader, info.Config.Replicas)
	}
	others := make([]*server.Server, 0, 2)
	for _, srv := range servers {
		if srv != victim {
			others = append(others, srv)
		}
	}
	nc, err := queue.Connect(victim.ClientURL()+","+clientURLs(others), "ingest-cluster-test", logger, nats.DontRandomize())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if got := nc.ConnectedServerName(); got != victim.Name() {
		t.Fatalf("ingest connected to %s, want the stream leader %s", got, victim.Name())
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	whapi, _ := provider.Lookup("whapi")
	h, err := ingest.New(js, ingest.Config{
		Sources:       []hooklane.Source{{Name: "whapi", Provider: whapi, AllowUnsigned: true}},
		Stream:        stream,
		SubjectPrefix: prefix,
	}, logger, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/webhooks/{source}", h)

	var (
		mu        sync.Mutex
		acked     []string
		refused   int
		lastError string
		next      atomic.Int64
		reachedAt = make(chan struct{})
		wg        sync.WaitGroup
	)
	for range senders {
		wg.Go(func() {
			for ctx.Err() == nil {
				body := fmt.Sprintf(`{"event_type":"message_received","id":"CLUSTER-%d","chat_id":"573001112233@c.us","body":"hola","type":"text"}`, next.Add(1))
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhooks/whapi", strings.NewReader(body)))
				mu.Lock()
				switch rec.Code {
				case http.StatusOK:
					acked = append(acked, body)
					switch len(acked) {
					case killAt:
						close(reachedAt)
					case total:
						cancel()
					}
				case http.StatusServiceUnavailable:
					refused++
					lastError = rec.Body.String()
				default:
					t.Errorf("status %d: %s", rec.Code, rec.Body)
					cancel()
				}
				mu.Unlock()
			}
		})
	}

	select {
	case <-reachedAt:
	case <-ctx.Done():
	}
	victim.Shutdown()
	victim.WaitForShutdown()
	wg.Wait()

	t.Logf("%d acknowledged, %d refused with 503 (last: %s)", len(acked), refused, strings.TrimSpace(lastError))
	if len(acked) < total {
		t.Fatalf("%d of %d deliveries acknowledged within %s: ingest did not recover from losing a node", len(acked), total, deadline)
	}
	stored := storedBodies(t, js, stream)
	for _, body := range acked {
		if !stored[body] {
			t.Errorf("acknowledged but not in the stream: %s", body)
		}
	}
}

// startCluster starts three JetStream servers routed to each other, on
// random ports with a store in t.TempDir() each, and waits until they have
// a meta leader. Each one is shut down when the test ends.
func startCluster(t *testing.T) []*server.Server {
	t.Helper()
	ports := freePorts(t, 3)
	routes := make([]*url.URL, len(ports))
	for i, port := range ports {
		routes[i] = &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", port)}
	}
	servers := make([]*server.Server, len(ports))
	for i, port := range ports {
		srv, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			Cluster:    server.ClusterOpts{Name: "hooklane-test", Host: "127.0.0.1", Port: port},
			Routes:     routes,
			NoLog:      !testing.Verbose(),
			NoSigs:     true,
		})
		if err != nil {
			t.Fatal(err)
		}
		if testing.Verbose() {
			srv.ConfigureLogger()
		}
		t.Cleanup(func() {
			srv.Shutdown()
			srv.WaitForShutdown()
		})
		go srv.Start()
		if !srv.ReadyForConnections(10 * time.Second) {
			t.Fatalf("%s not ready after 10s", srv.Name())
		}
		servers[i] = srv
	}
	deadline := time.Now().Add(10 * time.Second)
	for !placementReady(servers) {
		if time.Now().After(deadline) {
			t.Fatal("the JetStream cluster has no meta leader that sees every peer after 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return servers
}

// placementReady reports whether the meta leader sees every server online
// with JetStream, so that a stream of len(servers) replicas can be placed.
func placementReady(servers []*server.Server) bool {
	for _, srv := range servers {
		if srv.JetStreamIsLeader() {
			return len(srv.JetStreamClusterPeers()) == len(servers)
		}
	}
	return false
}

// freePorts returns n ports free on 127.0.0.1 a moment ago: the servers'
// routes must name each other's ports before any of them listens.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}

func clientURLs(servers []*server.Server) string {
	urls := make([]string, len(servers))
	for i, srv := range servers {
		urls[i] = srv.ClientURL()
	}
	return strings.Join(urls, ",")
}

// storedBodies reads every message of the stream.
func storedBodies(t *testing.T, js jetstream.JetStream, name string) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bodies := make(map[string]bool, info.State.Msgs)
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get message %d: %v", seq, err)
		}
		bodies[string(m.Data)] = true
	}
	return bodies
}
