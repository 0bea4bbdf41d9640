package storage

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hooklane/hooklane"
)

// The model tables (messages, contacts, conversations) are merged from the
// facts of events. Every merge is a join: it is commutative, associative and
// idempotent, so the rows do not depend on the order or the repetition of the
// facts. Each column has one rule, written twice, in Go (merge*, which
// combines a batch's facts into one row per key, as one INSERT may not touch
// a row twice) and in SQL (the upserts' SET, which merges that row into the
// stored one); the property test checks that the two agree.
//
//   - identities (account, contact, direction, type, phone...): the least
//     non-empty value, in byte order (COLLATE "C" in SQL, as in Go);
//   - a message's conversation: the first set, never changed, so that
//     conversations.message_count counts each messages row once;
//   - *_at of a status, first_seen_at: the earliest; last_*_at, updated_at:
//     the latest;
//   - status: the highest hooklane.StatusRank, status_at the earliest time
//     of that status;
//   - mutable attributes (a name, a Platica field, an edit's text): the one
//     with the latest provider time, ties broken by the greater value.
//
// Times are the provider's; a fact without one takes the time hooklane
// received its delivery, which is stored with it, so a reprojection finds
// the same. The first_seen_at and updated_at of messages and conversations
// are hooklane's own: when it received the deliveries.

// ModelResult counts what Save wrote to the model tables, by table.
type ModelResult struct {
	Messages, Contacts, Conversations ModelCount
}

// ModelCount counts one table's merges.
type ModelCount struct {
	// Written counts rows inserted or changed.
	Written int
	// Unchanged counts merges into an existing row that changed nothing: a
	// fact the row already reflected, or one older than what it holds.
	Unchanged int
}

// modelLock is the key of the advisory lock that orders model writes and a
// reprojection: every write holds it shared for its transaction, and
// Reproject exclusively while it clears the tables. The key is per schema,
// as purgeLockSQL's, so that installations sharing a database do not wait
// for each other.
const modelLock = `hashtext(current_schema() || '.hooklane_model')`

// newFact is one fact of an event stored for the first time, with what its
// delivery adds.
type newFact struct {
	source, provider, account string
	received                  time.Time
	fact                      *hooklane.Fact
}

// at is the fact's provider time, else the time its delivery was received.
func (f *newFact) at() time.Time {
	return micro(cmp.Or(f.fact.At, f.received))
}

// micro truncates t to PostgreSQL's precision, so that Go and SQL compare
// the same times.
func micro(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

type messageKey struct{ source, id string }

type messageRow struct {
	provider, account, conversation, contact, direction, typ string
	text, original, media, replyTo, status, errorJSON        string
	sentAt, statusAt, deliveredAt, readAt, playedAt          time.Time
	failedAt, editedAt, deletedAt, firstSeen, updated        time.Time
}

type contactKey struct{ source, account, contact string }

type contactRow struct {
	provider, name, username, phone, jid, userID, clientID string
	email, tags, owners, customFields                      string
	nameAt, emailAt, tagsAt, ownersAt, customFieldsAt      time.Time
	firstSeen, lastSeen, lastInbound                       time.Time
}

type conversationKey struct{ source, id string }

type conversationRow struct {
	provider, account, status, operation, owners, tags string
	statusAt, operationAt, ownersAt, tagsAt, expiredAt time.Time
	lastMessage, lastInbound, firstSeen, updated       time.Time
}

// modelBatch is a batch's facts merged into one row per key.
type modelBatch struct {
	messages      map[messageKey]*messageRow
	contacts      map[contactKey]*contactRow
	conversations map[conversationKey]*conversationRow
}

func newModelBatch() *modelBatch {
	return &modelBatch{
		messages:      map[messageKey]*messageRow{},
		contacts:      map[contactKey]*contactRow{},
		conversations: map[conversationKey]*conversationRow{},
	}
}

// addEvent adds the facts of e, an event of r that was new.
func (b *modelBatch) addEvent(r *Record, e *hooklane.Event) {
	for j := range e.Facts {
		b.add(newFact{source: r.Delivery.Source, provider: r.Delivery.Provider, account: e.Account,
			received: r.Delivery.ReceivedAt, fact: &e.Facts[j]})
	}
}

// addStored adds the facts of the events of r stored under keys, in their
// stored form (IndexKey), which were new. When r carries a key twice, the
// first is the one stored.
func (b *modelBatch) addStored(r *Record, keys []string) {
	if len(keys) == len(r.Events) {
		// Every event was new: a key r carries twice is stored once.
		for i := range r.Events {
			b.addEvent(r, &r.Events[i])
		}
		return
	}
	at := make(map[string]int, len(r.Events))
	for i := len(r.Events) - 1; i >= 0; i-- {
		at[IndexKey(r.Events[i].Key)] = i
	}
	for _, k := range keys {
		if i, ok := at[k]; ok {
			b.addEvent(r, &r.Events[i])
		}
	}
}

// addStoredOf adds the facts of new events that a statement reports as
// pairs: owners[i] names the record of keys[i], which record finds.
func addStoredOf[T comparable](b *modelBatch, owners []T, keys []string, record func(T) *Record) {
	by := make(map[T][]string)
	for i, o := range owners {
		by[o] = append(by[o], keys[i])
	}
	for o, ks := range by {
		b.addStored(record(o), ks)
	}
}

// add merges one fact into the batch's rows.
func (b *modelBatch) add(nf newFact) {
	f := nf.fact
	at := nf.at()
	received := micro(nf.received)
	account := IndexKey(nf.account)
	conversation := IndexKey(f.ConversationID)
	contact := IndexKey(f.Contact.ID)

	if f.MessageID != "" && f.Kind != hooklane.FactContact && f.Kind != hooklane.FactConversation {
		r := &messageRow{provider: nf.provider, account: account, conversation: conversation, contact: contact,
			direction: f.Direction, firstSeen: received, updated: received}
		switch f.Kind {
		case hooklane.FactMessage:
			r.typ = cmp.Or(f.Message.Type, "unknown")
			r.text, r.media, r.replyTo, r.sentAt = f.Message.Text, string(f.Message.Media), f.Message.ReplyTo, at
		case hooklane.FactStatus:
			r.sentAt = at // until the message itself says
		case hooklane.FactEdit:
			r.text, r.editedAt = f.Text, at
		case hooklane.FactDelete:
			r.deletedAt = at
		}
		if hooklane.StatusRank(f.Status) > 0 {
			r.status, r.statusAt = f.Status, at
			switch f.Status {
			case hooklane.StatusDelivered:
				r.deliveredAt = at
			case hooklane.StatusRead:
				r.readAt = at
			case hooklane.StatusPlayed:
				r.playedAt = at
			case hooklane.StatusFailed:
				r.failedAt, r.errorJSON = at, string(f.Error)
			}
		}
		k := messageKey{nf.source, IndexKey(f.MessageID)}
		if old, ok := b.messages[k]; ok {
			mergeMessage(old, r)
		} else {
			b.messages[k] = r
		}
	}

	if conversation != "" {
		r := &conversationRow{provider: nf.provider, account: account, firstSeen: received, updated: received}
		switch f.Kind {
		case hooklane.FactMessage:
			r.lastMessage = at
			if f.Direction == hooklane.DirectionIn {
				r.lastInbound = at
			}
		case hooklane.FactStatus:
			if f.Status == hooklane.StatusSent || f.Status == hooklane.StatusPending {
				r.lastMessage = at // a message sent through the provider's API
			}
		case hooklane.FactConversation:
			c := &f.Conversation
			if c.Status != "" {
				r.status, r.statusAt = c.Status, at
			}
			if c.Operation != "" {
				r.operation, r.operationAt = c.Operation, at
			}
			if c.Owners != nil {
				r.owners, r.ownersAt = string(c.Owners), at
			}
			if c.Tags != nil {
				r.tags, r.tagsAt = string(c.Tags), at
			}
			r.expiredAt = micro(c.ExpiredAt)
		}
		k := conversationKey{nf.source, conversation}
		if old, ok := b.conversations[k]; ok {
			mergeConversation(old, r)
		} else {
			b.conversations[k] = r
		}
	}

	if contact != "" {
		c := &f.Contact
		r := &contactRow{provider: nf.provider, phone: c.Phone, jid: IndexKey(c.JID), userID: c.UserID,
			clientID: c.ClientID, firstSeen: at, lastSeen: at}
		if c.Name != "" {
			r.name, r.username, r.nameAt = c.Name, c.Username, at
		}
		if c.Email != "" {
			r.email, r.emailAt = c.Email, at
		}
		if c.Tags != nil {
			r.tags, r.tagsAt = string(c.Tags), at
		}
		if c.Owners != nil {
			r.owners, r.ownersAt = string(c.Owners), at
		}
		if c.CustomFields != nil {
			r.customFields, r.customFieldsAt = string(c.CustomFields), at
		}
		if f.Kind == hooklane.FactMessage && f.Direction == hooklane.DirectionIn {
			r.lastInbound = at
		}
		k := contactKey{nf.source, account, contact}
		if old, ok := b.contacts[k]; ok {
			mergeContact(old, r)
		} else {
			b.contacts[k] = r
		}
	}
}

// least is the smaller of the non-empty a and b.
func least(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return min(a, b)
}

// earliest is the earlier of the non-zero a and b.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// latest is the later of a and b.
func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// newer reports whether the value b, reported at bAt, wins over a at aAt:
// the later time, then the greater value. A zero bAt never wins.
func newer(aAt, bAt time.Time, a, b string) bool {
	switch {
	case bAt.IsZero():
		return false
	case aAt.IsZero() || bAt.After(aAt):
		return true
	}
	return bAt.Equal(aAt) && b > a
}

// mergeMessage merges b into a, as messagesSQL's SET does.
func mergeMessage(a, b *messageRow) {
	ma, mb := a.text, b.text // the message's own text
	if !a.editedAt.IsZero() {
		ma = a.original
	}
	if !b.editedAt.IsZero() {
		mb = b.original
	}
	xa, xb := "", "" // the latest edit's text
	if !a.editedAt.IsZero() {
		xa = a.text
	}
	if !b.editedAt.IsZero() {
		xb = b.text
	}
	m := mb
	if a.typ != "" {
		m = ma
	}
	x, e := xa, a.editedAt
	if newer(a.editedAt, b.editedAt, xa, xb) {
		x, e = xb, b.editedAt
	}
	if e.IsZero() {
		a.text, a.original = m, ""
	} else {
		a.text, a.original = x, m
	}
	a.editedAt = e

	switch {
	case a.typ != "":
	case b.typ != "":
		a.sentAt, a.media, a.replyTo = b.sentAt, b.media, b.replyTo
	default:
		a.sentAt = earliest(a.sentAt, b.sentAt)
	}
	ra, rb := hooklane.StatusRank(a.status), hooklane.StatusRank(b.status)
	switch {
	case rb > ra || rb == ra && b.status > a.status:
		a.status, a.statusAt = b.status, b.statusAt
	case rb == ra && b.status == a.status:
		a.statusAt = earliest(a.statusAt, b.statusAt)
	}
	if !b.failedAt.IsZero() && (a.failedAt.IsZero() || b.failedAt.Before(a.failedAt) ||
		b.failedAt.Equal(a.failedAt) && b.errorJSON > a.errorJSON) {
		a.errorJSON = b.errorJSON
	}
	a.account = least(a.account, b.account)
	a.conversation = cmp.Or(a.conversation, b.conversation)
	a.contact = least(a.contact, b.contact)
	a.direction = least(a.direction, b.direction)
	a.typ = least(a.typ, b.typ)
	a.deliveredAt = earliest(a.deliveredAt, b.deliveredAt)
	a.readAt = earliest(a.readAt, b.readAt)
	a.playedAt = earliest(a.playedAt, b.playedAt)
	a.failedAt = earliest(a.failedAt, b.failedAt)
	a.deletedAt = earliest(a.deletedAt, b.deletedAt)
	a.firstSeen = earliest(a.firstSeen, b.firstSeen)
	a.updated = latest(a.updated, b.updated)
}

// mergeContact merges b into a, as contactsSQL's SET does.
func mergeContact(a, b *contactRow) {
	if newer(a.nameAt, b.nameAt, a.name+"\x01"+a.username, b.name+"\x01"+b.username) {
		a.name, a.username, a.nameAt = b.name, b.username, b.nameAt
	}
	if newer(a.emailAt, b.emailAt, a.email, b.email) {
		a.email, a.emailAt = b.email, b.emailAt
	}
	if newer(a.tagsAt, b.tagsAt, a.tags, b.tags) {
		a.tags, a.tagsAt = b.tags, b.tagsAt
	}
	if newer(a.ownersAt, b.ownersAt, a.owners, b.owners) {
		a.owners, a.ownersAt = b.owners, b.ownersAt
	}
	if newer(a.customFieldsAt, b.customFieldsAt, a.customFields, b.customFields) {
		a.customFields, a.customFieldsAt = b.customFields, b.customFieldsAt
	}
	a.phone = least(a.phone, b.phone)
	a.jid = least(a.jid, b.jid)
	a.userID = least(a.userID, b.userID)
	a.clientID = least(a.clientID, b.clientID)
	a.firstSeen = earliest(a.firstSeen, b.firstSeen)
	a.lastSeen = latest(a.lastSeen, b.lastSeen)
	a.lastInbound = latest(a.lastInbound, b.lastInbound)
}

// mergeConversation merges b into a, as messagesSQL's conversations SET does.
func mergeConversation(a, b *conversationRow) {
	if newer(a.statusAt, b.statusAt, a.status, b.status) {
		a.status, a.statusAt = b.status, b.statusAt
	}
	if newer(a.operationAt, b.operationAt, a.operation, b.operation) {
		a.operation, a.operationAt = b.operation, b.operationAt
	}
	if newer(a.ownersAt, b.ownersAt, a.owners, b.owners) {
		a.owners, a.ownersAt = b.owners, b.ownersAt
	}
	if newer(a.tagsAt, b.tagsAt, a.tags, b.tags) {
		a.tags, a.tagsAt = b.tags, b.tagsAt
	}
	a.account = least(a.account, b.account)
	a.expiredAt = latest(a.expiredAt, b.expiredAt)
	a.lastMessage = latest(a.lastMessage, b.lastMessage)
	a.lastInbound = latest(a.lastInbound, b.lastInbound)
	a.firstSeen = earliest(a.firstSeen, b.firstSeen)
	a.updated = latest(a.updated, b.updated)
}

// setClause is a list of "column = merge expression" that also tells
// whether the merge changes anything, for an upsert's DO UPDATE.
type setClause [][2]string

// set renders the SET list.
func (s setClause) set() string {
	set := make([]string, len(s))
	for i, c := range s {
		set[i] = c[0] + " = " + c[1]
	}
	return "SET " + strings.Join(set, ",\n\t\t")
}

// sql renders the SET list and a WHERE that skips a merge changing nothing.
func (s setClause) sql(table string) string {
	cols, exprs := make([]string, len(s)), make([]string, len(s))
	for i, c := range s {
		cols[i], exprs[i] = table+"."+c[0], c[1]
	}
	return s.set() + "\n\tWHERE (" + strings.Join(cols, ", ") + ") IS DISTINCT FROM (" + strings.Join(exprs, ", ") + ")"
}

// latestSQL is the rule "the value with the latest time, ties broken by the
// greater value" for col and its time colAt, in m (stored) and excluded.
func latestSQL(col, colAt string) [2][2]string {
	wins := "(excluded." + colAt + " IS NOT NULL AND (m." + colAt + " IS NULL OR excluded." + colAt + " > m." + colAt +
		" OR (excluded." + colAt + " = m." + colAt + " AND coalesce(excluded." + col + "::text, '') COLLATE \"C\" > coalesce(m." + col + "::text, ''))))"
	return [2][2]string{
		{col, "CASE WHEN " + wins + " THEN excluded." + col + " ELSE m." + col + " END"},
		{colAt, "CASE WHEN " + wins + " THEN excluded." + colAt + " ELSE m." + colAt + " END"},
	}
}

// leastSQL is the rule "the least non-null value" for col.
func leastSQL(col string) [2]string {
	return [2]string{col, "LEAST(m." + col + " COLLATE \"C\", excluded." + col + ")"}
}

func minSQL(col string) [2]string {
	return [2]string{col, "LEAST(m." + col + ", excluded." + col + ")"}
}
func maxSQL(col string) [2]string {
	return [2]string{col, "GREATEST(m." + col + ", excluded." + col + ")"}
}

// The pieces of the messages merge: the message's own text (M), the latest
// edit's text (X) and time (E) of the stored row (m) and the new (excluded).
const (
	msgTextM   = "CASE WHEN m.edited_at IS NULL THEN m.text ELSE m.original_text END"
	msgTextX   = "CASE WHEN excluded.edited_at IS NULL THEN excluded.text ELSE excluded.original_text END"
	editTextM  = "CASE WHEN m.edited_at IS NOT NULL THEN m.text END"
	editTextX  = "CASE WHEN excluded.edited_at IS NOT NULL THEN excluded.text END"
	msgText    = "CASE WHEN m.type IS NOT NULL THEN " + msgTextM + " ELSE " + msgTextX + " END"
	editWins   = "(excluded.edited_at IS NOT NULL AND (m.edited_at IS NULL OR excluded.edited_at > m.edited_at OR (excluded.edited_at = m.edited_at AND coalesce(" + editTextX + ", '') COLLATE \"C\" > coalesce(" + editTextM + ", ''))))"
	editText   = "CASE WHEN " + editWins + " THEN " + editTextX + " ELSE " + editTextM + " END"
	editedAt   = "CASE WHEN " + editWins + " THEN excluded.edited_at ELSE m.edited_at END"
	rankM      = "message_status_rank(m.status)"
	rankX      = "message_status_rank(excluded.status)"
	statusWins = "(" + rankX + " > " + rankM + " OR (" + rankX + " = " + rankM + " AND excluded.status COLLATE \"C\" > m.status))"
	failWins   = "(excluded.failed_at IS NOT NULL AND (m.failed_at IS NULL OR excluded.failed_at < m.failed_at OR (excluded.failed_at = m.failed_at AND coalesce(excluded.error::text, '') COLLATE \"C\" > coalesce(m.error::text, ''))))"
)

var messagesSet = setClause{
	leastSQL("account"),
	{"conversation_id", "coalesce(m.conversation_id, excluded.conversation_id)"},
	leastSQL("contact"),
	leastSQL("direction"),
	{"text", "CASE WHEN (" + editedAt + ") IS NULL THEN " + msgText + " ELSE " + editText + " END"},
	{"original_text", "CASE WHEN (" + editedAt + ") IS NOT NULL THEN " + msgText + " END"},
	{"edited_at", editedAt},
	{"media", "CASE WHEN m.type IS NOT NULL THEN m.media ELSE excluded.media END"},
	{"reply_to", "CASE WHEN m.type IS NOT NULL THEN m.reply_to ELSE excluded.reply_to END"},
	{"sent_at", "CASE WHEN m.type IS NOT NULL THEN m.sent_at WHEN excluded.type IS NOT NULL THEN excluded.sent_at ELSE LEAST(m.sent_at, excluded.sent_at) END"},
	{"status", "CASE WHEN " + statusWins + " THEN excluded.status ELSE m.status END"},
	{"status_at", "CASE WHEN " + statusWins + " THEN excluded.status_at WHEN excluded.status = m.status THEN LEAST(m.status_at, excluded.status_at) ELSE m.status_at END"},
	{"error", "CASE WHEN " + failWins + " THEN excluded.error ELSE m.error END"},
	leastSQL("type"),
	minSQL("delivered_at"), minSQL("read_at"), minSQL("played_at"), minSQL("failed_at"), minSQL("deleted_at"),
	minSQL("first_seen_at"), maxSQL("updated_at"),
}

// messageColumns are the messages columns a batch writes, in the order of
// messageValues.
const messageColumns = `source, message_id, provider, account, conversation_id, contact, direction, type, text,
	original_text, media, reply_to, status, error, sent_at, status_at, delivered_at, read_at, played_at, failed_at,
	edited_at, deleted_at, first_seen_at, updated_at`

// messagesInput is a batch's messages rows, from messageValues' arrays
// ($1 to $24).
const messagesInput = `
	SELECT source, message_id, provider, account, conversation_id, contact, direction, type, text, original_text,
		media::jsonb, reply_to, status, error::jsonb, sent_at, status_at, delivered_at, read_at, played_at, failed_at,
		edited_at, deleted_at, first_seen_at, updated_at
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::timestamptz[], $16::timestamptz[],
		$17::timestamptz[], $18::timestamptz[], $19::timestamptz[], $20::timestamptz[], $21::timestamptz[], $22::timestamptz[],
		$23::timestamptz[], $24::timestamptz[])
		AS i(` + messageColumns + `)`

// messagesSQL writes a batch's messages and its conversations, in one
// statement, reading the batch's rows once (input). claimed inserts the
// messages rows that are new and merges those that gain their conversation
// now, from none; it locks every other row of the batch too, without writing
// it, as ON CONFLICT DO UPDATE does whatever its WHERE says. The rows it
// returns are exactly the ones this write gave a conversation, each to one
// writer only: an insert happens once, and the WHERE is checked against the
// row as it stands once locked. So c counts each into its conversation's
// message_count, in the conversations upsert (conversationValues' arrays,
// $25 to $41). merged merges the rest of the batch, the rows claimed only
// locked, into the stored ones. An anti-join passes a row only once it has
// read all of claimed, so claimed has run to its end before merged writes,
// and merged never touches a row claimed wrote, which one statement may not
// write twice. The locks go in one order in every writer: messages, then
// conversations, each in key order.
var messagesSQL = `
WITH input AS MATERIALIZED (` + messagesInput + `
), claimed AS (
	INSERT INTO messages AS m (` + messageColumns + `)
	SELECT * FROM input ORDER BY source, message_id
	ON CONFLICT (source, message_id) DO UPDATE ` + messagesSet.set() + `
	WHERE m.conversation_id IS NULL AND excluded.conversation_id IS NOT NULL
	RETURNING m.source, m.message_id, m.conversation_id
), gained AS MATERIALIZED (
	SELECT source, conversation_id, count(*) AS n
	FROM claimed WHERE conversation_id IS NOT NULL
	GROUP BY source, conversation_id
), c AS (
	INSERT INTO conversations AS m (source, conversation_id, provider, account, status, status_at, operation,
		operation_at, owners, owners_at, tags, tags_at, expired_at, last_message_at, last_inbound_at, first_seen_at,
		updated_at, message_count)
	SELECT i.source, i.conversation_id, provider, account, status, status_at, operation, operation_at,
		owners::jsonb, owners_at, tags::jsonb, tags_at, expired_at, last_message_at, last_inbound_at, first_seen_at,
		updated_at, coalesce(g.n, 0)
	FROM unnest($25::text[], $26::text[], $27::text[], $28::text[], $29::text[], $30::timestamptz[], $31::text[],
		$32::timestamptz[], $33::text[], $34::timestamptz[], $35::text[], $36::timestamptz[], $37::timestamptz[],
		$38::timestamptz[], $39::timestamptz[], $40::timestamptz[], $41::timestamptz[])
		AS i(source, conversation_id, provider, account, status, status_at, operation, operation_at, owners, owners_at,
			tags, tags_at, expired_at, last_message_at, last_inbound_at, first_seen_at, updated_at)
	LEFT JOIN gained g ON g.source = i.source AND g.conversation_id = i.conversation_id
	ORDER BY i.source, i.conversation_id
	ON CONFLICT (source, conversation_id) DO UPDATE ` + conversationsSet.sql("m") + `
	RETURNING 1
), merged AS (
	INSERT INTO messages AS m (` + messageColumns + `)
	SELECT * FROM input i
	WHERE NOT EXISTS (SELECT FROM claimed WHERE claimed.source = i.source AND claimed.message_id = i.message_id)
	ON CONFLICT (source, message_id) DO UPDATE ` + messagesSet.sql("m") + `
	RETURNING 1
)
SELECT (SELECT count(*) FROM claimed), (SELECT count(*) FROM c), (SELECT count(*) FROM merged)`

var contactsSet = func() setClause {
	name := "(excluded.name_at IS NOT NULL AND (m.name_at IS NULL OR excluded.name_at > m.name_at OR (excluded.name_at = m.name_at AND " +
		"(coalesce(excluded.name, '') || E'\\x01' || coalesce(excluded.username, '')) COLLATE \"C\" > (coalesce(m.name, '') || E'\\x01' || coalesce(m.username, '')))))"
	s := setClause{
		{"name", "CASE WHEN " + name + " THEN excluded.name ELSE m.name END"},
		{"username", "CASE WHEN " + name + " THEN excluded.username ELSE m.username END"},
		{"name_at", "CASE WHEN " + name + " THEN excluded.name_at ELSE m.name_at END"},
	}
	for _, c := range []string{"email", "tags", "owners", "custom_fields"} {
		l := latestSQL(c, c+"_at")
		s = append(s, l[0], l[1])
	}
	return append(s, leastSQL("phone"), leastSQL("jid"), leastSQL("user_id"), leastSQL("client_id"),
		minSQL("first_seen_at"), maxSQL("last_seen_at"), maxSQL("last_inbound_at"),
		[2]string{"window_expires_at", "GREATEST(m.last_inbound_at, excluded.last_inbound_at) + interval '24 hours'"})
}()

// contactsSQL merges a batch's contacts rows, one per key in key order.
var contactsSQL = `
INSERT INTO contacts AS m (source, account, contact, provider, name, name_at, username, phone, jid, user_id, client_id,
	email, email_at, tags, tags_at, owners, owners_at, custom_fields, custom_fields_at, first_seen_at, last_seen_at,
	last_inbound_at, window_expires_at)
SELECT source, account, contact, provider, name, name_at, username, phone, jid, user_id, client_id,
	email, email_at, tags::jsonb, tags_at, owners::jsonb, owners_at, custom_fields::jsonb, custom_fields_at,
	first_seen_at, last_seen_at, last_inbound_at, last_inbound_at + interval '24 hours'
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::text[],
	$9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[], $14::text[], $15::timestamptz[], $16::text[],
	$17::timestamptz[], $18::text[], $19::timestamptz[], $20::timestamptz[], $21::timestamptz[], $22::timestamptz[])
	AS i(source, account, contact, provider, name, name_at, username, phone, jid, user_id, client_id, email, email_at,
		tags, tags_at, owners, owners_at, custom_fields, custom_fields_at, first_seen_at, last_seen_at, last_inbound_at)
ORDER BY source, account, contact
ON CONFLICT (source, account, contact) DO UPDATE ` + contactsSet.sql("m") + `
RETURNING 1`

var conversationsSet = func() setClause {
	s := setClause{leastSQL("account")}
	for _, c := range []string{"status", "operation", "owners", "tags"} {
		l := latestSQL(c, c+"_at")
		s = append(s, l[0], l[1])
	}
	return append(s, maxSQL("expired_at"), maxSQL("last_message_at"), maxSQL("last_inbound_at"),
		minSQL("first_seen_at"), maxSQL("updated_at"),
		[2]string{"message_count", "m.message_count + excluded.message_count"})
}()

// nullText is s as a nullable SQL text: NULL when empty.
func nullText(s string) pgtype.Text { return pgtype.Text{String: pgText(s), Valid: s != ""} }

// nullTime is t as a nullable SQL timestamptz: NULL when zero.
func nullTime(t time.Time) pgtype.Timestamptz { return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()} }

func conversationValues(a *arrays, k conversationKey, r *conversationRow) {
	a.keys(k.source, k.id, r.provider)
	a.texts(r.account)
	a.latest(r.status, r.statusAt)
	a.latest(r.operation, r.operationAt)
	a.latest(r.owners, r.ownersAt)
	a.latest(r.tags, r.tagsAt)
	a.times(r.expiredAt, r.lastMessage, r.lastInbound, r.firstSeen, r.updated)
}

func messageValues(a *arrays, k messageKey, r *messageRow) {
	a.keys(k.source, k.id, r.provider)
	a.texts(r.account, r.conversation, r.contact, r.direction, r.typ, r.text, r.original, r.media, r.replyTo,
		r.status, r.errorJSON)
	a.times(r.sentAt, r.statusAt, r.deliveredAt, r.readAt, r.playedAt, r.failedAt, r.editedAt, r.deletedAt,
		r.firstSeen, r.updated)
}

func contactValues(a *arrays, k contactKey, r *contactRow) {
	a.keys(k.source, k.account, k.contact, r.provider)
	a.latest(r.name, r.nameAt)
	a.texts(r.username, r.phone, r.jid, r.userID, r.clientID)
	a.latest(r.email, r.emailAt)
	a.latest(r.tags, r.tagsAt)
	a.latest(r.owners, r.ownersAt)
	a.latest(r.customFields, r.customFieldsAt)
	a.times(r.firstSeen, r.lastSeen, r.lastInbound)
}

// arrays lays a table's rows out as unnest's arrays, a typed column each,
// in the order a row's values are added.
type arrays struct {
	cols []column
	next int // the column the row being added fills next
}

// A column holds one of keys (text, never NULL), texts (NULL when empty)
// or times (NULL when zero).
type column struct {
	kind  byte
	keys  []string
	texts []pgtype.Text
	times []pgtype.Timestamptz
}

func (a *arrays) column(kind byte) *column {
	if a.next == len(a.cols) {
		a.cols = append(a.cols, column{kind: kind})
	}
	a.next++
	return &a.cols[a.next-1]
}

// keys adds text values that are never NULL.
func (a *arrays) keys(ss ...string) {
	for _, s := range ss {
		c := a.column('k')
		c.keys = append(c.keys, s)
	}
}

// texts adds text values, NULL when empty.
func (a *arrays) texts(ss ...string) {
	for _, s := range ss {
		c := a.column('t')
		c.texts = append(c.texts, nullText(s))
	}
}

// times adds timestamptz values, NULL when zero.
func (a *arrays) times(ts ...time.Time) {
	for _, t := range ts {
		c := a.column('T')
		c.times = append(c.times, nullTime(t))
	}
}

// latest adds a value and the time it was reported at.
func (a *arrays) latest(s string, at time.Time) {
	a.texts(s)
	a.times(at)
}

// args lays rows out as unnest's arrays, in key order. A zero row, added
// first and then dropped, gives each column its type, for a batch without
// rows too.
func args[K comparable, R any](rows map[K]*R, compare func(a, b K) int, values func(*arrays, K, *R)) []any {
	var a arrays
	values(&a, *new(K), new(R))
	for i := range a.cols {
		c := &a.cols[i]
		c.keys, c.texts, c.times = c.keys[:0:0], c.texts[:0:0], c.times[:0:0]
		switch c.kind {
		case 'k':
			c.keys = make([]string, 0, len(rows))
		case 't':
			c.texts = make([]pgtype.Text, 0, len(rows))
		default:
			c.times = make([]pgtype.Timestamptz, 0, len(rows))
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(rows), compare) {
		a.next = 0
		values(&a, k, rows[k])
	}
	// FlatArray, which pgx encodes directly: a slice of another type than
	// its few built-in ones is read through reflection.
	out := make([]any, len(a.cols))
	for i, c := range a.cols {
		switch c.kind {
		case 'k':
			out[i] = c.keys
		case 't':
			out[i] = pgtype.FlatArray[pgtype.Text](c.texts)
		default:
			out[i] = pgtype.FlatArray[pgtype.Timestamptz](c.times)
		}
	}
	return out
}

// queue appends the batch's statements to b, in the lock order every writer
// follows: the shared model lock, messages, conversations, contacts, each in
// key order. read reads their results.
func (mb *modelBatch) queue(b *pgx.Batch) {
	messages := args(mb.messages, func(a, b messageKey) int {
		return cmp.Or(strings.Compare(a.source, b.source), strings.Compare(a.id, b.id))
	}, messageValues)
	conversations := args(mb.conversations, func(a, b conversationKey) int {
		return cmp.Or(strings.Compare(a.source, b.source), strings.Compare(a.id, b.id))
	}, conversationValues)
	b.Queue("SELECT pg_advisory_xact_lock_shared(" + modelLock + ")")
	b.Queue(messagesSQL, append(messages, conversations...)...)
	b.Queue(contactsSQL, args(mb.contacts, func(a, b contactKey) int {
		return cmp.Or(strings.Compare(a.source, b.source), strings.Compare(a.account, b.account),
			strings.Compare(a.contact, b.contact))
	}, contactValues)...)
}

// read reads the results of the statements queue sent, in their order.
func (mb *modelBatch) read(br pgx.BatchResults) (ModelResult, error) {
	var res ModelResult
	if _, err := br.Exec(); err != nil { // the lock
		return res, err
	}
	var claimed, conv, merged int
	if err := br.QueryRow().Scan(&claimed, &conv, &merged); err != nil {
		return res, err
	}
	contacts, err := countRows(br)
	if err != nil {
		return res, err
	}
	res.Messages = ModelCount{claimed + merged, len(mb.messages) - claimed - merged}
	res.Conversations = ModelCount{conv, len(mb.conversations) - conv}
	res.Contacts = ModelCount{contacts, len(mb.contacts) - contacts}
	return res, nil
}

// countRows counts the rows of the next result.
func countRows(br pgx.BatchResults) (int, error) {
	rows, err := br.Query()
	if err != nil {
		return 0, err
	}
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	return n, rows.Err()
}
