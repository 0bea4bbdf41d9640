package provider

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/stdjson"
)

// unknownType names a delivery or event whose type the provider left out.
const unknownType = "unknown"

// scalar is a JSON string or number read as text: providers disagree on which
// of the two an id or a timestamp is (whapi's instance_id is either), and a
// number keeps its literal digits. Anything else (null, a boolean, an object,
// an array) leaves a scalar empty rather than failing the decode.
type scalar string

// UnmarshalJSON implements json.Unmarshaler.
func (s *scalar) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	switch c := b[0]; {
	case c == '"' && bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b):
		// No escapes and valid UTF-8: the text is the bytes between the
		// quotes, as the JSON decoder would give.
		*s = scalar(b[1 : len(b)-1])
	case c == '"':
		var v string
		if err := jsonv1.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = scalar(v)
	case c == '-' || '0' <= c && c <= '9':
		*s = scalar(b)
	}
	return nil
}

// orUnknown is s, or unknownType when s is empty.
func orUnknown(s scalar) string {
	if s == "" {
		return unknownType
	}
	return string(s)
}

// decodeObject decodes body, which must be one JSON object, into v, and
// returns hooklane.ErrNotJSON (wrapped) when it is not. A value whose JSON type does
// not fit its field is skipped, not an error: much of what providers send is
// undocumented, so what cannot be read is left empty and the body is still
// stored whole.
func decodeObject(body []byte, v any) error {
	if !isObject(body) {
		return fmt.Errorf("%w: the top-level value is not an object", hooklane.ErrNotJSON)
	}
	err := stdjson.Unmarshal(body, v)
	if _, ok := errors.AsType[*jsonv1.UnmarshalTypeError](err); ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %v", hooklane.ErrNotJSON, err)
	}
	return nil
}

// decodeItem decodes raw, one value inside a body that decodeObject already
// accepted, into v. Such a value is valid JSON, so the only possible errors
// are fields of an unexpected type, which are left empty as in decodeObject.
func decodeItem(raw json.RawMessage, v any) {
	_ = stdjson.Unmarshal(raw, v)
}

// isObject reports whether b's first significant byte opens a JSON object.
func isObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// bodyHash is the hex SHA-256 of b, the dedupe key of what carries no id
// of its own.
func bodyHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// naturalKey joins kind and parts with colons, e.g. "status:<wamid>:read".
// When any part is empty it is kind and the SHA-256 of raw instead, so an item
// that lacks an id is still stored once, apart from every item unlike it.
func naturalKey(kind string, raw []byte, parts ...string) string {
	if len(parts) == 0 || slices.Contains(parts, "") {
		return kind + ":" + bodyHash(raw)
	}
	return kind + ":" + strings.Join(parts, ":")
}

// unixTime reads whole seconds since the epoch, as Meta, whapi and Baileys
// send them; it is the zero time for anything else, or a non-positive count.
func unixTime(s scalar) time.Time {
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// isoTime reads an ISO-8601 (RFC 3339) time; it is the zero time for
// anything else.
func isoTime(s scalar) time.Time {
	t, err := time.Parse(time.RFC3339Nano, string(s))
	if err != nil {
		return time.Time{}
	}
	return t
}
