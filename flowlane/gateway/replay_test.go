package gateway_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hooklane/hooklane/flowlane/gateway"
)

// TestEncryptedReplay: Meta's encrypted endpoint answers a request once;
// the same request again (or another that reuses its AES key and IV) is
// refused with 421 in the clear, for sealing any answer to it would reuse
// the first one's GCM nonce; the responders are not asked again.
func TestEncryptedReplay(t *testing.T) {
	g := newHostileGateway(t)
	pub := &g.key.PublicKey
	key, iv := bytesOf(16, 0x01), bytesOf(16, 0x71)
	post := func(b []byte) *http.Request {
		return flowPost("/flows/meta", b, "X-Hub-Signature-256", "sha256="+hmacHex(appSecret, b))
	}
	first := seal(t, pub, key, iv, `{"version":"3.0","action":"data_exchange","screen":"S","data":{"n":1},"flow_token":"t1"}`).json()
	if rec := g.do(post(first)); rec.Code != http.StatusOK {
		t.Fatalf("first request: %d %s", rec.Code, rec.Body)
	}
	asked := g.recorded()
	for name, body := range map[string][]byte{
		"the same request":                      first,
		"another request with the same key, IV": seal(t, pub, key, iv, `{"version":"3.0","action":"data_exchange","screen":"S","data":{"n":2},"flow_token":"t1"}`).json(),
	} {
		rec := g.do(post(body))
		if rec.Code != gateway.StatusCannotDecrypt || !strings.Contains(rec.Body.String(), "replayed") {
			t.Errorf("%s: %d %s, want 421 saying replayed", name, rec.Code, rec.Body)
		}
		if !bytes.HasPrefix(rec.Body.Bytes(), []byte("{")) {
			t.Errorf("%s: the refusal is sealed: %s", name, rec.Body)
		}
	}
	if n := g.recorded(); n != asked {
		t.Errorf("the replays were exchanged: %d records, want %d", n, asked)
	}
	// A fresh IV is a new request.
	if rec := g.do(post(seal(t, pub, key, bytesOf(16, 0x72), `{"version":"3.0","action":"ping"}`).json())); rec.Code != http.StatusOK {
		t.Errorf("a new IV: %d %s, want 200", rec.Code, rec.Body)
	}
}

// TestRequestTextIsBounded: a 60 KB action reaches the rejection's log
// line and answer cut short and quoted.
func TestRequestTextIsBounded(t *testing.T) {
	e := newEnv(t)
	var logs bytes.Buffer
	gw, err := gateway.NewGateway(e.nc, gateway.GatewayConfig{Prefix: e.prefix, Sources: []gateway.Source{{Name: "open"}}},
		slog.New(slog.NewJSONHandler(&logs, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/flows/{source}", gw)
	action := strings.Repeat("a", 60<<10)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, flowPost("/flows/open", []byte(`{"version":"3.0","action":"`+action+`","data":{}}`)))
	if rec.Code != http.StatusBadRequest || rec.Body.Len() > 1<<10 {
		t.Errorf("a 60 KB action: %d with a %d-byte answer, want 400 of at most 1 KiB", rec.Code, rec.Body.Len())
	}
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		if len(line) > 2<<10 {
			t.Errorf("a %d-byte log line: %.200s", len(line), line)
		}
	}
}
