package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// MaxIndexKeyBytes is the longest value IndexKey returns. A B-tree index row
// holds at most about 2.7 kB, so even an index over several such columns
// never refuses a row.
const MaxIndexKeyBytes = 256

// indexKeyMarker starts the hash suffix of a bounded form.
const indexKeyMarker = "~sha256:"

// indexKeyPrefix is how much of a long value its bounded form keeps.
const indexKeyPrefix = MaxIndexKeyBytes - len(indexKeyMarker) - sha256.Size*2

// IndexKey is the form in which a request-derived text value is stored in
// an indexed column: s itself when it is at most MaxIndexKeyBytes of valid
// UTF-8 without NUL; otherwise a readable prefix of it followed by
// "~sha256:" and the hex SHA-256 of the whole value. The long value itself
// stays whole where it came from (the delivery's body, the event's payload).
//
// Distinct values have distinct forms: a value that already ends like a
// bounded form ("~sha256:" and 64 hex digits) is hashed too, so no value
// kept as it is can equal another's bounded form. Equal values always have
// equal forms, so unique keys built from them still deduplicate.
//
// Every indexed text column of every table goes through IndexKey: Save and
// SaveFlowExchanges apply it, and a table added to the schema must apply it
// to its indexed columns as well, or one oversized value makes PostgreSQL
// refuse the whole batch ("index row requires N bytes", SQLSTATE 54000).
// A query for a long value compares with IndexKey(value).
func IndexKey(s string) string {
	if len(s) <= MaxIndexKeyBytes && !looksBounded(s) && storableText(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	prefix := pgText(s[:min(len(s), indexKeyPrefix)])
	for len(prefix) > indexKeyPrefix { // a replaced byte grows by two
		prefix = prefix[:len(prefix)-1]
	}
	for !utf8.ValidString(prefix) { // cut inside a character
		prefix = prefix[:len(prefix)-1]
	}
	return prefix + indexKeyMarker + hex.EncodeToString(sum[:])
}

// looksBounded reports whether s ends as IndexKey's bounded forms do.
func looksBounded(s string) bool {
	const n = len(indexKeyMarker) + sha256.Size*2
	if len(s) < n || !strings.HasPrefix(s[len(s)-n:], indexKeyMarker) {
		return false
	}
	for _, c := range []byte(s[len(s)-n+len(indexKeyMarker):]) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// storableText reports whether PostgreSQL's text holds s as it is: valid
// UTF-8 without NUL.
func storableText(s string) bool {
	return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}
