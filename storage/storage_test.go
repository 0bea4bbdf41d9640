package storage_test

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/schema"
	"github.com/hooklane/hooklane/storage"
	"github.com/hooklane/hooklane/storage/storagetest"
)

var received = time.Date(2025, 6, 1, 12, 30, 45, 123456000, time.UTC)

// newStore returns a Store on a migrated schema of its own, and a connection
// to the same schema to read back what the Store wrote.
func newStore(t *testing.T) (*storage.Store, *pgx.Conn) {
	t.Helper()
	databaseURL := storagetest.URL(t)
	if err := storage.Migrate(t.Context(), databaseURL); err != nil {
		t.Fatal(err)
	}
	s, err := storage.Open(t.Context(), databaseURL, storage.Config{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, connect(t, databaseURL)
}

func connect(t *testing.T, databaseURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// count runs a query that returns one number.
func count(t *testing.T, conn *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// record returns a Meta-like delivery of source carrying events with keys.
func record(source, dedupeKey string, eventKeys ...string) storage.Record {
	r := storage.Record{Delivery: hooklane.Delivery{
		Source:     source,
		Provider:   "meta",
		EventType:  "messages",
		DedupeKey:  dedupeKey,
		ReceivedAt: received,
		Headers:    http.Header{"User-Agent": {"facebookexternalua"}},
		Body:       []byte(`{"object":"whatsapp_business_account","entry":[]}`),
	}}
	for _, key := range eventKeys {
		r.Events = append(r.Events, hooklane.Event{
			Type:       "status",
			Key:        key,
			OccurredAt: received.Add(-time.Second),
			Account:    "1234567890",
			Payload:    json.RawMessage(`{"id":"` + key + `"}`),
		})
	}
	return r
}

func save(t *testing.T, s *storage.Store, records ...storage.Record) storage.SaveResult {
	t.Helper()
	res, err := s.Save(t.Context(), records)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	databaseURL := storagetest.URL(t)
	if err := storage.Migrate(t.Context(), databaseURL); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, databaseURL)

	u, _ := url.Parse(databaseURL)
	rows, _ := conn.Query(t.Context(),
		"SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename", u.Query().Get("search_path"))
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"contacts", "conversations", "dead_letters", "deliveries", "events", "flow_exchanges", "hooklane_schema_version", "messages", "replay_checkpoints"}
	if !slices.Equal(tables, want) {
		t.Errorf("tables in the test schema = %v, want %v", tables, want)
	}
	migrations, _ := fs.Glob(schema.FS, "*.sql")
	if v := count(t, conn, "SELECT version FROM hooklane_schema_version"); v != len(migrations) {
		t.Errorf("version = %d, want %d", v, len(migrations))
	}

	// Migrating again changes nothing and keeps the data.
	if _, err := conn.Exec(t.Context(), `INSERT INTO deliveries (source, provider, event_type, dedupe_key, headers, body, received_at)
		VALUES ('s', 'meta', 'messages', 'k', '{}', '\x7b7d', now())`); err != nil {
		t.Fatal(err)
	}
	if err := storage.Migrate(t.Context(), databaseURL); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if v := count(t, conn, "SELECT version FROM hooklane_schema_version"); v != len(migrations) {
		t.Errorf("version after second Migrate = %d, want %d", v, len(migrations))
	}
	if n := count(t, conn, "SELECT count(*) FROM deliveries"); n != 1 {
		t.Errorf("deliveries after second Migrate = %d, want 1", n)
	}
}

func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	databaseURL := storagetest.URL(t)
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = storage.Migrate(t.Context(), databaseURL) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate %d: %v", i, err)
		}
	}
	migrations, _ := fs.Glob(schema.FS, "*.sql")
	conn := connect(t, databaseURL)
	if v := count(t, conn, "SELECT version FROM hooklane_schema_version"); v != len(migrations) {
		t.Errorf("version = %d, want %d", v, len(migrations))
	}
	if n := count(t, conn, "SELECT count(*) FROM hooklane_schema_version"); n != 1 {
		t.Errorf("version rows = %d, want 1", n)
	}
}

func TestEnsureDatabase(t *testing.T) {
	t.Parallel()
	base := storagetest.URL(t)
	u, _ := url.Parse(base)
	// Upper case and a hyphen need the identifier quoted.
	name := "hooklane_test_Ensure-" + strings.ToLower(crand.Text())
	u.Path = "/" + name
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})

	for i, want := range []bool{true, false} {
		created, err := storage.EnsureDatabase(t.Context(), u.String())
		if err != nil {
			t.Fatalf("EnsureDatabase %d: %v", i+1, err)
		}
		if created != want {
			t.Errorf("EnsureDatabase %d: created = %v, want %v", i+1, created, want)
		}
	}
	conn := connect(t, base)
	if n := count(t, conn, "SELECT count(*) FROM pg_database WHERE datname = $1", name); n != 1 {
		t.Errorf("databases named %q = %d, want 1", name, n)
	}
}

func TestSave(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)

	occurred := time.Date(2025, 6, 1, 12, 30, 40, 0, time.UTC)
	platica := storage.Record{
		Delivery: hooklane.Delivery{
			Source:     "platica",
			Provider:   "platica",
			EventType:  "message.created",
			DedupeKey:  "0b0e7c8e-delivery",
			ReceivedAt: received,
			RequestID:  "req-1",
			Headers:    http.Header{"X-Webhook-Event": {"message.created"}, "X-Multi": {"a", "b"}},
			Body:       []byte("{\"id\": \"0b0e7c8e-delivery\",\n \"text\": \"ol\\u00e1\"}"),
		},
		Events: []hooklane.Event{{
			Type:           "message.created",
			Key:            "message:wamid.1",
			OccurredAt:     occurred,
			Account:        "ws_1",
			ResourceType:   "message",
			ResourceID:     "wamid.1",
			ConversationID: "conv_1",
			Phone:          "+5511999999999",
			Payload:        json.RawMessage(`{"id": "wamid.1", "text": "olá"}`),
		}},
	}
	// No request id, no headers, no occurred time and no optional fields.
	bare := storage.Record{
		Delivery: hooklane.Delivery{
			Source: "whapi", Provider: "whapi", EventType: "ack_update", DedupeKey: "sha256:abc",
			ReceivedAt: received, Body: []byte(`{}`),
		},
		Events: []hooklane.Event{
			{Type: "status", Key: "status:m1:read", Payload: json.RawMessage(`{"status":"read"}`)},
			{Type: "status", Key: "status:m1:delivered", Payload: json.RawMessage(`{"status":"delivered"}`)},
		},
	}
	res := save(t, s, platica, bare)
	if want := (storage.SaveResult{Deliveries: 2, Events: 3}); res != want {
		t.Errorf("Save = %+v, want %+v", res, want)
	}

	var (
		d         hooklane.Delivery
		requestID *string
		headers   map[string][]string
	)
	err := conn.QueryRow(t.Context(), `SELECT source, provider, event_type, dedupe_key, request_id, headers, body, received_at
		FROM deliveries WHERE source = 'platica'`).
		Scan(&d.Source, &d.Provider, &d.EventType, &d.DedupeKey, &requestID, &headers, &d.Body, &d.ReceivedAt)
	if err != nil {
		t.Fatal(err)
	}
	want := platica.Delivery
	if d.Source != want.Source || d.Provider != want.Provider || d.EventType != want.EventType ||
		d.DedupeKey != want.DedupeKey || !d.ReceivedAt.Equal(want.ReceivedAt) {
		t.Errorf("delivery = %+v, want %+v", d, want)
	}
	if string(d.Body) != string(want.Body) {
		t.Errorf("body = %q, want the bytes as sent, %q", d.Body, want.Body)
	}
	if requestID == nil || *requestID != "req-1" {
		t.Errorf("request_id = %v, want req-1", requestID)
	}
	if !slices.Equal(headers["X-Multi"], []string{"a", "b"}) || len(headers) != 2 {
		t.Errorf("headers = %v, want %v", headers, want.Headers)
	}

	var (
		e                                    hooklane.Event
		source, prov                         string
		deliveryID, platicaID                int64
		account, resType, resID, conv, phone *string
		occurredAt                           *time.Time
		payloadEqual                         bool
		receivedAt                           time.Time
	)
	err = conn.QueryRow(t.Context(), `SELECT e.delivery_id, d.id, e.source, e.provider, e.event_type, e.event_key,
			e.account, e.resource_type, e.resource_id, e.conversation_id, e.phone, e.occurred_at, e.received_at,
			e.payload = $1::jsonb
		FROM events e, deliveries d WHERE e.event_key = 'message:wamid.1' AND d.source = 'platica'`,
		string(platica.Events[0].Payload)).
		Scan(&deliveryID, &platicaID, &source, &prov, &e.Type, &e.Key,
			&account, &resType, &resID, &conv, &phone, &occurredAt, &receivedAt, &payloadEqual)
	if err != nil {
		t.Fatal(err)
	}
	if deliveryID != platicaID {
		t.Errorf("event's delivery_id = %d, want %d", deliveryID, platicaID)
	}
	if source != "platica" || prov != "platica" || e.Type != "message.created" || e.Key != "message:wamid.1" {
		t.Errorf("event = %s %s %s %s", source, prov, e.Type, e.Key)
	}
	for _, f := range []struct {
		name      string
		got, want *string
	}{
		{"account", account, &platica.Events[0].Account},
		{"resource_type", resType, &platica.Events[0].ResourceType},
		{"resource_id", resID, &platica.Events[0].ResourceID},
		{"conversation_id", conv, &platica.Events[0].ConversationID},
		{"phone", phone, &platica.Events[0].Phone},
	} {
		if f.got == nil || *f.got != *f.want {
			t.Errorf("%s = %v, want %q", f.name, f.got, *f.want)
		}
	}
	if occurredAt == nil || !occurredAt.Equal(occurred) || !receivedAt.Equal(received) {
		t.Errorf("occurred_at, received_at = %v, %v, want %v, %v", occurredAt, receivedAt, occurred, received)
	}
	if !payloadEqual {
		t.Error("payload differs from the event's JSON")
	}

	// Empty strings and a zero time are NULL; no headers are {}.
	if n := count(t, conn, `SELECT count(*) FROM deliveries WHERE source = 'whapi' AND request_id IS NULL AND headers = '{}'`); n != 1 {
		t.Errorf("whapi deliveries with NULL request_id and {} headers = %d, want 1", n)
	}
	if n := count(t, conn, `SELECT count(*) FROM events WHERE source = 'whapi' AND occurred_at IS NULL
		AND account IS NULL AND resource_type IS NULL AND resource_id IS NULL AND conversation_id IS NULL AND phone IS NULL`); n != 2 {
		t.Errorf("whapi events with NULL optional columns = %d, want 2", n)
	}
	// The GIN index serves containment queries.
	if n := count(t, conn, `SELECT count(*) FROM events WHERE payload @> '{"status":"read"}'`); n != 1 {
		t.Errorf("events containing status read = %d, want 1", n)
	}
}

func TestSaveTwice(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	batch := []storage.Record{
		record("meta", "d1", "message:w1", "status:w1:sent"),
		record("meta", "d2", "status:w1:read"),
	}
	if res, want := save(t, s, batch...), (storage.SaveResult{Deliveries: 2, Events: 3}); res != want {
		t.Errorf("first Save = %+v, want %+v", res, want)
	}
	if res, want := save(t, s, batch...), (storage.SaveResult{Duplicates: 2}); res != want {
		t.Errorf("second Save = %+v, want %+v", res, want)
	}
	if n := count(t, conn, "SELECT count(*) FROM deliveries"); n != 2 {
		t.Errorf("deliveries = %d, want 2", n)
	}
	if n := count(t, conn, "SELECT count(*) FROM events"); n != 3 {
		t.Errorf("events = %d, want 3", n)
	}
}

func TestSaveDuplicatesInBatch(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	res := save(t, s,
		record("meta", "d1", "message:w1"),
		record("meta", "d2", "message:w2", "message:w2"), // an event twice in one delivery
		record("meta", "d1", "message:w1"),
		record("other", "d1", "message:w1"), // another source shares neither key
	)
	if want := (storage.SaveResult{Deliveries: 3, Duplicates: 1, Events: 3}); res != want {
		t.Errorf("Save = %+v, want %+v", res, want)
	}
	if n := count(t, conn, "SELECT count(*) FROM deliveries"); n != 3 {
		t.Errorf("deliveries = %d, want 3", n)
	}
	if n := count(t, conn, "SELECT count(*) FROM events"); n != 3 {
		t.Errorf("events = %d, want 3", n)
	}
}

func TestSaveSharedEventKey(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	// Meta may report the same status in two deliveries, in one batch or two.
	res := save(t, s, record("meta", "d2", "status:w1:read"), record("meta", "d1", "status:w1:read", "message:w1"))
	if want := (storage.SaveResult{Deliveries: 2, Events: 2}); res != want {
		t.Errorf("Save = %+v, want %+v", res, want)
	}
	res = save(t, s, record("meta", "d3", "status:w1:read", "status:w1:delivered"))
	if want := (storage.SaveResult{Deliveries: 1, Events: 1}); res != want {
		t.Errorf("second Save = %+v, want %+v", res, want)
	}
	// Records are inserted sorted by dedupe key, so d1 stored the status.
	if n := count(t, conn, `SELECT count(*) FROM events e JOIN deliveries d ON d.id = e.delivery_id
		WHERE e.event_key = 'status:w1:read' AND d.dedupe_key = 'd1'`); n != 1 {
		t.Errorf("status:w1:read stored with d1 = %d times, want 1", n)
	}
	if n := count(t, conn, "SELECT count(*) FROM deliveries"); n != 3 {
		t.Errorf("deliveries = %d, want 3", n)
	}
}

func TestSaveLargeBatch(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	// 12 MiB bodies: the batch takes two statements, whose rows still meet
	// in one transaction.
	big := func(r storage.Record) storage.Record {
		r.Delivery.Body = bytes.Repeat([]byte("x"), 12<<20)
		return r
	}
	res := save(t, s,
		big(record("meta", "d1", "status:w1:read")),
		big(record("meta", "d2", "status:w1:read", "message:w2")),
		big(record("meta", "d3", "message:w3")),
		record("meta", "d1", "status:w1:read"), // a duplicate of the first statement's delivery
	)
	if want := (storage.SaveResult{Deliveries: 3, Duplicates: 1, Events: 3}); res != want {
		t.Errorf("Save = %+v, want %+v", res, want)
	}
	if n := count(t, conn, "SELECT count(*) FROM deliveries WHERE length(body) = 12 << 20"); n != 3 {
		t.Errorf("deliveries with their whole body = %d, want 3", n)
	}
	if n := count(t, conn, `SELECT count(*) FROM events e JOIN deliveries d ON d.id = e.delivery_id
		WHERE e.event_key = 'status:w1:read' AND d.dedupe_key = 'd1'`); n != 1 {
		t.Errorf("status:w1:read stored with d1 = %d times, want 1", n)
	}
}

func TestSavePermanentError(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		change func(*storage.Record)
		code   string
	}{
		{"payload not JSON", func(r *storage.Record) { r.Events[0].Payload = json.RawMessage(`{`) }, "22P02"},
		{"payload nested past the parser's stack", func(r *storage.Record) {
			r.Events[0].Payload = json.RawMessage(strings.Repeat(`{"a":`, 50_000) + "1" + strings.Repeat("}", 50_000))
		}, "54001"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, conn := newStore(t)
			bad := record("meta", "d2", "message:w2")
			tt.change(&bad)
			good := []storage.Record{record("meta", "d1", "message:w1"), record("meta", "d3", "message:w3")}

			_, err := s.Save(t.Context(), []storage.Record{good[0], bad, good[1]})
			if err == nil {
				t.Fatal("Save succeeded")
			}
			if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Code != tt.code {
				t.Errorf("Save error = %v, want SQLSTATE %s", err, tt.code)
			}
			if storage.IsTransient(err) || !storage.IsDataError(err) {
				t.Errorf("IsTransient, IsDataError = %v, %v for %v; want false, true", storage.IsTransient(err), storage.IsDataError(err), err)
			}
			if n := count(t, conn, "SELECT count(*) FROM deliveries"); n != 0 {
				t.Errorf("deliveries after a failed Save = %d, want 0", n)
			}
			if n := count(t, conn, "SELECT count(*) FROM events"); n != 0 {
				t.Errorf("events after a failed Save = %d, want 0", n)
			}

			// Without the bad record the batch goes through.
			if res, want := save(t, s, good...), (storage.SaveResult{Deliveries: 2, Events: 2}); res != want {
				t.Errorf("Save without the bad record = %+v, want %+v", res, want)
			}
		})
	}
}

func TestSaveCanceled(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Save(ctx, []storage.Record{record("meta", "d1", "message:w1")})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Save error = %v, want context.Canceled", err)
	}
	if storage.IsTransient(err) {
		t.Errorf("IsTransient(%v) = true, want false for the caller's cancellation", err)
	}
	if n := count(t, conn, "SELECT count(*) FROM deliveries"); n != 0 {
		t.Errorf("deliveries = %d, want 0", n)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping after a cancelled Save: %v", err)
	}
}

func TestSaveConcurrent(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	var batch []storage.Record
	for i := range 50 {
		key := fmt.Sprintf("d%02d", i)
		batch = append(batch, record("meta", key, "message:"+key, "status:"+key+":read"))
	}
	const workers = 4
	results := make([]storage.SaveResult, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		mine := slices.Clone(batch)
		rand.Shuffle(len(mine), func(i, j int) { mine[i], mine[j] = mine[j], mine[i] })
		wg.Go(func() { results[w], errs[w] = s.Save(t.Context(), mine) })
	}
	wg.Wait()
	var total storage.SaveResult
	for w := range workers {
		if errs[w] != nil {
			t.Errorf("worker %d: %v", w, errs[w])
		}
		total.Deliveries += results[w].Deliveries
		total.Duplicates += results[w].Duplicates
		total.Events += results[w].Events
	}
	if want := (storage.SaveResult{Deliveries: 50, Duplicates: 150, Events: 100}); total != want {
		t.Errorf("Saves = %+v in total, want %+v", total, want)
	}
	if n := count(t, conn, "SELECT count(*) FROM events"); n != 100 {
		t.Errorf("events = %d, want 100", n)
	}
}

func TestSaveDeadLetters(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	letters := []storage.DeadLetter{
		{
			Stream: "HOOKLANE", Sequence: 42, Subject: "hooklane.events.meta.messages", Source: "meta",
			Headers: map[string][]string{"Hooklane-Source": {"meta"}},
			Body:    []byte("not json \x00\xff"), Reason: "decode: invalid character", NumDelivered: 1,
		},
		// Text PostgreSQL cannot hold is cleaned; a missing source is NULL.
		{
			Stream: "HOOKLANE", Sequence: 43, Subject: "hooklane.events.x.y",
			Headers: map[string][]string{"X-Bad": {"a\x00b\xff"}},
			Reason:  "store: \x00\xfe", NumDelivered: 5,
		},
	}
	for range 2 {
		if err := s.SaveDeadLetters(t.Context(), letters); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, conn, "SELECT count(*) FROM dead_letters"); n != 2 {
		t.Errorf("dead letters = %d, want 2", n)
	}
	var (
		got     storage.DeadLetter
		source  *string
		headers map[string][]string
	)
	err := conn.QueryRow(t.Context(), `SELECT stream, stream_seq, subject, source, headers, body, reason, num_delivered
		FROM dead_letters WHERE stream_seq = 42`).
		Scan(&got.Stream, &got.Sequence, &got.Subject, &source, &headers, &got.Body, &got.Reason, &got.NumDelivered)
	if err != nil {
		t.Fatal(err)
	}
	want := letters[0]
	if got.Stream != want.Stream || got.Sequence != want.Sequence || got.Subject != want.Subject ||
		source == nil || *source != want.Source || string(got.Body) != string(want.Body) ||
		got.Reason != want.Reason || got.NumDelivered != want.NumDelivered || headers["Hooklane-Source"][0] != "meta" {
		t.Errorf("dead letter = %+v, source %v, headers %v; want %+v", got, source, headers, want)
	}
	err = conn.QueryRow(t.Context(), `SELECT source, headers, body, reason FROM dead_letters WHERE stream_seq = 43`).
		Scan(&source, &headers, &got.Body, &got.Reason)
	if err != nil {
		t.Fatal(err)
	}
	if source != nil || headers["X-Bad"][0] != "ab\uFFFD" || len(got.Body) != 0 || got.Reason != "store: \uFFFD" {
		t.Errorf("cleaned dead letter: source %v, headers %q, body %q, reason %q", source, headers, got.Body, got.Reason)
	}
}

func TestSaveFlowExchanges(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	at := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	exchanges := []hooklane.FlowExchange{
		{
			ID: "x1", Source: "platica", FlowID: "flow_1", FlowToken: "tok_1", Action: "data_exchange",
			Screen: "APPOINTMENT", RequestID: "req-1",
			RequestData: json.RawMessage(`{"date":"2025-06-02"}`), Answer: json.RawMessage(`{"screen":"SUCCESS"}`),
			Outcome: "answered", LatencyMS: 12.5, At: at,
		},
		{ID: "x2", Source: "meta", Action: "ping", Outcome: "timeout", LatencyMS: 700, At: at},
	}
	for range 2 {
		if err := s.SaveFlowExchanges(t.Context(), exchanges); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, conn, "SELECT count(*) FROM flow_exchanges"); n != 2 {
		t.Errorf("flow exchanges = %d, want 2", n)
	}
	var (
		x                hooklane.FlowExchange
		latencyMS        float64
		dataOK, answerOK bool
	)
	err := conn.QueryRow(t.Context(), `SELECT source, flow_id, flow_token, action, screen, request_id,
			request_data = $1::jsonb, answer = $2::jsonb, outcome, latency_ms, created_at
		FROM flow_exchanges WHERE id = 'x1'`, string(exchanges[0].RequestData), string(exchanges[0].Answer)).
		Scan(&x.Source, &x.FlowID, &x.FlowToken, &x.Action, &x.Screen, &x.RequestID,
			&dataOK, &answerOK, &x.Outcome, &latencyMS, &x.At)
	if err != nil {
		t.Fatal(err)
	}
	want := exchanges[0]
	if x.Source != want.Source || x.FlowID != want.FlowID || x.FlowToken != want.FlowToken ||
		x.Action != want.Action || x.Screen != want.Screen || x.RequestID != want.RequestID ||
		!dataOK || !answerOK || x.Outcome != want.Outcome || latencyMS != 12.5 || !x.At.Equal(at) {
		t.Errorf("exchange = %+v, latency %v ms, data %v, answer %v; want %+v", x, latencyMS, dataOK, answerOK, want)
	}
	if n := count(t, conn, `SELECT count(*) FROM flow_exchanges WHERE id = 'x2' AND flow_id IS NULL
		AND flow_token IS NULL AND screen IS NULL AND request_id IS NULL AND request_data IS NULL AND answer IS NULL`); n != 1 {
		t.Errorf("x2 with NULL optional columns = %d, want 1", n)
	}

	err = s.SaveFlowExchanges(t.Context(), []hooklane.FlowExchange{{ID: "x3", Source: "meta", Outcome: "lost", At: at}})
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Code != "23514" || storage.IsTransient(err) {
		t.Errorf("unknown outcome: error = %v, want a permanent check violation", err)
	}
}
