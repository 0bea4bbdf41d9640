package hooklane

import (
	"encoding/json"
	"time"
)

// FlowExchange records one flow request and hooklane's answer. Ingest
// publishes it on ExchangeSubject, off the answer's path, and the workers
// store it in flow_exchanges.
type FlowExchange struct {
	ID          string          `json:"id"` // unique, so a redelivered record is stored once
	Source      string          `json:"source"`
	FlowID      string          `json:"flow_id,omitempty"`
	FlowToken   string          `json:"flow_token,omitempty"`
	Action      string          `json:"action"`
	Screen      string          `json:"screen,omitempty"`
	RequestID   string          `json:"request_id,omitempty"`
	RequestData json.RawMessage `json:"request_data,omitempty"`
	Answer      json.RawMessage `json:"answer,omitempty"`
	Outcome     string          `json:"outcome"` // answered, timeout, no_responders, invalid or error
	LatencyMS   float64         `json:"latency_ms"`
	At          time.Time       `json:"at"`
}

// ExchangeSubject is the subject flow exchange records are published on:
// <prefix>.exchanges.<source>.
func ExchangeSubject(prefix, source string) string {
	return prefix + ".exchanges." + Token(source)
}

// ExchangesWildcard matches every exchange record subject under prefix.
func ExchangesWildcard(prefix string) string { return prefix + ".exchanges.>" }
