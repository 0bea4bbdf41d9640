package gateway_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hooklane/hooklane/flowlane"
	"github.com/hooklane/hooklane/flowlane/gateway"
	"github.com/hooklane/hooklane/flowlane/gateway/gatewaytest"
	"github.com/hooklane/hooklane/internal/httpserver"
	"github.com/hooklane/hooklane/internal/metricstest"
	"github.com/hooklane/hooklane/internal/provider"
)

// The hostile suite of the flow endpoint, at the handler: every way a plain
// or encrypted request can be wrong, each with its status, and none of them
// recorded as an exchange. cmd/hooklane/hostile_test.go sends the same
// through the real server.

const (
	plainSecret    = "plain-flow-secret" // the plain source signs as Platica does
	hostileMaxBody = 64 << 10
)

// hostileGateway serves, at the handler and without a server: "plain"
// (signed as Platica signs), "meta" (encrypted), "open" (unsigned) and
// "pinned" (unsigned, with a responder for flow "real" only).
type hostileGateway struct {
	http http.Handler
	rec  *records
	reg  *prometheus.Registry
	key  *rsa.PrivateKey
}

func newHostileGateway(t *testing.T) *hostileGateway {
	t.Helper()
	e := newEnv(t)
	answer := func(_ context.Context, req *flowlane.Request) (*flowlane.Response, error) {
		return flowlane.Screen("NEXT", map[string]any{"flow": req.FlowID, "token": req.FlowToken}), nil
	}
	e.responder(t, slog.New(slog.DiscardHandler), func(r *flowlane.Responder) {
		r.Handle("plain", "*", answer)
		r.Handle("meta", "*", answer)
		r.Handle("open", "*", answer)
		r.Handle("pinned", "real", answer)
	})
	platica, _ := provider.Lookup("platica")
	secrets := [][]byte{[]byte(plainSecret)}
	rec := &records{}
	reg := prometheus.NewRegistry()
	gw, err := gateway.NewGateway(e.nc, gateway.GatewayConfig{
		Prefix: e.prefix,
		Sources: []gateway.Source{
			{Name: "plain", Verify: func(h http.Header, body []byte) error { return platica.Verify(h, body, secrets) }},
			{Name: "meta", PrivateKey: testKey(), Verify: metaVerifier(t)},
			{Name: "open"},
			{Name: "pinned"},
		},
		MaxBodyBytes: hostileMaxBody,
		Recorder:     rec,
	}, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/flows/{source}", gw)
	mux.Handle("/flows/{source}/{flow}", gw)
	return &hostileGateway{http: httpserver.WithRequestID(mux), rec: rec, reg: reg, key: testKey()}
}

func (g *hostileGateway) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	g.http.ServeHTTP(rec, req)
	return rec
}

func (g *hostileGateway) recorded() int {
	g.rec.mu.Lock()
	defer g.rec.mu.Unlock()
	return len(g.rec.list)
}

// counted is hooklane_flow_exchanges_total{source,outcome}.
func (g *hostileGateway) counted(t *testing.T, source, outcome string) float64 {
	t.Helper()
	return metricstest.Value(t, g.reg, "hooklane_flow_exchanges_total", "source", source, "outcome", outcome)
}

func flowPost(path string, body []byte, header ...string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}

// seal is a request to Meta's encrypted endpoint: plain sealed with
// AES-GCM under key and iv, key wrapped for pub with RSA-OAEP (SHA-256).
func seal(t *testing.T, pub *rsa.PublicKey, key, iv []byte, plain string) encryptedBody {
	t.Helper()
	return sealWith(t, pub, sha256.New(), key, iv, plain)
}

// sealWith is seal with the OAEP hash h.
func sealWith(t *testing.T, pub *rsa.PublicKey, h hash.Hash, key, iv []byte, plain string) encryptedBody {
	t.Helper()
	wrapped, err := rsa.EncryptOAEP(h, rand.Reader, pub, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	if block, err := aes.NewCipher(key); err == nil {
		nonce := iv
		if len(nonce) == 0 {
			nonce = make([]byte, 16) // sealed under some IV; the body claims none
		}
		gcm, err := cipher.NewGCMWithNonceSize(block, len(nonce))
		if err != nil {
			t.Fatal(err)
		}
		data = gcm.Seal(nil, nonce, []byte(plain), nil)
	} else {
		data = []byte("sealed under a key AES cannot take")
	}
	return encryptedBody{
		Data: base64.StdEncoding.EncodeToString(data),
		Key:  base64.StdEncoding.EncodeToString(wrapped),
		IV:   base64.StdEncoding.EncodeToString(iv),
	}
}

// openAnswer decrypts an answer to a request sealed under key and iv.
func openAnswer(t *testing.T, key, iv []byte, answer []byte) string {
	t.Helper()
	plain, err := gatewaytest.Open(key, iv, answer)
	if err != nil {
		t.Fatal(err)
	}
	return string(plain)
}

func bytesOf(n int, b byte) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b + byte(i)
	}
	return out
}

// flowCase is one request to the flow endpoint and what it must get.
type flowCase struct {
	name   string
	req    *http.Request
	status int
	// answered: the request is exchanged and recorded with this outcome;
	// empty: nothing may be recorded, and the rejection is counted.
	answered string
	// muxOnly: the mux refuses the request; the gateway never sees it.
	muxOnly bool
	check   func(t *testing.T, rec *httptest.ResponseRecorder)
}

func answerSays(s string) func(*testing.T, *httptest.ResponseRecorder) {
	return func(t *testing.T, rec *httptest.ResponseRecorder) {
		t.Helper()
		if !strings.Contains(rec.Body.String(), s) {
			t.Errorf("answer %q does not say %q", rec.Body, s)
		}
	}
}

// encryptedAnswerSays checks an answer sealed for a request under key and iv.
func encryptedAnswerSays(key, iv []byte, s string) func(*testing.T, *httptest.ResponseRecorder) {
	return func(t *testing.T, rec *httptest.ResponseRecorder) {
		t.Helper()
		if ct := rec.Header().Get("Content-Type"); ct != "text/plain" {
			t.Errorf("Content-Type %q, want text/plain", ct)
		}
		if got := openAnswer(t, key, iv, rec.Body.Bytes()); !strings.Contains(got, s) {
			t.Errorf("decrypted answer %q does not say %q", got, s)
		}
	}
}

func plainCases(t *testing.T) []flowCase {
	sign := func(b []byte) string { return "sha256=" + hmacHex(plainSecret, b) }
	ping := []byte(`{"version":"3.0","action":"ping"}`)
	init := []byte(`{"version":"3.0","action":"INIT","flow_token":"tok-1"}`)
	signed := func(name string, body []byte, status int, says string) flowCase {
		return flowCase{name: name, req: flowPost("/flows/plain/quote", body, "X-Webhook-Signature", sign(body)), status: status, check: answerSays(says)}
	}
	unsigned := func(name string, req *http.Request) flowCase {
		return flowCase{name: name, req: req, status: 401, check: answerSays("signature")}
	}
	over := []byte(`{"version":"3.0","action":"ping","pad":"` + strings.Repeat("x", hostileMaxBody) + `"}`)
	chunked := flowPost("/flows/plain", over, "X-Webhook-Signature", sign(over))
	chunked.ContentLength = -1
	chunked.Body = io.NopCloser(strings.NewReader(string(over)))
	lying := flowPost("/flows/plain", over, "X-Webhook-Signature", sign(over))
	lying.ContentLength = 10
	textPlain := flowPost("/flows/plain/quote", init, "X-Webhook-Signature", sign(init), "Content-Type", "text/plain")
	return []flowCase{
		unsigned("unsigned", flowPost("/flows/plain", ping)),
		unsigned("wrong secret", flowPost("/flows/plain", ping, "X-Webhook-Signature", "sha256="+hmacHex("guess", ping))),
		unsigned("truncated signature", flowPost("/flows/plain", ping, "X-Webhook-Signature", sign(ping)[:70])),
		unsigned("prefix missing", flowPost("/flows/plain", ping, "X-Webhook-Signature", hmacHex(plainSecret, ping))),
		unsigned("signature over other bytes", flowPost("/flows/plain", append(ping, ' '), "X-Webhook-Signature", sign(ping))),
		unsigned("meta's header instead of the source's", flowPost("/flows/plain", ping, "X-Hub-Signature-256", sign(ping))),
		{name: "upper-case hex signature", req: flowPost("/flows/plain/quote", init, "X-Webhook-Signature", "sha256="+strings.ToUpper(hmacHex(plainSecret, init))),
			status: 200, answered: "answered", check: answerSays(`"screen":"NEXT"`)},
		// Providers send JSON; the body is what is signed, so the content
		// type is not checked.
		{name: "text/plain content type", req: textPlain, status: 200, answered: "answered", check: answerSays(`"token":"tok-1"`)},
		signed("empty body", nil, 400, "malformed"),
		signed("not JSON", []byte(`action=ping`), 400, "malformed"),
		signed("JSON array", []byte(`[{"action":"ping"}]`), 400, "malformed"),
		signed("JSON null", []byte(`null`), 400, "no action"),
		signed("no action", []byte(`{"version":"3.0"}`), 400, "no action"),
		signed("unknown action", []byte(`{"action":"launch"}`), 400, "unknown action"),
		signed("data is an array", []byte(`{"action":"data_exchange","data":[1]}`), 400, "data is not an object"),
		signed("data is a string", []byte(`{"action":"data_exchange","data":"x"}`), 400, "data is not an object"),
		signed("trailing garbage", append(init, 'x'), 400, "malformed"),
		signed("100k levels of nesting", []byte(`{"action":"data_exchange","data":{"x":`+strings.Repeat("[", 30_000)+strings.Repeat("]", 30_000)+`}}`), 400, "max depth"),
		{name: "over the limit, with Content-Length", req: flowPost("/flows/plain", over, "X-Webhook-Signature", sign(over)), status: 413},
		{name: "over the limit, chunked", req: chunked, status: 413},
		{name: "over the limit, Content-Length claims 10", req: lying, status: 413},
		{name: "GET", req: httptest.NewRequest(http.MethodGet, "/flows/plain", nil), status: 405, check: func(t *testing.T, rec *httptest.ResponseRecorder) {
			if rec.Header().Get("Allow") != "POST" {
				t.Errorf("Allow %q", rec.Header().Get("Allow"))
			}
		}},
		{name: "PUT", req: httptest.NewRequest(http.MethodPut, "/flows/plain/quote", strings.NewReader(string(ping))), status: 405},
		{name: "unknown source", req: flowPost("/flows/nope", ping), status: 404},
		{name: "source in upper case", req: flowPost("/flows/PLAIN", ping), status: 404},
		{name: "encoded slash in the source", req: flowPost("/flows/pla%2Fin", ping), status: 404},
	}
}

func encryptedCases(t *testing.T, priv *rsa.PrivateKey) []flowCase {
	pub := &priv.PublicKey
	key, iv := bytesOf(16, 0x00), bytesOf(16, 0x10)
	// Every request that decrypts has an IV of its own: one that repeats
	// another's key and IV is refused as a replay (TestEncryptedReplay).
	ivs := byte(0x30)
	nextIV := func() []byte { ivs++; return bytesOf(16, ivs) }
	sign := func(b []byte) string { return "sha256=" + hmacHex(appSecret, b) }
	post := func(b []byte) *http.Request { return flowPost("/flows/meta", b, "X-Hub-Signature-256", sign(b)) }
	const ping = `{"version":"3.0","action":"ping"}`
	valid := seal(t, pub, key, iv, ping)
	cannot := func(name string, body []byte) flowCase {
		return flowCase{name: name, req: post(body), status: gateway.StatusCannotDecrypt, check: answerSays("cannot decrypt")}
	}
	cannotSealed := func(name string, b encryptedBody) flowCase { return cannot(name, b.json()) }
	badSignature := func(name string, req *http.Request) flowCase {
		return flowCase{name: name, req: req, status: gateway.StatusSignatureInvalid, check: answerSays("signature")}
	}
	// notAFlowRequest decrypts to plain, which is no flow request: 400,
	// with the error sealed for the sender as Meta expects.
	notAFlowRequest := func(name, plain, says string) flowCase {
		iv := nextIV()
		return flowCase{name: name, req: post(seal(t, pub, key, iv, plain).json()), status: 400, check: encryptedAnswerSays(key, iv, says)}
	}
	answered := func(name string, k, v []byte, plain, says string) flowCase {
		return flowCase{name: name, req: post(seal(t, pub, k, v, plain).json()), status: 200, answered: "answered", check: encryptedAnswerSays(k, v, says)}
	}
	with := func(change func(*encryptedBody)) encryptedBody {
		b := valid
		change(&b)
		return b
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := base64.StdEncoding.DecodeString(valid.Data)
	wrapped, _ := base64.StdEncoding.DecodeString(valid.Key)
	b64 := base64.StdEncoding.EncodeToString
	slashy := seal(t, pub, key, bytesOf(16, 0xf0), ping) // an IV whose base64 has '+' and '/'
	over := []byte(`{"encrypted_flow_data":"` + strings.Repeat("A", hostileMaxBody) + `","encrypted_aes_key":"","initial_vector":""}`)
	lying := post(over)
	lying.ContentLength = 10
	upperIV := nextIV()
	upper := seal(t, pub, key, upperIV, ping).json()
	return []flowCase{
		answered("ping, the baseline", key, iv, ping, `"status":"active"`),
		{name: "upper-case hex signature", req: flowPost("/flows/meta", upper, "X-Hub-Signature-256", "sha256="+strings.ToUpper(hmacHex(appSecret, upper))),
			status: 200, answered: "answered", check: encryptedAnswerSays(key, upperIV, `"status":"active"`)},
		badSignature("unsigned", flowPost("/flows/meta", valid.json())),
		badSignature("wrong app secret", flowPost("/flows/meta", valid.json(), "X-Hub-Signature-256", "sha256="+hmacHex("guess", valid.json()))),
		badSignature("signature over other bytes", flowPost("/flows/meta", append(valid.json(), ' '), "X-Hub-Signature-256", sign(valid.json()))),
		badSignature("truncated signature", flowPost("/flows/meta", valid.json(), "X-Hub-Signature-256", sign(valid.json())[:40])),
		badSignature("sha1 header only", flowPost("/flows/meta", valid.json(), "X-Hub-Signature", sign(valid.json()))),
		badSignature("empty body, unsigned", flowPost("/flows/meta", nil)),
		cannot("empty body, signed", nil),
		cannot("not JSON", []byte(`encrypted_flow_data=x`)),
		cannot("JSON array", []byte(`[]`)),
		cannot("fields missing", []byte(`{}`)),
		cannot("fields of the wrong type", []byte(`{"encrypted_flow_data":1,"encrypted_aes_key":[],"initial_vector":{}}`)),
		cannot("the plain JSON form sent to the encrypted endpoint", []byte(ping)),
		cannotSealed("truncated base64", with(func(b *encryptedBody) { b.Data = b.Data[:len(b.Data)-1] })),
		cannotSealed("base64 without padding", with(func(b *encryptedBody) { b.Data = strings.TrimRight(b.Data, "=") })),
		cannotSealed("URL-safe base64", func() encryptedBody {
			b := slashy
			b.IV = strings.NewReplacer("+", "-", "/", "_").Replace(b.IV)
			if b.IV == slashy.IV {
				t.Fatal("the IV's base64 has no '+' or '/' to replace")
			}
			return b
		}()),
		cannotSealed("tag stripped", with(func(b *encryptedBody) { b.Data = b64(data[:len(data)-16]) })),
		cannotSealed("tag flipped", with(func(b *encryptedBody) {
			d := append([]byte(nil), data...)
			d[len(d)-1] ^= 1
			b.Data = b64(d)
		})),
		cannotSealed("shorter than a tag", with(func(b *encryptedBody) { b.Data = b64(data[:8]) })),
		cannotSealed("no flow data", with(func(b *encryptedBody) { b.Data = "" })),
		cannotSealed("AES key wrapped for another RSA key", seal(t, &other.PublicKey, key, iv, ping)),
		cannotSealed("AES key wrapped with OAEP SHA-1", sealWith(t, pub, sha1.New(), key, iv, ping)),
		cannotSealed("wrapped key truncated", with(func(b *encryptedBody) { b.Key = b64(wrapped[:len(wrapped)-1]) })),
		cannotSealed("wrapped key missing", with(func(b *encryptedBody) { b.Key = "" })),
		cannotSealed("AES key of 15 bytes", seal(t, pub, bytesOf(15, 0), iv, ping)),
		cannotSealed("AES key of 17 bytes", seal(t, pub, bytesOf(17, 0), iv, ping)),
		cannotSealed("AES key of 0 bytes", seal(t, pub, nil, iv, ping)),
		cannotSealed("AES key of 64 bytes", seal(t, pub, bytesOf(64, 0), iv, ping)),
		cannotSealed("IV of 12 bytes", seal(t, pub, key, bytesOf(12, 0x10), ping)),
		cannotSealed("IV of 17 bytes", seal(t, pub, key, bytesOf(17, 0x10), ping)),
		cannotSealed("IV of 32 bytes", seal(t, pub, key, bytesOf(32, 0x10), ping)),
		cannotSealed("IV missing", with(func(b *encryptedBody) { b.IV = "" })),
		cannotSealed("IV of another request", with(func(b *encryptedBody) { b.IV = b64(bytesOf(16, 0x20)) })),
		// Meta's key is AES-128; the other AES sizes decrypt too (see
		// open in crypto.go), and the answer is sealed under the same key.
		answered("AES-192 key", bytesOf(24, 0), iv, ping, `"status":"active"`),
		answered("AES-256 key", bytesOf(32, 0), iv, ping, `"status":"active"`),
		notAFlowRequest("decrypts to nothing", ``, "malformed"),
		notAFlowRequest("decrypts to a JSON array", `[{"action":"ping"}]`, "malformed"),
		notAFlowRequest("decrypts to a JSON string", `"ping"`, "malformed"),
		notAFlowRequest("decrypts to null", `null`, "no action"),
		notAFlowRequest("decrypts to JSON cut short", `{"version":"3.0","action":"ping"`, "malformed"),
		notAFlowRequest("decrypts to an object without action", `{"version":"3.0"}`, "no action"),
		notAFlowRequest("decrypts to an unknown action", `{"action":"launch"}`, "unknown action"),
		notAFlowRequest("decrypts to data that is an array", `{"action":"data_exchange","data":[1]}`, "data is not an object"),
		notAFlowRequest("decrypts to 100k levels of nesting", `{"action":"data_exchange","data":{"x":`+strings.Repeat("[", 20_000)+strings.Repeat("]", 20_000)+`}}`, "max depth"),
		{name: "huge encrypted body", req: post(over), status: 413},
		{name: "huge encrypted body, unsigned: the size is checked first", req: flowPost("/flows/meta", over), status: 413},
		{name: "huge encrypted body, Content-Length claims 10", req: lying, status: 413},
	}
}

// pathCases: a flow id from the path is one subject token, whatever it
// holds, so it cannot address another flow's responders.
func pathCases() []flowCase {
	init := []byte(`{"version":"3.0","action":"INIT","flow_token":"tok-path"}`)
	fallback := func(name, path string) flowCase {
		return flowCase{name: name, req: flowPost(path, init), status: 200, answered: "no_responders", check: func(t *testing.T, rec *httptest.ResponseRecorder) {
			if rec.Body.String() != gateway.Fallback {
				t.Errorf("answer %q, want the fallback", rec.Body)
			}
		}}
	}
	return []flowCase{
		{name: "the pinned flow", req: flowPost("/flows/pinned/real", init), status: 200, answered: "answered", check: answerSays(`"flow":"real"`)},
		fallback("flow id *", "/flows/pinned/%2A"),
		fallback("flow id >", "/flows/pinned/%3E"),
		fallback("flow id with a dot", "/flows/pinned/real.init"),
		fallback("flow id with an encoded slash", "/flows/pinned/real%2Finit"),
		fallback("flow id with a space", "/flows/pinned/real%20"),
		{name: "a third segment", req: flowPost("/flows/pinned/real/init", init), status: 404, muxOnly: true},
	}
}

func TestHostileFlowRequests(t *testing.T) {
	t.Parallel()
	g := newHostileGateway(t)
	groups := map[string][]flowCase{
		"plain":     plainCases(t),
		"encrypted": encryptedCases(t, g.key),
		"path":      pathCases(),
	}
	var mu sync.Mutex // the record count is shared, so cases run in turn
	for group, cases := range groups {
		for _, tc := range cases {
			t.Run(group+"/"+tc.name, func(t *testing.T) {
				mu.Lock()
				defer mu.Unlock()
				source := sourceOf(tc.req)
				outcome := tc.answered
				if outcome == "" {
					outcome = "rejected_" + strconv.Itoa(tc.status)
				}
				before, counted := g.recorded(), g.counted(t, source, outcome)
				rec := g.do(tc.req)
				if rec.Code != tc.status {
					t.Fatalf("status %d, want %d (%q)", rec.Code, tc.status, rec.Body)
				}
				if tc.check != nil {
					tc.check(t, rec)
				}
				if got := g.counted(t, source, outcome); !tc.muxOnly && got != counted+1 {
					t.Errorf("hooklane_flow_exchanges_total{source=%q,outcome=%q} went %v → %v, want one more", source, outcome, counted, got)
				}
				after := g.recorded()
				if tc.answered == "" {
					if after != before {
						t.Fatalf("a rejected request was recorded: %+v", g.rec.last(t))
					}
					return
				}
				if after != before+1 {
					t.Fatalf("%d exchanges recorded, want 1", after-before)
				}
				if r := g.rec.last(t); r.Outcome != tc.answered {
					t.Errorf("recorded outcome %s, want %s", r.Outcome, tc.answered)
				}
			})
		}
	}
}

// sourceOf is the metric's source label of a request: its {source} when
// configured, else "unknown".
func sourceOf(req *http.Request) string {
	parts := strings.Split(strings.TrimPrefix(req.URL.Path, "/flows/"), "/")
	switch parts[0] {
	case "plain", "meta", "open", "pinned":
		return parts[0]
	}
	return "unknown"
}

// TestHostileFlowBodyReadError: a body that fails to arrive (the client
// stalls past ReadTimeout, a chunked body is malformed, the connection
// drops) is a bad request, as ingest answers it (400, "reading body"); 413
// is for a body over the limit only.
func TestHostileFlowBodyReadError(t *testing.T) {
	t.Parallel()
	g := newHostileGateway(t)
	for _, source := range []string{"plain", "meta", "open"} {
		t.Run(source, func(t *testing.T) {
			req := flowPost("/flows/"+source, nil)
			req.ContentLength = 100
			req.Body = io.NopCloser(io.MultiReader(strings.NewReader(`{"action":`), errReader{}))
			before := g.recorded()
			rec := g.do(req)
			if g.recorded() != before {
				t.Errorf("a request whose body failed was recorded")
			}
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("a body that fails midway (not a large one): status %d (%s), want 400 as ingest answers",
					rec.Code, strings.TrimSpace(rec.Body.String()))
			}
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("read tcp: i/o timeout") }
