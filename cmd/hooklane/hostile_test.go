package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hooklane/hooklane/flowlane/gateway/gatewaytest"
)

// The hostile suite, end to end: the real "hooklane all" on a real TCP
// listener, so header limits, timeouts, request parsing and path cleaning
// are net/http's own. Every route gets every hostile input it can get, each
// its own status; afterwards Postgres shows that nothing refused was stored
// and that every valid delivery sent among them was stored exactly once.

// hostileMaxBody is the test's ingest.max_body_bytes: small enough to cross
// cheaply, large enough for a signed 100k-level nesting to reach the JSON
// decoder.
const hostileMaxBody = 256 << 10

// hostileSigner signs as one provider does, with the test config's secret.
type hostileSigner struct {
	source, header, prefix, secret string
	auth                           string // an Authorization header the source requires
	// body is a one-event delivery carrying id, with text inserted raw so it
	// may hold escapes or bytes that are not UTF-8.
	body func(id, text string) string
}

var hostileSigners = []hostileSigner{
	{"platica", "X-Webhook-Signature", "sha256=", "platica-test-secret", "", func(id, text string) string {
		return `{"id":"` + id + `","event":"message.created","workspaceId":"ws_1","timestamp":"2026-05-06T19:00:00.000Z","source":"whatsapp","resourceType":"message","resourceId":"` + id + `","changes":null,"data":{"text":"` + text + `"}}`
	}},
	{"meta", "X-Hub-Signature-256", "sha256=", "meta-test-app-secret", "", func(id, text string) string {
		return `{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"PNID"},"messages":[{"from":"5215550001","id":"wamid.` + id + `","timestamp":"1724716800","type":"text","text":{"body":"` + text + `"}}]}}]}]}`
	}},
	{"whatzmeapi", "X-Signature", "sha256=", "whatzmeapi-test-secret", "Bearer wz-bearer", func(id, text string) string {
		return `{"event":"messages.upsert","messages":[{"key":{"id":"` + id + `","fromMe":false,"remoteJid":"521@s.whatsapp.net"},"message":{"conversation":"` + text + `"}}]}`
	}},
	{"whapi", "X-Whapi-Signature", "", "whapi-test-secret", "", func(id, text string) string {
		return `{"event_type":"message_received","id":"` + id + `","chat_id":"573001112233@c.us","from":"573001112233@c.us","body":"` + text + `","type":"text","timestamp":1724716800}`
	}},
}

func (s hostileSigner) sign(body string) string { return s.prefix + hmacHex(s.secret, body) }

// headers are the signature and bearer of a correctly signed delivery.
func (s hostileSigner) headers(body string) []string {
	h := []string{s.header + ": " + s.sign(body), "Content-Type: application/json"}
	if s.auth != "" {
		h = append(h, "Authorization: "+s.auth)
	}
	return h
}

// hostileServer is a running "hooklane all" with the hostile config.
type hostileServer struct {
	*instance
	addr string
	key  *rsa.PrivateKey // the meta source's flow endpoint key
}

func startHostile(t *testing.T) *hostileServer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "flows.pem")
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(keyFile, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	g := startWith(t, "", fmt.Sprintf("  publish_timeout: 10s\n  max_body_bytes: %d", hostileMaxBody), fmt.Sprintf(`
  - {name: platica, provider: platica, secrets: [platica-test-secret], flows: {budget: 10s}}
  - {name: meta, provider: meta, secrets: [meta-test-app-secret], verify_token: vt, flows: {private_key: %q}}
  - {name: whatzmeapi, provider: whatzmeapi, secrets: [whatzmeapi-test-secret], bearer_token: wz-bearer}
  - {name: whapi, provider: whapi, secrets: [whapi-test-secret]}`, keyFile))
	return &hostileServer{instance: g, addr: strings.TrimPrefix(g.url, "http://"), key: key}
}

// framing is how a wire request frames its body.
type framing int

const (
	byLength      framing = iota // Content-Length: len(body)
	chunked                      // Transfer-Encoding: chunked
	claimsLess                   // Content-Length: declared < len(body)
	claimsMore                   // Content-Length: declared > len(body), then the client stops sending
	lengthChunked                // both headers, chunked body (RFC 9112: chunked wins)
	noBody                       // no framing header at all
)

// wire is one HTTP/1.1 request written byte for byte: header names keep
// their case and nothing is cleaned on the way out.
type wire struct {
	method, target string
	headers        []string // "Name: value" lines
	body           []byte
	framing        framing
	declared       int
}

func (w wire) encode() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: hooklane.test\r\nConnection: close\r\n", w.method, w.target)
	for _, h := range w.headers {
		b.WriteString(h + "\r\n")
	}
	switch w.framing {
	case byLength:
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(w.body))
		b.Write(w.body)
	case claimsLess, claimsMore:
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", w.declared)
		b.Write(w.body)
	case chunked, lengthChunked:
		if w.framing == lengthChunked {
			fmt.Fprintf(&b, "Content-Length: %d\r\n", len(w.body)/2)
		}
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		for rest := w.body; len(rest) > 0; {
			n := min(len(rest), 4096)
			fmt.Fprintf(&b, "%x\r\n%s\r\n", n, rest[:n])
			rest = rest[n:]
		}
		b.WriteString("0\r\n\r\n")
	case noBody:
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// answer is what the server sent back on one connection.
type answer struct {
	status int
	header http.Header
	body   []byte
	rest   []byte // anything the server sent after the first answer
}

// send writes w on a fresh connection and reads the answer. The write runs
// beside the read, as a server may answer before reading everything.
func (s *hostileServer) send(t *testing.T, w wire) answer {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	go func() {
		_, _ = conn.Write(w.encode())
		if w.framing == claimsMore {
			_ = conn.(*net.TCPConn).CloseWrite()
		}
	}()
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: w.method})
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", w.method, w.target, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rest, _ := io.ReadAll(br)
	return answer{status: resp.StatusCode, header: resp.Header, body: body, rest: rest}
}

// fate is where a request's content must end up.
type fate int

const (
	refused           fate = iota // nowhere: no delivery, event, dead letter or exchange
	stored                        // one delivery and one event
	deadLettered                  // accepted, then one dead letter with its reason; no delivery, no event
	answered                      // a flow request answered and recorded once
	answeredAndStored             // a Platica flow delivery: recorded once, and stored once
)

// hostileCase is one request, the status it must get, and where its
// marker (in its body, or its flow token) must end up.
type hostileCase struct {
	name   string
	req    wire
	status []int // any of these
	fate   fate
	marker string
	reason string // for a dead letter: what its reason must say
	// sanitised: the event is stored with what jsonb refuses replaced.
	sanitised bool
	check     func(t *testing.T, a answer)
}

var hostileSeq atomic.Int64

// newMarker is unique, and no marker is a prefix of another: refused
// requests carry HOSTILE, the others VALID or DEAD.
func newMarker(kind string) string { return fmt.Sprintf("%s-%05d-x", kind, hostileSeq.Add(1)) }

func hostileNested(s hostileSigner, id string, depth int) string {
	body := s.body(id, "deep")
	return body[:len(body)-1] + `,"deep":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`
}

func hostilePadded(s hostileSigner, id string, n int) string {
	body := s.body(id, "")
	return body[:len(body)-1] + `,"pad":"` + strings.Repeat("x", n-len(body)-len(`,"pad":""`)) + `"}`
}

// manyHeaders is about size bytes of "X-Filler-<n>: ..." lines.
func manyHeaders(size int) []string {
	var h []string
	for n, i := 0, 0; n < size; i++ {
		line := fmt.Sprintf("X-Filler-%d: %s", i, strings.Repeat("b", 40))
		h = append(h, line)
		n += len(line) + 2
	}
	return h
}

func statuses(s ...int) []int { return s }

// webhookCases are the hostile (and odd but valid) deliveries to one
// provider's /webhooks route.
func webhookCases(s hostileSigner) []hostileCase {
	path := "/webhooks/" + s.source
	post := func(body string, headers ...string) wire {
		return wire{method: "POST", target: path, headers: headers, body: []byte(body)}
	}
	refuse := func(name string, status int, w wire) hostileCase {
		return hostileCase{name: name, req: w, status: statuses(status), fate: refused}
	}
	// signedRefused builds a refused case from a body carrying a fresh
	// HOSTILE marker.
	signedRefused := func(name string, status int, build func(body string) wire) hostileCase {
		m := newMarker("HOSTILE")
		c := refuse(name, status, build(s.body(m, "hola")))
		c.marker = m
		return c
	}
	keep := func(name string, build func(body string) wire, check func(*testing.T, answer)) hostileCase {
		m := newMarker("VALID")
		return hostileCase{name: name, req: build(s.body(m, "hola")), status: statuses(200), fate: stored, marker: m, check: check}
	}
	withAuth := func(h []string) []string {
		if s.auth != "" {
			h = append(h, "Authorization: "+s.auth)
		}
		return h
	}
	oddCase := func(name string) string {
		b := []byte(strings.ToLower(name))
		for i := 1; i < len(b); i += 2 {
			b[i] = bytes.ToUpper(b[i : i+1])[0]
		}
		return string(b)
	}
	cases := []hostileCase{
		signedRefused("missing signature", 401, func(b string) wire { return post(b, withAuth(nil)...) }),
		signedRefused("wrong signature", 401, func(b string) wire {
			return post(b, withAuth([]string{s.header + ": " + s.prefix + hmacHex("guess", b)})...)
		}),
		signedRefused("truncated signature", 401, func(b string) wire {
			sig := s.sign(b)
			return post(b, withAuth([]string{s.header + ": " + sig[:len(sig)-1]})...)
		}),
		signedRefused("signature over other bytes", 401, func(b string) wire {
			return post(strings.Replace(b, "hola", "HOLA", 1), s.headers(b)...)
		}),
		// A name that differs only in '-' and '_' is another header.
		signedRefused("signature header with underscores", 401, func(b string) wire {
			return post(b, withAuth([]string{strings.ReplaceAll(s.header, "-", "_") + ": " + s.sign(b)})...)
		}),
		// RFC 9112 §5.1: whitespace before the colon is refused.
		signedRefused("space before the colon of the signature header", 400, func(b string) wire {
			return post(b, withAuth([]string{s.header + " : " + s.sign(b)})...)
		}),
		signedRefused("signed, 100k levels of nesting", 400, func(string) wire {
			b := hostileNested(s, newMarker("HOSTILE"), 100_000)
			return post(b, s.headers(b)...)
		}),
		signedRefused("signed, gzip-encoded", 400, func(b string) wire {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			_, _ = io.WriteString(zw, b)
			_ = zw.Close()
			return post(z.String(), append(s.headers(z.String()), "Content-Encoding: gzip")...)
		}),
		signedRefused("over the limit, with Content-Length", 413, func(string) wire {
			b := hostilePadded(s, newMarker("HOSTILE"), hostileMaxBody+1)
			return post(b, s.headers(b)...)
		}),
		signedRefused("over the limit, chunked", 413, func(string) wire {
			b := hostilePadded(s, newMarker("HOSTILE"), hostileMaxBody+1)
			w := post(b, s.headers(b)...)
			w.framing = chunked
			return w
		}),
		// net/http reads only the declared bytes: the signature, over the
		// whole body, does not match them.
		signedRefused("Content-Length claims less than the body", 401, func(b string) wire {
			w := post(b, s.headers(b)...)
			w.framing, w.declared = claimsLess, len(b)/2
			return w
		}),
		signedRefused("Content-Length claims more than the body", 400, func(b string) wire {
			w := post(b, s.headers(b)...)
			w.framing, w.declared = claimsMore, len(b)+100
			return w
		}),
		signedRefused("headers past 64 KiB", 431, func(b string) wire {
			return post(b, append(s.headers(b), manyHeaders(80<<10)...)...)
		}),
		refuse("empty body, unsigned", 401, wire{method: "POST", target: path, headers: withAuth(nil)}),
		refuse("empty body, signed", 400, post("", s.headers("")...)),

		keep("upper-case hex signature", func(b string) wire {
			return post(b, withAuth([]string{s.header + ": " + s.prefix + strings.ToUpper(hmacHex(s.secret, b))})...)
		}, nil),
		// Header names are case-insensitive (RFC 9110 §5.1).
		keep("signature header name in odd case", func(b string) wire {
			return post(b, withAuth([]string{oddCase(s.header) + ": " + s.sign(b)})...)
		}, nil),
		// Whitespace around a field value is not part of it (RFC 9110 §5.5).
		keep("whitespace around the signature", func(b string) wire {
			return post(b, withAuth([]string{s.header + ":   " + s.sign(b) + " \t"})...)
		}, nil),
		keep("text/plain content type", func(b string) wire {
			return post(b, withAuth([]string{s.header + ": " + s.sign(b), "Content-Type: text/plain"})...)
		}, nil),
		keep("no content type", func(b string) wire {
			return post(b, withAuth([]string{s.header + ": " + s.sign(b)})...)
		}, nil),
		keep("chunked body", func(b string) wire {
			w := post(b, s.headers(b)...)
			w.framing = chunked
			return w
		}, nil),
		keep("Content-Length and chunked: chunked wins", func(b string) wire {
			w := post(b, s.headers(b)...)
			w.framing = lengthChunked
			return w
		}, nil),
		keep("1000 headers within the limit", func(b string) wire {
			return post(b, append(s.headers(b), manyHeaders(40<<10)...)...)
		}, nil),
		keep("query string ignored", func(b string) wire {
			w := post(b, s.headers(b)...)
			w.target += "?hub.mode=subscribe&x=../../healthz"
			return w
		}, nil),
	}
	{
		m := newMarker("VALID")
		b := hostileNested(s, m, 5_000)
		cases = append(cases, hostileCase{name: "signed, 5k levels of nesting", req: post(b, s.headers(b)...), status: statuses(200), fate: stored, marker: m})
	}
	{
		// Meta signs the escaped bytes it sends; the delivery keeps them,
		// and the event's JSON holds the character.
		m := newMarker("VALID")
		b := s.body(m, `caf\u00e9`)
		cases = append(cases, hostileCase{name: `escaped unicode \u00e9`, req: post(b, s.headers(b)...), status: statuses(200), fate: stored, marker: m})
	}
	// Signed content jsonb cannot hold as sent: accepted (it is authentic,
	// and a provider would retry a refusal for days), the delivery kept
	// byte for byte and the event stored with what jsonb refuses replaced,
	// marked sanitised.
	for _, d := range []struct{ name, text string }{
		{"invalid UTF-8 in a string", "caf\xe9 \xff\xfe"},
		{`escaped NUL \u0000`, `a\u0000b`},
		{`lone surrogate \ud800`, `broken \ud800 emoji`},
		{"number 1e999999", `","n":1e999999,"m":"`},
	} {
		m := newMarker("VALID")
		b := s.body(m, d.text)
		cases = append(cases, hostileCase{name: d.name, req: post(b, s.headers(b)...), status: statuses(200), fate: stored, marker: m, sanitised: true})
	}
	if s.source == "whapi" {
		// Values over what an index row holds: stored in their bounded form,
		// whole in the payload.
		for _, d := range []struct{ name, body string }{
			{"9 KB chat_id", `{"event_type":"message_received","id":"%s","chat_id":"` + incompressible(9<<10) + `@c.us","from":"573001112233@c.us","body":"x","type":"text"}`},
			{"10 KB event type", `{"event_type":"` + incompressible(10<<10) + `","id":"%s","chat_id":"573001112233@c.us"}`},
		} {
			m := newMarker("VALID")
			b := fmt.Sprintf(d.body, m)
			cases = append(cases, hostileCase{name: d.name, req: post(b, s.headers(b)...), status: statuses(200), fate: stored, marker: m})
		}
	}
	if s.auth != "" {
		cases = append(cases,
			signedRefused("bearer missing", 401, func(b string) wire { return post(b, s.header+": "+s.sign(b)) }),
			signedRefused("bearer wrong", 401, func(b string) wire {
				return post(b, s.header+": "+s.sign(b), "Authorization: Bearer guess")
			}),
		)
	}
	if s.prefix != "" {
		cases = append(cases, signedRefused("sha256= prefix missing", 401, func(b string) wire {
			return post(b, withAuth([]string{s.header + ": " + hmacHex(s.secret, b)})...)
		}))
	} else {
		cases = append(cases, signedRefused("sha256= prefix where bare hex is expected", 401, func(b string) wire {
			return post(b, withAuth([]string{s.header + ": sha256=" + hmacHex(s.secret, b)})...)
		}))
	}
	for i := range cases {
		cases[i].name = path + " " + cases[i].name
	}
	return cases
}

// flowCases are hostile requests to /flows/{source}[/{flow}] and to
// Platica's flow deliveries on /webhooks/platica.
func flowCases(t *testing.T, key *rsa.PrivateKey) []hostileCase {
	platica, whapi := hostileSigners[0], hostileSigners[3]
	initFor := func(token string) string {
		return `{"version":"3.0","action":"INIT","flow_token":"` + token + `"}`
	}
	post := func(path, body string, headers ...string) wire {
		return wire{method: "POST", target: path, headers: headers, body: []byte(body)}
	}
	sigHeader := func(s hostileSigner, b string) string { return s.header + ": " + s.sign(b) }
	flowAnswer := func(t *testing.T, a answer) {
		if !bytes.Contains(a.body, []byte(`"screen"`)) {
			t.Errorf("flow answer %q", a.body)
		}
	}
	var cases []hostileCase
	add := func(name string, w wire, status int, f fate, marker string) {
		cases = append(cases, hostileCase{name: name, req: w, status: statuses(status), fate: f, marker: marker})
	}

	// Plain endpoint, signed as the source's provider signs.
	m := newMarker("VALID")
	add("/flows/platica init", post("/flows/platica", initFor(m), sigHeader(platica, initFor(m))), 200, answered, m)
	cases[len(cases)-1].check = flowAnswer
	// A 4 KB flow id in the path: one subject token, cut, and a bounded
	// column in flow_exchanges, whole nowhere it could fail an index.
	m = newMarker("VALID")
	add("/flows/platica/<4 KB flow id> init", post("/flows/platica/"+incompressible(4<<10), initFor(m), sigHeader(platica, initFor(m))), 200, answered, m)
	m = newMarker("VALID")
	add("/flows/whapi/quote init, bare hex", post("/flows/whapi/quote", initFor(m), sigHeader(whapi, initFor(m))), 200, answered, m)
	cases[len(cases)-1].check = flowAnswer
	m = newMarker("HOSTILE")
	add("/flows/platica unsigned", post("/flows/platica", initFor(m)), 401, refused, m)
	m = newMarker("HOSTILE")
	add("/flows/platica wrong signature", post("/flows/platica", initFor(m), platica.header+": sha256="+hmacHex("guess", initFor(m))), 401, refused, m)
	m = newMarker("HOSTILE")
	{
		w := post("/flows/platica/quote", initFor(m), sigHeader(platica, initFor(m)))
		w.framing, w.declared = claimsLess, len(w.body)-3
		add("/flows/platica/quote Content-Length claims less", w, 401, refused, m)
	}
	m = newMarker("HOSTILE")
	bad := `{"version":"3.0","action":"launch","flow_token":"` + m + `"}`
	add("/flows/platica unknown action", post("/flows/platica", bad, sigHeader(platica, bad)), 400, refused, m)
	m = newMarker("HOSTILE")
	notObject := `[` + initFor(m) + `]`
	add("/flows/platica JSON array", post("/flows/platica", notObject, sigHeader(platica, notObject)), 400, refused, m)
	m = newMarker("HOSTILE")
	deep := `{"version":"3.0","action":"data_exchange","flow_token":"` + m + `","data":{"x":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}}`
	add("/flows/platica 100k levels of nesting", post("/flows/platica", deep, sigHeader(platica, deep)), 400, refused, m)
	// The flow endpoint's limit is flowlane's default (1 MiB), not
	// ingest.max_body_bytes (see the report).
	m = newMarker("HOSTILE")
	huge := `{"version":"3.0","action":"ping","flow_token":"` + m + `","pad":"` + strings.Repeat("x", 1<<20) + `"}`
	add("/flows/platica over 1 MiB", post("/flows/platica", huge, sigHeader(platica, huge)), 413, refused, m)
	add("/flows/platica GET", wire{method: "GET", target: "/flows/platica", framing: noBody}, 405, refused, "")
	add("/flows/nope unknown source", post("/flows/nope", initFor(newMarker("HOSTILE"))), 404, refused, "")
	add("/flows/platica/a/b a third segment", post("/flows/platica/a/b", initFor(newMarker("HOSTILE"))), 404, refused, "")
	m = newMarker("HOSTILE")
	add("/flows/platica headers past 64 KiB", post("/flows/platica", initFor(m), append([]string{sigHeader(platica, initFor(m))}, manyHeaders(80<<10)...)...), 431, refused, m)

	// Meta's encrypted endpoint.
	aesKey := []byte("0123456789abcdef")
	iv := []byte("fedcba9876543210")
	metaSign := func(b []byte) string {
		return "X-Hub-Signature-256: sha256=" + hmacHex("meta-test-app-secret", string(b))
	}
	sealed := func(token string, k, v []byte) []byte {
		return hostileSeal(t, &key.PublicKey, k, v, initFor(token))
	}
	m = newMarker("VALID")
	valid := sealed(m, aesKey, iv)
	add("/flows/meta encrypted init", post("/flows/meta", string(valid), metaSign(valid)), 200, answered, m)
	cases[len(cases)-1].check = func(t *testing.T, a answer) {
		if got := hostileOpen(t, aesKey, iv, a.body); !strings.Contains(got, `"screen"`) {
			t.Errorf("decrypted answer %q", got)
		}
	}
	m = newMarker("HOSTILE")
	b := sealed(m, aesKey, iv)
	add("/flows/meta unsigned", post("/flows/meta", string(b)), 432, refused, m)
	m = newMarker("HOSTILE")
	b = sealed(m, aesKey, iv)
	add("/flows/meta signature over other bytes", post("/flows/meta", string(b)+" ", metaSign(b)), 432, refused, m)
	garbage := []byte(`{"encrypted_flow_data":"AAAA","encrypted_aes_key":"AAAA","initial_vector":"AAAA"}`)
	add("/flows/meta undecryptable", post("/flows/meta", string(garbage), metaSign(garbage)), 421, refused, "")
	m = newMarker("HOSTILE")
	b = sealed(m, aesKey, []byte("twelve bytes"))
	add("/flows/meta IV of 12 bytes", post("/flows/meta", string(b), metaSign(b)), 421, refused, m)
	m = newMarker("HOSTILE")
	b = hostileSealRaw(t, &key.PublicKey, aesKey, iv, initFor(m), func(data []byte) []byte { return data[:len(data)-16] })
	add("/flows/meta tag stripped", post("/flows/meta", string(b), metaSign(b)), 421, refused, m)
	m = newMarker("HOSTILE")
	// An IV of its own: a request that decrypts with another's key and IV
	// is a replay, refused.
	b = hostileSeal(t, &key.PublicKey, aesKey, []byte("fedcba9876543211"), `["`+m+`"]`)
	add("/flows/meta decrypts to a JSON array", post("/flows/meta", string(b), metaSign(b)), 400, refused, m)
	add("/flows/meta GET", wire{method: "GET", target: "/flows/meta", framing: noBody}, 405, refused, "")
	// A long action on the plain endpoint: refused, with a bounded answer.
	m = newMarker("HOSTILE")
	longAction := `{"version":"3.0","action":"` + strings.Repeat("a", 60<<10) + `","flow_token":"` + m + `","data":{}}`
	add("/flows/platica 60 KB action", post("/flows/platica", longAction, sigHeader(platica, longAction)), 400, refused, m)
	cases[len(cases)-1].check = func(t *testing.T, a answer) {
		if len(a.body) > 1<<10 {
			t.Errorf("a %d-byte answer to a 60 KB action", len(a.body))
		}
	}

	// Platica's flow deliveries on the webhook route: answered, recorded
	// and stored; forged ones are none of these.
	flowDelivery := func(token string) string {
		return `{"id":"` + token + `","event":"whatsapp.flows.init","workspaceId":"ws_456","timestamp":"2026-05-06T19:00:00.000Z","source":"whatsapp.flows","resourceType":"flow_response","resourceId":"` + token + `","changes":null,"data":{"client":null,"conversation":null,"flow":{"id":"flow_doc_abc","wabaId":"1"},"flowResponse":{"flowToken":"` + token + `","status":"IN_PROGRESS"},"flowExchange":{"action":"init","screen":null,"version":"3.0","payload":{}}}}`
	}
	m = newMarker("VALID")
	add("/webhooks/platica flow delivery", post("/webhooks/platica", flowDelivery(m), sigHeader(platica, flowDelivery(m))), 200, answeredAndStored, m)
	cases[len(cases)-1].check = flowAnswer
	m = newMarker("HOSTILE")
	add("/webhooks/platica forged flow delivery", post("/webhooks/platica", flowDelivery(m), platica.header+": sha256="+hmacHex("guess", flowDelivery(m))), 401, refused, m)
	return cases
}

// routeCases are path tricks, methods and limits on every route, each sent
// with a correctly signed body carrying a HOSTILE marker: whatever the
// path does, nothing may be queued.
func routeCases() []hostileCase {
	platica := hostileSigners[0]
	var cases []hostileCase
	trick := func(method, target string, status ...int) {
		m := newMarker("HOSTILE")
		b := platica.body(m, "hola")
		w := wire{method: method, target: target, headers: platica.headers(b), body: []byte(b)}
		cases = append(cases, hostileCase{name: method + " " + target, req: w, status: status, fate: refused, marker: m})
	}
	// ServeMux redirects a path that cleans to another (307 keeps the
	// method), and refuses what matches no pattern.
	trick("POST", "/webhooks/../healthz", 307)
	trick("POST", "//webhooks/platica", 307)
	trick("POST", "/webhooks/platica/.", 307)
	trick("POST", "/webhooks/./platica", 307)
	trick("POST", "/flows/../webhooks/platica", 307)
	trick("POST", "/webhooks/platica/", 404)
	trick("POST", "/webhooks/platica/extra", 404)
	trick("POST", "/webhooks/%2e%2e/x", 404)
	trick("POST", "/webhooks/%2e%2e", 404)
	trick("POST", "/webhooks/plat%2Fica", 404)
	trick("POST", "/webhooks%2Fplatica", 404)
	trick("POST", "/webhooks/platica%2F..%2F..%2Fhealthz", 404)
	trick("POST", "/webhooks/platica%00", 404)
	trick("POST", "/webhooks/PLATICA", 404)
	trick("POST", "/WEBHOOKS/platica", 404)
	trick("POST", "/webhooks/", 404)
	trick("POST", "/webhooks/nope", 404)
	trick("POST", "/", 404)
	trick("PUT", "/webhooks/platica", 405)
	trick("GET", "/webhooks/platica", 405)
	trick("DELETE", "/webhooks/meta", 405)
	trick("POST", "/healthz", 405)
	trick("POST", "/readyz", 405)
	trick("POST", "/metrics", 405)
	trick("POST", "/healthz/", 404)
	trick("POST", "/metrics/../webhooks/platica", 307)

	// The operational routes and the handshake, each with too many headers.
	for _, target := range []string{"/healthz", "/readyz", "/metrics", "/webhooks/meta?hub.mode=subscribe&hub.verify_token=vt&hub.challenge=42"} {
		cases = append(cases,
			hostileCase{name: "GET " + target, req: wire{method: "GET", target: target, framing: noBody}, status: statuses(200), fate: refused},
			hostileCase{name: "GET " + target + " headers past 64 KiB", req: wire{method: "GET", target: target, headers: manyHeaders(80 << 10), framing: noBody}, status: statuses(431), fate: refused},
		)
	}
	cases[len(cases)-2].check = func(t *testing.T, a answer) {
		if string(a.body) != "42" {
			t.Errorf("handshake answered %q, want the challenge", a.body)
		}
	}
	for _, q := range []string{
		"hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=42",
		"hub.mode=unsubscribe&hub.verify_token=vt&hub.challenge=42",
		"hub.mode=subscribe&hub.verify_token=VT&hub.challenge=42",
		"hub.mode=subscribe&hub.challenge=42",
	} {
		cases = append(cases, hostileCase{name: "handshake " + q, req: wire{method: "GET", target: "/webhooks/meta?" + q, framing: noBody}, status: statuses(403), fate: refused})
	}
	return cases
}

func TestHostileRequests(t *testing.T) {
	t.Parallel()
	s := startHostile(t)
	var cases []hostileCase
	for _, sg := range hostileSigners {
		cases = append(cases, webhookCases(sg)...)
	}
	cases = append(cases, flowCases(t, s.key)...)
	cases = append(cases, routeCases()...)
	// Valid deliveries sent among the hostile ones, spread through the
	// list: every one must be stored exactly once.
	const valid = 40
	every := len(cases)/valid + 1
	var mixed []hostileCase
	for i, c := range cases {
		if i%every == 0 {
			sg := hostileSigners[(i/every)%len(hostileSigners)]
			m := newMarker("VALID")
			b := sg.body(m, "hola "+strconv.Itoa(i))
			mixed = append(mixed, hostileCase{name: "valid " + sg.source + " " + m, req: wire{method: "POST", target: "/webhooks/" + sg.source, headers: sg.headers(b), body: []byte(b)},
				status: statuses(200), fate: stored, marker: m})
		}
		mixed = append(mixed, c)
	}
	cases = mixed

	t.Run("requests", func(t *testing.T) {
		t.Run("slowloris", func(t *testing.T) {
			t.Parallel()
			hostileSlowloris(t, s)
		})
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				a := s.send(t, tc.req)
				ok := false
				for _, st := range tc.status {
					ok = ok || a.status == st
				}
				if !ok {
					t.Fatalf("status %d, want %v (%q)", a.status, tc.status, a.body)
				}
				if a.status/100 == 3 && a.header.Get("Location") == "" {
					t.Errorf("redirect without a Location")
				}
				if a.status == 405 && a.header.Get("Allow") == "" {
					t.Errorf("405 without Allow")
				}
				// Whatever follows the answer (the rest of a body that
				// claimed less) is never answered as a request that worked.
				if bytes.Contains(a.rest, []byte("HTTP/1.1 2")) {
					t.Errorf("the bytes after the declared body were answered %q", a.rest)
				}
				if tc.check != nil {
					tc.check(t, a)
				}
			})
		}
	})
	if t.Failed() {
		return
	}
	hostileCheckStore(t, s, cases)
}

// hostileCheckStore asserts, once the pipeline has drained, where every
// marker ended up: refused ones nowhere, the rest exactly once each.
func hostileCheckStore(t *testing.T, s *hostileServer, cases []hostileCase) {
	t.Helper()
	var deliveries, deads, exchanges int
	for _, c := range cases {
		switch c.fate {
		case stored:
			deliveries++
		case deadLettered:
			deads++
		case answered:
			exchanges++
		case answeredAndStored:
			deliveries++
			exchanges++
		}
	}
	s.waitCount(t, deliveries, "SELECT count(*) FROM deliveries")
	s.waitCount(t, deads, "SELECT count(*) FROM dead_letters")
	s.waitCount(t, exchanges, "SELECT count(*) FROM flow_exchanges")
	time.Sleep(500 * time.Millisecond) // a late write would land by now
	totals := []struct {
		sql  string
		want int
	}{
		{"SELECT count(*) FROM deliveries", deliveries},
		{"SELECT count(*) FROM events", deliveries}, // one event per delivery here
		{"SELECT count(*) FROM dead_letters", deads},
		{"SELECT count(*) FROM flow_exchanges", exchanges},
		// Nothing refused anywhere.
		{"SELECT count(*) FROM deliveries WHERE position('HOSTILE'::bytea in body) > 0", 0},
		{"SELECT count(*) FROM events WHERE strpos(payload::text, 'HOSTILE') > 0 OR strpos(event_key, 'HOSTILE') > 0", 0},
		{"SELECT count(*) FROM dead_letters WHERE position('HOSTILE'::bytea in body) > 0", 0},
		{"SELECT count(*) FROM flow_exchanges WHERE strpos(coalesce(flow_token, ''), 'HOSTILE') > 0", 0},
	}
	t.Logf("%d requests: %d deliveries stored, %d dead letters, %d flow exchanges; everything else refused", len(cases), deliveries, deads, exchanges)
	for _, c := range totals {
		if got := s.count(t, c.sql); got != c.want {
			t.Errorf("%s = %d, want %d", c.sql, got, c.want)
		}
	}
	for _, c := range cases {
		if c.marker == "" || c.fate == refused {
			continue
		}
		m := []byte(c.marker)
		inDeliveries := s.count(t, "SELECT count(*) FROM deliveries WHERE position($1::bytea in body) > 0", m)
		inEvents := s.count(t, "SELECT count(*) FROM events WHERE strpos(payload::text, $1) > 0", c.marker)
		inDead := s.count(t, "SELECT count(*) FROM dead_letters WHERE position($1::bytea in body) > 0", m)
		inExchanges := s.count(t, "SELECT count(*) FROM flow_exchanges WHERE flow_token = $1", c.marker)
		want := map[fate][4]int{
			stored:            {1, 1, 0, 0},
			deadLettered:      {0, 0, 1, 0},
			answered:          {0, 0, 0, 1},
			answeredAndStored: {1, 1, 0, 1},
		}[c.fate]
		if got := [4]int{inDeliveries, inEvents, inDead, inExchanges}; got != want {
			t.Errorf("%s: marker in deliveries, events, dead letters, exchanges = %v, want %v", c.name, got, want)
		}
		if c.fate == stored {
			if n := s.count(t, "SELECT count(*) FROM events WHERE strpos(payload::text, $1) > 0 AND sanitised = $2", c.marker, c.sanitised); n != 1 {
				t.Errorf("%s: the event is not stored with sanitised = %v", c.name, c.sanitised)
			}
		}
		if c.fate == deadLettered {
			if n := s.count(t, "SELECT count(*) FROM dead_letters WHERE position($1::bytea in body) > 0 AND strpos(reason, $2) > 0", m, c.reason); n != 1 {
				var reason string
				s.query(t, "SELECT reason FROM dead_letters WHERE position($1::bytea in body) > 0", []any{m}, &reason)
				t.Errorf("%s: dead letter's reason %q does not say %q", c.name, reason, c.reason)
			}
		}
	}
	// The escaped é: the delivery keeps the escape Meta signed, the event's
	// JSON holds the character.
	for _, c := range cases {
		if !strings.HasSuffix(c.name, `escaped unicode \u00e9`) {
			continue
		}
		if n := s.count(t, `SELECT count(*) FROM deliveries WHERE position($1::bytea in body) > 0 AND position($2::bytea in body) > 0`,
			[]byte(c.marker), []byte(`caf\u00e9`)); n != 1 {
			t.Errorf("%s: the delivery does not keep the escaped bytes", c.name)
		}
		if n := s.count(t, `SELECT count(*) FROM events WHERE strpos(payload::text, $1) > 0 AND strpos(payload::text, 'café') > 0`, c.marker); n != 1 {
			t.Errorf("%s: the event's payload does not hold é", c.name)
		}
	}
}

// query scans one row of sql into dest.
func (g *instance) query(t *testing.T, sql string, args []any, dest ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, g.db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, sql, args...).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// hostileSlowloris: a client that sends its headers a byte at a time,
// slower than the server's ReadHeaderTimeout (httpserver's default, 5s: the
// config has no knob for it), is cut off once that passes, never before.
// internal/httpserver tests the same with a short timeout.
func hostileSlowloris(t *testing.T, s *hostileServer) {
	const readHeaderTimeout = 5 * time.Second
	// The server's clock starts once it accepts, which is after the dial
	// begins: measured from here, the cut can come no earlier.
	start := time.Now()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := newMarker("HOSTILE")
	b := hostileSigners[0].body(m, "slow")
	req := wire{method: "POST", target: "/webhooks/platica", headers: hostileSigners[0].headers(b), body: []byte(b)}.encode()
	// The whole request would take four times the timeout to send.
	interval := 4 * readHeaderTimeout / time.Duration(len(req))
	go func() {
		for i := range req {
			if _, err := conn.Write(req[i : i+1]); err != nil {
				return
			}
			time.Sleep(interval)
		}
	}()
	_ = conn.SetReadDeadline(start.Add(4 * readHeaderTimeout))
	sent, err := io.ReadAll(conn)
	after := time.Since(start)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("still connected %v after dialling (ReadHeaderTimeout %v)", after, readHeaderTimeout)
	}
	if after < readHeaderTimeout {
		t.Fatalf("cut off after %v, before ReadHeaderTimeout %v", after, readHeaderTimeout)
	}
	if len(sent) > 0 && !bytes.HasPrefix(sent, []byte("HTTP/1.1 400 ")) && !bytes.HasPrefix(sent, []byte("HTTP/1.1 408 ")) {
		t.Fatalf("slowloris answered %q", sent)
	}
}

// hostileSeal is Meta's encryption of a flow request: AES-GCM with a
// 16-byte IV as the nonce, the key wrapped with RSA-OAEP SHA-256.
func hostileSeal(t *testing.T, pub *rsa.PublicKey, key, iv []byte, plain string) []byte {
	return hostileSealRaw(t, pub, key, iv, plain, nil)
}

// hostileSealRaw is hostileSeal with the ciphertext passed through mangle.
func hostileSealRaw(t *testing.T, pub *rsa.PublicKey, key, iv []byte, plain string, mangle func([]byte) []byte) []byte {
	t.Helper()
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, len(iv))
	if err != nil {
		t.Fatal(err)
	}
	data := gcm.Seal(nil, iv, []byte(plain), nil)
	if mangle != nil {
		data = mangle(data)
	}
	b, _ := json.Marshal(map[string]string{
		"encrypted_flow_data": base64.StdEncoding.EncodeToString(data),
		"encrypted_aes_key":   base64.StdEncoding.EncodeToString(wrapped),
		"initial_vector":      base64.StdEncoding.EncodeToString(iv),
	})
	return b
}

// hostileOpen decrypts an answer of the encrypted endpoint.
func hostileOpen(t *testing.T, key, iv, answer []byte) string {
	t.Helper()
	plain, err := gatewaytest.Open(key, iv, answer)
	if err != nil {
		t.Fatal(err)
	}
	return string(plain)
}

// TestHostileFlowEndpointChecksBearer: a source's bearer_token guards its
// flow endpoint as it guards its webhook route. A source that accepts
// unsigned deliveries (Evolution API sends none, only a bearer) relies on
// the bearer alone.
func TestHostileFlowEndpointChecksBearer(t *testing.T) {
	t.Parallel()
	g := startWith(t, "", "  publish_timeout: 10s", `
  - {name: evo, provider: whatzmeapi, allow_unsigned: true, bearer_token: evo-bearer}
  - {name: whatzmeapi, provider: whatzmeapi, secrets: [whatzmeapi-test-secret], bearer_token: wz-bearer}`)
	s := &hostileServer{instance: g, addr: strings.TrimPrefix(g.url, "http://")}
	init := `{"version":"3.0","action":"INIT","flow_token":"HOSTILE-bearer"}`
	signed := "X-Signature: sha256=" + hmacHex("whatzmeapi-test-secret", init)
	for _, tc := range []struct {
		name    string
		path    string
		headers []string
	}{
		{"webhook route, unsigned source, no bearer", "/webhooks/evo", nil},
		{"webhook route, signed source, no bearer", "/webhooks/whatzmeapi", []string{signed}},
		{"flow endpoint, unsigned source, no bearer", "/flows/evo", nil},
		{"flow endpoint, unsigned source, wrong bearer", "/flows/evo", []string{"Authorization: Bearer guess"}},
		{"flow endpoint, signed source, no bearer", "/flows/whatzmeapi", []string{signed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := s.send(t, wire{method: "POST", target: tc.path, headers: tc.headers, body: []byte(init)})
			if a.status != http.StatusUnauthorized {
				t.Fatalf("status %d (%q), want 401: the source's bearer_token is not checked", a.status, a.body)
			}
		})
	}
}

// TestHostileLargeDeliveryWithinTheLimit: a signed delivery under
// ingest.max_body_bytes (4 MiB by default; Meta sends up to 3 MB) is
// accepted and stored, not refused with a 503 that every retry repeats.
func TestHostileLargeDeliveryWithinTheLimit(t *testing.T) {
	t.Parallel()
	g := startAll(t, "")
	s := &hostileServer{instance: g, addr: strings.TrimPrefix(g.url, "http://")}
	whapi := hostileSigners[3] // the same secret as startAll's whapi source
	for _, size := range []int{900 << 10, 2 << 20} {
		m := newMarker("VALID")
		b := hostilePadded(whapi, m, size)
		a := s.send(t, wire{method: "POST", target: "/webhooks/whapi", headers: whapi.headers(b), body: []byte(b)})
		if a.status != http.StatusOK {
			t.Fatalf("a signed %d-byte delivery (limit %d): status %d, Retry-After %q (%s), want 200",
				size, 4<<20, a.status, a.header.Get("Retry-After"), bytes.TrimSpace(a.body))
		}
		g.waitCount(t, 1, "SELECT count(*) FROM deliveries WHERE position($1::bytea in body) > 0", []byte(m))
	}
}

// TestHostileOversizedIDAndEventType: a 3.8 MB Platica id and a 2 MB whapi
// event_type, signed and within ingest.max_body_bytes, are stored: the id
// gives way to the body's hash in the message's headers, the event type is
// cut there, and the body keeps both whole.
func TestHostileOversizedIDAndEventType(t *testing.T) {
	t.Parallel()
	g := startAll(t, "")
	s := &hostileServer{instance: g, addr: strings.TrimPrefix(g.url, "http://")}
	platica, whapi := hostileSigners[0], hostileSigners[3]
	for _, tc := range []struct {
		name, path string
		signer     hostileSigner
		body       string
	}{
		{"3.8 MB Platica id", "/webhooks/platica", platica, `{"id":"` + newMarker("VALID") + incompressible(3_800_000) +
			`","event":"message.created","workspaceId":"ws_1","timestamp":"2026-05-06T19:00:00.000Z","resourceType":"message","resourceId":"r1","data":{"text":"hola"}}`},
		{"2 MB whapi event_type", "/webhooks/whapi", whapi,
			`{"event_type":"` + incompressible(2<<20) + `","id":"` + newMarker("VALID") + `","chat_id":"573001112233@c.us"}`},
	} {
		a := s.send(t, wire{method: "POST", target: tc.path, headers: tc.signer.headers(tc.body), body: []byte(tc.body)})
		if a.status != http.StatusOK {
			t.Fatalf("%s: status %d (%s), want 200", tc.name, a.status, bytes.TrimSpace(a.body))
		}
		g.waitCount(t, 1, "SELECT count(*) FROM deliveries WHERE body = $1 AND length(dedupe_key) <= 256 AND length(event_type) <= 256", []byte(tc.body))
		g.waitCount(t, 1, "SELECT count(*) FROM events e JOIN deliveries d ON d.id = e.delivery_id WHERE d.body = $1", []byte(tc.body))
	}
}

// incompressible is n bytes of hex that PostgreSQL cannot compress into an
// index row, as random ids are.
func incompressible(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		sum := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	return b.String()[:n]
}
