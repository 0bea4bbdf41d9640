package provider

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/hooklane/hooklane"
)

// signatureFormats is each provider's header and prefix, as their docs give
// them; testdata/gen-signatures.sh holds the same table.
var signatureFormats = map[string]struct{ header, prefix string }{
	"platica":    {"X-Webhook-Signature", "sha256="},
	"meta":       {"X-Hub-Signature-256", "sha256="},
	"whatzmeapi": {"X-Signature", "sha256="},
	"whapi":      {"X-Whapi-Signature", ""},
}

// signatureVector is one entry of testdata/signatures.json, which openssl
// computed (see testdata/gen-signatures.sh), and the payload it signs.
type signatureVector struct {
	File      string `json:"file"`
	Provider  string `json:"provider"`
	Header    string `json:"header"`
	Secret    string `json:"secret"`
	Signature string `json:"signature"`
	body      []byte
}

func loadVectors(tb testing.TB) []signatureVector {
	tb.Helper()
	data, err := os.ReadFile("../../testdata/signatures.json")
	if err != nil {
		tb.Fatal(err)
	}
	var vectors []signatureVector
	if err := json.Unmarshal(data, &vectors); err != nil {
		tb.Fatalf("signatures.json: %v", err)
	}
	for i := range vectors {
		vectors[i].body = readPayload(tb, vectors[i].File)
	}
	return vectors
}

func signed(header, value string) http.Header {
	h := http.Header{}
	h.Set(header, value)
	return h
}

// TestSignatureVectorsCoverPayloads fails when a payload was added without
// rerunning testdata/gen-signatures.sh.
func TestSignatureVectorsCoverPayloads(t *testing.T) {
	var files []string
	for _, v := range loadVectors(t) {
		files = append(files, v.File)
		if want := signatureFormats[v.Provider].header; v.Header != want {
			t.Errorf("%s: header %q, want %q", v.File, v.Header, want)
		}
		if !strings.HasPrefix(v.File, v.Provider+"/") {
			t.Errorf("%s is listed under provider %s", v.File, v.Provider)
		}
	}
	for _, file := range payloadFiles(t) {
		if !slices.Contains(files, file) {
			t.Errorf("%s has no signature in signatures.json: run testdata/gen-signatures.sh", file)
		}
	}
}

// TestMetaPublishedVector pins the vector of protocols.md, section 2.
func TestMetaPublishedVector(t *testing.T) {
	const (
		body      = `{"object":"whatsapp_business_account","entry":[]}`
		signature = "sha256=02fe0c96d28c59ddb7cf81eff0ca05809b360ba73b63c28210b5906a0a107d1f"
	)
	vectors := loadVectors(t)
	i := slices.IndexFunc(vectors, func(v signatureVector) bool { return v.File == "meta/vector.json" })
	if i < 0 {
		t.Fatal("signatures.json lacks meta/vector.json")
	}
	v := vectors[i]
	if string(v.body) != body || v.Secret != "app_secret_123" || v.Signature != signature {
		t.Fatalf("meta/vector.json is not the published vector: %+v %q", v, v.body)
	}
	err := mustLookup(t, "meta").Verify(signed("X-Hub-Signature-256", signature), []byte(body), [][]byte{[]byte("app_secret_123")})
	if err != nil {
		t.Fatal(err)
	}
}

func TestVerify(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.File, func(t *testing.T) {
			p := mustLookup(t, v.Provider)
			secret := []byte(v.Secret)
			// The same MAC with the other prefix convention: bare hex for a
			// provider that wants "sha256=", and the reverse.
			otherPrefix := "sha256=" + v.Signature
			if digits, ok := strings.CutPrefix(v.Signature, "sha256="); ok {
				otherPrefix = digits
			}
			flipped := slices.Clone(v.body)
			flipped[len(flipped)/2] ^= 0x01
			prefix := signatureFormats[v.Provider].prefix
			upper := prefix + strings.ToUpper(strings.TrimPrefix(v.Signature, prefix))

			tests := []struct {
				name    string
				header  http.Header
				body    []byte
				secrets [][]byte
				want    error
			}{
				{"valid", signed(v.Header, v.Signature), v.body, [][]byte{secret}, nil},
				{"upper-case hex", signed(v.Header, upper), v.body, [][]byte{secret}, nil},
				{"rotation: right secret second", signed(v.Header, v.Signature), v.body, [][]byte{[]byte("old-secret"), secret}, nil},
				{"empty secret skipped", signed(v.Header, v.Signature), v.body, [][]byte{nil, secret}, nil},
				{"wrong secret", signed(v.Header, v.Signature), v.body, [][]byte{[]byte(v.Secret + "x")}, hooklane.ErrBadSignature},
				{"no secrets", signed(v.Header, v.Signature), v.body, nil, hooklane.ErrBadSignature},
				{"only an empty secret", signed(v.Header, v.Signature), v.body, [][]byte{{}}, hooklane.ErrBadSignature},
				{"flipped body byte", signed(v.Header, v.Signature), flipped, [][]byte{secret}, hooklane.ErrBadSignature},
				{"missing header", http.Header{}, v.body, [][]byte{secret}, hooklane.ErrNoSignature},
				{"empty header", signed(v.Header, ""), v.body, [][]byte{secret}, hooklane.ErrNoSignature},
				{"other header", signed("X-Signature-Other", v.Signature), v.body, [][]byte{secret}, hooklane.ErrNoSignature},
				{"truncated", signed(v.Header, v.Signature[:len(v.Signature)-1]), v.body, [][]byte{secret}, hooklane.ErrBadSignature},
				{"one byte short", signed(v.Header, v.Signature[:len(v.Signature)-2]), v.body, [][]byte{secret}, hooklane.ErrBadSignature},
				{"wrong prefix", signed(v.Header, otherPrefix), v.body, [][]byte{secret}, hooklane.ErrBadSignature},
				{"not hex", signed(v.Header, prefix+strings.Repeat("zz", sha256.Size)), v.body, [][]byte{secret}, hooklane.ErrBadSignature},
			}
			for _, tt := range tests {
				err := p.Verify(tt.header, tt.body, tt.secrets)
				if !errors.Is(err, tt.want) {
					t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
				}
				if err != nil && strings.Contains(err.Error(), v.Secret) {
					t.Errorf("%s: error %q reveals the secret", tt.name, err)
				}
			}
		})
	}
}

// FuzzVerify checks that a body verifies only under a signature that is its
// HMAC under the secret, in the provider's format, and that nothing panics.
func FuzzVerify(f *testing.F) {
	names := Names()
	for _, v := range loadVectors(f) {
		i := uint8(slices.Index(names, v.Provider))
		f.Add(i, v.body, []byte(v.Secret), v.Signature)
		f.Add(i, v.body, []byte(v.Secret), v.Signature[:len(v.Signature)-1])
		f.Add(i, v.body, []byte(v.Secret), "sha256=")
		f.Add(i, v.body[1:], []byte(v.Secret), v.Signature)
	}
	f.Fuzz(func(t *testing.T, which uint8, body, secret []byte, signature string) {
		name := names[int(which)%len(names)]
		p := mustLookup(t, name)
		format := signatureFormats[name]
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		want := hex.EncodeToString(mac.Sum(nil))

		err := p.Verify(signed(format.header, signature), body, [][]byte{secret})
		if err == nil {
			digits, ok := strings.CutPrefix(signature, format.prefix)
			if !ok || strings.ToLower(digits) != want || len(secret) == 0 {
				t.Fatalf("%s verified %q over %q with secret %q", name, signature, body, secret)
			}
		} else if !errors.Is(err, hooklane.ErrBadSignature) && !errors.Is(err, hooklane.ErrNoSignature) {
			t.Fatalf("%s: Verify error %v is neither sentinel", name, err)
		}
		if len(secret) > 0 {
			if err := p.Verify(signed(format.header, format.prefix+want), body, [][]byte{secret}); err != nil {
				t.Fatalf("%s rejected its own correct signature over %q: %v", name, body, err)
			}
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	p := mustLookup(b, "meta")
	secret := []byte("meta-test-app-secret")
	for _, bench := range []struct {
		name string
		body []byte
	}{
		{"batch", readPayload(b, "meta/messages_batch.json")},
		{"1000-items", metaBatch(10, 2, 30, 20)},
	} {
		b.Run(bench.name, func(b *testing.B) {
			mac := hmac.New(sha256.New, secret)
			mac.Write(bench.body)
			h := signed("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
			secrets := [][]byte{secret}
			b.SetBytes(int64(len(bench.body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Verify(h, bench.body, secrets); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
