package console

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/operate"
	"github.com/hooklane/hooklane/storage"
)

// overviewPage is the data of the overview.
type overviewPage struct {
	layout
	Chart       chart
	Backlog     backlog
	StreamError string
	Flows       []storage.OutcomeStats
	DeadLetters int64
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := overviewPage{layout: c.frame("Overview", "overview")}
	since := p.Now.Add(-time.Hour)
	counts, err := c.store.DeliveriesPerMinute(ctx, since.Truncate(time.Minute))
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "the database did not answer", err)
		return
	}
	p.Chart = minuteChart(counts, p.Now)
	if p.Flows, err = c.store.FlowOutcomes(ctx, since, false); err != nil {
		c.fail(w, r, http.StatusInternalServerError, "the database did not answer", err)
		return
	}
	if p.DeadLetters, err = c.store.CountOpenDeadLetters(ctx); err != nil {
		c.fail(w, r, http.StatusInternalServerError, "the database did not answer", err)
		return
	}
	if p.Backlog, err = c.backlog(ctx); err != nil {
		c.log.Warn("console: stream backlog unavailable", "err", err)
		p.StreamError = err.Error()
	}
	c.render(w, r, http.StatusOK, "overview", p)
}

// livePage is the data of the live page.
type livePage struct {
	layout
	Filter  operate.Filter
	Sources []Source
	Stream  string // the stream URL with the filter
}

func liveFilter(q url.Values) operate.Filter {
	return operate.Filter{Source: q.Get("source"), Type: q.Get("type"), Contact: q.Get("contact")}
}

func (c *Console) live(w http.ResponseWriter, r *http.Request) {
	f := liveFilter(r.URL.Query())
	v := url.Values{}
	setIf(v, "source", f.Source)
	setIf(v, "type", f.Type)
	setIf(v, "contact", f.Contact)
	c.render(w, r, http.StatusOK, "live", livePage{layout: c.frame("Live", "live"), Filter: f, Sources: c.cfg.Sources,
		Stream: "/live/stream?" + v.Encode()})
}

// heartbeat keeps idle live streams open through proxies.
const heartbeat = 15 * time.Second

// liveStream sends each event of each new delivery as a server-sent
// event, from operate.Tail, as "hooklane tail" prints them.
func (c *Console) liveStream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// A stream outlives the server's write timeout; its end is the client's.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		c.fail(w, r, http.StatusInternalServerError, "cannot stream", err)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(c.closed, cancel)()
	// The tail starts before the answer's first bytes: what is published
	// once the client has them is shown.
	entries, err := operate.Tail(ctx, c.js, operate.TailConfig{Stream: c.cfg.Stream, SubjectPrefix: c.cfg.SubjectPrefix,
		Filter: liveFilter(r.URL.Query())})
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "the stream is unavailable", err)
		return
	}
	items := make(chan operate.Entry, 64)
	done := make(chan error, 1)
	go func() {
		for e, err := range entries {
			if err != nil {
				done <- err
				return
			}
			select {
			case items <- e:
			case <-ctx.Done():
				done <- nil
				return
			}
		}
		done <- nil
	}()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, ": hooklane live\nretry: 2000\n\n")
	if err := rc.Flush(); err != nil {
		cancel()
		<-done
		return
	}
	ticker := time.NewTicker(heartbeat)
	defer ticker.Stop()
	for {
		var err error
		select {
		case e := <-items:
			b, _ := json.Marshal(e) // plain strings, numbers and a time
			_, err = fmt.Fprintf(w, "event: delivery\ndata: %s\n\n", b)
		case <-ticker.C:
			_, err = fmt.Fprint(w, ": ping\n\n")
		case err := <-done:
			if err != nil && ctx.Err() == nil {
				c.log.Warn("console: live stream ended", "err", err)
				_, _ = fmt.Fprintf(w, "event: failure\ndata: %q\n\n", "the stream is unavailable")
				_ = rc.Flush()
			}
			return
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil { // the client went away
			cancel()
			<-done
			return
		}
	}
}

// eventsPage is the data of the event search.
type eventsPage struct {
	layout
	Query   url.Values
	Error   string
	Events  []storage.StoredEvent
	Next    string
	Sources []Source
}

func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := eventsPage{layout: c.frame("Events", "events"), Query: q, Sources: c.cfg.Sources}
	f, err := eventFilter(q)
	if err != nil {
		p.Error = err.Error()
		c.render(w, r, http.StatusBadRequest, "events", p)
		return
	}
	events, next, err := c.store.SearchEvents(r.Context(), f)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "the database did not answer", err)
		return
	}
	p.Events = events
	if next > 0 {
		p.Next = withParam(q, "before", strconv.FormatInt(next, 10))
	}
	c.render(w, r, http.StatusOK, "events", p)
}

// eventFilter reads the search form; its errors name the field.
func eventFilter(q url.Values) (storage.EventFilter, error) {
	f := storage.EventFilter{
		Source: strings.TrimSpace(q.Get("source")), Type: strings.TrimSpace(q.Get("type")),
		Contact: strings.TrimSpace(q.Get("contact")), Conversation: strings.TrimSpace(q.Get("conversation")),
	}
	var err error
	if f.From, err = parseTime(q.Get("from")); err != nil {
		return f, fmt.Errorf("from: %w", err)
	}
	if f.Until, err = parseTime(q.Get("until")); err != nil {
		return f, fmt.Errorf("until: %w", err)
	}
	if s := strings.TrimSpace(q.Get("contains")); s != "" {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(s), &obj); err != nil {
			return f, errors.New(`contains: not a JSON object, e.g. {"type":"text"}`)
		}
		f.Contains = json.RawMessage(s)
	}
	if f.BeforeID, err = parseID(q.Get("before")); err != nil {
		return f, fmt.Errorf("before: %w", err)
	}
	return f, nil
}

// eventPage is the data of one event.
type eventPage struct {
	layout
	Event    storage.StoredEvent
	Delivery storage.StoredDelivery
	Headers  []header
	Withheld int
}

func (c *Console) event(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err != nil || id == 0 {
		c.fail(w, r, http.StatusBadRequest, "an event id is a positive number", nil)
		return
	}
	e, d, err := c.store.EventWithDelivery(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		c.fail(w, r, http.StatusNotFound, fmt.Sprintf("no event %d", id), nil)
		return
	}
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "the database did not answer", err)
		return
	}
	p := eventPage{layout: c.frame("Event "+strconv.FormatInt(id, 10), "events"), Event: e, Delivery: d}
	p.Headers, p.Withheld = shownHeaders(d.Headers)
	c.render(w, r, http.StatusOK, "event", p)
}

// conversationsPage is the data of the conversation list.
type conversationsPage struct {
	layout
	Source        string
	Sources       []Source
	Conversations []conversationView
	Next          string
}

// conversationView is a conversation with its 24-hour window.
type conversationView struct {
	storage.ConversationSummary
	WindowOpen    bool
	WindowExpires time.Time
	Link          string
}

func (c *Console) view(s storage.ConversationSummary, now time.Time) conversationView {
	v := conversationView{ConversationSummary: s,
		Link: "/conversations/" + url.PathEscape(s.Source) + "/" + url.PathEscape(s.ConversationID)}
	if !s.LastInboundAt.IsZero() {
		v.WindowExpires = s.LastInboundAt.Add(windowLength)
		v.WindowOpen = v.WindowExpires.After(now)
	}
	return v
}

func (c *Console) conversations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := conversationsPage{layout: c.frame("Conversations", "conversations"), Source: q.Get("source"), Sources: c.cfg.Sources}
	f := storage.ConversationFilter{Source: p.Source}
	if at := q.Get("before_at"); at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			c.fail(w, r, http.StatusBadRequest, "before_at: not an RFC 3339 time", nil)
			return
		}
		f.Before = storage.ConversationCursor{LastMessageAt: t, Source: q.Get("before_source"), ConversationID: q.Get("before_id")}
	}
	list, next, err := c.store.Conversations(r.Context(), f)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "the database did not answer", err)
		return
	}
	for _, s := range list {
		p.Conversations = append(p.Conversations, c.view(s, p.Now))
	}
	if !next.LastMessageAt.IsZero() {
		v := url.Values{}
		setIf(v, "source", p.Source)
		v.Set("before_at", next.LastMessageAt.Format(time.RFC3339Nano))
		v.Set("before_source", next.Source)
		v.Set("before_id", next.ConversationID)
		p.Next = "/conversations?" + v.Encode()
	}
	c.render(w, r, http.StatusOK, "conversations", p)
}

// conversationPage is the data of one conversation.
type conversationPage struct {
	layout
	Conversation conversationView
	Messages     []storage.Message
}

func (c *Console) conversation(w http.ResponseWriter, r *http.Request) {
	source, id := r.PathValue("source"), r.PathValue("id")
	conv, msgs, err := c.store.Conversation(r.Context(), source, id, 0)
	if errors.Is(err, storage.ErrNotFound) {
		c.fail(w, r, http.StatusNotFound, fmt.Sprintf("no conversation %s in %s", id, source), nil)
		return
	}
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "the database did not answer", err)
		return
	}
	p := conversationPage{layout: c.frame("Conversation "+cmp.Or(conv.ContactName, id), "conversations"), Messages: msgs}
	p.Conversation = c.view(conv, p.Now)
	c.render(w, r, http.StatusOK, "conversation", p)
}

// flowsPage is the data of the flows page.
type flowsPage struct {
	layout
	Period     string
	Periods    []string
	Stats      []storage.OutcomeStats
	Histograms []histogram
	Query      url.Values
	Exchanges  []hooklane.FlowExchange
	Next       string
	Sources    []Source
	Outcomes   []string
}

// histogram is one source's latency chart.
type histogram struct {
	Source string
	Budget time.Duration
	Chart  chart
}

var periods = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}

func (c *Console) flows(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	p := flowsPage{layout: c.frame("Flows", "flows"), Period: cmp.Or(q.Get("period"), "24h"), Periods: []string{"1h", "24h", "7d"},
		Query: q, Sources: c.cfg.Sources, Outcomes: []string{"answered", "timeout", "no_responders", "invalid", "error"}}
	period, ok := periods[p.Period]
	if !ok {
		c.fail(w, r, http.StatusBadRequest, "period: one of 1h, 24h, 7d", nil)
		return
	}
	since := p.Now.Add(-period)
	var err error
	if p.Stats, err = c.store.FlowOutcomes(ctx, since, true); err != nil {
		c.fail(w, r, http.StatusInternalServerError, "the database did not answer", err)
		return
	}
	f := storage.ExchangeFilter{Source: q.Get("source"), FlowID: q.Get("flow"), Outcome: q.Get("outcome")}
	if at := q.Get("before_at"); at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			c.fail(w, r, http.StatusBadRequest, "before_at: not an RFC 3339 time", nil)
			return
		}
		f.Before = storage.ExchangeCursor{At: t, ID: q.Get("before_id")}
	}
	for _, s := range c.cfg.Sources {
		if f.Source != "" && s.Name != f.Source || s.FlowBudget <= 0 ||
			!slices.ContainsFunc(p.Stats, func(o storage.OutcomeStats) bool { return o.Source == s.Name }) {
			continue
		}
		buckets, err := c.store.FlowLatencies(ctx, s.Name, f.FlowID, since, s.FlowBudget, 10)
		if err != nil {
			c.fail(w, r, http.StatusInternalServerError, "the database did not answer", err)
			return
		}
		p.Histograms = append(p.Histograms, histogram{Source: s.Name, Budget: s.FlowBudget, Chart: latencyChart(buckets, s.FlowBudget)})
	}
	exchanges, next, err := c.store.FlowExchanges(ctx, f)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "the database did not answer", err)
		return
	}
	p.Exchanges = exchanges
	if !next.At.IsZero() {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("before_at", next.At.Format(time.RFC3339Nano))
		v.Set("before_id", next.ID)
		p.Next = "/flows?" + v.Encode()
	}
	c.render(w, r, http.StatusOK, "flows", p)
}

// exchangePage is the data of one flow exchange.
type exchangePage struct {
	layout
	Exchange hooklane.FlowExchange
	Budget   time.Duration
}

func (c *Console) exchange(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	x, err := c.store.FlowExchange(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		c.fail(w, r, http.StatusNotFound, "no flow exchange "+id, nil)
		return
	}
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "the database did not answer", err)
		return
	}
	p := exchangePage{layout: c.frame("Flow exchange", "flows"), Exchange: x}
	for _, s := range c.cfg.Sources {
		if s.Name == x.Source {
			p.Budget = s.FlowBudget
		}
	}
	c.render(w, r, http.StatusOK, "exchange", p)
}

// deadLettersPage is the data of the dead-letter list.
type deadLettersPage struct {
	layout
	Source   string
	Reason   string
	Open     bool // only those waiting: never sent back, or not published
	Sources  []Source
	Letters  []storage.StoredDeadLetter
	Next     string
	Redriven string // how many the last redrive sent, if one just ran
}

// deadLetterPage is how many dead letters a page lists.
const deadLetterPage = 100

func (c *Console) deadLetters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := deadLettersPage{layout: c.frame("Dead letters", "dead-letters"), Source: q.Get("source"), Reason: q.Get("reason"),
		Open: q.Get("open") != "", Sources: c.cfg.Sources, Redriven: q.Get("redriven")}
	after, err := parseID(q.Get("after"))
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, "after: not an id", nil)
		return
	}
	letters, err := c.store.DeadLetters(r.Context(), storage.DeadLetterFilter{Source: p.Source, Reason: p.Reason,
		Open: p.Open, AfterID: after, Limit: deadLetterPage})
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "the database did not answer", err)
		return
	}
	p.Letters = letters
	if len(letters) == deadLetterPage {
		p.Next = withParam(q, "after", strconv.FormatInt(letters[len(letters)-1].ID, 10))
	}
	c.render(w, r, http.StatusOK, "dead-letters", p)
}

// deadLetterView is the data of one dead letter.
type deadLetterView struct {
	layout
	Letter   storage.StoredDeadLetter
	Headers  []header
	Withheld int
}

func (c *Console) deadLetter(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err != nil || id == 0 {
		c.fail(w, r, http.StatusBadRequest, "a dead letter id is a positive number", nil)
		return
	}
	l, err := c.store.DeadLetter(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		c.fail(w, r, http.StatusNotFound, fmt.Sprintf("no dead letter %d", id), nil)
		return
	}
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "the database did not answer", err)
		return
	}
	p := deadLetterView{layout: c.frame("Dead letter "+strconv.FormatInt(id, 10), "dead-letters"), Letter: l}
	p.Headers, p.Withheld = shownHeaders(l.Headers)
	c.render(w, r, http.StatusOK, "dead-letter", p)
}

// redrive sends back the dead letters the form names (id), or every open
// one its filter matches (all, source, reason), through operate's
// Redriver, as "hooklane dead-letters redrive" does, then shows the list.
func (c *Console) redrive(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, http.StatusBadRequest, "unreadable form", nil)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(c.csrf)) != 1 {
		c.fail(w, r, http.StatusForbidden, "the form is stale or forged: reload the page and try again", nil)
		return
	}
	ctx := r.Context()
	f := storage.DeadLetterFilter{Source: r.PostForm.Get("source"), Reason: r.PostForm.Get("reason")}
	all := r.PostForm.Get("all") != ""
	var ids []int64
	for _, s := range r.PostForm["id"] {
		id, err := parseID(s)
		if err != nil || id == 0 {
			c.fail(w, r, http.StatusBadRequest, "id: a dead letter id is a positive number", nil)
			return
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 && !all {
		c.fail(w, r, http.StatusBadRequest, "no dead letter to redrive: name one (id) or ask for all", nil)
		return
	}
	n := 0
	for _, id := range ids {
		_, err := c.redriver.Redrive(ctx, id)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			c.fail(w, r, http.StatusNotFound, fmt.Sprintf("no dead letter %d (%d redriven before it)", id, n), nil)
			return
		case err != nil:
			c.fail(w, r, http.StatusBadGateway, fmt.Sprintf("redrive stopped at dead letter %d (%d redriven before it)", id, n), err)
			return
		}
		n++
	}
	if all {
		done, err := c.redriver.RedriveAll(ctx, f, false, nil)
		n += len(done)
		if err != nil {
			c.fail(w, r, http.StatusBadGateway, fmt.Sprintf("redrive stopped after %d dead letters", n), err)
			return
		}
	}
	c.log.Info("console: dead letters redriven", "count", n, "all", all, "source", f.Source, "reason", f.Reason)
	v := url.Values{}
	setIf(v, "source", f.Source)
	setIf(v, "reason", f.Reason)
	v.Set("redriven", strconv.Itoa(n))
	http.Redirect(w, r, "/dead-letters?"+v.Encode(), http.StatusSeeOther)
}

// timeLayouts are the forms a time may take in a filter, UTC unless it
// says otherwise.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"}

func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time such as 2026-05-06T19:00 (UTC) or RFC 3339", s)
}

func parseID(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 0 {
		return 0, fmt.Errorf("%q is not an id", s)
	}
	return id, nil
}

func setIf(v url.Values, key, value string) {
	if value != "" {
		v.Set(key, value)
	}
}

// withParam is the current page's query with key set to value.
func withParam(q url.Values, key, value string) string {
	v := url.Values{}
	for k, vs := range q {
		if vs[0] != "" {
			v[k] = vs
		}
	}
	v.Set(key, value)
	return "?" + v.Encode()
}
