package provider

import (
	"encoding/json"
	"strings"

	"github.com/hooklane/hooklane"
)

// phoneOf returns the digits of a phone number or of a phone JID
// (5215512345678@s.whatsapp.net, 573001112233@c.us, +52 155...), and ""
// for anything else: a group, a LID, a user id.
func phoneOf(s string) string {
	user, server, found := strings.Cut(s, "@")
	if found && server != "s.whatsapp.net" && server != "c.us" {
		return ""
	}
	user, _, _ = strings.Cut(user, ":") // a device suffix: 5215512345678:12@s.whatsapp.net
	user = strings.TrimPrefix(user, "+")
	if user == "" {
		return ""
	}
	for _, c := range user {
		if c < '0' || c > '9' {
			return ""
		}
	}
	return user
}

// jidContact is the contact a JID or phone names: its phone digits as the
// key where it is a phone, else the JID itself.
func jidContact(jid, name string) hooklane.Contact {
	if jid == "" {
		return hooklane.Contact{}
	}
	c := hooklane.Contact{ID: jid, Name: name, Phone: phoneOf(jid)}
	if c.Phone != "" {
		c.ID = c.Phone
	}
	if strings.Contains(jid, "@") {
		c.JID = jid
	}
	return c
}

// isGroupJID reports whether jid names a group chat.
func isGroupJID(jid string) bool { return strings.HasSuffix(jid, "@g.us") }

// mediaJSON encodes the attachment fields that are set as a JSON object, or
// nil when none is.
func mediaJSON(id, url, mimeType, sha256, filename string) json.RawMessage {
	m := map[string]string{}
	for k, v := range map[string]string{"id": id, "url": url, "mime_type": mimeType, "sha256": sha256, "filename": filename} {
		// PostgreSQL's jsonb holds no NUL character: drop it here rather
		// than fail the delivery's batch.
		if v = strings.ReplaceAll(v, "\x00", ""); v != "" {
			m[k] = v
		}
	}
	if len(m) == 0 {
		return nil
	}
	b, _ := json.Marshal(m) // a map of strings always encodes
	return b
}

// rawOrNil is raw when it holds a JSON value other than null, else nil.
func rawOrNil(raw json.RawMessage) json.RawMessage {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return nil
	}
	return json.RawMessage(s)
}

// statusWord maps a provider's status word (any case) to the status
// vocabulary, and "" when it is none of them. It knows Meta's words,
// WhatzMeAPI's and whapi's, and Baileys' names.
func statusWord(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "pending", "clock", "queued", "ack_pending":
		return hooklane.StatusPending
	case "sent", "server_ack", "server", "ack_server", "accepted":
		return hooklane.StatusSent
	case "received":
		return hooklane.StatusReceived
	case "failed", "error", "ack_error", "undelivered":
		return hooklane.StatusFailed
	case "delivered", "delivery_ack", "device", "ack_device":
		return hooklane.StatusDelivered
	case "read", "seen", "ack_read":
		return hooklane.StatusRead
	case "played", "ack_played":
		return hooklane.StatusPlayed
	}
	return ""
}

// factsOf is the facts of an event that has one, or none when f lacks the
// message it is about (a message without an id).
func factsOf(f hooklane.Fact) []hooklane.Fact {
	if f.MessageID == "" && (f.Kind == hooklane.FactMessage || f.Kind == hooklane.FactStatus || f.Kind == hooklane.FactEdit || f.Kind == hooklane.FactDelete) {
		return nil
	}
	return []hooklane.Fact{f}
}
