package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hooklane/hooklane/internal/app"
)

// signed is a delivery to one of startAll's sources, signed as its provider
// signs.
type signed struct{ source, body string }

func (g *instance) post(t *testing.T, d signed) {
	t.Helper()
	sig := map[string]struct{ secret, header, prefix string }{
		"platica":    {"platica-test-secret", "X-Webhook-Signature", "sha256="},
		"meta":       {"meta-test-app-secret", "X-Hub-Signature-256", "sha256="},
		"whatzmeapi": {"whatzmeapi-test-secret", "X-Signature", "sha256="},
		"whapi":      {"whapi-test-secret", "X-Whapi-Signature", ""},
	}[d.source]
	req, err := http.NewRequest(http.MethodPost, g.url+"/webhooks/"+d.source, strings.NewReader(d.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(sig.header, sig.prefix+hmacHex(sig.secret, d.body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s", d.source, resp.Status)
	}
}

// dump is every row of the model tables, as text, in key order.
func (g *instance) dump(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, g.db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var b bytes.Buffer
	for _, q := range []string{
		"SELECT to_jsonb(m)::text FROM messages m ORDER BY source, message_id",
		"SELECT to_jsonb(c)::text FROM contacts c ORDER BY source, account, contact",
		"SELECT to_jsonb(c)::text FROM conversations c ORDER BY source, conversation_id",
	} {
		rows, _ := conn.Query(ctx, q)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, strings.Join(lines, "\n"))
	}
	return b.String()
}

// TestModelEndToEnd posts, for each provider, a message's statuses and then
// the message, the reverse of their order, through HTTP to "hooklane all":
// the messages row says the message and its highest status with each
// status's time, and "hooklane reproject" leaves every model table as it was.
func TestModelEndToEnd(t *testing.T) {
	g := startAll(t, "")
	meta := func(value string) string {
		return `{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":` + value + `}]}]}`
	}
	metaStatus := func(status string, ts int) string {
		return meta(fmt.Sprintf(`"messages","value":{"metadata":{"display_phone_number":"15550001111","phone_number_id":"PN"},"statuses":[{"id":"wamid.E2E","status":%q,"timestamp":"%d","recipient_id":"5215512345678"}]}`, status, ts))
	}
	evo := func(event, data string) string {
		return `{"event":"` + event + `","instance":"inst","data":` + data + `,"date_time":"2024-06-06T12:00:00.000Z"}`
	}
	evoStatus := func(status string, ts string) string {
		return fmt.Sprintf(`{"event":"messages.update","instance":"inst","data":{"keyId":"EVO1","remoteJid":"5511987654321@s.whatsapp.net","fromMe":true,"status":%s},"date_time":%q}`, status, ts)
	}
	whapiAck := func(ack string, ts int) string {
		return fmt.Sprintf(`{"event_type":"ack_update","id":"WH1","ack":%q,"timestamp":%d}`, ack, ts)
	}
	platica := func(id, event, at, message string) string {
		return fmt.Sprintf(`{"id":%q,"event":%q,"workspaceId":"ws","timestamp":%q,"resourceType":"message","resourceId":"pm1","data":{"message":%s,"client":{"id":"cl","phoneNumber":"+5215544443333","name":"Fer"}}}`, id, event, at, message)
	}
	deliveries := []signed{
		{"meta", metaStatus("read", 1700000300)},
		{"meta", metaStatus("delivered", 1700000200)},
		{"meta", metaStatus("sent", 1700000100)},
		{"meta", meta(`"smb_message_echoes","value":{"metadata":{"display_phone_number":"15550001111","phone_number_id":"PN"},"message_echoes":[{"from":"15550001111","to":"5215512345678","id":"wamid.E2E","timestamp":"1700000090","type":"text","text":{"body":"desde la app"}}]}`)},
		{"whatzmeapi", evoStatus(`"READ"`, "2024-06-06T12:00:30.000Z")},
		{"whatzmeapi", evoStatus("3", "2024-06-06T12:00:20.000Z")},
		{"whatzmeapi", evoStatus(`"SERVER_ACK"`, "2024-06-06T12:00:10.000Z")},
		{"whatzmeapi", evo("messages.upsert", `{"key":{"remoteJid":"5511987654321@s.whatsapp.net","fromMe":true,"id":"EVO1"},"message":{"conversation":"oi"},"messageType":"conversation","messageTimestamp":1717675200}`)},
		{"whapi", whapiAck("read", 1724716903)},
		{"whapi", whapiAck("delivered", 1724716902)},
		{"whapi", whapiAck("sent", 1724716901)},
		{"whapi", `{"event_type":"message_sent","id":"WH1","instance_id":"123","chat_id":"573001112233@c.us","to":"573001112233@c.us","body":"menú","type":"text","timestamp":1724716890,"status":"sent"}`},
		{"platica", platica("p2", "message.updated", "2026-05-06T19:06:00.000Z", `{"id":"pm1","conversationId":"conv1","direction":"outbound","status":"read"}`)},
		{"platica", platica("p1", "message.created", "2026-05-06T19:05:00.000Z", `{"id":"pm1","conversationId":"conv1","direction":"outbound","type":"text","text":"hola"}`)},
	}
	for _, d := range deliveries {
		g.post(t, d)
	}
	g.waitCount(t, len(deliveries), "SELECT count(*) FROM events")

	for _, tt := range []struct {
		source, id, text, sentAt, deliveredAt, readAt string
	}{
		{"meta", "wamid.E2E", "desde la app", "2023-11-14 22:14:50+00", "2023-11-14 22:16:40+00", "2023-11-14 22:18:20+00"},
		{"whatzmeapi", "EVO1", "oi", "2024-06-06 12:00:00+00", "2024-06-06 12:00:20+00", "2024-06-06 12:00:30+00"},
		{"whapi", "WH1", "menú", "2024-08-27 00:01:30+00", "2024-08-27 00:01:42+00", "2024-08-27 00:01:43+00"},
		{"platica", "pm1", "hola", "2026-05-06 19:05:00+00", "", "2026-05-06 19:06:00+00"},
	} {
		g.waitCount(t, 1, `SELECT count(*) FROM messages WHERE source = $1 AND message_id = $2 AND direction = 'out'
			AND type = 'text' AND text = $3 AND status = 'read' AND status_at = read_at
			AND sent_at = $4::timestamptz AND delivered_at IS NOT DISTINCT FROM NULLIF($5, '')::timestamptz
			AND read_at = $6::timestamptz`, tt.source, tt.id, tt.text, tt.sentAt, tt.deliveredAt, tt.readAt)
	}
	g.waitCount(t, 4, "SELECT count(*) FROM conversations WHERE message_count = 1")
	if n := g.scrape(t, "hooklane_worker_model_rows_written_total", map[string]string{"table": "messages"}); n < 4 {
		t.Errorf("messages rows written = %v, want at least 4", n)
	}

	before := g.dump(t)
	cfgFile := filepath.Join(t.TempDir(), "reproject.yaml")
	if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf("database_url: %q\n", g.db)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"reproject", "--config", cfgFile}, app.Env{
		Getenv: func(string) string { return "" }, Stdout: &out, Stderr: io.Discard,
	}); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("reproject: %d deliveries, %d events merged, 0 deliveries unparsable\n", len(deliveries), len(deliveries)); out.String() != want {
		t.Errorf("reproject printed %q, want %q", out.String(), want)
	}
	if after := g.dump(t); after != before {
		t.Errorf("reproject changed the model:\nbefore\n%s\nafter\n%s", before, after)
	}
}
