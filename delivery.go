package hooklane

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Header names hooklane sets on every queued delivery. Headers of the original
// HTTP request that are worth keeping travel under their own names.
const (
	HeaderSource     = "Hooklane-Source"
	HeaderProvider   = "Hooklane-Provider"
	HeaderEventType  = "Hooklane-Event-Type"
	HeaderDedupeKey  = "Hooklane-Dedupe-Key"
	HeaderReceivedAt = "Hooklane-Received-At"
	HeaderRequestID  = "Hooklane-Request-Id"
)

// ErrMalformed reports a queued message that lacks the metadata of a delivery.
var ErrMalformed = errors.New("malformed delivery message")

// Delivery is one authentic webhook request as accepted by ingest.
//
// A delivery travels as one JetStream message: the data is the provider's raw
// body, unchanged, and the metadata rides in NATS headers, so consumers that
// users attach themselves read the same bytes the provider signed.
type Delivery struct {
	Source     string      // configured source name, e.g. "platica"
	Provider   string      // provider kind: platica, meta, whatzmeapi or whapi
	EventType  string      // the delivery's event type as the provider names it
	DedupeKey  string      // the provider's delivery id, else the body's SHA-256
	ReceivedAt time.Time   // when ingest read the request
	RequestID  string      // X-Request-Id of the HTTP request
	Headers    http.Header // provider headers worth keeping (never credentials)
	Body       []byte      // the raw body, byte for byte as signed
}

// Msg builds the JetStream message for d under the given subject prefix.
// Nats-Msg-Id is the dedupe key, so JetStream drops retries inside its
// duplicate window.
func (d *Delivery) Msg(prefix string) *nats.Msg {
	h := make(nats.Header, len(d.Headers)+7)
	for name, values := range d.Headers {
		h[name] = values
	}
	// One backing array for the metadata's values, and names canonical
	// already, as Set would make them: a publish allocates little.
	values := [...]string{
		MsgID(d.Source, d.DedupeKey), d.Source, d.Provider, d.EventType, d.DedupeKey,
		d.ReceivedAt.UTC().Format(time.RFC3339Nano), d.RequestID,
	}
	for i, name := range [...]string{
		nats.MsgIdHdr, HeaderSource, HeaderProvider, HeaderEventType, HeaderDedupeKey, HeaderReceivedAt, HeaderRequestID,
	} {
		if name != HeaderRequestID || d.RequestID != "" {
			h[name] = values[i : i+1 : i+1]
		}
	}
	return &nats.Msg{Subject: EventSubject(prefix, d.Source, d.EventType), Header: h, Data: d.Body}
}

// MsgID is the JetStream message id of a delivery: the source keeps two
// sources that share a provider from deduplicating each other.
func MsgID(source, dedupeKey string) string { return source + ":" + dedupeKey }

// FromMsg decodes a delivery from a queued message's headers and data.
func FromMsg(header nats.Header, data []byte) (Delivery, error) {
	d := Delivery{
		Source:    header.Get(HeaderSource),
		Provider:  header.Get(HeaderProvider),
		EventType: header.Get(HeaderEventType),
		DedupeKey: header.Get(HeaderDedupeKey),
		RequestID: header.Get(HeaderRequestID),
		Body:      data,
	}
	switch {
	case d.Source == "":
		return Delivery{}, fmt.Errorf("%w: no %s header", ErrMalformed, HeaderSource)
	case d.Provider == "":
		return Delivery{}, fmt.Errorf("%w: no %s header", ErrMalformed, HeaderProvider)
	case d.DedupeKey == "":
		return Delivery{}, fmt.Errorf("%w: no %s header", ErrMalformed, HeaderDedupeKey)
	}
	received, err := time.Parse(time.RFC3339Nano, header.Get(HeaderReceivedAt))
	if err != nil {
		return Delivery{}, fmt.Errorf("%w: %s: %v", ErrMalformed, HeaderReceivedAt, err)
	}
	d.ReceivedAt = received
	d.Headers = make(http.Header)
	for name, values := range header {
		if strings.HasPrefix(name, "Hooklane-") || strings.HasPrefix(name, "Nats-") {
			continue
		}
		d.Headers[name] = values
	}
	return d, nil
}
