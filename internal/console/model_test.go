package console

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// modelTables are the messages, contacts and conversations tables, with
// the columns the console reads.
const modelTables = `
CREATE TABLE IF NOT EXISTS messages (
    source text NOT NULL, message_id text NOT NULL, provider text NOT NULL, account text,
    conversation_id text, contact text, direction text, type text, text text, original_text text,
    media jsonb, reply_to text, sent_at timestamptz, status text, status_at timestamptz,
    delivered_at timestamptz, read_at timestamptz, played_at timestamptz, failed_at timestamptz,
    error jsonb, edited_at timestamptz, deleted_at timestamptz,
    first_seen_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
    PRIMARY KEY (source, message_id));
CREATE TABLE IF NOT EXISTS contacts (
    source text NOT NULL, account text NOT NULL, contact text NOT NULL, provider text NOT NULL,
    name text, phone text, jid text, first_seen_at timestamptz NOT NULL, last_seen_at timestamptz NOT NULL,
    last_inbound_at timestamptz, window_expires_at timestamptz,
    PRIMARY KEY (source, account, contact));
CREATE TABLE IF NOT EXISTS conversations (
    source text NOT NULL, conversation_id text NOT NULL, provider text NOT NULL, account text,
    last_message_at timestamptz, last_inbound_at timestamptz, message_count bigint NOT NULL DEFAULT 0,
    first_seen_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
    PRIMARY KEY (source, conversation_id));`

func createModelTables(t *testing.T, dbURL string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, modelTables); err != nil {
		t.Fatal(err)
	}
}

// The conversation seedConversation writes: Ana, on the Meta source, wrote
// an hour ago, and the business answered three times.
const (
	anaConversation = "PNID1:5215550001"
	anaReply        = "wamid.OUT1"
)

// seedConversation writes a conversation as the worker's model keeps it:
// an inbound message, an answer delivered, one sent, one failed.
func (r *rig) seedConversation(t *testing.T) {
	t.Helper()
	_, err := r.db.Exec(context.Background(), `
INSERT INTO contacts (source, account, contact, provider, name, phone, first_seen_at, last_seen_at, last_inbound_at, window_expires_at)
VALUES ('wa', 'PNID1', '5215550001', 'meta', 'Ana Ruiz', '5215550001', now() - interval '1 hour', now(), now() - interval '1 hour', now() + interval '23 hours');
INSERT INTO conversations (source, conversation_id, provider, account, last_message_at, last_inbound_at, message_count, first_seen_at, updated_at)
VALUES ('wa', 'PNID1:5215550001', 'meta', 'PNID1', now() - interval '50 minutes', now() - interval '1 hour', 4, now(), now());
INSERT INTO messages (source, message_id, provider, account, conversation_id, contact, direction, type, text, sent_at, status, status_at,
	delivered_at, failed_at, error, first_seen_at, updated_at) VALUES
('wa', 'wamid.IN1', 'meta', 'PNID1', 'PNID1:5215550001', '5215550001', 'in', 'text', 'Hi, is my order ready?',
	now() - interval '60 minutes', 'received', now() - interval '60 minutes', NULL, NULL, NULL, now(), now()),
('wa', 'wamid.OUT1', 'meta', 'PNID1', 'PNID1:5215550001', '5215550001', 'out', 'text', 'Yes! It ships today.',
	now() - interval '58 minutes', 'delivered', now() - interval '57 minutes', now() - interval '57 minutes', NULL, NULL, now(), now()),
('wa', 'wamid.OUT2', 'meta', 'PNID1', 'PNID1:5215550001', '5215550001', 'out', 'text', 'Tracking: <script>alert(1)</script>',
	now() - interval '55 minutes', 'sent', now() - interval '55 minutes', NULL, NULL, NULL, now(), now()),
('wa', 'wamid.OUT3', 'meta', 'PNID1', 'PNID1:5215550001', '5215550001', 'out', 'text', 'Here is a coupon',
	now() - interval '50 minutes', 'failed', now() - interval '50 minutes', NULL, now() - interval '50 minutes',
	'[{"code":131047,"title":"Re-engagement message","error_data":{"details":"More than 24 hours have passed"}}]', now(), now())`)
	if err != nil {
		t.Fatal(err)
	}
}

// readReceipt records that the contact read the answer, as the model does
// when the read status arrives.
func (r *rig) readReceipt(t *testing.T) {
	t.Helper()
	_, err := r.db.Exec(context.Background(), `
UPDATE messages SET status = 'read', status_at = now(), read_at = now(), updated_at = now()
WHERE source = 'wa' AND message_id = $1`, anaReply)
	if err != nil {
		t.Fatal(err)
	}
}
