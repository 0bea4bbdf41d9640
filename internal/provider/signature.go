package provider

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/hooklane/hooklane"
)

// hmacSignature is a signature scheme that every provider here shares: the
// hex HMAC-SHA256 of the raw body under a shared secret, sent in one request
// header after an optional fixed prefix such as "sha256=".
type hmacSignature struct {
	header string // canonical header name, e.g. "X-Hub-Signature-256"
	prefix string // what must precede the hex; empty for bare hex
}

// verify checks the signature in h against each secret in turn; any one may
// match, so secrets can be rotated. Either hex case decodes to the same MAC,
// and MACs are compared in constant time. Empty secrets are skipped: a MAC
// under an empty key proves nothing. Errors name the header, never a secret.
func (s hmacSignature) verify(h http.Header, body []byte, secrets [][]byte) error {
	value := h.Get(s.header)
	if value == "" {
		return fmt.Errorf("%w: no %s header", hooklane.ErrNoSignature, s.header)
	}
	digits, ok := strings.CutPrefix(value, s.prefix)
	if !ok {
		return fmt.Errorf("%w: %s lacks the %q prefix", hooklane.ErrBadSignature, s.header, s.prefix)
	}
	if len(digits) != hex.EncodedLen(sha256.Size) {
		return fmt.Errorf("%w: %s has %d characters after the prefix, want %d",
			hooklane.ErrBadSignature, s.header, len(digits), hex.EncodedLen(sha256.Size))
	}
	got, err := hex.DecodeString(digits)
	if err != nil {
		return fmt.Errorf("%w: %s is not hex", hooklane.ErrBadSignature, s.header)
	}
	tried := 0
	for _, secret := range secrets {
		if len(secret) == 0 {
			continue
		}
		tried++
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		if hmac.Equal(got, mac.Sum(nil)) {
			return nil
		}
	}
	if tried == 0 {
		return fmt.Errorf("%w: no secret configured to check %s", hooklane.ErrBadSignature, s.header)
	}
	return fmt.Errorf("%w: %s matches no configured secret", hooklane.ErrBadSignature, s.header)
}
