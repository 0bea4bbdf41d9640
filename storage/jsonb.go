package storage

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// PostgreSQL's numeric, which jsonb numbers are, holds up to 131072 digits
// before the decimal point and 16383 after it. A number is taken as
// storable within a margin of the first bound.
const (
	maxNumberIntDigits  = 100_000
	maxNumberFracDigits = 16_383
)

// storableJSON returns b as text jsonb accepts, and whether it had to change
// it. Valid JSON that jsonb refuses (raw invalid UTF-8, a \u0000 escape, a
// lone surrogate escape, a number beyond numeric's range) is rewritten:
// invalid text and the escapes become U+FFFD and such a number becomes a
// string of its digits. Anything else is returned as it is, valid or not:
// what it cannot fix, PostgreSQL refuses as a data error.
func storableJSON(b []byte) (string, bool) {
	if jsonbSafe(b) {
		return string(b), false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return string(b), false
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(sanitise(v)); err != nil {
		return string(b), false
	}
	return string(bytes.TrimSuffix(out.Bytes(), []byte("\n"))), true
}

// sanitise makes a decoded JSON value storable in place. The decoder has
// already replaced invalid UTF-8 and lone surrogates with U+FFFD.
func sanitise(v any) any {
	switch v := v.(type) {
	case string:
		return strings.ReplaceAll(v, "\x00", "\uFFFD")
	case json.Number:
		if _, ok := number([]byte(v), 0); !ok {
			return string(v)
		}
		return v
	case []any:
		for i := range v {
			v[i] = sanitise(v[i])
		}
		return v
	case map[string]any:
		for k, e := range v {
			if clean := strings.ReplaceAll(k, "\x00", "\uFFFD"); clean != k {
				delete(v, k)
				k = clean
			}
			v[k] = sanitise(e)
		}
		return v
	}
	return v
}

// jsonbSafe reports, in one pass, whether jsonb takes b as it is, assuming
// b is valid JSON: valid UTF-8, no \u0000 escape, no lone surrogate escape,
// every number within numeric's range.
func jsonbSafe(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '"':
				inString = false
			case '\\':
				if i+1 >= len(b) || b[i+1] != 'u' {
					i++
					continue
				}
				if i+6 > len(b) {
					return false
				}
				switch r := hex4(b[i+2 : i+6]); {
				case r <= 0 || 0xDC00 <= r && r < 0xE000: // NUL, invalid, lone low surrogate
					return false
				case 0xD800 <= r && r < 0xDC00: // a high surrogate needs a low one
					if i+12 > len(b) || b[i+6] != '\\' || b[i+7] != 'u' {
						return false
					}
					if low := hex4(b[i+8 : i+12]); low < 0xDC00 || low >= 0xE000 {
						return false
					}
					i += 11
				default:
					i += 5
				}
			}
			continue
		}
		switch {
		case c == '"':
			inString = true
		case c == '-' || '0' <= c && c <= '9':
			end, ok := number(b, i)
			if !ok {
				return false
			}
			i = end - 1
		}
	}
	return true
}

// number reads the JSON number starting at b[i] and returns where it ends
// and whether numeric holds it.
func number(b []byte, i int) (end int, ok bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	var intDigits, fracDigits, exp int
	for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		intDigits++
	}
	if i < len(b) && b[i] == '.' {
		for i++; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			fracDigits++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		neg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			neg = b[i] == '-'
			i++
		}
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			if exp < 10*maxNumberIntDigits { // beyond it, the value is out of range anyway
				exp = exp*10 + int(b[i]-'0')
			}
		}
		if neg {
			exp = -exp
		}
	}
	return i, intDigits+exp <= maxNumberIntDigits && fracDigits-exp <= maxNumberFracDigits
}

// hex4 is the value of four hex digits, or -1.
func hex4(b []byte) int {
	r := 0
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | int(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | int(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | int(c-'A'+10)
		default:
			return -1
		}
	}
	return r
}
