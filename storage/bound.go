package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"unicode/utf8"
)

// maxIndexedText bounds a text value that a B-tree index holds: PostgreSQL
// refuses an index entry over about 2.7 kB, which would fail a whole batch
// for one oversized id.
const maxIndexedText = 512

// boundedText is s when it fits maxIndexedText, else a prefix of s (cut at
// a character boundary) and the SHA-256 of all of s: still unique, still
// readable, and the same for the same s wherever it is written.
func boundedText(s string) string {
	if len(s) <= maxIndexedText {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	cut := maxIndexedText - 1 - 2*sha256.Size
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "#" + hex.EncodeToString(sum[:])
}

// keyText is s made storable (see pgText) and bounded (see boundedText), for
// the model's keys and indexed columns.
func keyText(s string) string { return boundedText(pgText(s)) }
