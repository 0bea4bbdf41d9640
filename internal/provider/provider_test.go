package provider

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hooklane/hooklane"
)

// payloadDir holds the sample deliveries, one directory per provider.
const payloadDir = "../../testdata/payloads"

// readPayload returns testdata/payloads/<name>, e.g. "meta/statuses.json".
func readPayload(tb testing.TB, name string) []byte {
	tb.Helper()
	body, err := os.ReadFile(filepath.Join(payloadDir, filepath.FromSlash(name)))
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// payloadFiles lists the sample deliveries as "<provider>/<file>".
func payloadFiles(tb testing.TB) []string {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(payloadDir, "*", "*.json"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no payloads under %s: %v", payloadDir, err)
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		rel, err := filepath.Rel(payloadDir, p)
		if err != nil {
			tb.Fatal(err)
		}
		names[i] = filepath.ToSlash(rel)
	}
	return names
}

// providerOf names the provider of a sample: its directory.
func providerOf(tb testing.TB, file string) hooklane.Provider {
	tb.Helper()
	name, _, _ := strings.Cut(file, "/")
	return mustLookup(tb, name)
}

func mustLookup(tb testing.TB, name string) hooklane.Provider {
	tb.Helper()
	p, ok := Lookup(name)
	if !ok {
		tb.Fatalf("no provider %q", name)
	}
	return p
}

// sha is the hex SHA-256 of b, computed here rather than by the package.
func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// unix is a unix-seconds time in UTC.
func unix(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

// checkEvents compares got with want field by field. A want without Payload
// asks for a payload found verbatim in body (an item, never re-encoded); a
// want with one asks for exactly those bytes.
func checkEvents(t *testing.T, body []byte, got, want []hooklane.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d:\n%s", len(got), len(want), describe(got))
	}
	for i := range want {
		g, w := got[i], want[i]
		switch {
		case w.Payload != nil && !bytes.Equal(g.Payload, w.Payload):
			t.Errorf("event %d payload = %s, want %s", i, g.Payload, w.Payload)
		case !json.Valid(g.Payload) || !bytes.Contains(body, g.Payload):
			t.Errorf("event %d payload is not JSON taken verbatim from the body: %s", i, g.Payload)
		}
		if !g.OccurredAt.Equal(w.OccurredAt) {
			t.Errorf("event %d OccurredAt = %v, want %v", i, g.OccurredAt, w.OccurredAt)
		}
		g.Payload, w.Payload = nil, nil
		g.OccurredAt, w.OccurredAt = time.Time{}, time.Time{}
		g.Facts, w.Facts = nil, nil // TestFacts checks them
		if !reflect.DeepEqual(g, w) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func describe(events []hooklane.Event) string {
	var b strings.Builder
	for _, e := range events {
		b.WriteString(e.Type + " " + e.Key + "\n")
	}
	return b.String()
}

func TestRegistry(t *testing.T) {
	if len(registry) != len(Names()) {
		t.Errorf("registry has %d providers, Names lists %d", len(registry), len(Names()))
	}
	if _, ok := Lookup("nope"); ok {
		t.Error(`Lookup("nope") found a provider`)
	}
	for _, name := range Names() {
		p := mustLookup(t, name)
		if p.Name() != name {
			t.Errorf("Lookup(%q).Name() = %q", name, p.Name())
		}
		kept := p.KeepHeaders()
		for _, h := range kept {
			if h != http.CanonicalHeaderKey(h) {
				t.Errorf("%s keeps %q, not in canonical form", name, h)
			}
			if h == "Authorization" || h == "Cookie" {
				t.Errorf("%s keeps the credential header %s", name, h)
			}
		}
		for _, h := range []string{"Content-Type", "User-Agent", "X-Request-Id", signatureFormats[name].header} {
			if !slices.Contains(kept, h) {
				t.Errorf("%s does not keep %s", name, h)
			}
		}
	}
}

func TestNotJSONObject(t *testing.T) {
	bodies := []string{
		``, ` `, `null`, `true`, `42`, `"event"`, `[]`, `[{"event":"message.created"}]`,
		`{`, `{"event":}`, `{"event":"x"}trailing`, `{"a":1}{"b":2}`, "\xef\xbb\xbf{}",
	}
	for _, name := range Names() {
		p := mustLookup(t, name)
		for _, body := range bodies {
			if _, err := p.Inspect([]byte(body)); !errors.Is(err, hooklane.ErrNotJSON) {
				t.Errorf("%s.Inspect(%q) error = %v, want hooklane.ErrNotJSON", name, body, err)
			}
			if _, err := p.Events([]byte(body)); !errors.Is(err, hooklane.ErrNotJSON) {
				t.Errorf("%s.Events(%q) error = %v, want hooklane.ErrNotJSON", name, body, err)
			}
		}
	}
}

// TestUnexpectedShapes feeds every provider objects whose fields have the
// wrong JSON types: each must still yield a type, a key and an event.
func TestUnexpectedShapes(t *testing.T) {
	bodies := []string{
		`{}`,
		" \n{ } ",
		`{"id":{},"event":5,"event_type":[1],"timestamp":true,"instance":{},"instance_id":null}`,
		`{"data":"x","entry":"x","messages":{"key":1},"statuses":7,"changes":[]}`,
		`{"event":"messages.upsert","messages":[1,"x",null,{"key":[]}],"data":[{"key":{"id":"a"}}]}`,
		`{"event":"messages.update","statuses":[{"id":1,"status":2}],"data":{"keyId":{}}}`,
		`{"event":"whatsapp.flows.init","data":{"client":"c","conversation":[1],"conversationId":{}}}`,
		`{"object":"whatsapp_business_account","entry":[1,null,{"id":7,"changes":[2,{"field":{}},{"field":"messages","value":{"messages":[[],{"id":null}],"statuses":"x"}}]}]}`,
		`{"event_type":"ack_update","id":12345,"ack":3,"timestamp":"soon"}`,
		`{"event_type":"message_received","id":"A","timestamp":1e99,"instance_id":1.5}`,
	}
	for _, name := range Names() {
		p := mustLookup(t, name)
		for _, body := range bodies {
			sum, err := p.Inspect([]byte(body))
			if err != nil || sum.EventType == "" || sum.DedupeKey == "" {
				t.Errorf("%s.Inspect(%s) = %+v, %v", name, body, sum, err)
			}
			events, err := p.Events([]byte(body))
			if err != nil || len(events) == 0 {
				t.Errorf("%s.Events(%s) = %d events, %v", name, body, len(events), err)
			}
			for _, e := range events {
				if e.Type == "" || e.Key == "" || !json.Valid(e.Payload) {
					t.Errorf("%s.Events(%s): incomplete event %+v", name, body, e)
				}
			}
		}
	}
}

// TestSamplesKeys checks every sample: redelivering the same body gives the
// same keys, and the events of one delivery never share a key.
func TestSamplesKeys(t *testing.T) {
	for _, file := range payloadFiles(t) {
		t.Run(file, func(t *testing.T) {
			p := providerOf(t, file)
			body := readPayload(t, file)
			first, err := p.Events(body)
			if err != nil {
				t.Fatal(err)
			}
			again, err := p.Events(slices.Clone(body))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(keys(first), keys(again)) {
				t.Errorf("keys changed between two deliveries of one body:\n%v\n%v", keys(first), keys(again))
			}
			seen := map[string]bool{}
			for _, k := range keys(first) {
				if seen[k] {
					t.Errorf("two events share the key %s", k)
				}
				seen[k] = true
			}
			for i := range body {
				body[i] = ' '
			}
			for _, e := range first {
				if !json.Valid(e.Payload) {
					t.Fatalf("payload of %s shares memory with the body", e.Key)
				}
			}
			body = readPayload(t, file)
			if s1, s2 := mustInspect(t, p, body), mustInspect(t, p, body); s1 != s2 {
				t.Errorf("Inspect changed: %+v, then %+v", s1, s2)
			}
		})
	}
}

func keys(events []hooklane.Event) []string {
	ks := make([]string, len(events))
	for i, e := range events {
		ks[i] = e.Key
	}
	return ks
}

func mustInspect(tb testing.TB, p hooklane.Provider, body []byte) hooklane.Summary {
	tb.Helper()
	s, err := p.Inspect(body)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// FuzzInspectEvents checks that no input panics either parser, that any JSON
// object yields a summary and at least one complete event, the same each
// time, whose facts name the message they are about and use only the status
// vocabulary, and that anything else is hooklane.ErrNotJSON.
func FuzzInspectEvents(f *testing.F) {
	names := Names()
	for _, file := range payloadFiles(f) {
		name, _, _ := strings.Cut(file, "/")
		f.Add(uint8(slices.Index(names, name)), readPayload(f, file))
	}
	for i := range names {
		f.Add(uint8(i), []byte(`{"entry":[{"changes":[{"field":"messages","value":{"messages":[{}],"statuses":[{}]}}]}]}`))
		f.Add(uint8(i), []byte(`{"event":"messages.update","data":{"keyId":"k","status":"READ"}}`))
		f.Add(uint8(i), []byte(`[{"event":"x"}]`))
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		name := names[int(which)%len(names)]
		p := mustLookup(t, name)
		var fields map[string]json.RawMessage
		object := json.Unmarshal(body, &fields) == nil && fields != nil

		sum, err := p.Inspect(body)
		events, eventsErr := p.Events(body)
		if !object {
			if !errors.Is(err, hooklane.ErrNotJSON) || !errors.Is(eventsErr, hooklane.ErrNotJSON) {
				t.Fatalf("%s: non-object %q: Inspect error %v, Events error %v", name, body, err, eventsErr)
			}
			return
		}
		if err != nil || sum.EventType == "" || sum.DedupeKey == "" {
			t.Fatalf("%s.Inspect(%q) = %+v, %v", name, body, sum, err)
		}
		if eventsErr != nil || len(events) == 0 {
			t.Fatalf("%s.Events(%q) = %d events, %v", name, body, len(events), eventsErr)
		}
		for _, e := range events {
			if e.Type == "" || e.Key == "" || !json.Valid(e.Payload) {
				t.Fatalf("%s.Events(%q): incomplete event %+v", name, body, e)
			}
			for _, fact := range e.Facts {
				about := fact.Kind != hooklane.FactContact && fact.Kind != hooklane.FactConversation
				if about && fact.MessageID == "" || fact.Status != "" && hooklane.StatusRank(fact.Status) == 0 ||
					fact.Error != nil && !json.Valid(fact.Error) || fact.Message.Media != nil && !json.Valid(fact.Message.Media) {
					t.Fatalf("%s.Events(%q): fact %+v", name, body, fact)
				}
			}
		}
		again, _ := p.Events(body)
		if !slices.Equal(keys(events), keys(again)) {
			t.Fatalf("%s.Events(%q): keys differ between two calls", name, body)
		}
	})
}

func TestScalarMatchesTheJSONDecoder(t *testing.T) {
	for _, raw := range []string{`"plain"`, `"esc\"aped"`, `"\u00e9"`, "\"bad \xff utf8\"", `""`, `"ñandú"`} {
		var want string
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			t.Fatal(err)
		}
		var got scalar
		if err := got.UnmarshalJSON([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("scalar(%q) = %q, want %q", raw, got, want)
		}
	}
}
