package storage_test

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/provider"
	"github.com/hooklane/hooklane/storage"
	"github.com/hooklane/hooklane/storage/storagetest"
)

// delivered is a record of body as source's provider p fans it out,
// received at the given time.
func delivered(t testing.TB, source, p, body string, at time.Time) storage.Record {
	t.Helper()
	prov, ok := provider.Lookup(p)
	if !ok {
		t.Fatalf("no provider %s", p)
	}
	events, err := prov.Events([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return storage.Record{Delivery: hooklane.Delivery{
		Source: source, Provider: p, EventType: "test", DedupeKey: fmt.Sprintf("%x", sha256.Sum256([]byte(body))),
		ReceivedAt: at, Headers: map[string][]string{}, Body: []byte(body),
	}, Events: events}
}

// modelTables is every row of the model tables, as JSON text in key order.
func modelTables(t testing.TB, conn *pgx.Conn) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		"SELECT to_jsonb(m)::text FROM messages m ORDER BY source, message_id",
		"SELECT to_jsonb(c)::text FROM contacts c ORDER BY source, account, contact",
		"SELECT to_jsonb(c)::text FROM conversations c ORDER BY source, conversation_id",
	} {
		rows, err := conn.Query(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(strings.Join(lines, "\n") + "\n--\n")
	}
	return b.String()
}

// row reads one row of query as a map of its columns, as text.
func row(t testing.TB, conn *pgx.Conn, query string, args ...any) map[string]string {
	t.Helper()
	rows, err := conn.Query(t.Context(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectExactlyOneRow(rows, pgx.RowToMap)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	m := map[string]string{}
	for k, v := range got {
		switch v := v.(type) {
		case nil:
		case time.Time:
			m[k] = v.UTC().Format(time.RFC3339)
		default:
			m[k] = fmt.Sprint(v)
		}
	}
	return m
}

// checkRow fails unless each of want's columns has its value in got ("" is
// NULL).
func checkRow(t testing.TB, what string, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s = %q, want %q", what, k, got[k], w)
		}
	}
}

func metaBody(value string) string {
	return `{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"PN1"},` + value + `}}]}]}`
}

func metaStatus(id, status string, ts int) string {
	return metaBody(fmt.Sprintf(`"statuses":[{"id":%q,"status":%q,"timestamp":"%d","recipient_id":"5215512345678"}]`, id, status, ts))
}

func TestModelMetaOutOfOrder(t *testing.T) {
	s, conn := newStore(t)
	// A message sent through the API: only statuses, the latest first.
	bodies := []string{
		metaStatus("wamid.OUT", "read", 1700000300),
		metaStatus("wamid.OUT", "delivered", 1700000200),
		metaStatus("wamid.OUT", "sent", 1700000100),
		metaStatus("wamid.OUT", "sent", 1700000100), // a duplicate in another delivery
		metaBody(`"contacts":[{"profile":{"name":"Ana"},"wa_id":"5215512345678"}],"messages":[{"from":"5215512345678","id":"wamid.IN","timestamp":"1700000400","type":"text","text":{"body":"hola"}}]`),
	}
	for i, body := range bodies {
		if _, err := s.Save(t.Context(), []storage.Record{delivered(t, "wa", "meta", body+strings.Repeat(" ", i), received.Add(time.Duration(i)*time.Second))}); err != nil {
			t.Fatal(err)
		}
	}
	checkRow(t, "outbound", row(t, conn, "SELECT * FROM messages WHERE message_id = 'wamid.OUT'"), map[string]string{
		"status": "read", "status_at": "2023-11-14T22:18:20Z", "delivered_at": "2023-11-14T22:16:40Z",
		"read_at": "2023-11-14T22:18:20Z", "sent_at": "2023-11-14T22:15:00Z", "direction": "out",
		"contact": "5215512345678", "conversation_id": "PN1:5215512345678", "type": "",
		// When hooklane received the first and the latest delivery with news of it:
		// the duplicate "sent" brought none.
		"first_seen_at": "2025-06-01T12:30:45Z", "updated_at": "2025-06-01T12:30:47Z",
	})
	checkRow(t, "inbound", row(t, conn, "SELECT * FROM messages WHERE message_id = 'wamid.IN'"), map[string]string{
		"status": "received", "direction": "in", "type": "text", "text": "hola", "sent_at": "2023-11-14T22:20:00Z",
	})
	checkRow(t, "contact", row(t, conn, "SELECT * FROM contacts"), map[string]string{
		"name": "Ana", "phone": "5215512345678", "last_inbound_at": "2023-11-14T22:20:00Z",
		"window_expires_at": "2023-11-15T22:20:00Z", "account": "PN1",
	})
	checkRow(t, "conversation", row(t, conn, "SELECT * FROM conversations"), map[string]string{
		"conversation_id": "PN1:5215512345678", "message_count": "2", "last_inbound_at": "2023-11-14T22:20:00Z",
		"last_message_at": "2023-11-14T22:20:00Z",
		"first_seen_at":   "2025-06-01T12:30:45Z", "updated_at": "2025-06-01T12:30:49Z",
	})
}

// TestModelSharedEventInBatch checks that an event two new deliveries of a
// batch carry is merged once, from the delivery that stored it: the
// other's copy, received later, moves no first_seen_at or updated_at.
func TestModelSharedEventInBatch(t *testing.T) {
	s, conn := newStore(t)
	status := func(id, st string) string {
		return fmt.Sprintf(`{"id":%q,"status":%q,"timestamp":"1700000100","recipient_id":"5215512345678"}`, id, st)
	}
	first := delivered(t, "wa", "meta", metaBody(`"statuses":[`+status("wamid.S", "read")+`]`), received)
	later := delivered(t, "wa", "meta", metaBody(`"statuses":[`+status("wamid.S", "read")+`,`+status("wamid.T", "delivered")+`]`),
		received.Add(time.Hour))
	// Records are stored in dedupe key order: first stores the shared status.
	first.Delivery.DedupeKey, later.Delivery.DedupeKey = "a", "b"
	res, err := s.Save(t.Context(), []storage.Record{later, first})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deliveries != 2 || res.Events != 2 {
		t.Fatalf("Save = %+v, want 2 deliveries and 2 events", res)
	}
	checkRow(t, "shared", row(t, conn, "SELECT * FROM messages WHERE message_id = 'wamid.S'"), map[string]string{
		"status": "read", "first_seen_at": "2025-06-01T12:30:45Z", "updated_at": "2025-06-01T12:30:45Z",
	})
	checkRow(t, "other", row(t, conn, "SELECT * FROM messages WHERE message_id = 'wamid.T'"), map[string]string{
		"status": "delivered", "first_seen_at": "2025-06-01T13:30:45Z", "updated_at": "2025-06-01T13:30:45Z",
	})
}

// TestModelSkipped checks that a store with SkipModel stores the events and
// no model row.
func TestModelSkipped(t *testing.T) {
	t.Parallel()
	databaseURL := storagetest.URL(t)
	if err := storage.Migrate(t.Context(), databaseURL); err != nil {
		t.Fatal(err)
	}
	s, err := storage.Open(t.Context(), databaseURL, storage.Config{SkipModel: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn := connect(t, databaseURL)
	res, err := s.Save(t.Context(), []storage.Record{delivered(t, "wa", "meta", metaStatus("wamid.X", "read", 1700000000), received)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 1 || res.Model != (storage.ModelResult{}) {
		t.Errorf("Save = %+v, want one event and no model rows", res)
	}
	if n := count(t, conn, "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM conversations) + (SELECT count(*) FROM contacts)"); n != 0 {
		t.Errorf("%d model rows with the model off", n)
	}
}

// TestModelResultCounts checks what Save reports of the model: rows written
// by table, and merges that changed nothing, such as a late sent status.
func TestModelResultCounts(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	save := func(body string) storage.ModelResult {
		t.Helper()
		res, err := s.Save(t.Context(), []storage.Record{delivered(t, "wa", "meta", body, received)})
		if err != nil {
			t.Fatal(err)
		}
		return res.Model
	}
	first := save(metaStatus("wamid.X", "read", 1700000300))
	if first.Messages.Written != 1 || first.Conversations.Written != 1 || first.Contacts.Written != 1 {
		t.Errorf("first status wrote %+v", first)
	}
	late := save(metaStatus("wamid.X", "sent", 1700000300))
	if late.Messages != (storage.ModelCount{Unchanged: 1}) {
		t.Errorf("a late sent status at the same time: messages %+v, want one unchanged merge", late.Messages)
	}
}
