package console

import (
	"fmt"
	"testing"
	"time"
)

// The conversations postConversation makes, as the model names them: Juan
// on whapi (a chat JID), and Ana on Meta (<phone number id>:<contact>).
const (
	juanConversation = "573001112233@c.us"
	juanAnswer       = "OUT-W1"
	anaConversation  = "PNID1:5215550001"
)

// postConversation posts, through ingest, what makes two conversations:
// Juan writes on whapi an hour ago and the business answers twice, one
// answer delivered and one only sent; Ana writes on Meta and a template to
// her fails. The worker's model turns them into the conversation pages.
func (r *rig) postConversation(t *testing.T) {
	t.Helper()
	at := time.Now().Add(-time.Hour).Unix()
	r.post(t, "whapi", fmt.Sprintf(`{"event_type":"message_received","id":"IN-W1","chat_id":%q,"from":%[1]q,"from_me":0,`+
		`"sender_name":"Juan Pérez","body":"Hola, ¿tienen menú?","type":"text","timestamp":%d,"ack":"pending"}`, juanConversation, at))
	r.post(t, "whapi", fmt.Sprintf(`{"event_type":"message_sent","id":%q,"chat_id":%q,"from":"573009998877@c.us","to":%[2]q,`+
		`"from_me":1,"body":"¡Hola! Te comparto el menú.","type":"text","timestamp":%d,"status":"sent"}`, juanAnswer, juanConversation, at+60))
	r.post(t, "whapi", fmt.Sprintf(`{"event_type":"ack_update","id":%q,"ack":"delivered"}`, juanAnswer))
	r.post(t, "whapi", fmt.Sprintf(`{"event_type":"message_sent","id":"OUT-W2","chat_id":%q,"from":"573009998877@c.us","to":%[1]q,`+
		`"from_me":1,"body":"Tracking: <script>alert(1)</script>","type":"text","timestamp":%d,"status":"sent"}`, juanConversation, at+120))
	r.post(t, "wa", metaMessageAt(at))
	r.post(t, "wa", fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"WABA1","changes":[{"value":{"messaging_product":"whatsapp",`+
		`"metadata":{"display_phone_number":"15550001111","phone_number_id":"PNID1"},"statuses":[{"id":"wamid.OUT3","status":"failed",`+
		`"timestamp":"%d","recipient_id":"5215550001","errors":[{"code":131047,"title":"Re-engagement message",`+
		`"message":"Re-engagement message","error_data":{"details":"More than 24 hours have passed"}}]}]},"field":"messages"}]}]}`, at+180))
	waitFor(t, "the model of the posted conversations", func() bool {
		in := "conversation_id IN ('" + juanConversation + "', '" + anaConversation + "')"
		return r.count(t, "SELECT count(*) FROM messages WHERE "+in+" AND status IN ('delivered', 'failed')") == 2 &&
			r.count(t, "SELECT count(*) FROM messages WHERE "+in) == 5
	})
}

// readReceipt posts whapi's read receipt of Juan's answer, and waits for
// the model to take it.
func (r *rig) readReceipt(t *testing.T) {
	t.Helper()
	r.post(t, "whapi", fmt.Sprintf(`{"event_type":"ack_update","id":%q,"ack":"read"}`, juanAnswer))
	waitFor(t, "the read receipt in the model", func() bool {
		return r.count(t, "SELECT count(*) FROM messages WHERE message_id = $1 AND status = 'read'", juanAnswer) == 1
	})
}
