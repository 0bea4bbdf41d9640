package console

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/storage"
	"github.com/hooklane/hooklane/worker"
)

// Deliveries of each provider, in their documented shapes.
const (
	metaMessage = `{"object":"whatsapp_business_account","entry":[{"id":"WABA1","changes":[{"value":{"messaging_product":"whatsapp",` +
		`"metadata":{"display_phone_number":"15550001111","phone_number_id":"PNID1"},"contacts":[{"profile":{"name":"Ana Ruiz"},"wa_id":"5215550001"}],` +
		`"messages":[{"from":"5215550001","id":"wamid.IN1","timestamp":"1764620000","text":{"body":"Hi, is my order ready?"},"type":"text"}]},"field":"messages"}]}]}`
	platicaMessage = `{"id":"6c1f0e2a-1111-4e7b-8c3f-5d2a1e9b7c60","event":"message.created","workspaceId":"ws_1","timestamp":"2026-12-01T19:05:12.000Z",` +
		`"source":"whatsapp","resourceType":"message","resourceId":"msg_1","changes":null,"data":{"message":{"id":"msg_1","conversationId":"conv_1",` +
		`"direction":"inbound","type":"text","text":"Quiero cotizar","creationDate":"2026-12-01T19:05:12.000Z"},"conversationId":"conv_1",` +
		`"client":{"id":"client_1","phoneNumber":"+5215550002","name":"Juan"}}}`
	whatzMessage = `{"event":"messages.upsert","messages":[{"key":{"id":"WZ1","fromMe":false,"remoteJid":"5215550003@s.whatsapp.net"},` +
		`"message":{"conversation":"Hola desde whatz"},"messageTimestamp":1764620100}]}`
	whapiMessage = `{"event_type":"message_received","id":"WH1","instance_id":"inst1","chat_id":"5215550004@c.us","from":"5215550004@c.us",` +
		`"from_me":0,"sender_name":"Luis","body":"Hola desde whapi","type":"text","timestamp":1764620200,"ack":"pending"}`
)

// metaMessageAt is metaMessage sent at the Unix time at.
func metaMessageAt(at int64) string {
	return strings.Replace(metaMessage, `"timestamp":"1764620000"`, fmt.Sprintf(`"timestamp":"%d"`, at), 1)
}

// whapiText is a whapi message holding text.
func whapiText(id, text string) string {
	return fmt.Sprintf(`{"event_type":"message_received","id":%q,"chat_id":"5215550009@c.us","from":"5215550009@c.us",`+
		`"body":%q,"type":"text","timestamp":1764620300}`, id, text)
}

func TestPagesShowEachProvidersDeliveries(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.post(t, "wa", metaMessage)
	r.post(t, "platica", platicaMessage)
	r.post(t, "whatz", whatzMessage)
	r.post(t, "whapi", whapiMessage)
	r.waitEvents(t, 4)

	overview := r.page(t, "/")
	for _, s := range []string{"wa stored", "platica stored", "whatz stored", "whapi stored"} {
		if !strings.Contains(overview, s) {
			t.Errorf("overview legend lacks %q", s)
		}
	}
	if !strings.Contains(overview, `id="dead-letters" href="/dead-letters?open=1">0<`) {
		t.Error("overview does not show 0 dead letters")
	}

	list := r.page(t, "/events")
	for _, key := range []string{"message:wamid.IN1", "delivery:6c1f0e2a-1111-4e7b-8c3f-5d2a1e9b7c60", "WZ1", "WH1"} {
		if !strings.Contains(list, key) {
			t.Errorf("events page lacks %s", key)
		}
	}
	only := r.page(t, "/events?source=wa")
	if !strings.Contains(only, "wamid.IN1") || strings.Contains(only, "WH1") {
		t.Error("events?source=wa does not show only wa's events")
	}
	contains := r.page(t, "/events?contains="+url.QueryEscape(`{"body":"Hola desde whapi"}`))
	if !strings.Contains(contains, "WH1") || strings.Contains(contains, "wamid.IN1") {
		t.Error("payload containment does not select the whapi message alone")
	}

	id := firstEventID(t, only)
	event := r.page(t, "/events/"+id)
	for _, want := range []string{`&#34;body&#34;: &#34;Hi, is my order ready?&#34;`, "req-wa-", "Content-Type", "application/json",
		"1 credential or signature header(s) not shown"} {
		if !strings.Contains(event, want) {
			t.Errorf("event page lacks %q", want)
		}
	}
	if strings.Contains(event, "X-Hub-Signature") || strings.Contains(event, "sha256=") {
		t.Error("event page shows the signature header")
	}
}

var eventLink = regexp.MustCompile(`href="/events/(\d+)"`)

func firstEventID(t *testing.T, page string) string {
	t.Helper()
	m := eventLink.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no event link in\n%s", page)
	}
	return m[1]
}

func TestPayloadTextIsEscaped(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.post(t, "whapi", whapiText("XSS1", `<script>alert("owned")</script><img src=x onerror=alert(1)>`))
	r.waitEvents(t, 1)
	event := r.page(t, "/events/"+firstEventID(t, r.page(t, "/events")))
	if strings.Contains(event, "<script>alert") || strings.Contains(event, "<img src=x") {
		t.Fatal("payload markup reached the page unescaped")
	}
	if !strings.Contains(event, "&lt;script&gt;alert(") {
		t.Error("the payload's text is not shown, escaped")
	}
}

func TestEventSearchRejectsBadInput(t *testing.T) {
	t.Parallel()
	r := newRig(t, withoutWorker)
	for path, want := range map[string]string{
		"/events?contains=" + url.QueryEscape(`[1,2]`): "contains: not a JSON object",
		"/events?contains=" + url.QueryEscape(`{`):     "contains: not a JSON object",
		"/events?from=yesterday":                       "from: &#34;yesterday&#34; is not a time",
		"/events?before=x":                             "before: &#34;x&#34; is not an id",
	} {
		code, body := r.get(t, path)
		if code != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, want 400 saying %q\n%s", path, code, want, body)
		}
	}
	for path, want := range map[string]int{
		"/events/abc":                 http.StatusBadRequest,
		"/events/424242":              http.StatusNotFound,
		"/dead-letters/424242":        http.StatusNotFound,
		"/flows/exchanges/nope":       http.StatusNotFound,
		"/conversations/wa/nope":      http.StatusNotFound,
		"/no-such-page":               http.StatusNotFound,
		"/flows?period=1y":            http.StatusBadRequest,
		"/conversations?before_at=no": http.StatusBadRequest,
	} {
		if code, body := r.get(t, path); code != want {
			t.Errorf("GET %s: %d, want %d\n%s", path, code, want, body)
		}
	}
	if n := testutil.ToFloat64(r.console.metrics.requests.WithLabelValues("GET /events/{id}", "404")); n != 1 {
		t.Errorf("404s of GET /events/{id} counted %v times, want 1", n)
	}
}

func TestSearchEventsPagesByKeyset(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	for i := range 5 {
		r.post(t, "whapi", whapiText(fmt.Sprintf("PAGE%d", i), "page"))
	}
	r.waitEvents(t, 5)
	var seen []int64
	f := storage.EventFilter{Source: "whapi", Limit: 2}
	for pages := 0; ; pages++ {
		events, next, err := r.store.SearchEvents(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			seen = append(seen, e.ID)
		}
		if next == 0 {
			if pages != 2 {
				t.Errorf("%d pages, want 3 of 2, 2 and 1", pages+1)
			}
			break
		}
		f.BeforeID = next
	}
	if len(seen) != 5 {
		t.Fatalf("pages gave %d events, want 5: %v", len(seen), seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] >= seen[i-1] {
			t.Fatalf("ids not newest first and distinct: %v", seen)
		}
	}
}

func TestOverviewShowsTheBacklog(t *testing.T) {
	t.Parallel()
	r := newRig(t, withoutWorker)
	ctx := context.Background()
	// The workers' consumer exists, but no worker runs.
	w, err := worker.New(r.js, r.store, worker.Config{Stream: r.cfg.Stream, SubjectPrefix: r.cfg.SubjectPrefix, Consumer: r.cfg.Consumer},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Consumer(ctx); err != nil {
		t.Fatal(err)
	}
	before := time.Now().UTC().Add(-time.Second)
	r.post(t, "whapi", whapiText("LAG1", "one"))
	r.post(t, "whapi", whapiText("LAG2", "two"))
	r.post(t, "wa", metaMessage)
	page := r.page(t, "/")
	if !strings.Contains(page, `<p class="big" id="lag">3</p>`) {
		t.Errorf("overview does not show a lag of 3\n%s", page)
	}
	m := regexp.MustCompile(`id="oldest">([^<]+)<`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("overview shows no oldest unstored delivery")
	}
	oldest, err := time.Parse("2006-01-02 15:04:05", m[1])
	if err != nil || oldest.Before(before.Truncate(time.Second)) || !strings.Contains(page, "hooklane_t") {
		t.Errorf("oldest unstored %q (%v), want the first post's time, after %v, and its subject", m[1], err, before)
	}
}

func TestFlowsPage(t *testing.T) {
	t.Parallel()
	r := newRig(t, withoutWorker)
	now := time.Now()
	var xs []hooklane.FlowExchange
	for i, lat := range []time.Duration{20 * time.Millisecond, 30 * time.Millisecond, 650 * time.Millisecond, 900 * time.Millisecond} {
		outcome := "answered"
		if lat > 700*time.Millisecond {
			outcome = "timeout"
		}
		xs = append(xs, hooklane.FlowExchange{ID: fmt.Sprintf("x%d", i), Source: "platica", FlowID: "flow_quote", Action: "data_exchange",
			Screen: "WELCOME", RequestData: []byte(`{"email":"<b>juan</b>@example.com"}`), Answer: []byte(`{"screen":"PAYMENT"}`),
			Outcome: outcome, LatencyMS: float64(lat) / float64(time.Millisecond), At: now.Add(-time.Duration(i) * time.Minute)})
	}
	if err := r.store.SaveFlowExchanges(context.Background(), xs); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/flows", "/flows?period=1h&source=platica&flow=flow_quote"} {
		page := r.page(t, path)
		for _, want := range []string{"flow_quote", `<td class="num">3</td>`, "timeout", "over 700ms: 1", "budget 700ms", "/flows/exchanges/x0"} {
			if !strings.Contains(page, want) {
				t.Errorf("%s lacks %q", path, want)
			}
		}
	}
	overview := r.page(t, "/")
	if !strings.Contains(overview, `<span class="outcome answered">answered</span></td><td class="num">3</td>`) {
		t.Error("overview does not count 3 answered exchanges")
	}
	x := r.page(t, "/flows/exchanges/x0")
	if !strings.Contains(x, "&lt;b&gt;juan&lt;/b&gt;@example.com") || !strings.Contains(x, "&#34;screen&#34;: &#34;PAYMENT&#34;") {
		t.Errorf("exchange page does not show its request and answer, escaped\n%s", x)
	}
}

// deadLetter stores a dead letter holding a whapi delivery, as a worker
// that gave up on it would have.
func (r *rig) deadLetter(t *testing.T, source, id, reason string) {
	t.Helper()
	d := hooklane.Delivery{Source: source, Provider: "whapi", EventType: "message_received", DedupeKey: id,
		ReceivedAt: time.Now(), Body: []byte(whapiText(id, "from a dead letter"))}
	msg := d.Msg(r.cfg.SubjectPrefix)
	msg.Header.Set("X-Whapi-Signature", "abcdef")
	seq := uint64(r.count(t, "SELECT count(*) FROM dead_letters") + 1)
	err := r.store.SaveDeadLetters(context.Background(), []storage.DeadLetter{{Stream: r.cfg.Stream, Sequence: seq,
		Subject: msg.Subject, Source: source, Headers: msg.Header, Body: msg.Data, Reason: reason, NumDelivered: 20}})
	if err != nil {
		t.Fatal(err)
	}
}

func (r *rig) postForm(t *testing.T, form url.Values, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.server.URL+"/dead-letters/redrive", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestRedrive(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.deadLetter(t, "whapi", "DL1", "database unreachable after 20 tries")
	r.deadLetter(t, "whapi", "DL2", "database unreachable after 20 tries")
	r.deadLetter(t, "other", "DL3", "database unreachable after 20 tries")
	list := r.page(t, "/dead-letters")
	for _, want := range []string{`href="/dead-letters/3"`, "database unreachable", `name="csrf" value="` + r.console.csrf + `"`} {
		if !strings.Contains(list, want) {
			t.Errorf("dead letters page lacks %q", want)
		}
	}
	one := r.page(t, "/dead-letters/1")
	if !strings.Contains(one, "from a dead letter") || strings.Contains(one, "abcdef") {
		t.Error("dead letter page does not show the body, or shows the signature")
	}

	refused := map[string]struct {
		form   url.Values
		header http.Header
		want   int
	}{
		"no form token":    {url.Values{"id": {"1"}}, nil, http.StatusForbidden},
		"wrong form token": {url.Values{"id": {"1"}, "csrf": {"x"}}, nil, http.StatusForbidden},
		"cross-site":       {url.Values{"id": {"1"}, "csrf": {r.console.csrf}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		"foreign origin":   {url.Values{"id": {"1"}, "csrf": {r.console.csrf}}, http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden},
		"nothing named":    {url.Values{"csrf": {r.console.csrf}}, nil, http.StatusBadRequest},
		"bad id":           {url.Values{"id": {"x"}, "csrf": {r.console.csrf}}, nil, http.StatusBadRequest},
		"unknown id":       {url.Values{"id": {"99"}, "csrf": {r.console.csrf}}, nil, http.StatusNotFound},
	}
	for name, c := range refused {
		if resp := r.postForm(t, c.form, c.header); resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, c.want)
		}
	}
	if n := r.count(t, "SELECT count(*) FROM events"); n != 0 {
		t.Fatalf("a refused redrive stored %d events", n)
	}

	resp := r.postForm(t, url.Values{"id": {"1"}, "csrf": {r.console.csrf}}, http.Header{"Sec-Fetch-Site": {"same-origin"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dead-letters?redriven=1" {
		t.Fatalf("redrive: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	waitFor(t, "the redriven DL1 stored", func() bool {
		return r.count(t, "SELECT count(*) FROM events WHERE source = 'whapi' AND resource_id = 'DL1'") == 1
	})

	waitFor(t, "the redrive recorded as stored", func() bool {
		return strings.Contains(r.page(t, "/dead-letters/1"), `<span class="outcome stored">stored</span>`)
	})
	if open := r.page(t, "/dead-letters?open=1"); strings.Contains(open, `href="/dead-letters/1"`) || !strings.Contains(open, `href="/dead-letters/2"`) {
		t.Error("the waiting list still shows the redriven letter, or not the others")
	}

	// All of whapi's that wait: DL2, not DL1 again, nor the other source's.
	resp = r.postForm(t, url.Values{"all": {"1"}, "source": {"whapi"}, "csrf": {r.console.csrf}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dead-letters?redriven=1&source=whapi" {
		t.Fatalf("redrive all of whapi: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	waitFor(t, "DL2 stored", func() bool {
		return r.count(t, "SELECT count(*) FROM events WHERE resource_id = 'DL2'") == 1
	})
	// DL1 a second time, by its id: a duplicate, stored once.
	if resp := r.postForm(t, url.Values{"id": {"1"}, "csrf": {r.console.csrf}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second redrive of DL1: %d", resp.StatusCode)
	}
	waitFor(t, "the second redrive recorded as a duplicate", func() bool {
		return strings.Contains(r.page(t, "/dead-letters/1"), `<span class="outcome duplicate">duplicate</span>`)
	})
	if n := r.count(t, "SELECT count(*) FROM events"); n != 2 {
		t.Errorf("%d events after redriving DL1 twice and DL2 once, want 2", n)
	}
	if n := r.count(t, "SELECT count(*) FROM dead_letters WHERE source = 'other' AND redrive_count = 0"); n != 1 {
		t.Error("the other source's dead letter was redriven")
	}
}

func TestLiveStream(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.server.URL+"/live/stream?source=whapi", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	if !lines.Scan() || lines.Text() != ": hooklane live" {
		t.Fatalf("first line %q", lines.Text())
	}
	// Posted once the stream answered: another source's first, which the
	// filter leaves out, then whapi's.
	r.post(t, "wa", metaMessage)
	r.post(t, "whapi", whapiText("LIVE1", "live <b>text</b>"))
	var event, data string
	for lines.Scan() {
		line := lines.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			event = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			data = v
			break
		}
	}
	if event != "delivery" || !strings.Contains(data, `"key":"message:LIVE1"`) || !strings.Contains(data, `"source":"whapi"`) ||
		!strings.Contains(data, `"summary":"live \u003cb\u003etext\u003c/b\u003e"`) {
		t.Fatalf("first event %q: %s", event, data)
	}
	// Closing the console ends the stream, so a server's shutdown need not
	// wait for the page.
	r.console.Close()
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "data: ") {
			t.Errorf("after Close: %s", lines.Text())
		}
	}
}

func TestExposedConsoleNeedsCredentials(t *testing.T) {
	t.Parallel()
	for addr, exposed := range map[string]bool{
		"127.0.0.1:8081": false, "localhost:0": false, "[::1]:8081": false, "127.0.0.2:80": false,
		"0.0.0.0:8081": true, ":8081": true, "[::]:8081": true, "192.0.2.1:8081": true, "console.example:8081": true,
	} {
		_, err := New(nil, nil, Config{Addr: addr, Consumer: "w"}, nil, nil)
		if got := errors.Is(err, ErrExposed); got != exposed {
			t.Errorf("%s without credentials: err = %v, want exposed %v", addr, err, exposed)
		}
		if _, err := New(nil, nil, Config{Addr: addr, Consumer: "w", Token: "t"}, nil, nil); err != nil {
			t.Errorf("%s with a token: %v", addr, err)
		}
	}
	if _, err := New(nil, nil, Config{Addr: "0.0.0.0:1", Consumer: "w", User: "u"}, nil, nil); err == nil {
		t.Error("a user without a password was accepted")
	}
	if _, err := New(nil, nil, Config{Addr: "nonsense", Consumer: "w"}, nil, nil); err == nil {
		t.Error("an address without a port was accepted")
	}
}

func TestCredentials(t *testing.T) {
	t.Parallel()
	r := newRig(t, withoutWorker, withConfig(func(c *Config) {
		c.Addr, c.Token, c.User, c.Password = "0.0.0.0:0", "s3cret-token", "ops", "pa55"
	}))
	for name, c := range map[string]struct {
		set  func(*http.Request)
		want int
	}{
		"none":           {func(*http.Request) {}, http.StatusUnauthorized},
		"bearer":         {func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret-token") }, http.StatusOK},
		"wrong bearer":   {func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, http.StatusUnauthorized},
		"token as basic": {func(r *http.Request) { r.SetBasicAuth("anyone", "s3cret-token") }, http.StatusOK},
		"user":           {func(r *http.Request) { r.SetBasicAuth("ops", "pa55") }, http.StatusOK},
		"wrong password": {func(r *http.Request) { r.SetBasicAuth("ops", "nope") }, http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest(http.MethodGet, r.server.URL+"/events", nil)
		c.set(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, c.want)
		}
		if c.want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("%s: no basic auth challenge", name)
		}
	}
}

func TestAssetsAndHeaders(t *testing.T) {
	t.Parallel()
	r := newRig(t, withoutWorker)
	page := r.page(t, "/live")
	m := regexp.MustCompile(`/assets/console\.css\?v=(\w+)`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no versioned stylesheet link")
	}
	for path, cache := range map[string]string{
		"/assets/console.css?v=" + m[1]: "immutable",
		"/assets/live.js?v=" + m[1]:     "immutable",
		"/assets/console.css":           "no-cache",
	} {
		resp, err := http.Get(r.server.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Cache-Control"), cache) {
			t.Errorf("%s: %d, Cache-Control %q, want %s", path, resp.StatusCode, resp.Header.Get("Cache-Control"), cache)
		}
	}
	resp, err := http.Get(r.server.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
}

func TestShownHeaders(t *testing.T) {
	t.Parallel()
	shown, withheld := shownHeaders(map[string][]string{
		"Authorization": {"Bearer x"}, "X-Hub-Signature-256": {"sha256=x"}, "X-Whapi-Signature": {"x"},
		"X-Webhook-Signature": {"x"}, "Cookie": {"a=b"}, "X-Api-Key": {"k"}, "X-Auth-Token": {"t"},
		"Content-Type": {"application/json"}, "X-Webhook-Event": {"message.created"}, "User-Agent": {"Platica"},
	})
	var names []string
	for _, h := range shown {
		names = append(names, h.Name)
	}
	if got := strings.Join(names, ","); got != "Content-Type,User-Agent,X-Webhook-Event" || withheld != 7 {
		t.Errorf("shown %s, withheld %d", got, withheld)
	}
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		`[{"code":131047,"title":"Re-engagement message","message":"Re-engagement message","error_data":{"details":"More than 24 hours"}}]`: "131047: Re-engagement message: More than 24 hours",
		`{"message":"number not on WhatsApp"}`: "number not on WhatsApp",
		`"ERROR"`:                              "ERROR",
		`{"x":1}`:                              `{"x":1}`,
		``:                                     "",
	} {
		if got := errorText([]byte(raw)); got != want {
			t.Errorf("errorText(%s) = %q, want %q", raw, got, want)
		}
	}
}

func TestFormTokenFollowsCredentials(t *testing.T) {
	t.Parallel()
	a1, a2, b := formToken("a\x00\x00"), formToken("a\x00\x00"), formToken("b\x00\x00")
	if a1 != a2 || a1 == b {
		t.Error("a token from credentials is not stable, or not theirs")
	}
	if none1, none2 := formToken("\x00\x00"), formToken("\x00\x00"); none1 == none2 {
		t.Error("without credentials the token is not random")
	}
	if _, err := strconv.ParseUint(formToken("a")[:8], 16, 64); err != nil {
		t.Error("the token is not hex")
	}
}

func TestConversationPages(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.postConversation(t)
	list := r.page(t, "/conversations")
	for _, want := range []string{"Juan Pérez", "Ana Ruiz", "window open until", "/conversations/whapi/573001112233@c.us",
		"/conversations/wa/PNID1:5215550001", "3 messages", "Tracking: &lt;script&gt;"} {
		if !strings.Contains(list, want) {
			t.Errorf("conversations page lacks %q", want)
		}
	}
	path := "/conversations/whapi/" + url.PathEscape(juanConversation)
	page := r.page(t, path)
	for _, want := range []string{
		`data-id="IN-W1" data-status="received"`, "Hola, ¿tienen menú?", "Juan Pérez",
		`data-id="OUT-W1" data-status="delivered"`, `<span class="tick delivered"`, "¡Hola! Te comparto el menú.",
		`data-id="OUT-W2" data-status="sent"`, `<span class="tick sent"`, "Tracking: &lt;script&gt;alert(1)&lt;/script&gt;",
		`id="window">window open until`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("conversation page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>alert") {
		t.Error("message text reached the page unescaped")
	}
	if strings.Index(page, "IN-W1") > strings.Index(page, "OUT-W1") || strings.Index(page, "OUT-W1") > strings.Index(page, "OUT-W2") {
		t.Error("messages are not in the order they were sent")
	}
	ana := r.page(t, "/conversations/wa/"+url.PathEscape(anaConversation))
	for _, want := range []string{"Hi, is my order ready?", `data-id="wamid.OUT3" data-status="failed"`, `<span class="tick failed"`,
		"131047: Re-engagement message: More than 24 hours have passed", "only its statuses were seen"} {
		if !strings.Contains(ana, want) {
			t.Errorf("Ana's conversation lacks %q", want)
		}
	}
	r.readReceipt(t)
	page = r.page(t, path)
	if !strings.Contains(page, `data-id="OUT-W1" data-status="read"`) || !strings.Contains(page, `<span class="tick read"`) {
		t.Error("the read receipt does not turn the answer's ticks blue")
	}
}
