package gateway_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/hooklane/hooklane/flowlane"
	"github.com/hooklane/hooklane/flowlane/gateway"
)

// testKey is the endpoint's key pair, made once: RSA-2048 as Meta requires.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

var (
	vectorKey = []byte{0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}
	vectorIV  = []byte{0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f}
)

const (
	vectorCiphertext = "vryB0w/BTee4OvmgkgEf9dnfQfwZb8iWi7yl5iotFMJeuQl749lOptdzv/L1T2V2PA=="
	vectorResponse   = "IHgL0mWXHJ6FDPLH6+aygF5BfT+mPzwvzktiKvlmYpg8eFKqJX/07YVStaI="
)

type encryptedBody struct {
	Data string `json:"encrypted_flow_data"`
	Key  string `json:"encrypted_aes_key"`
	IV   string `json:"initial_vector"`
}

// metaRequest is a request as Meta sends it: the vector's flow data, with
// the vector's AES key encrypted to pub.
func metaRequest(t testing.TB, pub *rsa.PublicKey) encryptedBody {
	t.Helper()
	encKey, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, vectorKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	return encryptedBody{
		Data: vectorCiphertext,
		Key:  base64.StdEncoding.EncodeToString(encKey),
		IV:   base64.StdEncoding.EncodeToString(vectorIV),
	}
}

func (b encryptedBody) json() []byte {
	out, _ := json.Marshal(b)
	return out
}

func TestDecryptRequestRoundTrip(t *testing.T) {
	priv := testKey()
	plain, s, err := gateway.DecryptRequest(priv, metaRequest(t, &priv.PublicKey).json())
	if err != nil {
		t.Fatal(err)
	}
	if string(plain) != `{"version":"3.0","action":"ping"}` {
		t.Errorf("plaintext %s", plain)
	}
	req, err := gateway.ParseEndpoint(plain, "meta")
	if err != nil || req.Action != flowlane.ActionPing {
		t.Fatalf("ParseEndpoint = %+v, %v", req, err)
	}
	if got := s.EncryptResponse([]byte(`{"data":{"status":"active"}}`)); got != vectorResponse {
		t.Errorf("response %s, want %s", got, vectorResponse)
	}
}

func TestDecryptRequestTampered(t *testing.T) {
	priv := testKey()
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b64 string, i int) string {
		b, _ := base64.StdEncoding.DecodeString(b64)
		b[i] ^= 0x01
		return base64.StdEncoding.EncodeToString(b)
	}
	for _, tc := range []struct {
		name   string
		tamper func(*encryptedBody)
	}{
		{"flow data", func(b *encryptedBody) { b.Data = flip(b.Data, 0) }},
		{"tag", func(b *encryptedBody) { b.Data = flip(b.Data, 48) }},
		{"truncated", func(b *encryptedBody) { b.Data = base64.StdEncoding.EncodeToString([]byte("short")) }},
		{"IV", func(b *encryptedBody) { b.IV = flip(b.IV, 15) }},
		{"12-byte IV", func(b *encryptedBody) { b.IV = base64.StdEncoding.EncodeToString(vectorIV[:12]) }},
		{"AES key", func(b *encryptedBody) { b.Key = flip(b.Key, 7) }},
		{"other RSA key", func(b *encryptedBody) { *b = metaRequest(t, &other.PublicKey) }},
		{"bad base64", func(b *encryptedBody) { b.Data = "not base64!" }},
		{"missing key", func(b *encryptedBody) { b.Key = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := metaRequest(t, &priv.PublicKey)
			tc.tamper(&b)
			if _, _, err := gateway.DecryptRequest(priv, b.json()); !errors.Is(err, gateway.ErrDecrypt) {
				t.Errorf("error %v, want ErrDecrypt", err)
			}
		})
	}
	for _, body := range []string{``, `[]`, `{"encrypted_flow_data":1}`, `{"version":"3.0","action":"ping"}`} {
		if _, _, err := gateway.DecryptRequest(priv, []byte(body)); !errors.Is(err, gateway.ErrDecrypt) {
			t.Errorf("DecryptRequest(%s) error %v, want ErrDecrypt", body, err)
		}
	}
}

func TestLoadPrivateKey(t *testing.T) {
	priv := testKey()
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)})
	der8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der8})
	//lint:ignore SA1019 the legacy format LoadPrivateKey must read
	block, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(priv), []byte("s3cret"), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	encrypted := pem.EncodeToMemory(block)

	for _, tc := range []struct {
		name, passphrase string
		pem              []byte
	}{
		{"PKCS#1", "", pkcs1},
		{"PKCS#8", "", pkcs8},
		{"encrypted PKCS#1", "s3cret", encrypted},
		{"passphrase ignored when not encrypted", "s3cret", pkcs8},
	} {
		key, err := gateway.LoadPrivateKey(tc.pem, tc.passphrase)
		if err != nil || !key.Equal(priv) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}

	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edKey)
	for _, tc := range []struct {
		name, passphrase string
		pem              []byte
		errContains      string
	}{
		{"no passphrase", "", encrypted, "no passphrase"},
		{"wrong passphrase", "wrong", encrypted, "private key"},
		{"encrypted PKCS#8", "s3cret", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30}}), "not supported"},
		{"not RSA", "", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER}), "not RSA"},
		{"garbage", "", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte("junk")}), "neither"},
		{"no PEM", "", []byte("hello"), "no PEM block"},
	} {
		if _, err := gateway.LoadPrivateKey(tc.pem, tc.passphrase); err == nil || !strings.Contains(err.Error(), tc.errContains) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.errContains)
		}
	}
}
