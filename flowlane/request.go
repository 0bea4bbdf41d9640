package flowlane

import "encoding/json"

// Action is what the user did in the flow, normalized to lower case.
type Action string

// The actions a flow request can carry. Meta sends INIT and BACK in upper
// case; the gateway normalizes them.
const (
	ActionInit         Action = "init"          // the user opened the flow
	ActionDataExchange Action = "data_exchange" // the user submitted a screen
	ActionBack         Action = "back"          // the user pressed back
	ActionPing         Action = "ping"          // a health check; never reaches responders
	ActionError        Action = "error"         // an error notification; never reaches responders
)

// Request is a flow request, normalized from any provider. It is what
// responders receive, as JSON. It carries what the provider sent once: the
// screen's data and the context around it, not the provider's whole body
// beside them, so a request as large as NATS allows still reaches them.
type Request struct {
	Action    Action          `json:"action"`
	Screen    string          `json:"screen,omitempty"`     // the screen the user is on; often empty for init and back
	Data      json.RawMessage `json:"data,omitempty"`       // the screen's captured payload, a JSON object
	FlowToken string          `json:"flow_token,omitempty"` // Meta's flow session token
	FlowID    string          `json:"flow_id,omitempty"`    // the flow's identifier at the source
	FlowName  string          `json:"flow_name,omitempty"`
	Source    string          `json:"source"` // the configured source name, e.g. "platica"
	Version   string          `json:"version,omitempty"`

	// Client and Conversation are Platica's data.client and
	// data.conversation, when it could resolve them.
	Client       json.RawMessage `json:"client,omitempty"`
	Conversation json.RawMessage `json:"conversation,omitempty"`

	// ErrorKey and ErrorMessage describe an error notification (ActionError).
	ErrorKey     string `json:"error_key,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`
}

// DecodeData unmarshals the request's Data into v. A request without data
// leaves v untouched.
func (r *Request) DecodeData(v any) error {
	if len(r.Data) == 0 {
		return nil
	}
	return json.Unmarshal(r.Data, v)
}

// Response is a responder's answer: the screen to show and its data. Build
// one with [Screen], [StayWithError] or [Complete], or directly.
type Response struct {
	Screen string         `json:"screen,omitempty"`
	Data   map[string]any `json:"data,omitempty"`
}
