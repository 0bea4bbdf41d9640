package loadgen

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/hooklane/hooklane/internal/config"
	"github.com/hooklane/hooklane/internal/provider"
	"github.com/hooklane/hooklane/internal/stdjson"
)

// Source is a configured webhook source the generator sends to.
type Source struct {
	Name     string // served at /webhooks/<Name>
	Provider string // platica, meta, whatzmeapi or whapi
	// Secret signs every delivery; nil sends them unsigned.
	Secret []byte
	// BearerToken, if set, is sent as Authorization: Bearer.
	BearerToken string
	// Fallback is the source's flow fallback, told apart from a
	// responder's answer.
	Fallback []byte
}

// Sources lists cfg's sources, each signing with its first secret.
func Sources(cfg *config.Config) []Source {
	sources := make([]Source, len(cfg.Sources))
	for i, s := range cfg.Sources {
		sources[i] = Source{Name: s.Name, Provider: s.Provider, BearerToken: s.BearerToken, Fallback: []byte(s.Flows.Fallback)}
		if len(s.Secrets) > 0 {
			sources[i].Secret = []byte(s.Secrets[0])
		}
	}
	return sources
}

// signatures is how each provider signs: the hex HMAC-SHA256 of the body
// after a prefix, in one header.
var signatures = map[string]struct{ header, prefix string }{
	"platica":    {"X-Webhook-Signature", "sha256="},
	"meta":       {"X-Hub-Signature-256", "sha256="},
	"whatzmeapi": {"X-Signature", "sha256="},
	"whapi":      {"X-Whapi-Signature", ""},
}

// A kind is one sample delivery of testdata/payloads, made from the
// template templates/<name>.json.
type kind struct {
	name   string // <provider>/<sample>
	weight int    // relative frequency among the kinds of its lane
	flow   bool   // a Platica whatsapp.flows.* request
	// then are kinds sent later about the same message, as a provider
	// reports what became of it.
	then []string
	tmpl *template.Template
}

// kinds are the deliveries the generator makes. Follow-ups (weight 0) come
// only after their parent.
var kinds = []kind{
	{name: "platica/message_created", weight: 10},
	{name: "platica/conversation_created", weight: 3},
	{name: "meta/messages_batch", weight: 6},
	{name: "meta/statuses", weight: 8},
	{name: "meta/flow_completion", weight: 2},
	{name: "meta/template_status", weight: 1},
	{name: "whatzmeapi/messages_upsert", weight: 4},
	{name: "whatzmeapi/messages_update", weight: 4},
	{name: "whatzmeapi/evolution_upsert", weight: 2},
	{name: "whatzmeapi/evolution_update", weight: 2},
	{name: "whapi/message_received", weight: 8},
	{name: "whapi/message_sent", weight: 3, then: []string{"whapi/ack_update", "whapi/ack_update_read", "whapi/message_reaction"}},
	{name: "whapi/ack_update"},
	{name: "whapi/ack_update_read"},
	{name: "whapi/message_reaction"},
	{name: "whapi/test_webhook", weight: 1},
	{name: "platica/flows_init", weight: 4, flow: true},
	{name: "platica/flows_screen_advance", weight: 3, flow: true},
	{name: "platica/flows_screen_advance_full", weight: 1, flow: true},
	{name: "platica/flows_back", weight: 2, flow: true},
}

//go:embed templates
var templateFiles embed.FS

// kindByName holds every kind, with its template parsed.
var kindByName = func() map[string]*kind {
	m := make(map[string]*kind, len(kinds))
	for i := range kinds {
		k := &kinds[i]
		raw, err := templateFiles.ReadFile("templates/" + k.name + ".json")
		if err != nil {
			panic(err)
		}
		k.tmpl = template.Must(template.New(k.name).Parse(strings.TrimSpace(string(raw))))
		m[k.name] = k
	}
	return m
}()

// fields fill a template.
type fields struct {
	ID   string // this delivery's id, unique in the run: <run id>-<sequence>
	Ref  string // the message a follow-up is about; else ID
	Unix string // the time, in seconds since the epoch
	ISO  string // the time, as Platica writes it
	// Phone is the contact's number, one of loadContacts, the same in a
	// follow-up as in the message it is about: the model's rows spread
	// over contacts and conversations as real traffic's do.
	Phone string
}

// loadContacts is how many contacts the generated traffic spreads over.
const loadContacts = 1000

// A Request is one generated delivery. A retry sends the same Request
// again: the same bytes and signature.
type Request struct {
	Source *Source
	Kind   string // the sample it is made from, e.g. "meta/statuses"
	Flow   bool   // a whatsapp.flows.* request, answered synchronously
	Body   []byte
	Header http.Header // the provider's headers: the signature, Authorization if any
}

// Keys are the rows a Request should leave in Postgres, as hooklane's
// providers compute them: its delivery's dedupe key and its events'
// natural keys, all scoped by the source.
func (r *Request) Keys() (delivery Key, events []Key, err error) {
	p, ok := provider.Lookup(r.Source.Provider)
	if !ok {
		return Key{}, nil, fmt.Errorf("unknown provider %q", r.Source.Provider)
	}
	sum, err := p.Inspect(r.Body)
	if err != nil {
		return Key{}, nil, fmt.Errorf("%s: %w", r.Kind, err)
	}
	evs, err := p.Events(r.Body)
	if err != nil {
		return Key{}, nil, fmt.Errorf("%s: %w", r.Kind, err)
	}
	events = make([]Key, len(evs))
	for i, e := range evs {
		events[i] = Key{Source: r.Source.Name, Key: e.Key}
	}
	return Key{Source: r.Source.Name, Key: sum.DedupeKey}, events, nil
}

// GeneratorConfig configures a Generator.
type GeneratorConfig struct {
	// RunID is part of every id the generator makes, so that a run's rows
	// are found, and told from other runs'. Defaults to a random id.
	RunID string
	// Sources are sent to; each kind goes to a source of its provider, and
	// kinds whose provider has no source are left out.
	Sources []Source
	// Retries is the share of requests that repeat an earlier one byte for
	// byte, as a provider retries. Defaults to 0.
	Retries float64
	// Flows is the share of requests that are Platica whatsapp.flows.*
	// requests. It needs a platica source. Defaults to 0.
	Flows float64
	// Seed makes the choices repeatable. Defaults to a random seed.
	Seed uint64
}

// historySize is how many recent requests a retry picks from.
const historySize = 512

// A Generator makes a realistic mix of signed deliveries across providers
// and event types: Meta batches of messages or statuses, WhatzMeAPI
// updates with two statuses, whapi acks (delivered, then read) after a sent
// message, Platica flow requests, and exact retries of any of them. It is
// safe for concurrent use.
type Generator struct {
	runID   string
	retries float64
	flows   float64
	lanes   [2]lane // async, flow

	mu      sync.Mutex
	rng     *mathrand.Rand
	seq     int
	pending []followUp
	history []*Request
}

// A lane is the kinds of one lane with the sources that take them.
type lane struct {
	kinds   []*kind
	sources [][]*Source // by kind
	total   int         // sum of weights
}

// A followUp is a delivery due about a message sent before.
type followUp struct {
	kind *kind
	src  *Source
	ref  string // the message's id
	// phone is the message's contact.
	phone string
}

// NewGenerator returns a Generator for cfg.
func NewGenerator(cfg GeneratorConfig) (*Generator, error) {
	if cfg.Retries < 0 || cfg.Flows < 0 || cfg.Retries+cfg.Flows > 1 {
		return nil, fmt.Errorf("loadgen: retries %v and flows %v must be shares between 0 and 1", cfg.Retries, cfg.Flows)
	}
	if cfg.RunID == "" {
		cfg.RunID = NewRunID()
	}
	if strings.ContainsAny(cfg.RunID, `"\`) {
		return nil, fmt.Errorf("loadgen: run id %q would need JSON escaping", cfg.RunID)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = mathrand.Uint64()
	}
	g := &Generator{
		runID:   cfg.RunID,
		retries: cfg.Retries,
		flows:   cfg.Flows,
		rng:     mathrand.New(mathrand.NewPCG(seed, seed>>1|1)),
	}
	sources := slices.Clone(cfg.Sources)
	byProvider := make(map[string][]*Source)
	for i := range sources {
		s := &sources[i]
		if _, ok := signatures[s.Provider]; !ok {
			return nil, fmt.Errorf("loadgen: source %s: unknown provider %q", s.Name, s.Provider)
		}
		byProvider[s.Provider] = append(byProvider[s.Provider], s)
	}
	for i := range kinds {
		k := &kinds[i]
		provider, _, _ := strings.Cut(k.name, "/")
		if k.weight == 0 || len(byProvider[provider]) == 0 {
			continue
		}
		l := &g.lanes[0]
		if k.flow {
			l = &g.lanes[1]
		}
		l.kinds = append(l.kinds, k)
		l.sources = append(l.sources, byProvider[provider])
		l.total += k.weight
	}
	switch {
	case g.lanes[0].total == 0:
		return nil, errors.New("loadgen: no source of a known provider to send to")
	case cfg.Flows > 0 && g.lanes[1].total == 0:
		return nil, errors.New("loadgen: flow requests need a platica source")
	}
	return g, nil
}

// NewRunID returns a random run id, such as "lg7k2m9x4q".
func NewRunID() string {
	return "lg" + strings.ToLower(rand.Text()[:8])
}

// RunID is the id in every id the generator makes.
func (g *Generator) RunID() string { return g.runID }

// Next returns the next request to send, and whether it is a retry of one
// returned before.
func (g *Generator) Next() (req *Request, retry bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch r := g.rng.Float64(); {
	case r < g.retries:
		if len(g.history) > 0 {
			return g.history[g.rng.IntN(len(g.history))], true
		}
	case r < g.retries+g.flows:
		k, src := g.pick(&g.lanes[1])
		return g.newRequest(k, src, "", ""), false
	}
	if len(g.pending) > 0 {
		f := g.pending[0]
		g.pending = g.pending[1:]
		return g.newRequest(f.kind, f.src, f.ref, f.phone), false
	}
	k, src := g.pick(&g.lanes[0])
	return g.newRequest(k, src, "", ""), false
}

// pick chooses a kind of l by weight, and a source for it.
func (g *Generator) pick(l *lane) (*kind, *Source) {
	n := g.rng.IntN(l.total)
	for i, k := range l.kinds {
		if n -= k.weight; n < 0 {
			sources := l.sources[i]
			return k, sources[g.rng.IntN(len(sources))]
		}
	}
	panic("loadgen: weights out of step")
}

// newRequest builds, signs and remembers a request of kind k for src, and
// queues its follow-ups. A follow-up passes the id of the message it is
// about as ref, and its contact's phone.
func (g *Generator) newRequest(k *kind, src *Source, ref, phone string) *Request {
	g.seq++
	id := g.runID + "-" + strconv.Itoa(g.seq)
	now := time.Now().UTC()
	if phone == "" {
		phone = strconv.Itoa(5215500000000 + g.rng.IntN(loadContacts))
	}
	f := fields{ID: id, Ref: cmp.Or(ref, id), Unix: strconv.FormatInt(now.Unix(), 10), ISO: now.Format("2006-01-02T15:04:05.000Z"), Phone: phone}
	var body bytes.Buffer
	if err := k.tmpl.Execute(&body, f); err != nil {
		panic(err) // the templates are fixed, and each is tested
	}
	req := &Request{Source: src, Kind: k.name, Flow: k.flow, Body: body.Bytes(), Header: Sign(src, body.Bytes())}
	for _, then := range k.then {
		g.pending = append(g.pending, followUp{kind: kindByName[then], src: src, ref: id, phone: phone})
	}
	if len(g.history) < historySize {
		g.history = append(g.history, req)
	} else {
		g.history[g.seq%historySize] = req
	}
	return req
}

// Sign returns the headers src's provider sends with body: the
// signature, the bearer token if any, and for Platica its documented
// User-Agent and the X-Webhook-* headers that repeat the envelope.
func Sign(src *Source, body []byte) http.Header {
	h := http.Header{"Content-Type": {"application/json"}, "User-Agent": {"hooklane-loadgen"}}
	if src.Provider == "platica" {
		setPlaticaHeaders(h, src, body)
	}
	if src.Secret != nil {
		s := signatures[src.Provider]
		mac := hmac.New(sha256.New, src.Secret)
		mac.Write(body)
		h.Set(s.header, s.prefix+hex.EncodeToString(mac.Sum(nil)))
	}
	if src.BearerToken != "" {
		h.Set("Authorization", "Bearer "+src.BearerToken)
	}
	return h
}

// setPlaticaHeaders sets the headers Platica sends with every event, from
// body's envelope; a body that is no envelope gets none of them.
func setPlaticaHeaders(h http.Header, src *Source, body []byte) {
	var envelope struct {
		ID           string `json:"id"`
		Event        string `json:"event"`
		Timestamp    string `json:"timestamp"`
		ResourceType string `json:"resourceType"`
		ResourceID   string `json:"resourceId"`
	}
	if stdjson.Unmarshal(body, &envelope) != nil {
		return
	}
	h.Set("User-Agent", "Platica-Webhooks/1.0")
	h.Set("X-Webhook-Event", envelope.Event)
	h.Set("X-Webhook-Id", "wh_"+src.Name) // the webhook configuration
	h.Set("X-Webhook-Event-Id", envelope.ID)
	h.Set("X-Webhook-Resource-Type", envelope.ResourceType)
	h.Set("X-Webhook-Resource-Id", envelope.ResourceID)
	h.Set("X-Webhook-Timestamp", envelope.Timestamp)
}
