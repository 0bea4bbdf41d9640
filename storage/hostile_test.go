package storage_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/provider"
	"github.com/hooklane/hooklane/storage"
)

// The hostile-input corpus at the store: values PostgreSQL refuses as they
// are (an index row too large, text it cannot hold, JSON jsonb refuses),
// which Save stores in a bounded or sanitised form rather than failing the
// batch. cmd/hooklane/hostile_test.go sends the same inputs end to end.

func TestIndexKey(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 9<<10)
	bounded := storage.IndexKey(long)
	for _, tt := range []struct {
		name, in string
		kept     bool
	}{
		{"short", "573001112233@c.us", true},
		{"empty", "", true},
		{"at the bound", strings.Repeat("a", storage.MaxIndexKeyBytes), true},
		{"over the bound", strings.Repeat("a", storage.MaxIndexKeyBytes+1), false},
		{"9 KB", long, false},
		{"9 KB of multibyte text", strings.Repeat("é", 9<<9), false},
		{"NUL", "a\x00b", false},
		{"invalid UTF-8", "caf\xe9", false},
		{"spells a bounded form", bounded, false},
	} {
		got := storage.IndexKey(tt.in)
		if kept := got == tt.in; kept != tt.kept {
			t.Errorf("%s: IndexKey kept the value = %v, want %v", tt.name, kept, tt.kept)
		}
		if len(got) > storage.MaxIndexKeyBytes {
			t.Errorf("%s: IndexKey is %d bytes, over %d", tt.name, len(got), storage.MaxIndexKeyBytes)
		}
		if !tt.kept && !strings.Contains(got, "~sha256:") {
			t.Errorf("%s: IndexKey = %q, want a hashed form", tt.name, got)
		}
		if again := storage.IndexKey(tt.in); again != got {
			t.Errorf("%s: IndexKey is not stable: %q then %q", tt.name, got, again)
		}
	}
	// Distinct values keep distinct forms, also when they share the prefix
	// or one spells the other's form.
	seen := map[string]string{}
	for _, v := range []string{long, long + "y", long[:len(long)-1], bounded, "a\x00b", "ab", "a\uFFFDb", "caf\xe9", "caf\uFFFD"} {
		k := storage.IndexKey(v)
		if prev, ok := seen[k]; ok {
			t.Errorf("IndexKey(%.20q...) = IndexKey(%.20q...) = %q", v, prev, k)
		}
		seen[k] = v
	}
}

func TestStorableJSONInPostgres(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	for i, tt := range []struct {
		name, payload string
		sanitised     bool
		text          string // what the stored payload's "t" reads
	}{
		{"plain", `{"t":"olá"}`, false, "olá"},
		{"escaped é", `{"t":"caf\u00e9"}`, false, "café"},
		{"escaped surrogate pair", `{"t":"\ud83d\ude00"}`, false, "😀"},
		{"escaped backslash before u0000", `{"t":"\\u0000"}`, false, `\u0000`},
		{"big number within range", `{"t":"n","n":1e1000}`, false, "n"},
		{`\u0000`, `{"t":"a\u0000b"}`, true, "a\uFFFDb"},
		{`\u0000 in a key`, `{"t":"k","a\u0000":1}`, true, "k"},
		{"lone high surrogate", `{"t":"a\ud800b"}`, true, "a\uFFFDb"},
		{"lone low surrogate", `{"t":"a\udc00"}`, true, "a\uFFFD"},
		{"high surrogate at the end", `{"t":"\ud83d"}`, true, "\uFFFD"},
		{"raw invalid UTF-8", "{\"t\":\"caf\xe9 \xff\xfe\"}", true, "caf\uFFFD \uFFFD\uFFFD"},
		{"1e999999", `{"t":"n","n":1e999999}`, true, "n"},
		{"-1e-999999", `{"t":"n","n":[-1e-999999]}`, true, "n"},
		{"16384 decimal places", `{"t":"n","n":1.5e-16383}`, true, "n"},
	} {
		r := record("meta", fmt.Sprintf("d%d", i), fmt.Sprintf("e%d", i))
		r.Events[0].Payload = json.RawMessage(tt.payload)
		if res := save(t, s, r); res.Events != 1 {
			t.Errorf("%s: Save = %+v, want the event stored", tt.name, res)
			continue
		}
		var sanitised bool
		var text string
		if err := conn.QueryRow(t.Context(), "SELECT sanitised, payload->>'t' FROM events WHERE event_key = $1",
			r.Events[0].Key).Scan(&sanitised, &text); err != nil {
			t.Fatal(err)
		}
		if sanitised != tt.sanitised || text != tt.text {
			t.Errorf("%s: stored sanitised %v, t %q; want %v, %q", tt.name, sanitised, text, tt.sanitised, tt.text)
		}
		if n := count(t, conn, "SELECT count(*) FROM deliveries WHERE dedupe_key = $1 AND body = $2", r.Delivery.DedupeKey, r.Delivery.Body); n != 1 {
			t.Errorf("%s: the delivery's body is not kept byte for byte", tt.name)
		}
	}
	// A number beyond the range is kept as its digits.
	if n := count(t, conn, `SELECT count(*) FROM events WHERE payload->>'n' = '1e999999'`); n != 1 {
		t.Errorf("1e999999 not kept as a string")
	}
}

// TestSaveOversizedValues: values far over what an index row holds, and
// text PostgreSQL's text refuses, in every indexed column.
func TestSaveOversizedValues(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	chatID := incompressible(9<<10) + "@c.us"
	eventType := incompressible(10 << 10)
	r := record("whapi", incompressible(5<<10), "message:"+incompressible(4<<10))
	r.Delivery.EventType = eventType
	e := &r.Events[0]
	e.Type, e.ConversationID, e.Phone = eventType, chatID, chatID
	e.Account, e.ResourceType, e.ResourceID = incompressible(3<<10), "message\x00", "caf\xe9"
	e.Payload = json.RawMessage(`{"chat_id":"` + chatID + `"}`)
	other := record("whapi", "other", "message:other")
	if res := save(t, s, r, other); res.Deliveries != 2 || res.Events != 2 {
		t.Fatalf("Save = %+v, want both deliveries and events stored", res)
	}
	if n := count(t, conn, `SELECT count(*) FROM events WHERE conversation_id = $1 AND phone = $1 AND event_type = $2
		AND payload->>'chat_id' = $3`, storage.IndexKey(chatID), storage.IndexKey(eventType), chatID); n != 1 {
		t.Errorf("the event is not found by its bounded columns with its payload whole")
	}
	if n := count(t, conn, `SELECT count(*) FROM events WHERE greatest(length(event_type), length(event_key), length(account),
		length(resource_type), length(resource_id), length(conversation_id), length(phone)) > $1`, storage.MaxIndexKeyBytes); n != 0 {
		t.Errorf("%d events with a column over %d bytes", n, storage.MaxIndexKeyBytes)
	}
	// The same values again are the same keys: a duplicate, not a new row.
	if res := save(t, s, r); res.Duplicates != 1 {
		t.Errorf("saving again = %+v, want a duplicate", res)
	}
}

// TestSaveMetaBatchWithOneNUL: one \u0000 among 1,000 statuses costs no
// event: 999 are stored as sent, the one sanitised.
func TestSaveMetaBatchWithOneNUL(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	var statuses []string
	for i := range 1000 {
		id := fmt.Sprintf("wamid.NUL%04d", i)
		if i == 500 {
			id += `\u0000`
		}
		statuses = append(statuses, `{"id":"`+id+`","status":"delivered","timestamp":"1724716800","recipient_id":"5215550001"}`)
	}
	body := `{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"PNID"},"statuses":[` +
		strings.Join(statuses, ",") + `]}}]}]}`
	meta, _ := provider.Lookup("meta")
	events, err := meta.Events([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	r := record("wa", "nul-batch")
	r.Delivery.Body, r.Events = []byte(body), events
	if res := save(t, s, r); res.Events != 1000 {
		t.Fatalf("Save = %+v, want 1000 events", res)
	}
	if n := count(t, conn, "SELECT count(*) FROM events WHERE sanitised"); n != 1 {
		t.Errorf("sanitised events = %d, want 1", n)
	}
}

// TestProgramLimitIsDataError: an index row too large, as PostgreSQL
// reports it, is an error of the data (class 54), not one to retry.
func TestProgramLimitIsDataError(t *testing.T) {
	t.Parallel()
	_, conn := newStore(t)
	_, err := conn.Exec(t.Context(), `INSERT INTO deliveries (source, provider, event_type, dedupe_key, headers, body, received_at)
		VALUES ('s', 'whapi', 'x', $1, '{}', '', now())`, incompressible(9<<10))
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	if !ok || pgErr.Code != "54000" {
		t.Fatalf("inserting a 9 KB key: %v, want SQLSTATE 54000", err)
	}
	if !storage.IsDataError(err) || storage.IsTransient(err) {
		t.Errorf("IsDataError, IsTransient = %v, %v for %v; want true, false", storage.IsDataError(err), storage.IsTransient(err), err)
	}
}

// incompressible is n bytes of hex that PostgreSQL cannot compress into an
// index row, as random ids are.
func incompressible(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		sum := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	return b.String()[:n]
}

// TestSaveManyEvents: a delivery with more events than one statement
// carries is stored whole in one transaction, or not at all.
func TestSaveManyEvents(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	many := func(dedupeKey string, n int) storage.Record {
		r := record("wa", dedupeKey)
		for i := range n {
			key := fmt.Sprintf("status:%s:%d", dedupeKey, i)
			r.Events = append(r.Events, hooklane.Event{Type: "status", Key: key, Payload: json.RawMessage(`{"id":"` + key + `"}`)})
		}
		return r
	}
	small := record("wa", "small", "message:small")
	big := many("big", 25_000)
	if res := save(t, s, small, big, record("wa", "after", "message:after")); res != (storage.SaveResult{Deliveries: 3, Events: 25_002}) {
		t.Errorf("Save = %+v, want 3 deliveries and 25002 events", res)
	}
	if res := save(t, s, big); res != (storage.SaveResult{Duplicates: 1}) {
		t.Errorf("Save again = %+v, want a duplicate and no event", res)
	}
	// One bad payload in the last part fails the whole delivery.
	bad := many("bad", 21_000)
	bad.Events[20_999].Payload = json.RawMessage(`{`)
	if _, err := s.Save(t.Context(), []storage.Record{bad}); !storage.IsDataError(err) {
		t.Fatalf("Save with a bad payload in its last part: %v, want a data error", err)
	}
	if n := count(t, conn, "SELECT count(*) FROM deliveries WHERE dedupe_key = 'bad'"); n != 0 {
		t.Errorf("the failed delivery was stored")
	}
	if n := count(t, conn, "SELECT count(*) FROM events WHERE event_key LIKE 'status:bad:%'"); n != 0 {
		t.Errorf("%d events of the failed delivery were stored", n)
	}
}
