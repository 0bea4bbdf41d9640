package provider

import (
	"bytes"
	"cmp"
	"net/http"
	"strings"

	"github.com/hooklane/hooklane"
)

// platica speaks Platica's webhooks: one event per delivery, in an envelope
// whose id names the delivery and repeats on a retry.
type platica struct{}

var platicaSignature = hmacSignature{header: "X-Webhook-Signature", prefix: "sha256="}

// platicaFlowPrefix starts the events that wait for a synchronous answer:
// whatsapp.flows.init, .screen_advance and .back.
const platicaFlowPrefix = "whatsapp.flows."

// platicaEnvelope is what every Platica event carries. The data of the
// conversation.*, message.*, client.* and referral.received events is
// UNCONFIRMED (only the whatsapp.flows.* data is documented), so the fields
// read from data are optional and any other shape leaves them empty.
type platicaEnvelope struct {
	ID           scalar `json:"id"`
	Event        scalar `json:"event"`
	WorkspaceID  scalar `json:"workspaceId"`
	Timestamp    scalar `json:"timestamp"`
	ResourceType scalar `json:"resourceType"`
	ResourceID   scalar `json:"resourceId"`
	Data         struct {
		ConversationID scalar `json:"conversationId"`
		Conversation   struct {
			ID          scalar `json:"id"`
			PhoneNumber scalar `json:"phoneNumber"`
		} `json:"conversation"`
		Client struct {
			PhoneNumber scalar `json:"phoneNumber"`
		} `json:"client"`
	} `json:"data"`
}

func (platica) Name() string { return "platica" }

func (platica) Verify(h http.Header, body []byte, secrets [][]byte) error {
	return platicaSignature.verify(h, body, secrets)
}

func (platica) Inspect(body []byte) (hooklane.Summary, error) {
	// Only what ingest needs: decoding the whole envelope costs more.
	var e struct {
		ID    scalar `json:"id"`
		Event scalar `json:"event"`
	}
	if err := decodeObject(body, &e); err != nil {
		return hooklane.Summary{}, err
	}
	key := string(e.ID)
	if key == "" {
		key = bodyHash(body)
	}
	return hooklane.Summary{
		EventType: orUnknown(e.Event),
		DedupeKey: key,
		Flow:      strings.HasPrefix(string(e.Event), platicaFlowPrefix),
	}, nil
}

func (platica) Events(body []byte) ([]hooklane.Event, error) {
	var e platicaEnvelope
	if err := decodeObject(body, &e); err != nil {
		return nil, err
	}
	conversationID := cmp.Or(e.Data.Conversation.ID, e.Data.ConversationID)
	if conversationID == "" && e.ResourceType == "conversation" {
		conversationID = e.ResourceID
	}
	return []hooklane.Event{{
		Type:           orUnknown(e.Event),
		Key:            naturalKey("delivery", body, string(e.ID)),
		OccurredAt:     isoTime(e.Timestamp),
		Account:        string(e.WorkspaceID),
		ResourceType:   string(e.ResourceType),
		ResourceID:     string(e.ResourceID),
		ConversationID: string(conversationID),
		Phone:          string(cmp.Or(e.Data.Client.PhoneNumber, e.Data.Conversation.PhoneNumber)),
		Payload:        bytes.Clone(body),
	}}, nil
}

func (platica) KeepHeaders() []string { return platicaHeaders }

// platicaHeaders are the headers platica deliveries keep, shared by every
// request: callers do not modify them.
var platicaHeaders = []string{
	"Content-Type", "User-Agent",
	"X-Webhook-Event", "X-Webhook-Id", "X-Webhook-Event-Id",
	"X-Webhook-Resource-Type", "X-Webhook-Resource-Id",
	"X-Webhook-Timestamp", "X-Webhook-Signature", "X-Request-Id",
}
