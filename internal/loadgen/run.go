package loadgen

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config configures a Run.
type Config struct {
	// URL is the base URL of the server under test; requests go to
	// URL/webhooks/<source>.
	URL string
	// Generator makes the requests.
	Generator *Generator
	// Rate, when set, makes the run open-loop: requests are scheduled at
	// Rate per second whatever the answers, and each latency counts from
	// the request's scheduled time, so a slow server cannot hide its
	// slowness by slowing the load down (coordinated omission). Otherwise
	// the run is closed-loop: Concurrency workers each send the next
	// request once the last is answered.
	Rate float64
	// Concurrency is how many requests may be in flight: the workers of a
	// closed loop, or the most an open loop lets wait for their answers
	// (later ones wait their turn, and their latency shows it).
	// Defaults to 32 closed-loop and 512 open-loop.
	Concurrency int
	// Duration and Count bound the run; the first reached ends it. At
	// least one is required.
	Duration time.Duration
	Count    int
	// Timeout bounds one request. Defaults to 10s.
	Timeout time.Duration
	// Progress, if set, gets a line every second while the run lasts.
	Progress io.Writer
	// Label starts each progress line. Defaults to "load".
	Label string
}

// FlowAnswer is how a flow request was answered.
type FlowAnswer string

// The kinds of flow answers.
const (
	FlowAnswered FlowAnswer = "answered" // a responder's screen
	FlowFallback FlowAnswer = "fallback" // the source's fallback
	FlowOther    FlowAnswer = "other"    // anything else
)

// Latency summarizes latencies by exact percentiles of every sample.
type Latency struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

// summarize sorts samples and takes their percentiles by nearest rank:
// the p-th percentile is the smallest sample that at least p% of the
// samples do not exceed.
func summarize(samples []time.Duration) Latency {
	n := len(samples)
	if n == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	permille := func(p int) time.Duration { return samples[max((p*n+999)/1000, 1)-1] }
	return Latency{N: n, P50: permille(500), P90: permille(900), P99: permille(990), Max: samples[n-1]}
}

// Result is what a run measured.
type Result struct {
	RunID string
	// Start is when the first request was sent (or scheduled), End when
	// the last answer came.
	Start, End time.Time
	Sent       int // requests, retries included
	Retries    int
	FlowsSent  int
	Accepted   int            // answered 2xx
	Status     map[int]int    // answers that were not 2xx, by status
	Errors     map[string]int // requests left unanswered, by cause
	// Ack is the latency of the async lane's 2xx answers.
	Ack Latency
	// Flows counts 2xx answers to flow requests by kind; FlowLatency is
	// their latency.
	Flows       map[FlowAnswer]int
	FlowLatency Latency
}

// Sent is what a run sent, from which Expect computes what it should have
// stored. It holds every request: drop it once it is no longer needed.
type Sent struct {
	runID    string
	accepted map[*Request]bool // answered 2xx at least once
	refused  map[*Request]bool // sent, and answered otherwise at least once
}

// NewSent returns an empty record of what the run runID sent, for requests
// sent without Run; Add fills it.
func NewSent(runID string) *Sent {
	return &Sent{runID: runID, accepted: map[*Request]bool{}, refused: map[*Request]bool{}}
}

// Add records that req was sent once more, and whether that answer was a
// 2xx. It adds to a Sent of Run as well, for requests sent beside it. It
// is not safe for concurrent use.
func (s *Sent) Add(req *Request, accepted bool) {
	if accepted {
		s.accepted[req] = true
	} else {
		s.refused[req] = true
	}
}

// Elapsed is the time from the first request to the last answer.
func (r *Result) Elapsed() time.Duration { return r.End.Sub(r.Start) }

// AcceptedPerSecond is the rate of 2xx answers over the run.
func (r *Result) AcceptedPerSecond() float64 {
	if d := r.Elapsed(); d > 0 {
		return float64(r.Accepted) / d.Seconds()
	}
	return 0
}

// ServerErrors counts 5xx answers.
func (r *Result) ServerErrors() int {
	n := 0
	for status, c := range r.Status {
		if status >= 500 {
			n += c
		}
	}
	return n
}

// Unanswered counts requests that got no answer.
func (r *Result) Unanswered() int {
	n := 0
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// job is one request to send, and when it was due.
type job struct {
	req   *Request
	retry bool
	due   time.Time
}

// tally is what one worker saw; workers merge theirs at the end.
type tally struct {
	sent, retries, flowsSent, accepted int
	status                             map[int]int
	errors                             map[string]int
	ack, flow                          []time.Duration
	flows                              map[FlowAnswer]int
	acked, refused                     []*Request
	last                               time.Time // the last answer
}

// runner holds a run's shared state.
type runner struct {
	cfg    Config
	client *http.Client
	// counters for the progress line
	sent, ok, notOK, failed, inFlight atomic.Int64
}

// Run sends load as cfg says until its duration or count is reached, or
// ctx is done, and waits for the answers. It returns what it measured,
// and what it sent.
func Run(ctx context.Context, cfg Config) (*Result, *Sent, error) {
	if cfg.Generator == nil || cfg.URL == "" {
		return nil, nil, errors.New("loadgen: a run needs a URL and a generator")
	}
	if cfg.Duration <= 0 && cfg.Count <= 0 {
		return nil, nil, errors.New("loadgen: a run needs a duration or a count")
	}
	if cfg.Rate > 0 {
		cfg.Concurrency = cmp.Or(cfg.Concurrency, 512)
	} else {
		cfg.Concurrency = cmp.Or(cfg.Concurrency, 32)
	}
	cfg.Timeout = cmp.Or(cfg.Timeout, 10*time.Second)
	cfg.Label = cmp.Or(cfg.Label, "load")
	cfg.URL = strings.TrimSuffix(cfg.URL, "/")
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: cfg.Timeout}).DialContext,
		MaxIdleConns:        cfg.Concurrency,
		MaxIdleConnsPerHost: cfg.Concurrency,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	defer transport.CloseIdleConnections()
	r := &runner{cfg: cfg, client: &http.Client{Transport: transport, Timeout: cfg.Timeout}}

	start := time.Now()
	stopProgress := r.progress(start)
	var tallies []*tally
	if cfg.Rate > 0 {
		tallies = r.openLoop(ctx, start)
	} else {
		tallies = r.closedLoop(ctx, start)
	}
	stopProgress()
	res, sent := merge(cfg.Generator.RunID(), start, tallies)
	return res, sent, nil
}

// closedLoop runs Concurrency workers, each sending its next request once
// the last is answered.
func (r *runner) closedLoop(ctx context.Context, start time.Time) []*tally {
	var issued atomic.Int64
	deadline := start.Add(r.cfg.Duration)
	tallies := make([]*tally, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range tallies {
		t := newTally()
		tallies[i] = t
		wg.Go(func() {
			for ctx.Err() == nil {
				if r.cfg.Count > 0 && issued.Add(1) > int64(r.cfg.Count) {
					return
				}
				if r.cfg.Duration > 0 && !time.Now().Before(deadline) {
					return
				}
				req, retry := r.cfg.Generator.Next()
				r.send(ctx, t, job{req: req, retry: retry, due: time.Now()})
			}
		})
	}
	wg.Wait()
	return tallies
}

// openLoop schedules requests on a clock, at Rate per second, and hands
// them to Concurrency workers. The requests are made ahead of the clock, so
// that making one never delays the next one's departure.
func (r *runner) openLoop(ctx context.Context, start time.Time) []*tally {
	jobs := make(chan job, r.cfg.Concurrency)
	tallies := make([]*tally, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range tallies {
		t := newTally()
		tallies[i] = t
		wg.Go(func() {
			for j := range jobs {
				r.send(ctx, t, j)
			}
		})
	}
	planned := r.cfg.Count
	if r.cfg.Duration > 0 {
		fromDuration := int(math.Ceil(r.cfg.Rate * r.cfg.Duration.Seconds()))
		if planned <= 0 || fromDuration < planned {
			planned = fromDuration
		}
	}
	ready := make(chan job, max(min(preparedAhead, planned), 1))
	stop := make(chan struct{})
	var making sync.WaitGroup
	making.Go(func() {
		for {
			req, retry := r.cfg.Generator.Next()
			select {
			case ready <- job{req: req, retry: retry}:
			case <-stop:
				return
			}
		}
	})
	defer func() {
		close(stop)
		making.Wait()
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	perRequest := float64(time.Second) / r.cfg.Rate
schedule:
	for i := 0; r.cfg.Count <= 0 || i < r.cfg.Count; i++ {
		due := start.Add(time.Duration(float64(i) * perRequest))
		if r.cfg.Duration > 0 && due.Sub(start) >= r.cfg.Duration {
			break
		}
		var j job
		select {
		case j = <-ready:
		case <-ctx.Done():
			break schedule
		}
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				break schedule
			}
		}
		j.due = due
		select {
		case jobs <- j:
		case <-ctx.Done():
			break schedule
		}
	}
	close(jobs)
	wg.Wait()
	return tallies
}

// preparedAhead is the most requests the open loop makes ahead of its
// clock: some seconds' worth at a few thousand a second.
const preparedAhead = 8192

// send sends j and records its answer in t.
func (r *runner) send(ctx context.Context, t *tally, j job) {
	r.sent.Add(1)
	r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	t.sent++
	if j.retry {
		t.retries++
	}
	if j.req.Flow {
		t.flowsSent++
	}
	status, answer, err := r.do(ctx, j.req)
	t.last = time.Now()
	latency := t.last.Sub(j.due)
	switch {
	case err != nil:
		r.failed.Add(1)
		t.errors[errorCause(err)]++
		t.refused = append(t.refused, j.req)
	case status/100 != 2:
		r.notOK.Add(1)
		t.status[status]++
		t.refused = append(t.refused, j.req)
	default:
		r.ok.Add(1)
		t.accepted++
		t.acked = append(t.acked, j.req)
		if j.req.Flow {
			t.flows[classify(j.req.Source.Fallback, answer)]++
			t.flow = append(t.flow, latency)
		} else {
			t.ack = append(t.ack, latency)
		}
	}
}

// do posts req and reads the answer.
func (r *runner) do(ctx context.Context, req *Request) (int, []byte, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.URL+"/webhooks/"+req.Source.Name, bytes.NewReader(req.Body))
	if err != nil {
		return 0, nil, err
	}
	hr.Header = req.Header.Clone()
	resp, err := r.client.Do(hr)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, answer, nil
}

// classify tells a responder's screen from the fallback.
func classify(fallback, answer []byte) FlowAnswer {
	answer = bytes.TrimSpace(answer)
	if bytes.Equal(answer, bytes.TrimSpace(fallback)) {
		return FlowFallback
	}
	var screen struct {
		Screen string `json:"screen"`
	}
	if json.Unmarshal(answer, &screen) == nil && screen.Screen != "" {
		return FlowAnswered
	}
	return FlowOther
}

// errorCause names why a request got no answer.
func errorCause(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection reset"
	}
	return "other"
}

// progress prints a line every second until the returned func is called.
func (r *runner) progress(start time.Time) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var last int64
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				sent := r.sent.Load()
				fmt.Fprintf(r.cfg.Progress, "%s %3.0fs  sent %d (%d/s)  2xx %d  non-2xx %d  unanswered %d  in flight %d\n",
					r.cfg.Label, now.Sub(start).Seconds(), sent, sent-last, r.ok.Load(), r.notOK.Load(), r.failed.Load(), r.inFlight.Load())
				last = sent
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func newTally() *tally {
	return &tally{status: map[int]int{}, errors: map[string]int{}, flows: map[FlowAnswer]int{}}
}

// merge adds up the workers' tallies.
func merge(runID string, start time.Time, tallies []*tally) (*Result, *Sent) {
	res := &Result{
		RunID: runID, Start: start, End: start,
		Status: map[int]int{}, Errors: map[string]int{}, Flows: map[FlowAnswer]int{},
	}
	sent := &Sent{runID: runID, accepted: map[*Request]bool{}, refused: map[*Request]bool{}}
	var ack, flow []time.Duration
	for _, t := range tallies {
		res.Sent += t.sent
		res.Retries += t.retries
		res.FlowsSent += t.flowsSent
		res.Accepted += t.accepted
		for k, v := range t.status {
			res.Status[k] += v
		}
		for k, v := range t.errors {
			res.Errors[k] += v
		}
		for k, v := range t.flows {
			res.Flows[k] += v
		}
		ack = append(ack, t.ack...)
		flow = append(flow, t.flow...)
		for _, req := range t.acked {
			sent.accepted[req] = true
		}
		for _, req := range t.refused {
			sent.refused[req] = true
		}
		if t.last.After(res.End) {
			res.End = t.last
		}
	}
	res.Ack = summarize(ack)
	res.FlowLatency = summarize(flow)
	return res, sent
}
