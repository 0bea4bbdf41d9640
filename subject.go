package hooklane

import "strings"

// Defaults of the NATS names every role agrees on.
const (
	// DefaultPrefix is the first token of every subject hooklane uses.
	DefaultPrefix = "hooklane"
	// DefaultStream is the JetStream stream of deliveries and exchange
	// records.
	DefaultStream = "HOOKLANE_EVENTS"
)

// EventSubject is the subject a delivery is published on:
// <prefix>.events.<source>.<event type>. The event type keeps its dots, so
// "conversation.status.updated" can be matched as "...conversation.>".
func EventSubject(prefix, source, eventType string) string {
	return prefix + ".events." + Token(source) + "." + Tokens(eventType)
}

// EventsWildcard matches every delivery subject under prefix.
func EventsWildcard(prefix string) string { return prefix + ".events.>" }

// Token makes s one safe subject token: characters other than ASCII letters,
// digits, '-' and '_' become '_', and an empty string becomes "_".
func Token(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x80 && (r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return r
		}
		return '_'
	}, truncate(s, 128))
}

// Tokens is Token for a dotted name: each dot-separated part becomes a safe
// token, so the name's hierarchy carries into the subject.
func Tokens(s string) string {
	if safeTokens(s) {
		return s
	}
	return splitTokens(s)
}

func splitTokens(s string) string {
	parts := strings.Split(truncate(s, 200), ".")
	for i, p := range parts {
		parts[i] = Token(p)
	}
	return strings.Join(parts, ".")
}

// safeTokens reports whether splitTokens would return s unchanged, as it
// does for every event type the providers send: short, of safe characters,
// without empty or overlong parts.
func safeTokens(s string) bool {
	if len(s) > 200 {
		return false
	}
	part := 0 // length of the part so far
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if part == 0 {
				return false
			}
			part = 0
		case c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			if part++; part > 128 {
				return false
			}
		default:
			return false
		}
	}
	return part > 0
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
