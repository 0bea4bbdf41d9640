package hooklane

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrUnauthorized reports a request whose Authorization header does not
// carry the source's bearer token.
var ErrUnauthorized = errors.New("bearer token missing or wrong")

// Source is one configured webhook sender, as every route that serves it
// sees it: its webhooks, its flow endpoint and the load tool's reference.
type Source struct {
	Name          string   // the URL path segment and subject token
	Provider      Provider // the protocol the source speaks
	Secrets       [][]byte // any one may sign a delivery
	AllowUnsigned bool     // accept unsigned requests when Secrets is empty
	VerifyToken   string   // Meta's GET handshake token
	BearerToken   string   // if set, Authorization: Bearer must match
}

// Authenticate checks a request to the source over its raw body: the bearer
// token, when the source has one, then the provider's signature, when the
// source has secrets. It returns ErrUnauthorized, or the provider's
// ErrNoSignature or ErrBadSignature, wrapped with detail that names no
// secret. A source without secrets that does not allow unsigned requests
// accepts none.
func (s *Source) Authenticate(header http.Header, body []byte) error {
	if s.BearerToken != "" && !bearerMatches(header.Get("Authorization"), s.BearerToken) {
		return ErrUnauthorized
	}
	if len(s.Secrets) > 0 {
		return s.Provider.Verify(header, body, s.Secrets)
	}
	if !s.AllowUnsigned {
		return fmt.Errorf("%w: source %s has no secret and does not allow unsigned requests", ErrBadSignature, s.Name)
	}
	return nil
}

// KeptHeaders copies the headers the provider keeps with a delivery from a
// request's headers.
func (s *Source) KeptHeaders(h http.Header) http.Header {
	names := s.Provider.KeepHeaders()
	kept := make(http.Header, len(names))
	for _, name := range names {
		if v, ok := h[name]; ok {
			kept[name] = v
		}
	}
	return kept
}

// bearerMatches reports whether an Authorization header carries token as a
// Bearer credential, comparing in constant time.
func bearerMatches(authorization, token string) bool {
	scheme, got, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) == 1
}
