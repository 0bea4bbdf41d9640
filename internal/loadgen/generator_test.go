package loadgen

import (
	"bytes"
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hooklane/hooklane/internal/provider"
)

func testSources() []Source {
	return []Source{
		{Name: "platica", Provider: "platica", Secret: []byte("platica-secret"), Fallback: []byte(`{"data":{"acknowledged":true}}`)},
		{Name: "wa", Provider: "meta", Secret: []byte("meta-secret")},
		{Name: "whatz", Provider: "whatzmeapi", Secret: []byte("whatz-secret"), BearerToken: "tok"},
		{Name: "whapi", Provider: "whapi", Secret: []byte("whapi-secret")},
	}
}

// verify checks req's signature, and bearer token, with hooklane's provider.
func verify(t *testing.T, req *Request) {
	t.Helper()
	p, _ := provider.Lookup(req.Source.Provider)
	if err := p.Verify(req.Header, req.Body, [][]byte{req.Source.Secret}); err != nil {
		t.Errorf("%s: %v", req.Kind, err)
	}
	if tok := req.Source.BearerToken; tok != "" && req.Header.Get("Authorization") != "Bearer "+tok {
		t.Errorf("%s: Authorization %q", req.Kind, req.Header.Get("Authorization"))
	}
}

// checkPlaticaHeaders checks that a Platica request carries the headers
// Platica documents, each equal to its envelope field.
func checkPlaticaHeaders(t *testing.T, req *Request) {
	t.Helper()
	var envelope map[string]any
	if err := json.Unmarshal(req.Body, &envelope); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"User-Agent":              "Platica-Webhooks/1.0",
		"X-Webhook-Event":         envelope["event"].(string),
		"X-Webhook-Id":            "wh_" + req.Source.Name,
		"X-Webhook-Event-Id":      envelope["id"].(string),
		"X-Webhook-Resource-Type": envelope["resourceType"].(string),
		"X-Webhook-Resource-Id":   envelope["resourceId"].(string),
		"X-Webhook-Timestamp":     envelope["timestamp"].(string),
	}
	for name, value := range want {
		if got := req.Header.Get(name); got != value || value == "" {
			t.Errorf("%s: %s %q, want %q", req.Kind, name, got, value)
		}
	}
}

// TestKinds builds one request of every kind and checks the keys
// hooklane's providers compute from it.
func TestKinds(t *testing.T) {
	g, err := NewGenerator(GeneratorConfig{RunID: "lgtest", Sources: testSources(), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	hash := `[0-9a-f]{64}`
	// The keys of the request with id ID, about the message REF.
	want := map[string][]string{
		"platica/message_created":           {"delivery:ID"},
		"platica/conversation_created":      {"delivery:ID"},
		"platica/flows_init":                {"delivery:ID"},
		"platica/flows_screen_advance":      {"delivery:ID"},
		"platica/flows_screen_advance_full": {"delivery:ID"},
		"platica/flows_back":                {"delivery:ID"},
		"meta/messages_batch":               {"message:wamid.ID.1", "message:wamid.ID.2", "message:wamid.ID.3"},
		"meta/statuses":                     {"status:wamid.ID:sent", "status:wamid.ID:delivered", "status:wamid.ID:read"},
		"meta/flow_completion":              {"message:wamid.ID"},
		"meta/template_status":              {"message_template_status_update:" + hash},
		"whatzmeapi/messages_upsert":        {"message:ID.1", "message:ID.2"},
		"whatzmeapi/messages_update":        {"status:ID:delivered", "status:ID:read"},
		"whatzmeapi/evolution_upsert":       {"message:ID"},
		"whatzmeapi/evolution_update":       {"status:ID:READ"},
		"whapi/message_received":            {"message:ID"},
		"whapi/message_sent":                {"message:ID"},
		"whapi/ack_update":                  {"ack:REF:delivered"},
		"whapi/ack_update_read":             {"ack:REF:read"},
		"whapi/message_reaction":            {"reaction:" + hash},
		"whapi/test_webhook":                {"test_webhook:" + hash},
	}
	if got := slices.Sorted(maps.Keys(kindByName)); !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
		t.Fatalf("kinds %v, want a case for each", got)
	}
	for name, keys := range want {
		t.Run(name, func(t *testing.T) {
			k := kindByName[name]
			prov, _, _ := strings.Cut(name, "/")
			req := g.newRequest(k, sourceOf(g, prov), "lgtest-ref", "")
			id := "lgtest-" + strconv.Itoa(g.seq)
			verify(t, req)
			if prov == "platica" {
				checkPlaticaHeaders(t, req)
			}
			if !bytes.Contains(req.Body, []byte("lgtest-")) {
				t.Errorf("body lacks the run id: %s", req.Body)
			}
			if req.Flow != strings.Contains(name, "/flows_") {
				t.Errorf("Flow = %v", req.Flow)
			}
			delivery, events, err := req.Keys()
			if err != nil {
				t.Fatal(err)
			}
			if prov == "platica" && delivery.Key != id {
				t.Errorf("dedupe key %q, want the id %q", delivery.Key, id)
			}
			if len(events) != len(keys) {
				t.Fatalf("events %v, want %v", events, keys)
			}
			for i, e := range events {
				pattern := strings.NewReplacer("ID", regexp.QuoteMeta(id), "REF", "lgtest-ref").Replace(regexp.QuoteMeta(keys[i]))
				pattern = strings.ReplaceAll(pattern, regexp.QuoteMeta(hash), hash)
				if e.Source != req.Source.Name || !regexp.MustCompile("^"+pattern+"$").MatchString(e.Key) {
					t.Errorf("event %d: %v, want source %s and key %s", i, e, req.Source.Name, pattern)
				}
			}
		})
	}
}

// TestMix draws many requests and checks the shares, the retries, the
// follow-ups and that distinct requests never share a key.
func TestMix(t *testing.T) {
	g, err := NewGenerator(GeneratorConfig{Sources: testSources(), Retries: 0.1, Flows: 0.05, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	first := map[*Request][]byte{} // a copy of each request's body when new
	var retries, flows int
	kindsSeen := map[string]int{}
	acks := map[string][]string{} // whapi message id -> its follow-ups
	deliveries, events := map[Key]*Request{}, map[Key]*Request{}
	for range n {
		req, retry := g.Next()
		if req.Flow {
			flows++
		}
		if retry {
			retries++
			body, ok := first[req]
			if !ok {
				t.Fatalf("retry of a request never sent: %s", req.Kind)
			}
			if !bytes.Equal(body, req.Body) {
				t.Fatalf("retry of %s changed its body", req.Kind)
			}
			continue
		}
		if _, ok := first[req]; ok {
			t.Fatalf("%s returned twice, not as a retry", req.Kind)
		}
		first[req] = bytes.Clone(req.Body)
		kindsSeen[req.Kind]++
		verify(t, req)
		if !strings.Contains(string(req.Body), g.RunID()) {
			t.Fatalf("%s lacks the run id", req.Kind)
		}
		d, evs, err := req.Keys()
		if err != nil {
			t.Fatal(err)
		}
		if other, dup := deliveries[d]; dup {
			t.Fatalf("%s and %s share the dedupe key %s", req.Kind, other.Kind, d)
		}
		deliveries[d] = req
		for _, e := range evs {
			if other, dup := events[e]; dup {
				t.Fatalf("%s and %s share the event key %s", req.Kind, other.Kind, e)
			}
			events[e] = req
			if id, ok := strings.CutPrefix(e.Key, "ack:"); ok {
				msg, ack, _ := strings.Cut(id, ":")
				acks[msg] = append(acks[msg], ack)
			}
		}
	}
	if share := float64(retries) / n; share < 0.09 || share > 0.11 {
		t.Errorf("retries %.3f of requests, want 0.1", share)
	}
	if share := float64(flows) / n; share < 0.045 || share > 0.06 {
		t.Errorf("flow requests %.3f of requests, want about 0.05 (retries of flows add a little)", share)
	}
	for _, k := range kinds {
		if kindsSeen[k.name] == 0 {
			t.Errorf("kind %s never sent", k.name)
		}
	}
	// Every whapi message sent is followed by a delivered and a read ack.
	if kindsSeen["whapi/message_sent"] == 0 || len(acks) < kindsSeen["whapi/message_sent"]-1 {
		t.Errorf("%d messages sent, acks for %d", kindsSeen["whapi/message_sent"], len(acks))
	}
	for msg, got := range acks {
		slices.Sort(got)
		if !slices.Equal(got, []string{"delivered", "read"}) && !slices.Equal(got, []string{"delivered"}) {
			t.Errorf("message %s acks %v", msg, got)
		}
	}
}

func TestRunIDsDiffer(t *testing.T) {
	if a, b := NewRunID(), NewRunID(); a == b || !strings.HasPrefix(a, "lg") {
		t.Errorf("run ids %q and %q", a, b)
	}
}

func TestNewGeneratorErrors(t *testing.T) {
	whapiOnly := []Source{{Name: "whapi", Provider: "whapi", Secret: []byte("s")}}
	cases := map[string]GeneratorConfig{
		"flows without platica": {Sources: whapiOnly, Flows: 0.1},
		"no source":             {},
		"unknown provider":      {Sources: []Source{{Name: "x", Provider: "telegram"}}},
		"shares over 1":         {Sources: whapiOnly, Retries: 0.7, Flows: 0.5},
		"negative share":        {Sources: whapiOnly, Retries: -0.1},
	}
	for name, cfg := range cases {
		if _, err := NewGenerator(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestExpect counts each distinct key once, and keeps what was never
// acknowledged apart.
func TestExpect(t *testing.T) {
	g, err := NewGenerator(GeneratorConfig{RunID: "lgexp", Sources: testSources(), Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	statuses := g.newRequest(kindByName["meta/statuses"], sourceOf(g, "meta"), "", "")
	batch := g.newRequest(kindByName["meta/messages_batch"], sourceOf(g, "meta"), "", "")
	refusedThenAccepted := g.newRequest(kindByName["whapi/message_received"], sourceOf(g, "whapi"), "", "")
	neverAccepted := g.newRequest(kindByName["whatzmeapi/messages_update"], sourceOf(g, "whatzmeapi"), "", "")
	sent := &Sent{
		runID:    g.RunID(),
		accepted: map[*Request]bool{statuses: true, batch: true, refusedThenAccepted: true},
		refused:  map[*Request]bool{refusedThenAccepted: true, neverAccepted: true},
	}
	exp, err := sent.Expect(Baseline{Delivery: 4, Event: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(exp.Deliveries) != 3 || len(exp.Events) != 3+3+1 {
		t.Errorf("expected %d deliveries and %d events, want 3 and 7", len(exp.Deliveries), len(exp.Events))
	}
	if len(exp.MayDeliveries) != 1 || len(exp.MayEvents) != 2 {
		t.Errorf("possible %d deliveries and %d events, want 1 and 2", len(exp.MayDeliveries), len(exp.MayEvents))
	}
	if exp.RunID != "lgexp" || exp.Baseline != (Baseline{Delivery: 4, Event: 2}) {
		t.Errorf("run %q baseline %+v", exp.RunID, exp.Baseline)
	}
}

func sourceOf(g *Generator, provider string) *Source {
	for _, ss := range g.lanes[0].sources {
		if ss[0].Provider == provider {
			return ss[0]
		}
	}
	return nil
}

func TestSummarize(t *testing.T) {
	var samples []time.Duration
	for i := 100; i >= 1; i-- {
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	got := summarize(samples)
	want := Latency{N: 100, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if got != want {
		t.Errorf("summarize(1..100ms) = %+v, want %+v", got, want)
	}
	if got := summarize([]time.Duration{7}); got != (Latency{N: 1, P50: 7, P90: 7, P99: 7, Max: 7}) {
		t.Errorf("one sample: %+v", got)
	}
	if got := summarize(nil); got != (Latency{}) {
		t.Errorf("no sample: %+v", got)
	}
}

func TestClassify(t *testing.T) {
	fallback := []byte(`{"data":{"acknowledged":true}}`)
	cases := map[string]FlowAnswer{
		`{"data":{"acknowledged":true}}` + "\n":       FlowFallback,
		`{"screen":"WELCOME","data":{"products":[]}}`: FlowAnswered,
		`{"error":"upstream"}`:                        FlowOther,
		`{"ok":true}`:                                 FlowOther,
		``:                                            FlowOther,
		`{"screen":"SUCCESS","data":{"extension_message_response":{}}}`: FlowAnswered,
	}
	for answer, want := range cases {
		if got := classify(fallback, []byte(answer)); got != want {
			t.Errorf("classify(%q) = %s, want %s", answer, got, want)
		}
	}
}

func TestMeasurePausesAddsUp(t *testing.T) {
	p := MeasurePauses(2, 100*time.Millisecond)
	if p.Threads != 2 || p.Duration != 100*time.Millisecond {
		t.Errorf("measured %d threads for %v, want 2 for 100ms", p.Threads, p.Duration)
	}
	switch {
	case p.Over5ms > p.Over1ms:
		t.Errorf("%d pauses over 5ms but only %d over 1ms", p.Over5ms, p.Over1ms)
	case p.Over5ms > 0 && p.Longest <= 5*time.Millisecond:
		t.Errorf("%d pauses over 5ms, yet the longest is %v", p.Over5ms, p.Longest)
	case p.Over1ms == 0 && p.Longest > time.Millisecond:
		t.Errorf("no pause over 1ms, yet the longest is %v", p.Longest)
	case p.Longest <= 0 || p.Longest > p.Duration+time.Second:
		t.Errorf("longest pause %v in a %v measure", p.Longest, p.Duration)
	}
}

// TestContactsSpread checks that the traffic spreads over contacts, and
// that a follow-up names the contact of the message it is about.
func TestContactsSpread(t *testing.T) {
	g, err := NewGenerator(GeneratorConfig{RunID: "lgtest", Sources: testSources(), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	phones := map[string]bool{}
	for range 200 {
		req, _ := g.Next()
		for _, p := range phoneInBody.FindAllString(string(req.Body), -1) {
			phones[p] = true
		}
	}
	if len(phones) < 50 {
		t.Errorf("200 deliveries name %d contacts, want them spread over many", len(phones))
	}
	msg := g.newRequest(kindByName["whapi/message_sent"], sourceOf(g, "whapi"), "", "")
	follow := g.pending[len(g.pending)-1]
	if want := phoneInBody.FindString(string(msg.Body)); follow.phone != want {
		t.Errorf("a follow-up's contact is %q, want the message's %q", follow.phone, want)
	}
}

var phoneInBody = regexp.MustCompile(`52155\d{8}`)
