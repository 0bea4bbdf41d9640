package config

import (
	"fmt"
	"net/url"
	"strings"
)

// The shortest HMAC secret and bearer token accepted. Providers generate
// longer ones; anything shorter was typed by hand.
const (
	minSecretLen = 12
	minTokenLen  = 8
)

const placeholderNote = "is a placeholder, not a secret: set one of your own, e.g. from `openssl rand -hex 32`"

// placeholders are the markers of a value copied from an example
// unchanged, compared in lower case without '-', '_' and spaces.
var placeholders = []string{"changeme", "replaceme", "yoursecret", "yourtoken", "yourpassword", "placeholder"}

// commonValues are whole values nobody should sign with.
var commonValues = map[string]bool{
	"secret": true, "password": true, "token": true, "example": true, "test": true,
	"12345678": true, "123456789": true, "1234567890": true, "123456789012": true, "qwertyuiop": true,
}

// isPlaceholder reports whether v is an example's placeholder.
func isPlaceholder(v string) bool {
	norm := strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.ToLower(v))
	for _, p := range placeholders {
		if strings.Contains(norm, p) {
			return true
		}
	}
	return commonValues[norm] || strings.HasPrefix(v, "<") && strings.HasSuffix(v, ">")
}

// weakSecret says why v is not fit to be a secret, or "" when it is:
// a placeholder, a common value, one character repeated, or fewer than
// minLen characters.
func weakSecret(v string, minLen int) string {
	switch {
	case isPlaceholder(v):
		return placeholderNote
	case len(v) < minLen:
		return fmt.Sprintf("is too weak: %d characters, want at least %d random ones, e.g. from `openssl rand -hex 32`", len(v), minLen)
	case strings.Count(v, v[:1]) == len(v):
		return "is too weak: one character repeated; use random ones, e.g. from `openssl rand -hex 32`"
	}
	return ""
}

// urlHasPlaceholder reports whether a URL's password, or its token (a user
// without a password, as NATS URLs carry one), is a placeholder.
func urlHasPlaceholder(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return false
	}
	if p, ok := u.User.Password(); ok {
		return isPlaceholder(p)
	}
	return isPlaceholder(u.User.Username())
}
