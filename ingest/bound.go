package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"

	"github.com/hooklane/hooklane"
)

// maxHeaderText bounds what of a delivery's own text ingest puts in its
// message's headers (the dedupe key twice, as Nats-Msg-Id too, and the
// event type). The body carries the whole of both; unbounded, a 3.8 MB id
// made the message too large for NATS and every retry got a 503.
const maxHeaderText = 256

// bounded returns s with values fit for NATS headers. An id over
// maxHeaderText bytes, or one holding a control character or invalid
// UTF-8, gives way to the body's SHA-256: a retry repeats the same bytes,
// so it still deduplicates. An event type is cut to maxHeaderText bytes,
// control characters and invalid UTF-8 replaced; its events keep the whole
// type.
func bounded(s hooklane.Summary, body []byte) hooklane.Summary {
	if !headerSafe(s.DedupeKey) {
		s.DedupeKey = bodyHash(body)
	}
	if !headerSafe(s.EventType) {
		// A cut inside a character leaves invalid UTF-8, replaced too.
		t := strings.ToValidUTF8(s.EventType[:min(len(s.EventType), maxHeaderText)], "_")
		s.EventType = strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return '_'
			}
			return r
		}, t)
	}
	return s
}

// bodyHash is the hex SHA-256 of body: the dedupe key the providers give a
// delivery that carries no id.
func bodyHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// headerSafe reports whether s may travel in a header as it is: at most
// maxHeaderText bytes of UTF-8 without control characters.
func headerSafe(s string) bool {
	if len(s) > maxHeaderText || !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}
