package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/httpserver"
	"github.com/hooklane/hooklane/internal/natstest"
	"github.com/hooklane/hooklane/internal/provider"
)

// The hostile suite: every way a request can be wrong, at the handler, each
// with its own status and outcome, and what gets queued. The same inputs run
// end to end, through the real server and into Postgres, in
// cmd/hooklane/hostile_test.go.

const (
	whapiSecret    = "whapi-secret"
	hostileMaxBody = 256 << 10 // room for a 100k-level nesting, small enough to exceed cheaply
)

// signer is how one source signs its deliveries, and a body of its kind.
type signer struct {
	source, provider string
	header, prefix   string
	secret           string
	auth             string // Authorization, when the source wants a bearer
	// body is a one-event delivery with id and a text inserted raw, so the
	// text may carry escapes or bytes that are not UTF-8.
	body func(id, text string) string
}

var signers = []signer{
	{"platica", "platica", "X-Webhook-Signature", "sha256=", platicaSecret, "", func(id, text string) string {
		return `{"id":"` + id + `","event":"message.created","workspaceId":"ws_1","timestamp":"2026-05-06T19:00:00.000Z","source":"whatsapp","resourceType":"message","resourceId":"` + id + `","changes":null,"data":{"text":"` + text + `"}}`
	}},
	{"wa", "meta", "X-Hub-Signature-256", "sha256=", metaSecret, "", func(id, text string) string {
		return `{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"PNID"},"messages":[{"from":"5215550001","id":"wamid.` + id + `","timestamp":"1724716800","type":"text","text":{"body":"` + text + `"}}]}}]}]}`
	}},
	{"whatz", "whatzmeapi", "X-Signature", "sha256=", whatzSecret, "Bearer " + whatzBearer, func(id, text string) string {
		return `{"event":"messages.upsert","messages":[{"key":{"id":"` + id + `","fromMe":false,"remoteJid":"521@s.whatsapp.net"},"message":{"conversation":"` + text + `"}}]}`
	}},
	{"whapi", "whapi", "X-Whapi-Signature", "", whapiSecret, "", func(id, text string) string {
		return `{"event_type":"message_received","id":"` + id + `","chat_id":"573001112233@c.us","from":"573001112233@c.us","body":"` + text + `","type":"text","timestamp":1724716800}`
	}},
}

func (s signer) mac(body []byte) string {
	m := hmac.New(sha256.New, []byte(s.secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func (s signer) sign(body string) string { return s.prefix + s.mac([]byte(body)) }

// request is a POST of body to the source with signature (none when
// empty) and the bearer the source wants.
func (s signer) request(body, signature string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/"+s.source, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set(s.header, signature)
	}
	if s.auth != "" {
		req.Header.Set("Authorization", s.auth)
	}
	return req
}

// newHostileRig is newRig with a signed source per provider, a meta source
// without a verify token and an unsigned one.
func newHostileRig(t testing.TB, maxBody int64) *rig {
	t.Helper()
	js, stream, prefix := newStream(t, natstest.URL(t))
	h, reg := newHostileHandler(t, js, stream, prefix, maxBody)
	mux := http.NewServeMux()
	mux.Handle("/webhooks/{source}", h)
	return &rig{js: js, stream: stream, handler: h, http: httpserver.WithRequestID(mux), reg: reg}
}

func newHostileHandler(t testing.TB, pub Publisher, stream, prefix string, maxBody int64) (*Handler, *prometheus.Registry) {
	t.Helper()
	var sources []hooklane.Source
	for _, s := range signers {
		p, _ := provider.Lookup(s.provider)
		src := hooklane.Source{Name: s.source, Provider: p, Secrets: [][]byte{[]byte("rotated-out"), []byte(s.secret)}}
		if s.provider == "meta" {
			src.VerifyToken = metaToken
		}
		if s.auth != "" {
			src.BearerToken = whatzBearer
		}
		sources = append(sources, src)
	}
	meta, _ := provider.Lookup("meta")
	whapi, _ := provider.Lookup("whapi")
	sources = append(sources,
		hooklane.Source{Name: "wa-notoken", Provider: meta, Secrets: [][]byte{[]byte(metaSecret)}},
		hooklane.Source{Name: "open", Provider: whapi, AllowUnsigned: true},
	)
	reg := prometheus.NewRegistry()
	h, err := New(pub, Config{
		Sources:        sources,
		Stream:         stream,
		SubjectPrefix:  prefix,
		MaxBodyBytes:   maxBody,
		PublishTimeout: 10 * time.Second,
	}, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	return h, reg
}

// lastQueued is the data of the newest message in the stream.
func (r *rig) lastQueued(t testing.TB) []byte {
	t.Helper()
	s, err := r.js.Stream(context.Background(), r.stream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.GetLastMsgForSubject(context.Background(), ">")
	if err != nil {
		t.Fatal(err)
	}
	return msg.Data
}

// hostileCase is one request and what it must get. queued is the body that
// must land in the stream, byte for byte; nil means nothing may be queued.
type hostileCase struct {
	name    string
	req     *http.Request
	status  int
	source  string // metric label; "unknown" for an unknown source
	outcome string
	queued  []byte
	check   func(t *testing.T, rec *httptest.ResponseRecorder)
}

var hostileSeq atomic.Int64

// uniqueID keeps every accepted body distinct, so none is a duplicate of
// another and the newest queued message is the one just accepted.
func uniqueID(what string) string {
	return fmt.Sprintf("HOSTILE-%s-%d", what, hostileSeq.Add(1))
}

// nested is a delivery of s's kind whose "deep" member is depth arrays deep.
func nested(s signer, depth int) string {
	body := s.body(uniqueID("deep"), "deep")
	return body[:len(body)-1] + `,"deep":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`
}

// padded is a delivery of s's kind exactly n bytes long.
func padded(s signer, n int) string {
	body := s.body(uniqueID("pad"), "")
	pad := n - len(body) - len(`,"pad":""`)
	return body[:len(body)-1] + `,"pad":"` + strings.Repeat("x", pad) + `"}`
}

func gzipped(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = io.WriteString(w, s)
	_ = w.Close()
	return b.String()
}

func alternateCase(s string) string {
	b := []byte(s)
	for i := range b {
		if i%2 == 0 {
			b[i] = bytes.ToUpper(b[i : i+1])[0]
		}
	}
	return string(b)
}

// signatureCases are the ways a signature can be wrong (or odd but right)
// for source s.
func signatureCases(s signer) []hostileCase {
	accepted := func(name, body, signature string) hostileCase {
		return hostileCase{name: name, req: s.request(body, signature), status: 200, source: s.source, outcome: outcomeAccepted, queued: []byte(body)}
	}
	refused := func(name string, req *http.Request, detail string) hostileCase {
		return hostileCase{name: name, req: req, status: 401, source: s.source, outcome: outcomeBadSignature,
			check: bodySays(detail)}
	}
	body := func() string { return s.body(uniqueID("sig"), "hola") }
	b := body()
	good := s.sign(b)
	cases := []hostileCase{
		refused("missing signature", s.request(b, ""), "missing"),
		refused("wrong secret", s.request(b, s.prefix+signer{secret: "guess"}.mac([]byte(b))), "mismatch"),
		refused("truncated signature", s.request(b, good[:len(good)-1]), "mismatch"),
		refused("one digit too many", s.request(b, good+"0"), "mismatch"),
		refused("not hex", s.request(b, good[:len(good)-1]+"g"), "mismatch"),
		refused("over other bytes: a space appended", s.request(b+" ", good), "mismatch"),
		refused("over other bytes: one byte changed", s.request(strings.Replace(b, "hola", "holA", 1), good), "mismatch"),
		refused("over other bytes: cut short", s.request(b[:len(b)-1], good), "mismatch"),
		refused("HMAC-SHA1 instead of SHA-256", s.request(b, s.prefix+hmacSHA1(s.secret, b)), "mismatch"),
		// Hex case does not change the MAC: every provider accepts it.
		func() hostileCase {
			up := body()
			return accepted("upper-case hex", up, s.prefix+strings.ToUpper(s.mac([]byte(up))))
		}(),
		func() hostileCase {
			mixed := body()
			return accepted("mixed-case hex", mixed, s.prefix+alternateCase(s.mac([]byte(mixed))))
		}(),
		// Only the first value of a repeated header is checked.
		refused("wrong signature first, right one second", withHeader(s.request(b, "sha256="+strings.Repeat("0", 64)), s.header, good), "mismatch"),
	}
	empty := s.request("", "")
	empty.Header.Set(s.header, "")
	cases = append(cases, refused("empty signature header", empty, "missing"))
	if s.prefix != "" {
		cases = append(cases,
			refused("prefix missing", s.request(b, s.mac([]byte(b))), "prefix"),
			refused("prefix in upper case", s.request(b, strings.ToUpper(s.prefix)+s.mac([]byte(b))), "prefix"),
			refused("prefix doubled", s.request(b, s.prefix+good), "mismatch"),
			refused("sha1= prefix", s.request(b, "sha1="+s.mac([]byte(b))), "prefix"),
		)
	} else {
		cases = append(cases, refused("sha256= prefix where bare hex is expected", s.request(b, "sha256="+s.mac([]byte(b))), "mismatch"))
	}
	if s.auth != "" {
		unauthorized := func(name, auth string) hostileCase {
			req := s.request(b, good)
			if auth == "" {
				req.Header.Del("Authorization")
			} else {
				req.Header.Set("Authorization", auth)
			}
			return hostileCase{name: name, req: req, status: 401, source: s.source, outcome: outcomeUnauthorized, check: bodySays("bearer")}
		}
		cases = append(cases,
			unauthorized("bearer missing", ""),
			unauthorized("bearer wrong", "Bearer nope"),
			unauthorized("bearer with a suffix", "Bearer "+whatzBearer+"x"),
			unauthorized("basic instead of bearer", "Basic "+whatzBearer),
			unauthorized("bearer without a token", "Bearer"),
		)
		lower := body()
		c := accepted("bearer scheme in lower case", lower, s.sign(lower))
		c.req.Header.Set("Authorization", "bearer "+whatzBearer)
		cases = append(cases, c)
	}
	return cases
}

// bodyCases are signed bodies that are wrong, odd or too large for s.
func bodyCases(s signer, maxBody int) []hostileCase {
	signed := func(name, body string, status int, outcome string) hostileCase {
		c := hostileCase{name: name, req: s.request(body, s.sign(body)), status: status, source: s.source, outcome: outcome}
		if status == 200 {
			c.queued = []byte(body)
		}
		return c
	}
	notJSON := func(name, body string) hostileCase {
		c := signed(name, body, 400, outcomeBadJSON)
		c.check = bodySays("JSON")
		return c
	}
	b := s.body(uniqueID("body"), "hola")
	over := padded(s, maxBody+1)
	chunked := s.request(over, s.sign(over))
	chunked.ContentLength = -1
	chunked.Body = io.NopCloser(strings.NewReader(over))
	lying := s.request(over, s.sign(over))
	lying.ContentLength = 100
	textPlain := s.body(uniqueID("ct"), "hola")
	noType := s.body(uniqueID("ct"), "hola")
	gz := gzipped(s.body(uniqueID("gz"), "hola"))
	cases := []hostileCase{
		{name: "empty body, unsigned", req: s.request("", ""), status: 401, source: s.source, outcome: outcomeBadSignature},
		notJSON("empty body, signed", ""),
		notJSON("whitespace only", " \r\n\t"),
		notJSON("JSON array", `[`+b+`]`),
		notJSON("JSON null", `null`),
		notJSON("JSON string", `"x"`),
		notJSON("JSON number", `42`),
		notJSON("trailing garbage", b+`x`),
		notJSON("two objects", b+b),
		notJSON("object cut short", b[:len(b)-1]),
		notJSON("byte order mark", "\xef\xbb\xbf"+b),
		notJSON("100k levels of nesting", nested(s, 100_000)),
		notJSON("gzip-encoded, signed over the gzip bytes", gz),
		// Within the JSON decoder's depth limit (10000) it is only data.
		signed("5k levels of nesting", nested(s, 5_000), 200, outcomeAccepted),
		// Go's decoder reads invalid UTF-8; the bytes are queued as signed
		// and the worker decides their fate (see cmd/hooklane's suite).
		signed("invalid UTF-8 in a string", s.body(uniqueID("utf8"), "caf\xe9 \xff\xfe"), 200, outcomeAccepted),
		// Meta signs the escaped bytes it sends: the escapes are queued as is.
		signed(`escaped unicode \u00e9`, s.body(uniqueID("esc"), `caf\u00e9 \ud83d\ude00`), 200, outcomeAccepted),
		signed(`escaped NUL \u0000`, s.body(uniqueID("nul"), `a\u0000b`), 200, outcomeAccepted),
		signed(`lone surrogate \ud800`, s.body(uniqueID("surrogate"), `a\ud800b`), 200, outcomeAccepted),
		signed("exactly at the limit", padded(s, maxBody), 200, outcomeAccepted),
		{name: "one byte over the limit, with Content-Length", req: s.request(over, s.sign(over)), status: 413, source: s.source, outcome: outcomeTooLarge, check: bodySays("limit")},
		{name: "over the limit, chunked", req: chunked, status: 413, source: s.source, outcome: outcomeTooLarge},
		{name: "over the limit, Content-Length claims 100", req: lying, status: 413, source: s.source, outcome: outcomeTooLarge},
	}
	// Providers always send JSON and the body is what is signed: the
	// content type is not checked.
	c := signed("text/plain content type", textPlain, 200, outcomeAccepted)
	c.req.Header.Set("Content-Type", "text/plain")
	d := signed("no content type", noType, 200, outcomeAccepted)
	d.req.Header.Del("Content-Type")
	broken := s.request(b, s.sign(b))
	broken.Body = io.NopCloser(io.MultiReader(strings.NewReader(b[:10]), errReader{}))
	cases = append(cases, c, d,
		hostileCase{name: "body read fails midway", req: broken, status: 400, source: s.source, outcome: outcomeBadRequest, check: bodySays("reading body")})
	return cases
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

func hmacSHA1(secret, body string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

func withHeader(req *http.Request, name, value string) *http.Request {
	req.Header.Add(name, value)
	return req
}

func bodySays(s string) func(*testing.T, *httptest.ResponseRecorder) {
	return func(t *testing.T, rec *httptest.ResponseRecorder) {
		t.Helper()
		if !strings.Contains(rec.Body.String(), s) {
			t.Errorf("answer %q does not say %q", rec.Body, s)
		}
	}
}

// routeCases are requests refused before any body is read.
func routeCases() []hostileCase {
	get := func(path string) *http.Request { return httptest.NewRequest(http.MethodGet, path, nil) }
	handshake := func(source, query string) *http.Request { return get("/webhooks/" + source + "?" + query) }
	forbidden := func(name string, req *http.Request, source string) hostileCase {
		return hostileCase{name: name, req: req, status: 403, source: source, outcome: outcomeHandshakeFailed}
	}
	cases := []hostileCase{
		{name: "unknown source", req: httptest.NewRequest(http.MethodPost, "/webhooks/nope", strings.NewReader(`{}`)), status: 404, source: "unknown", outcome: outcomeUnknownSource},
		{name: "source name in upper case", req: httptest.NewRequest(http.MethodPost, "/webhooks/PLATICA", strings.NewReader(`{}`)), status: 404, source: "unknown", outcome: outcomeUnknownSource},
		{name: "source with a NUL", req: httptest.NewRequest(http.MethodPost, "/webhooks/platica%00", strings.NewReader(`{}`)), status: 404, source: "unknown", outcome: outcomeUnknownSource},
		{name: "encoded slash in the source", req: httptest.NewRequest(http.MethodPost, "/webhooks/plat%2Fica", strings.NewReader(`{}`)), status: 404, source: "unknown", outcome: outcomeUnknownSource},
		{name: "dot-dot source", req: httptest.NewRequest(http.MethodPost, "/webhooks/%2e%2e", strings.NewReader(`{}`)), status: 404, source: "unknown", outcome: outcomeUnknownSource},
		forbidden("handshake with a wrong token", handshake("wa", "hub.mode=subscribe&hub.verify_token=x&hub.challenge=1"), "wa"),
		forbidden("handshake with the token in another case", handshake("wa", "hub.mode=subscribe&hub.verify_token="+strings.ToUpper(metaToken)+"&hub.challenge=1"), "wa"),
		forbidden("handshake with a wrong mode", handshake("wa", "hub.mode=unsubscribe&hub.verify_token="+metaToken+"&hub.challenge=1"), "wa"),
		forbidden("handshake without a token", handshake("wa", "hub.mode=subscribe&hub.challenge=1"), "wa"),
		forbidden("handshake without a mode", handshake("wa", "hub.verify_token="+metaToken+"&hub.challenge=1"), "wa"),
		// An empty token never matches a source that has none.
		forbidden("handshake with an empty token on a source without one", handshake("wa-notoken", "hub.mode=subscribe&hub.verify_token=&hub.challenge=1"), "wa-notoken"),
		{name: "handshake echoes the challenge as plain text", req: handshake("wa", "hub.mode=subscribe&hub.verify_token="+metaToken+"&hub.challenge=%3Cscript%3Ealert(1)%3C/script%3E"),
			status: 200, source: "wa", outcome: outcomeVerified, check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				if rec.Body.String() != "<script>alert(1)</script>" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
					t.Errorf("challenge answered %q as %q", rec.Body, rec.Header().Get("Content-Type"))
				}
			}},
	}
	for _, s := range signers {
		allow := "POST"
		if s.provider == "meta" {
			allow = "GET, POST"
		}
		for _, m := range []string{http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodHead, "PROPFIND"} {
			cases = append(cases, hostileCase{name: m + " " + s.source, req: httptest.NewRequest(m, "/webhooks/"+s.source, strings.NewReader(`{}`)),
				status: 405, source: s.source, outcome: outcomeMethod, check: func(t *testing.T, rec *httptest.ResponseRecorder) {
					if got := rec.Header().Get("Allow"); got != allow {
						t.Errorf("Allow %q, want %q", got, allow)
					}
				}})
		}
		if s.provider != "meta" {
			cases = append(cases, hostileCase{name: "GET handshake on " + s.source, req: handshake(s.source, "hub.mode=subscribe&hub.verify_token="+metaToken+"&hub.challenge=1"),
				status: 405, source: s.source, outcome: outcomeMethod})
		}
	}
	return cases
}

func TestHostileRequests(t *testing.T) {
	t.Parallel()
	r := newHostileRig(t, hostileMaxBody)
	cases := routeCases()
	for _, s := range signers {
		for _, c := range append(signatureCases(s), bodyCases(s, hostileMaxBody)...) {
			c.name = s.source + "/" + c.name
			cases = append(cases, c)
		}
	}
	// One queue, so the cases run in turn: each sees only its own effect.
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prov := ""
			if src, ok := r.handler.sources[tc.source]; ok {
				prov = src.Provider.Name()
			}
			before, metric := r.queued(t), r.outcomes(tc.source, prov, tc.outcome)
			rec := r.do(tc.req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tc.status, rec.Body)
			}
			if got := r.outcomes(tc.source, prov, tc.outcome); got != metric+1 {
				t.Errorf("outcome %s counted %v → %v, want one more", tc.outcome, metric, got)
			}
			if tc.check != nil {
				tc.check(t, rec)
			}
			after := r.queued(t)
			if tc.queued == nil {
				if after != before {
					t.Fatalf("%d messages queued by a refused request", after-before)
				}
				return
			}
			if after != before+1 {
				t.Fatalf("queued %d messages, want 1", after-before)
			}
			if got := r.lastQueued(t); !bytes.Equal(got, tc.queued) {
				t.Fatalf("queued body differs from the one signed:\n got %q\nwant %q", trim(got), trim(tc.queued))
			}
		})
	}
}

func trim(b []byte) []byte {
	if len(b) > 300 {
		return append(b[:300:300], "..."...)
	}
	return b
}

// jsonObject reports whether body is one JSON object, as ingest requires.
func jsonObject(body []byte) bool {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(body)
}

// recordingPublisher acknowledges every message and keeps it. FuzzIngest
// uses it instead of JetStream: coverage-guided fuzzing needs a process
// whose coverage depends only on the input, and an embedded NATS server's
// background goroutines make it vary, so the engine spends its time
// minimizing phantom finds (measured: a few hundred execs/s at best, with
// stalls of many seconds, against over 4000/s without). TestHostileRequests
// runs the same decisions against a real JetStream.
type recordingPublisher struct{ msgs []*nats.Msg }

func (p *recordingPublisher) PublishMsg(_ context.Context, msg *nats.Msg, _ ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	p.msgs = append(p.msgs, msg)
	return &jetstream.PubAck{Stream: "FUZZ", Sequence: uint64(len(p.msgs))}, nil
}

// FuzzIngest sends an arbitrary body with an arbitrary signature (or, when
// sign is set, the body's real one) to a source of any provider, and checks
// the whole decision: 413 over the limit, else 401 unless the signature is
// the real HMAC of the body, else 400 unless the body is a JSON object, else
// 200 and queued. A refusal queues nothing, and nothing panics.
func FuzzIngest(f *testing.F) {
	const maxBody = 64 << 10
	pub := &recordingPublisher{}
	h, _ := newHostileHandler(f, pub, "", "fuzz", maxBody)
	mux := http.NewServeMux()
	mux.Handle("/webhooks/{source}", h)
	for i, s := range signers {
		body := s.body("FUZZ-1", "hola")
		f.Add(uint8(i), []byte(body), s.sign(body), false)
		f.Add(uint8(i), []byte(body), strings.ToUpper(s.sign(body)), false)
		f.Add(uint8(i), []byte(body), s.prefix+strings.ToUpper(s.mac([]byte(body))), false)
		f.Add(uint8(i), []byte(body), "", false)
		f.Add(uint8(i), []byte(body), "", true)
		f.Add(uint8(i), []byte(s.body("FUZZ-2", "caf\xe9")), "", true)
		f.Add(uint8(i), []byte(s.body("FUZZ-3", `\u00e9\u0000`)), "", true)
		f.Add(uint8(i), []byte(`[]`), "", true)
		f.Add(uint8(i), []byte(``), "", true)
		f.Add(uint8(i), []byte(" \r\n\t"+body), "", true)
		f.Add(uint8(i), []byte("\xef\xbb\xbf"+body), "", true)
		f.Add(uint8(i), []byte(nested(s, 10_001)), "", true) // one level past the decoder's limit
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte, signature string, sign bool) {
		s := signers[int(which)%len(signers)]
		if sign {
			signature = s.prefix + s.mac(body)
		}
		req := httptest.NewRequest(http.MethodPost, "/webhooks/"+s.source, bytes.NewReader(body))
		req.Header[s.header] = []string{signature}
		if s.auth != "" {
			req.Header.Set("Authorization", s.auth)
		}
		pub.msgs = nil
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)

		digits, prefixed := strings.CutPrefix(signature, s.prefix)
		authentic := prefixed && strings.ToLower(digits) == s.mac(body)
		want := http.StatusOK
		switch {
		case len(body) > maxBody:
			want = http.StatusRequestEntityTooLarge
		case !authentic:
			want = http.StatusUnauthorized
		case !jsonObject(body):
			want = http.StatusBadRequest
		}
		if rec.Code != want {
			t.Fatalf("%s: body %q signed %q: status %d, want %d (%s)", s.source, trim(body), signature, rec.Code, want, rec.Body)
		}
		switch {
		case want != http.StatusOK && len(pub.msgs) != 0:
			t.Fatalf("%s: a %d published %d messages", s.source, rec.Code, len(pub.msgs))
		case want == http.StatusOK && (len(pub.msgs) != 1 || !bytes.Equal(pub.msgs[0].Data, body)):
			t.Fatalf("%s: a 200 published %d messages, want the body once", s.source, len(pub.msgs))
		}
	})
}
