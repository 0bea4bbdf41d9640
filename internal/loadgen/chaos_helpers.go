package loadgen

import (
	"os"
)

// What fault tests (internal/chaos) need beyond a Run: a hand on the
// processes they break, and requests of their own (the same delivery three
// times at once, statuses out of order) that Expect and Verify still cover.

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process, such as SIGKILL for a crash.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Done is closed once the process has exited and its log is copied.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err waits until the process has exited and says how: nil after exit
// status 0.
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// NewRequest returns a delivery of src with body and the headers src's
// provider sends: its signature, its bearer token if any. kind names what
// it is, for messages. Verify finds its rows only if body holds the run's id.
func NewRequest(src *Source, kind string, flow bool, body []byte) *Request {
	return &Request{Source: src, Kind: kind, Flow: flow, Body: body, Header: providerHeaders(src, body)}
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
