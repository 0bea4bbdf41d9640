package gateway_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/flowlane"
	"github.com/hooklane/hooklane/flowlane/demo"
	"github.com/hooklane/hooklane/flowlane/gateway"
	"github.com/hooklane/hooklane/flowlane/gateway/gatewaytest"
)

// records collects exchange records.
type records struct {
	mu   sync.Mutex
	list []hooklane.FlowExchange
}

func (r *records) Record(ex hooklane.FlowExchange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, ex)
}

func (r *records) last(t *testing.T) hooklane.FlowExchange {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.list) == 0 {
		t.Fatal("no exchange recorded")
	}
	return r.list[len(r.list)-1]
}

const appSecret = "meta-app-secret"

// gateway serves sources "platica" (demo responder), "slow", "garbage",
// "panics", "gone" (no responder), "expired" (flow token invalid) and
// "meta" (encrypted endpoint, demo responder and token check).
func newGateway(t *testing.T) (*gateway.Gateway, *records, *httptest.Server) {
	t.Helper()
	e := newEnv(t)
	e.responder(t, testLogger(t), func(r *flowlane.Responder) {
		demo.RegisterCotizador(r, "platica")
		demo.RegisterCotizador(r, "plain")
		r.Handle("slow", "*", func(ctx context.Context, _ *flowlane.Request) (*flowlane.Response, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
		r.Handle("garbage", "*", func(context.Context, *flowlane.Request) (*flowlane.Response, error) {
			return &flowlane.Response{Screen: ""}, nil // neither data nor a screen
		})
		r.Handle("panics", "*", func(context.Context, *flowlane.Request) (*flowlane.Response, error) {
			panic("boom")
		})
		r.Handle("meta", "*", func(_ context.Context, req *flowlane.Request) (*flowlane.Response, error) {
			if req.FlowToken == "expired" {
				return nil, flowlane.FlowTokenInvalid("Esta sesión ya expiró.")
			}
			return flowlane.Screen("WELCOME", map[string]any{"flow": req.FlowID}), nil
		})
	})
	rec := &records{}
	budget := 300 * time.Millisecond
	verify := func(h http.Header, body []byte) error {
		if h.Get("X-Test-Signature") != hmacHex("plain-secret", body) {
			return errors.New("signature mismatch")
		}
		return nil
	}
	gw, err := gateway.NewGateway(e.nc, gateway.GatewayConfig{
		Prefix: e.prefix,
		Sources: []gateway.Source{
			{Name: "platica", Budget: 5 * time.Second}, // answered: a budget a slow machine cannot miss
			{Name: "plain", Budget: 5 * time.Second, Verify: verify},
			{Name: "slow", Budget: budget, Fallback: []byte(`{"data":{"acknowledged":true,"late":true}}`)},
			{Name: "garbage", Budget: budget},
			{Name: "panics", Budget: 5 * time.Second},
			{Name: "gone", Budget: 5 * time.Second},
			{Name: "meta", Budget: 5 * time.Second, PrivateKey: testKey(), Verify: metaVerifier(t)},
		},
		Recorder: rec,
	}, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/flows/{source}", gw)
	mux.Handle("/flows/{source}/{flow}", gw)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return gw, rec, srv
}

func hmacHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func platicaDelivery(t *testing.T, source, file string) *hooklane.Delivery {
	return &hooklane.Delivery{Source: source, Provider: "platica", ReceivedAt: time.Now(), Body: readTestdata(t, file)}
}

func TestGatewayPlaticaWithTheDemo(t *testing.T) {
	gw, rec, _ := newGateway(t)
	tests := []struct {
		file, want, action string
	}{
		{"platica_init.json", `"products":[{"id":"p1","title":"Plan Básico"},{"id":"p2","title":"Plan Premium"}]`, "init"},
		{"platica_screen_advance.json", `"screen":"PAYMENT"`, "data_exchange"},
		{"platica_back.json", `"screen":"WELCOME"`, "back"},
	}
	for _, tt := range tests {
		answer, _ := gw.AnswerFlow(t.Context(), platicaDelivery(t, "platica", tt.file))
		if !strings.Contains(string(answer), tt.want) {
			t.Errorf("%s: answer %s, want %s", tt.file, answer, tt.want)
		}
		r := rec.last(t)
		if r.Outcome != "answered" || r.Action != tt.action || r.FlowID != "flow_doc_abc" || r.FlowToken != "ZmxvdyQwMQ==" || string(r.Answer) != string(answer) {
			t.Errorf("%s: recorded %+v", tt.file, r)
		}
	}
	d := platicaDelivery(t, "platica", "platica_screen_advance.json")
	answer, deadline := gw.AnswerFlow(t.Context(), d)
	if !strings.Contains(string(answer), `"amount_mxn":499`) {
		t.Error("p2 should cost 499")
	}
	// The answer must leave by the end of the 5 s budget less its margin
	// (10%, at most 50 ms), counted from the delivery's arrival.
	if want := d.ReceivedAt.Add(5*time.Second - 50*time.Millisecond); !deadline.Equal(want) {
		t.Errorf("deadline %v after arrival, want 4.95s", deadline.Sub(d.ReceivedAt))
	}
}

func TestGatewayFallsBack(t *testing.T) {
	gw, rec, _ := newGateway(t)
	tests := []struct {
		source, outcome, answer string
	}{
		{"slow", "timeout", `{"data":{"acknowledged":true,"late":true}}`},
		{"garbage", "invalid", gateway.Fallback},
		{"panics", "error", gateway.Fallback},
		{"gone", "no_responders", gateway.Fallback},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			d := platicaDelivery(t, tt.source, "platica_init.json")
			answer, _ := gw.AnswerFlow(t.Context(), d)
			if string(answer) != tt.answer {
				t.Errorf("answer %s, want %s", answer, tt.answer)
			}
			if r := rec.last(t); r.Outcome != tt.outcome || r.Source != tt.source {
				t.Errorf("recorded %s for %s, want %s", r.Outcome, r.Source, tt.outcome)
			}
		})
	}
	// A delivery that is not a flow request falls back and is counted.
	answer, _ := gw.AnswerFlow(t.Context(), &hooklane.Delivery{Source: "platica", Body: []byte(`{"event":"whatsapp.flows.init"}`)})
	if string(answer) != gateway.Fallback {
		t.Errorf("malformed: answer %s", answer)
	}
}

func post(t *testing.T, url string, body []byte, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestGatewayPlainEndpoint(t *testing.T) {
	_, rec, srv := newGateway(t)
	signed := func(file string) (string, []byte) {
		b := readTestdata(t, file)
		return hmacHex("plain-secret", b), b
	}
	tests := []struct {
		name, path, file string
		status           int
		want, action     string
	}{
		{"ping", "/flows/plain", "endpoint_ping.json", 200, `{"data":{"status":"active"}}`, "ping"},
		{"error notification", "/flows/plain", "endpoint_error.json", 200, `{"data":{"acknowledged":true}}`, "error"},
		{"init", "/flows/plain/cotizador", "endpoint_init.json", 200, `"products"`, "init"},
		{"back", "/flows/plain/cotizador", "endpoint_back.json", 200, `"screen":"WELCOME"`, "back"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, body := signed(tt.file)
			resp, got := post(t, srv.URL+tt.path, body, "X-Test-Signature", sig)
			if resp.StatusCode != tt.status || !strings.Contains(string(got), tt.want) {
				t.Fatalf("got %d %s, want %d with %s", resp.StatusCode, got, tt.status, tt.want)
			}
			if r := rec.last(t); r.Action != tt.action {
				t.Errorf("recorded action %s, want %s", r.Action, tt.action)
			}
		})
	}
	if r := rec.last(t); r.FlowID != "cotizador" {
		t.Errorf("flow id from the path: %q", r.FlowID)
	}
	rejected := []struct {
		name   string
		do     func() (*http.Response, []byte)
		status int
	}{
		{"unsigned", func() (*http.Response, []byte) {
			return post(t, srv.URL+"/flows/plain", readTestdata(t, "endpoint_ping.json"))
		}, 401},
		{"unknown source", func() (*http.Response, []byte) { return post(t, srv.URL+"/flows/nope", []byte(`{}`)) }, 404},
		{"malformed", func() (*http.Response, []byte) {
			b := []byte(`{"action":"launch"}`)
			return post(t, srv.URL+"/flows/plain", b, "X-Test-Signature", hmacHex("plain-secret", b))
		}, 400},
		{"wrong method", func() (*http.Response, []byte) {
			resp, err := http.Get(srv.URL + "/flows/plain")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp, nil
		}, 405},
	}
	for _, tt := range rejected {
		if resp, body := tt.do(); resp.StatusCode != tt.status {
			t.Errorf("%s: status %d (%s), want %d", tt.name, resp.StatusCode, body, tt.status)
		}
	}
}

// encrypt is what Meta does to a flow request: the vector's AES key and IV,
// the key sealed to the endpoint's public key.
func encrypt(t *testing.T, iv []byte, plain string) []byte {
	t.Helper()
	body, err := gatewaytest.Seal(&testKey().PublicKey, vectorKey, iv, []byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// decryptAnswer opens an answer sealed with the vector key and iv, flipped.
func decryptAnswer(t *testing.T, iv, b64 []byte) string {
	t.Helper()
	plain, err := gatewaytest.Open(vectorKey, iv, b64)
	if err != nil {
		t.Fatal(err)
	}
	return string(plain)
}

func TestGatewayEncryptedEndpoint(t *testing.T) {
	_, rec, srv := newGateway(t)
	sign := func(b []byte) string { return "sha256=" + hmacHex(appSecret, b) }

	// The fixed vector of the protocol: ping in, the exact bytes out.
	ping := metaRequest(t, &testKey().PublicKey).json()
	resp, body := post(t, srv.URL+"/flows/meta", ping, "X-Hub-Signature-256", sign(ping))
	if resp.StatusCode != 200 || string(body) != vectorResponse || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("ping: %d %q %s, want 200 %s text/plain", resp.StatusCode, body, resp.Header.Get("Content-Type"), vectorResponse)
	}

	// Each request an IV of its own: the vector's again would be a replay.
	ivs := [][]byte{bytesOf(16, 0x51), bytesOf(16, 0x52)}
	exchange := encrypt(t, ivs[0], `{"version":"3.0","action":"data_exchange","screen":"WELCOME","data":{"x":1},"flow_token":"live"}`)
	resp, body = post(t, srv.URL+"/flows/meta/quote", exchange, "X-Hub-Signature-256", sign(exchange))
	if resp.StatusCode != 200 || decryptAnswer(t, ivs[0], body) != `{"screen":"WELCOME","data":{"flow":"quote"}}` {
		t.Fatalf("data_exchange: %d %q", resp.StatusCode, body)
	}
	if r := rec.last(t); r.Outcome != "answered" || r.FlowToken != "live" || r.Screen != "WELCOME" {
		t.Errorf("recorded %+v", r)
	}

	expired := encrypt(t, ivs[1], `{"version":"3.0","action":"data_exchange","screen":"WELCOME","data":{},"flow_token":"expired"}`)
	resp, body = post(t, srv.URL+"/flows/meta", expired, "X-Hub-Signature-256", sign(expired))
	if resp.StatusCode != gateway.StatusTokenInvalid {
		t.Fatalf("expired token: status %d, want 427", resp.StatusCode)
	}
	var msg struct {
		ErrorMsg string `json:"error_msg"`
	}
	if err := json.Unmarshal([]byte(decryptAnswer(t, ivs[1], body)), &msg); err != nil || msg.ErrorMsg != "Esta sesión ya expiró." {
		t.Errorf("427 body %q (%v)", msg.ErrorMsg, err)
	}

	resp, _ = post(t, srv.URL+"/flows/meta", ping, "X-Hub-Signature-256", sign([]byte("other bytes")))
	if resp.StatusCode != gateway.StatusSignatureInvalid {
		t.Errorf("bad signature: status %d, want 432", resp.StatusCode)
	}
	resp, _ = post(t, srv.URL+"/flows/meta", ping)
	if resp.StatusCode != gateway.StatusSignatureInvalid {
		t.Errorf("no signature: status %d, want 432", resp.StatusCode)
	}
	garbled := []byte(`{"encrypted_flow_data":"AAAA","encrypted_aes_key":"AAAA","initial_vector":"AAAA"}`)
	resp, _ = post(t, srv.URL+"/flows/meta", garbled, "X-Hub-Signature-256", sign(garbled))
	if resp.StatusCode != gateway.StatusCannotDecrypt {
		t.Errorf("undecryptable: status %d, want 421", resp.StatusCode)
	}
}
