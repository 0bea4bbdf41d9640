package operate

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// summaryPaths are where providers put what an event says, first match wins:
// a message's text (Meta, whapi, Baileys-style, Platica), a caption, a
// status, a reaction, a template's news.
var summaryPaths = [][]string{
	{"text", "body"},
	{"body"},
	{"message", "conversation"},
	{"message", "extendedTextMessage", "text"},
	{"data", "message", "text"},
	{"image", "caption"},
	{"video", "caption"},
	{"document", "caption"},
	{"interactive", "type"},
	{"status"},
	{"ack"},
	{"reaction"},
	{"value", "event"},
	{"event"},
	{"message"},
	{"type"},
}

// summaryRunes bounds a summary.
const summaryRunes = 80

// Summarize gives one line of what an event's payload says: its text, its
// caption, its status..., at most 80 characters; empty when it finds none.
func Summarize(payload json.RawMessage) string {
	var doc map[string]any
	if json.Unmarshal(payload, &doc) != nil {
		return ""
	}
	var kind string
	if t, ok := doc["type"].(string); ok && t != "text" {
		kind = t
	}
	for _, path := range summaryPaths {
		s, ok := lookup(doc, path)
		if !ok || s == "" {
			continue
		}
		if kind != "" && s != kind {
			s = kind + ": " + s
		}
		return oneLine(s)
	}
	return ""
}

func lookup(doc map[string]any, path []string) (string, bool) {
	var v any = doc
	for _, key := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		v = m[key]
	}
	s, ok := v.(string)
	return s, ok
}

// oneLine folds s's whitespace and cuts it at summaryRunes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= summaryRunes {
		return s
	}
	r := []rune(s)
	return string(r[:summaryRunes-1]) + "…"
}
