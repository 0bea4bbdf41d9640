package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hooklane/hooklane/flowlane"
	"github.com/hooklane/hooklane/internal/stdjson"
)

// Fallback is the answer sent when no valid answer arrives in time: the one
// Platica itself sends Meta when an endpoint is late.
const Fallback = `{"data":{"acknowledged":true}}`

// ErrMalformed reports a flow request body that cannot be read.
var ErrMalformed = errors.New("flowlane: malformed flow request")

// ParsePlatica reads a Platica whatsapp.flows.* delivery. The action comes
// from data.flowExchange.action, or from the event name when that is
// missing; the flow token from data.flowResponse.flowToken, else
// resourceId.
func ParsePlatica(body []byte, source string) (*flowlane.Request, error) {
	var env struct {
		Event      string  `json:"event"`
		ResourceID *string `json:"resourceId"`
		Data       *struct {
			Client       json.RawMessage `json:"client"`
			Conversation json.RawMessage `json:"conversation"`
			Flow         struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"flow"`
			FlowResponse *struct {
				FlowToken string `json:"flowToken"`
			} `json:"flowResponse"`
			FlowExchange *struct {
				Action  string          `json:"action"`
				Screen  *string         `json:"screen"`
				Version *string         `json:"version"`
				Payload json.RawMessage `json:"payload"`
			} `json:"flowExchange"`
		} `json:"data"`
	}
	// On ingest's hot path: encoding/json's semantics, decoded faster.
	if err := stdjson.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if env.Data == nil || env.Data.FlowExchange == nil {
		return nil, fmt.Errorf("%w: no data.flowExchange", ErrMalformed)
	}
	d, x := env.Data, env.Data.FlowExchange
	name := x.Action
	if name == "" {
		name = platicaEvents[env.Event]
	}
	action, err := parseAction(name)
	if err != nil {
		return nil, err
	}
	if !isObject(x.Payload) {
		return nil, fmt.Errorf("%w: data.flowExchange.payload is not an object", ErrMalformed)
	}
	req := &flowlane.Request{
		Action:       action,
		Screen:       deref(x.Screen),
		Data:         nonNull(x.Payload),
		FlowID:       d.Flow.ID,
		FlowName:     d.Flow.Name,
		Source:       source,
		Version:      deref(x.Version),
		Client:       nonNull(d.Client),
		Conversation: nonNull(d.Conversation),
	}
	if d.FlowResponse != nil {
		req.FlowToken = d.FlowResponse.FlowToken
	}
	if req.FlowToken == "" {
		req.FlowToken = deref(env.ResourceID)
	}
	return req, nil
}

// platicaEvents maps Platica's event names to the action they announce.
var platicaEvents = map[string]string{
	"whatsapp.flows.init":           "init",
	"whatsapp.flows.screen_advance": "data_exchange",
	"whatsapp.flows.back":           "back",
}

// ParseEndpoint reads a flow data endpoint request: the plain JSON a hosting
// provider forwards, or Meta's body after [DecryptRequest]. A request whose
// data carries an "error" string is an error notification (ActionError).
// FlowID is left empty: the body does not name its flow, so the caller, which
// knows the endpoint it serves, sets it.
func ParseEndpoint(body []byte, source string) (*flowlane.Request, error) {
	var in struct {
		Version   string          `json:"version"`
		Action    string          `json:"action"`
		Screen    string          `json:"screen"`
		Data      json.RawMessage `json:"data"`
		FlowToken string          `json:"flow_token"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	action, err := parseAction(in.Action)
	if err != nil {
		return nil, err
	}
	if !isObject(in.Data) {
		return nil, fmt.Errorf("%w: data is not an object", ErrMalformed)
	}
	req := &flowlane.Request{
		Action:    action,
		Screen:    in.Screen,
		Data:      nonNull(in.Data),
		FlowToken: in.FlowToken,
		Source:    source,
		Version:   in.Version,
	}
	// Keys are matched exactly, and a non-string "error" is a form field
	// that happens to be named so.
	var fields map[string]json.RawMessage
	if req.Data != nil && json.Unmarshal(req.Data, &fields) == nil {
		if key, ok := jsonString(fields["error"]); ok {
			req.Action, req.ErrorKey = flowlane.ActionError, key
			req.ErrorMessage, _ = jsonString(fields["error_message"])
		}
	}
	return req, nil
}

// jsonString decodes raw if it is a JSON string.
func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// parseAction accepts the actions a provider can send, in any case.
func parseAction(s string) (flowlane.Action, error) {
	switch a := flowlane.Action(strings.ToLower(s)); a {
	case flowlane.ActionInit, flowlane.ActionDataExchange, flowlane.ActionBack, flowlane.ActionPing:
		return a, nil
	case "":
		return "", fmt.Errorf("%w: no action", ErrMalformed)
	default:
		return "", fmt.Errorf("%w: unknown action %q", ErrMalformed, s)
	}
}

// ValidAnswer reports whether b is an answer Platica accepts: a JSON object
// whose "data" is an object or whose "screen" is a non-empty string.
func ValidAnswer(b []byte) bool {
	// A map, not a struct: struct fields would match "DATA" too, which the
	// provider's JavaScript does not.
	var a map[string]json.RawMessage
	if json.Unmarshal(b, &a) != nil {
		return false
	}
	// Decoded raw values start at their first byte, and "" is the only
	// spelling of the empty string.
	data, screen := a["data"], a["screen"]
	return len(data) > 0 && data[0] == '{' || len(screen) > 2 && screen[0] == '"'
}

// isObject reports whether raw is absent, null or a JSON object.
func isObject(raw json.RawMessage) bool {
	return len(raw) == 0 || raw[0] == '{' || bytes.Equal(raw, null)
}

var null = []byte("null")

// nonNull drops a JSON null, so an absent value stays absent on the wire.
func nonNull(raw json.RawMessage) json.RawMessage {
	if bytes.Equal(raw, null) {
		return nil
	}
	return raw
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
