package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hooklane/hooklane/storage"
)

// funcs are the templates' helpers. None returns template.HTML: whatever
// they give is escaped like any other text.
var funcs = template.FuncMap{
	"ts":       formatTime,
	"clock":    func(t time.Time) string { return formatLayout(t, "15:04") },
	"pretty":   pretty,
	"text":     bodyText,
	"ms":       func(v float64) string { return fmt.Sprintf("%.1f ms", v) },
	"tick":     tickOf,
	"errtext":  errorText,
	"short":    func(s string, n int) string { return shorten(s, n) },
	"duration": func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"sub":      func(a, b int) int { return a - b },
	"first":    firstTime,
}

// windowLength is WhatsApp's customer-service window: a business may write
// freely for 24 hours after the contact's last message.
const windowLength = 24 * time.Hour

// firstTime is the first of times that is set.
func firstTime(times ...time.Time) time.Time {
	for _, t := range times {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

func formatTime(t time.Time) string { return formatLayout(t, "2006-01-02 15:04:05") }

func formatLayout(t time.Time, layout string) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(layout)
}

// pretty indents JSON, or returns it as it is when it is not JSON.
func pretty(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return bodyText(raw)
	}
	return buf.String()
}

// bodyText shows raw bytes as text, invalid UTF-8 replaced.
func bodyText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// tick is how a message's status shows, as WhatsApp shows it.
type tick struct {
	Symbol string // ✓, ✓✓ or a sign
	Class  string // the style: sent, delivered, read, failed, pending
	Label  string // in words, for the title and screen readers
}

// tickOf is the tick of an outbound message; inbound messages have none.
func tickOf(m storage.Message) tick {
	if m.Direction != "out" {
		return tick{}
	}
	switch m.Status {
	case "sent":
		return tick{"✓", "sent", "sent " + formatTime(m.SentAt)}
	case "delivered":
		return tick{"✓✓", "delivered", "delivered " + formatTime(m.DeliveredAt)}
	case "read":
		return tick{"✓✓", "read", "read " + formatTime(m.ReadAt)}
	case "played":
		return tick{"✓✓", "read", "played " + formatTime(m.PlayedAt)}
	case "failed":
		return tick{"!", "failed", "failed " + formatTime(m.FailedAt)}
	case "pending", "":
		return tick{"🕓", "pending", "pending"}
	}
	return tick{"?", "pending", m.Status}
}

// errorText says in one line what a message's error JSON holds: Meta's
// errors[] (code, title, message, error_data.details) or any object's
// message-like fields, else the JSON itself.
func errorText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return bodyText(raw)
	}
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	var parts []string
	for _, item := range items {
		obj, ok := item.(map[string]any)
		if !ok {
			parts = append(parts, fmt.Sprint(item))
			continue
		}
		var fields []string
		if code, ok := obj["code"]; ok {
			fields = append(fields, fmt.Sprint(code))
		}
		for _, key := range []string{"title", "message", "error", "reason", "description"} {
			if s, ok := obj[key].(string); ok && s != "" && !slices.Contains(fields, s) {
				fields = append(fields, s)
			}
		}
		if data, ok := obj["error_data"].(map[string]any); ok {
			if s, ok := data["details"].(string); ok && s != "" {
				fields = append(fields, s)
			}
		}
		if len(fields) == 0 {
			b, _ := json.Marshal(obj)
			fields = append(fields, string(b))
		}
		parts = append(parts, strings.Join(fields, ": "))
	}
	return strings.Join(parts, "; ")
}

// header is one header to show.
type header struct {
	Name   string
	Values []string
}

// secretHeader reports whether a header may carry a credential, a
// signature or a session, which the console never shows.
func secretHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "authorization", "proxy-authorization", "cookie", "set-cookie":
		return true
	}
	for _, word := range []string{"signature", "secret", "token", "auth", "api-key", "apikey", "password", "credential", "session"} {
		if strings.Contains(n, word) {
			return true
		}
	}
	return false
}

// shownHeaders returns the headers fit to show, sorted by name, and how
// many were withheld.
func shownHeaders(h map[string][]string) (shown []header, withheld int) {
	for name, values := range h {
		if secretHeader(name) {
			withheld++
			continue
		}
		shown = append(shown, header{Name: http.CanonicalHeaderKey(name), Values: values})
	}
	slices.SortFunc(shown, func(a, b header) int { return strings.Compare(a.Name, b.Name) })
	return shown, withheld
}
