package gateway_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/flowlane"
	"github.com/hooklane/hooklane/flowlane/flowlanetest"
	"github.com/hooklane/hooklane/flowlane/gateway"
	"github.com/hooklane/hooklane/internal/natstest"
	"github.com/hooklane/hooklane/internal/provider"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is one test's NATS connection and subject prefix.
type env struct {
	url    string
	nc     *nats.Conn
	prefix string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	url := natstest.URL(t)
	return &env{url: url, nc: natstest.ConnectURL(t, url), prefix: natstest.Prefix(t)}
}

// responder runs a responder with the handlers register adds, on its own
// connection, until the test ends, and waits until it is subscribed.
func (e *env) responder(t testing.TB, logger *slog.Logger, register func(*flowlane.Responder)) {
	t.Helper()
	r := flowlane.NewResponder(natstest.ConnectURL(t, e.url), flowlane.ResponderConfig{Prefix: e.prefix, Logger: logger})
	register(r)
	flowlanetest.Serve(t, r)
}

func (e *env) exchanger(t testing.TB) *gateway.Exchanger {
	return gateway.NewExchanger(e.nc, gateway.ExchangerConfig{Prefix: e.prefix, Logger: testLogger(t)})
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// metaVerifier checks X-Hub-Signature-256 with appSecret, as the wiring
// authenticates a meta source.
func metaVerifier(t testing.TB) gateway.Verifier {
	t.Helper()
	meta, ok := provider.Lookup("meta")
	if !ok {
		t.Fatal("no meta provider")
	}
	src := &hooklane.Source{Name: "meta", Provider: meta, Secrets: [][]byte{[]byte(appSecret)}}
	return src.Authenticate
}
