// Package excerpt shortens text that comes from a request before it goes
// into a log line, an error answer or a dead letter's reason: a 900 KB
// field must not become a 900 KB log line, and a newline or an escape in
// it must not pass for another log field.
package excerpt

import (
	"strconv"
	"unicode/utf8"
)

// MaxBytes is how much of a text Quote and Clip keep.
const MaxBytes = 128

// Quote is s as a Go-quoted string, cut to its first MaxBytes bytes (on a
// character boundary) with the full length noted: "abc…" (5000 bytes).
func Quote(s string) string {
	if len(s) <= MaxBytes {
		return strconv.Quote(s)
	}
	return strconv.Quote(cut(s, MaxBytes)+"…") + " (" + strconv.Itoa(len(s)) + " bytes)"
}

// Clip is s cut to n bytes (on a character boundary) with the full length
// noted, for a message that already quotes what it took from a request but
// may still be long.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return cut(s, n) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

func cut(s string, n int) string {
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s[max(0, len(s)-utf8.UTFMax):]) {
		s = s[:len(s)-1]
	}
	return s
}
