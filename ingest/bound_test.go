package ingest

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hooklane/hooklane"
)

func TestBounded(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"x"}`)
	hash := bodyHash(body)
	for _, tt := range []struct {
		name          string
		in            hooklane.Summary
		key, typeWant string
	}{
		{"ordinary", hooklane.Summary{DedupeKey: "5e3a1b9c", EventType: "message.created"}, "5e3a1b9c", "message.created"},
		{"id at the bound", hooklane.Summary{DedupeKey: strings.Repeat("i", 256), EventType: "t"}, strings.Repeat("i", 256), "t"},
		{"id over the bound", hooklane.Summary{DedupeKey: strings.Repeat("i", 257), EventType: "t"}, hash, "t"},
		{"id with CR LF", hooklane.Summary{DedupeKey: "a\r\nNats-Expected-Stream: X", EventType: "t"}, hash, "t"},
		{"id of invalid UTF-8", hooklane.Summary{DedupeKey: "caf\xe9", EventType: "t"}, hash, "t"},
		{"event type over the bound", hooklane.Summary{DedupeKey: "k", EventType: strings.Repeat("é", 200)}, "k", strings.Repeat("é", 128)},
		{"event type cut inside a character", hooklane.Summary{DedupeKey: "k", EventType: "a" + strings.Repeat("é", 200)}, "k", "a" + strings.Repeat("é", 127) + "_"},
		{"event type with a newline", hooklane.Summary{DedupeKey: "k", EventType: "a\nb\x00"}, "k", "a_b_"},
	} {
		got := bounded(tt.in, body)
		if got.DedupeKey != tt.key || got.EventType != tt.typeWant {
			t.Errorf("%s: bounded = %.40q, %.40q; want %.40q, %.40q", tt.name, got.DedupeKey, got.EventType, tt.key, tt.typeWant)
		}
		if len(got.EventType) > maxHeaderText || !utf8.ValidString(got.EventType) {
			t.Errorf("%s: event type of %d bytes, valid UTF-8 %v", tt.name, len(got.EventType), utf8.ValidString(got.EventType))
		}
	}
}
