package storage_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/provider"
	"github.com/hooklane/hooklane/storage"
)

// propertyDeliveries is a set of deliveries, of every provider, about a few
// messages, contacts and conversations: messages with their statuses (some
// only statuses, some failed, in groups), edits, deletions, reactions,
// renamed contacts and Platica conversations and clients changing.
func propertyDeliveries() [][2]string {
	var d [][2]string
	add := func(p, body string) { d = append(d, [2]string{p, body}) }

	// Meta: an inbound message, replies, an edit twice, a revoke, statuses
	// of an API-sent message including a failure, a group message.
	for i, name := range []string{"Ana", "Ana María", "Ana M."} {
		add("meta", metaBody(fmt.Sprintf(`"contacts":[{"profile":{"name":%q,"username":"@ana%d"},"wa_id":"5215512345678","user_id":"MX.1"}],"messages":[{"from":"5215512345678","id":"wamid.IN%d","timestamp":"%d","type":"text","text":{"body":"hola %d"}}]`, name, i, i, 1700000000+i*100, i)))
	}
	add("meta", metaBody(`"contacts":[{"profile":{"name":"Ana"},"wa_id":"5215512345678"}],"messages":[{"from":"5215512345678","id":"wamid.E1","timestamp":"1700000500","type":"edit","edit":{"original_message_id":"wamid.IN0","message":{"type":"text","text":{"body":"hola, editado"}}}}]`))
	add("meta", metaBody(`"contacts":[{"profile":{"name":"Ana"},"wa_id":"5215512345678"}],"messages":[{"from":"5215512345678","id":"wamid.E2","timestamp":"1700000600","type":"edit","edit":{"original_message_id":"wamid.IN0","message":{"type":"text","text":{"body":"hola, editado otra vez"}}}}]`))
	add("meta", metaBody(`"messages":[{"from":"5215512345678","id":"wamid.R1","timestamp":"1700000700","type":"revoke","revoke":{"original_message_id":"wamid.IN1"}}]`))
	add("meta", metaBody(`"messages":[{"from":"5215512345678","id":"wamid.RX","timestamp":"1700000710","type":"reaction","reaction":{"message_id":"wamid.OUT1","emoji":"👍"}}]`))
	for _, s := range []struct {
		id, status string
		ts         int
	}{{"wamid.OUT1", "sent", 1700000010}, {"wamid.OUT1", "delivered", 1700000020}, {"wamid.OUT1", "read", 1700000030},
		{"wamid.OUT2", "sent", 1700000040}, {"wamid.OUT2", "delivered", 1700000050},
		{"wamid.OUT3", "sent", 1700000060}, {"wamid.OUT4", "played", 1700000090}, {"wamid.OUT4", "read", 1700000080}} {
		add("meta", metaStatus(s.id, s.status, s.ts))
	}
	add("meta", metaBody(`"statuses":[{"id":"wamid.OUT3","status":"failed","timestamp":"1700000070","recipient_id":"5215512345678","errors":[{"code":131049,"title":"not delivered"}]}]`))
	// A failure then a delivery: the failure never hides it. (A second
	// failure of one message would be the same event: a status's key is its
	// message and its word.)
	add("meta", metaBody(`"statuses":[{"id":"wamid.OUT2","status":"failed","timestamp":"1700000045","recipient_id":"5215512345678","errors":[{"code":131026,"title":"retried"}]}]`))
	add("meta", metaBody(`"contacts":[{"profile":{"name":"Beto"},"wa_id":"5215599999999"}],"messages":[{"from":"5215599999999","group_id":"G1","id":"wamid.G1","timestamp":"1700000800","type":"text","text":{"body":"en grupo"}}]`))

	// Evolution: a message and its updates as numbers and names, a group
	// message by a member, an edit, a deletion, contacts.
	evo := func(event, data, at string) string {
		return fmt.Sprintf(`{"event":%q,"instance":"inst","data":%s,"date_time":%q}`, event, data, at)
	}
	add("whatzmeapi", evo("messages.upsert", `{"key":{"remoteJid":"5511987654321@s.whatsapp.net","fromMe":true,"id":"EV1"},"status":"PENDING","message":{"conversation":"oi"},"messageType":"conversation","messageTimestamp":1700001000}`, "2023-11-14T22:36:40.000Z"))
	for i, st := range []string{"2", "DELIVERY_ACK", "4", "SERVER_ACK", "5"} {
		add("whatzmeapi", evo("messages.update", fmt.Sprintf(`{"keyId":"EV1","remoteJid":"5511987654321@s.whatsapp.net","fromMe":true,"status":%q}`, st), fmt.Sprintf("2023-11-14T22:37:%02d.000Z", 10*i)))
	}
	add("whatzmeapi", evo("messages.update", `{"keyId":"EV2","remoteJid":"5511987654321@s.whatsapp.net","fromMe":true,"status":0}`, "2023-11-14T22:38:00.000Z"))
	add("whatzmeapi", evo("messages.upsert", `{"key":{"remoteJid":"120363@g.us","fromMe":false,"id":"EVG","participant":"5511911112222@s.whatsapp.net"},"pushName":"Carla","message":{"conversation":"no grupo"},"messageType":"conversation","messageTimestamp":1700001100}`, "2023-11-14T22:38:20.000Z"))
	add("whatzmeapi", evo("messages.upsert", `{"key":{"remoteJid":"5511987654321@s.whatsapp.net","fromMe":true,"id":"EVE"},"message":{"protocolMessage":{"type":"MESSAGE_EDIT","key":{"id":"EV1"},"editedMessage":{"conversation":"oi!"}}},"messageType":"protocolMessage","messageTimestamp":1700001200}`, "2023-11-14T22:40:00.000Z"))
	add("whatzmeapi", evo("messages.update", `{"keyId":"EVG","remoteJid":"120363@g.us","fromMe":false,"status":"DELETED"}`, "2023-11-14T22:41:00.000Z"))
	add("whatzmeapi", evo("contacts.upsert", `[{"remoteJid":"5511987654321@s.whatsapp.net","pushName":"Dani"},{"remoteJid":"120363@g.us","pushName":"Grupo"}]`, "2023-11-14T22:30:00.000Z"))
	add("whatzmeapi", evo("contacts.update", `{"remoteJid":"5511987654321@s.whatsapp.net","pushName":"Daniela"}`, "2023-11-14T22:50:00.000Z"))
	add("whatzmeapi", `{"event":"messages.update","statuses":[{"id":"WZ1","status":"delivered","timestamp":1700002000},{"id":"WZ1","status":"read","timestamp":1700002010}]}`)

	// whapi: a message received, one sent and its acks, a reaction.
	add("whapi", `{"event_type":"message_received","id":"WH1","instance_id":"9","chat_id":"573001112233@c.us","from":"573001112233@c.us","from_me":0,"sender_name":"Eva","body":"hola","type":"text","timestamp":1700003000}`)
	add("whapi", `{"event_type":"message_sent","id":"WH2","instance_id":"9","chat_id":"573001112233@c.us","to":"573001112233@c.us","body":"menú","type":"text","timestamp":1700003010,"status":"sent"}`)
	for i, ack := range []string{"pending", "sent", "delivered", "read"} {
		add("whapi", fmt.Sprintf(`{"event_type":"ack_update","id":"WH2","ack":%q,"timestamp":%d}`, ack, 1700003020+i))
	}
	add("whapi", `{"event_type":"message_reaction","instance_id":"9","message_id":"WH2","from_number":"573001112233@c.us","reaction":"👍","timestamp":1700003100}`)

	// Platica: a conversation changing, a client changing, a message and
	// its receipt.
	pl := func(id, event, rtype, rid, at, data string) string {
		return fmt.Sprintf(`{"id":%q,"event":%q,"workspaceId":"ws","timestamp":%q,"resourceType":%q,"resourceId":%q,"data":%s}`, id, event, at, rtype, rid, data)
	}
	add("platica", pl("p1", "conversation.created", "conversation", "c1", "2026-05-06T20:00:00.000Z", `{"id":"c1","phoneNumber":"+5215544443333","contactName":"Fer","status":"open","operation":"automatic","owners":[],"tags":[]}`))
	add("platica", pl("p2", "conversation.status.updated", "conversation", "c1", "2026-05-06T20:05:00.000Z", `{"id":"c1","status":"finished"}`))
	add("platica", pl("p3", "conversation.tags.updated", "conversation", "c1", "2026-05-06T20:06:00.000Z", `{"id":"c1","tags":["vip"]}`))
	add("platica", pl("p4", "client.updated", "client", "cl1", "2026-05-06T20:07:00.000Z", `{"id":"cl1","phoneNumber":"+5215544443333","name":"Fernanda","email":"f@x.mx","tags":["a"]}`))
	add("platica", pl("p5", "client.tags.updated", "client", "cl1", "2026-05-06T20:08:00.000Z", `{"id":"cl1","phoneNumber":"+5215544443333","tags":["a","b"]}`))
	add("platica", pl("p6", "message.created", "message", "m1", "2026-05-06T20:01:00.000Z", `{"message":{"id":"m1","conversationId":"c1","direction":"inbound","type":"text","text":"hola"},"client":{"id":"cl1","phoneNumber":"+5215544443333","name":"Fer"}}`))
	add("platica", pl("p7", "message.updated", "message", "m2", "2026-05-06T20:02:30.000Z", `{"message":{"id":"m2","conversationId":"c1","direction":"outbound","status":"read"}}`))
	add("platica", pl("p8", "message.created", "message", "m2", "2026-05-06T20:02:00.000Z", `{"message":{"id":"m2","conversationId":"c1","direction":"outbound","type":"text","text":"¿en qué te ayudo?"}}`))
	return d
}

// TestModelOrderFree delivers the same deliveries in many random orders,
// with repeats (the same bytes, and the same events in other bytes), in
// random batches, by several writers at once: the model tables come out the
// same every time, equal to a reprojection, and every conversation counts
// its messages rows.
func TestModelOrderFree(t *testing.T) {
	t.Parallel()
	deliveries := propertyDeliveries()
	var want string
	for trial := range 6 {
		rng := rand.New(rand.NewPCG(uint64(trial), 14))
		var records []storage.Record
		for _, d := range deliveries {
			records = append(records, delivered(t, "src-"+d[0], d[0], d[1], received))
			if rng.IntN(3) == 0 { // a retry, byte for byte
				records = append(records, delivered(t, "src-"+d[0], d[0], d[1], received))
			}
			// The same events in other bytes; not whapi's, whose reaction is
			// keyed by its bytes, so other bytes are another reaction.
			if d[0] != "whapi" && rng.IntN(3) == 0 {
				records = append(records, delivered(t, "src-"+d[0], d[0], d[1]+" ", received))
			}
		}
		rng.Shuffle(len(records), func(i, j int) { records[i], records[j] = records[j], records[i] })

		s, conn := newStore(t)
		batches := make(chan []storage.Record)
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				for b := range batches {
					for {
						_, err := s.Save(context.Background(), b)
						if err == nil {
							break
						}
						if !storage.IsTransient(err) { // a deadlock is retried, as the worker would
							errs <- err
							return
						}
					}
				}
			})
		}
		for rest := records; len(rest) > 0; {
			n := min(1+rng.IntN(6), len(rest))
			batches <- rest[:n]
			rest = rest[n:]
		}
		close(batches)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}

		got := modelTables(t, conn)
		if trial == 0 {
			want = got
			if n := count(t, conn, "SELECT count(*) FROM messages"); n != 18 {
				t.Fatalf("%d messages rows, want 18:\n%s", n, got)
			}
		} else if got != want {
			t.Fatalf("trial %d differs from trial 0:\n%s", trial, diffLines(want, got))
		}
		if n := count(t, conn, `SELECT count(*) FROM conversations c WHERE message_count <>
			(SELECT count(*) FROM messages m WHERE m.source = c.source AND m.conversation_id = c.conversation_id)`); n != 0 {
			t.Errorf("trial %d: %d conversations miscount their messages", trial, n)
		}
		if n := count(t, conn, `SELECT count(*) FROM messages m WHERE conversation_id IS NOT NULL AND NOT EXISTS
			(SELECT 1 FROM conversations c WHERE c.source = m.source AND c.conversation_id = m.conversation_id)`); n != 0 {
			t.Errorf("trial %d: %d messages without their conversation", trial, n)
		}

		if trial == 0 {
			p, err := s.Reproject(t.Context(), storage.ReprojectConfig{Derive: derive, BatchSize: 7})
			if err != nil {
				t.Fatal(err)
			}
			if p.Deliveries == 0 || p.Events == 0 {
				t.Errorf("reproject read %+v", p)
			}
			sameTables(t, conn, want, "after a reprojection")
		}
	}
}

// sameTables fails t unless the model tables hold want, as modelTables
// writes them, after what was done.
func sameTables(t *testing.T, conn *pgx.Conn, want, after string) {
	t.Helper()
	if got := modelTables(t, conn); got != want {
		t.Errorf("%s, the model tables differ:\n%s", after, diffLines(want, got))
	}
}

// derive reads a stored delivery with its provider's parser.
func derive(p string, body []byte) ([]hooklane.Event, error) {
	prov, ok := provider.Lookup(p)
	if !ok {
		return nil, fmt.Errorf("unknown provider %q", p)
	}
	return prov.Events(body)
}

// diffLines lists the lines of a and b that the other lacks.
func diffLines(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ina, inb := in(a), in(b)
	var out strings.Builder
	for _, l := range strings.Split(a, "\n") {
		if !inb[l] {
			out.WriteString("- " + l + "\n")
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ina[l] {
			out.WriteString("+ " + l + "\n")
		}
	}
	return out.String()
}

// TestReprojectSource rebuilds one source alone, leaving the others' rows.
func TestReprojectSource(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	var records []storage.Record
	for _, d := range propertyDeliveries() {
		records = append(records, delivered(t, "src-"+d[0], d[0], d[1], received))
	}
	if _, err := s.Save(t.Context(), records); err != nil {
		t.Fatal(err)
	}
	want := modelTables(t, conn)
	if _, err := conn.Exec(t.Context(), "UPDATE messages SET text = 'broken' WHERE source = 'src-whapi'"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), "UPDATE messages SET text = 'kept' WHERE source = 'src-meta'"); err != nil {
		t.Fatal(err)
	}
	var progress []storage.ReprojectProgress
	if _, err := s.Reproject(t.Context(), storage.ReprojectConfig{Source: "src-whapi", Derive: derive, BatchSize: 2,
		Progress: func(p storage.ReprojectProgress) { progress = append(progress, p) }}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, conn, "SELECT count(*) FROM messages WHERE text = 'broken'"); n != 0 {
		t.Errorf("%d whapi rows not rebuilt", n)
	}
	if n := count(t, conn, "SELECT count(*) FROM messages WHERE text = 'kept'"); n == 0 {
		t.Error("the meta rows were rebuilt too")
	}
	if _, err := conn.Exec(t.Context(), "DELETE FROM messages WHERE source = 'src-meta'"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reproject(t.Context(), storage.ReprojectConfig{Source: "src-meta", Derive: derive}); err != nil {
		t.Fatal(err)
	}
	sameTables(t, conn, want, "after reprojecting both sources")
	last := progress[len(progress)-1]
	if len(progress) < 3 || last.Deliveries != last.Total || last.Total != 7 {
		t.Errorf("progress = %+v", progress)
	}
}

// TestReplayWritesTheModel checks that the events a replay stores merge
// into the model as a worker's do: events lost and their model rows with
// them come back, model and all, from the stored deliveries.
func TestReplayWritesTheModel(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	var records []storage.Record
	for _, d := range propertyDeliveries() {
		if d[0] == "meta" {
			records = append(records, delivered(t, "wa", d[0], d[1], received))
		}
	}
	if _, err := s.Save(t.Context(), records); err != nil {
		t.Fatal(err)
	}
	want := modelTables(t, conn)
	for _, q := range []string{"DELETE FROM events", "DELETE FROM messages", "DELETE FROM contacts", "DELETE FROM conversations"} {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := s.StartReplay(t.Context(), storage.ReplayJob{Source: "wa"}, false)
	if err != nil {
		t.Fatal(err)
	}
	for {
		batch, err := s.ReplayDeliveries(t.Context(), cp, 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
		var rederived []storage.Rederived
		for _, d := range batch {
			events, err := derive(d.Provider, d.Body)
			if err != nil {
				t.Fatal(err)
			}
			rederived = append(rederived, storage.Rederived{DeliveryID: d.ID, Record: storage.Record{Delivery: d.Delivery, Events: events}})
		}
		if _, err := s.Rederive(t.Context(), &cp, rederived, batch[len(batch)-1].ID); err != nil {
			t.Fatal(err)
		}
	}
	sameTables(t, conn, want, "after the replay")
}

// TestReprojectBoundedKeys rebuilds the rows of events whose keys are over
// IndexKey's bound, stored in their bounded form, from a delivery of
// many statuses.
func TestReprojectBoundedKeys(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	long := "wamid." + strings.Repeat("L", 400)
	var statuses []string
	for i := range 500 {
		statuses = append(statuses, fmt.Sprintf(`{"id":"wamid.MANY%d","status":"delivered","timestamp":"%d","recipient_id":"5215512345678"}`, i, 1700000000+i))
	}
	records := []storage.Record{
		delivered(t, "src-meta", "meta", metaStatus(long, "read", 1700000100), received),
		delivered(t, "src-meta", "meta", metaBody(`"statuses":[`+strings.Join(statuses, ",")+`]`), received),
	}
	if _, err := s.Save(t.Context(), records); err != nil {
		t.Fatal(err)
	}
	if n := count(t, conn, "SELECT count(*) FROM messages"); n != 501 {
		t.Fatalf("%d messages rows, want 501", n)
	}
	want := modelTables(t, conn)
	if _, err := s.Reproject(t.Context(), storage.ReprojectConfig{Derive: derive}); err != nil {
		t.Fatal(err)
	}
	sameTables(t, conn, want, "after a reprojection")
}

// TestReprojectOnePerSchema checks that one reprojection at a time runs in
// a schema, and that installations in other schemas of the database do not
// wait for it.
func TestReprojectOnePerSchema(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	if _, err := conn.Exec(t.Context(), "SELECT pg_advisory_lock(hashtext(current_schema() || '.hooklane_reproject'))"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reproject(t.Context(), storage.ReprojectConfig{Derive: derive}); !errors.Is(err, storage.ErrReprojectRunning) {
		t.Errorf("a second reprojection of the schema: %v, want ErrReprojectRunning", err)
	}
	other, _ := newStore(t)
	if _, err := other.Reproject(t.Context(), storage.ReprojectConfig{Derive: derive}); err != nil {
		t.Errorf("a reprojection of another schema: %v", err)
	}
}
