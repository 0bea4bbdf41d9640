package provider

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hooklane/hooklane"
)

// factLine sums a fact up in one line, for comparison.
func factLine(f hooklane.Fact) string {
	s := fmt.Sprintf("%s %s", f.Kind, f.MessageID)
	add := func(k, v string) {
		if v != "" {
			s += " " + k + "=" + v
		}
	}
	if !f.At.IsZero() {
		add("at", fmt.Sprint(f.At.Unix()))
	}
	add("conv", f.ConversationID)
	add("dir", f.Direction)
	add("contact", f.Contact.ID)
	add("name", f.Contact.Name)
	add("phone", f.Contact.Phone)
	add("jid", f.Contact.JID)
	add("user", f.Contact.UserID)
	add("username", f.Contact.Username)
	add("client", f.Contact.ClientID)
	add("email", f.Contact.Email)
	add("ctags", string(f.Contact.Tags))
	add("type", f.Message.Type)
	add("text", f.Message.Text)
	add("media", string(f.Message.Media))
	add("reply", f.Message.ReplyTo)
	add("status", f.Status)
	add("error", string(f.Error))
	add("edit", f.Text)
	add("cstatus", f.Conversation.Status)
	add("operation", f.Conversation.Operation)
	add("tags", string(f.Conversation.Tags))
	return s
}

// factLines is every fact of body's events, a line each.
func factLines(t *testing.T, provider, body string) []string {
	t.Helper()
	events, err := mustLookup(t, provider).Events([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range events {
		for _, f := range e.Facts {
			lines = append(lines, factLine(f))
		}
	}
	return lines
}

func checkFacts(t *testing.T, provider, body string, want ...string) {
	t.Helper()
	got := factLines(t, provider, body)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s facts of %s:\n got %s\nwant %s", provider, body, strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

func metaValue(field, value string) string {
	return `{"object":"whatsapp_business_account","entry":[{"id":"WABA","time":1700000000,"changes":[{"field":"` + field +
		`","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"PN"},` + value + `}}]}]}`
}

func TestMetaFacts(t *testing.T) {
	ana := `"contacts":[{"profile":{"name":"Ana","username":"@ana"},"wa_id":"5215512345678","user_id":"MX.1"}]`
	for _, tt := range []struct {
		name, body string
		want       []string
	}{
		{"text, with the contact's profile", metaValue("messages", ana+`,"messages":[{"from":"5215512345678","id":"w1","timestamp":"1700000001","type":"text","text":{"body":"hola"},"context":{"id":"w0"}}]`),
			[]string{"message w1 at=1700000001 conv=PN:5215512345678 dir=in contact=5215512345678 name=Ana phone=5215512345678 user=MX.1 username=@ana type=text text=hola reply=w0 status=received"}},
		{"image with caption", metaValue("messages", `"messages":[{"from":"52155","id":"w2","timestamp":"1700000002","type":"image","image":{"caption":"foto","mime_type":"image/jpeg","sha256":"abc","id":"M1"}}]`),
			[]string{`message w2 at=1700000002 conv=PN:52155 dir=in contact=52155 phone=52155 type=image text=foto media={"id":"M1","mime_type":"image/jpeg","sha256":"abc"} status=received`}},
		{"a username without a phone", metaValue("messages", `"contacts":[{"profile":{"name":"Sol","username":"@sol"},"user_id":"US.9"}],"messages":[{"from_user_id":"US.9","id":"w3","timestamp":"1700000003","type":"text","text":{"body":"x"}}]`),
			[]string{"message w3 at=1700000003 conv=PN:US.9 dir=in contact=US.9 name=Sol user=US.9 username=@sol type=text text=x status=received"}},
		{"reaction", metaValue("messages", `"messages":[{"from":"52155","id":"w4","timestamp":"1700000004","type":"reaction","reaction":{"message_id":"w1","emoji":"👍"}}]`),
			[]string{"message w4 at=1700000004 conv=PN:52155 dir=in contact=52155 phone=52155 type=reaction text=👍 reply=w1 status=received"}},
		{"edit", metaValue("messages", `"messages":[{"from":"52155","id":"w5","timestamp":"1700000005","type":"edit","edit":{"original_message_id":"w1","message":{"type":"text","text":{"body":"hola!"}}}}]`),
			[]string{"edit w1 at=1700000005 conv=PN:52155 dir=in contact=52155 phone=52155 edit=hola!"}},
		{"revoke", metaValue("messages", `"messages":[{"from":"52155","id":"w6","timestamp":"1700000006","type":"revoke","revoke":{"original_message_id":"w1"}}]`),
			[]string{"delete w1 at=1700000006 conv=PN:52155 dir=in contact=52155 phone=52155"}},
		{"group message", metaValue("messages", `"messages":[{"from":"52166","group_id":"G1","id":"w7","timestamp":"1700000007","type":"text","text":{"body":"g"}}]`),
			[]string{"message w7 at=1700000007 conv=PN:G1 dir=in contact=52166 phone=52166 type=text text=g status=received"}},
		{"every status word, a failure with its errors, a group's", metaValue("messages", `"statuses":[`+
			`{"id":"o1","status":"sent","timestamp":"1","recipient_id":"52155"},{"id":"o1","status":"delivered","timestamp":"2","recipient_id":"52155"},`+
			`{"id":"o1","status":"read","timestamp":"3","recipient_id":"52155"},{"id":"o1","status":"played","timestamp":"4","recipient_id":"52155"},`+
			`{"id":"o2","status":"failed","timestamp":"5","recipient_id":"52155","errors":[{"code":131049}]},`+
			`{"id":"o3","status":"read","timestamp":"6","recipient_id":"G1","recipient_type":"group","recipient_participant_id":"52177"},`+
			`{"id":"o4","status":"sent","timestamp":"7","recipient_user_id":"MX.1"}]`),
			[]string{
				"status o1 at=1 conv=PN:52155 dir=out contact=52155 phone=52155 status=sent",
				"status o1 at=2 conv=PN:52155 dir=out contact=52155 phone=52155 status=delivered",
				"status o1 at=3 conv=PN:52155 dir=out contact=52155 phone=52155 status=read",
				"status o1 at=4 conv=PN:52155 dir=out contact=52155 phone=52155 status=played",
				`status o2 at=5 conv=PN:52155 dir=out contact=52155 phone=52155 status=failed error=[{"code":131049}]`,
				"status o3 at=6 conv=PN:G1 dir=out contact=52177 phone=52177 status=read",
				"status o4 at=7 conv=PN:MX.1 dir=out contact=MX.1 user=MX.1 status=sent",
			}},
		{"a status to a user id that contacts[] gives a phone", metaValue("messages", ana+`,"statuses":[{"id":"o5","status":"sent","timestamp":"8","recipient_user_id":"MX.1"}]`),
			[]string{"status o5 at=8 conv=PN:5215512345678 dir=out contact=5215512345678 name=Ana phone=5215512345678 user=MX.1 username=@ana status=sent"}},
		{"echo from the Business app", metaValue("smb_message_echoes", `"message_echoes":[{"from":"15550001111","to":"52155","id":"e1","timestamp":"1700000009","type":"text","text":{"body":"desde la app"}}]`),
			[]string{"message e1 at=1700000009 conv=PN:52155 dir=out contact=52155 phone=52155 type=text text=desde la app status=sent"}},
		{"history, both directions, with their status", metaValue("history", `"history":[{"threads":[{"id":"52155","messages":[`+
			`{"from":"15550001111","id":"h1","timestamp":"1","type":"text","text":{"body":"a"},"history_context":{"status":"READ"}},`+
			`{"from":"52155","id":"h2","timestamp":"2","type":"text","text":{"body":"b"},"history_context":{"status":"DELIVERED"}}]}]}]`),
			[]string{
				"message h1 at=1 conv=PN:52155 dir=out contact=52155 phone=52155 type=text text=a status=read",
				"message h2 at=2 conv=PN:52155 dir=in contact=52155 phone=52155 type=text text=b status=delivered",
			}},
		{"address book sync", metaValue("smb_app_state_sync", `"state_sync":[{"type":"contact","contact":{"full_name":"Pablo","phone_number":"16505551234"},"action":"add","metadata":{"timestamp":"1700000010"}}]`),
			[]string{"contact  at=1700000010 contact=16505551234 name=Pablo phone=16505551234"}},
		{"another field says nothing", metaValue("message_template_status_update", `"event":"APPROVED"`), nil},
	} {
		t.Run(tt.name, func(t *testing.T) { checkFacts(t, "meta", tt.body, tt.want...) })
	}
}

func TestWhatzmeapiFacts(t *testing.T) {
	evo := func(event, data string) string {
		return `{"event":"` + event + `","instance":"inst","data":` + data + `,"date_time":"2023-11-14T22:13:20.000Z"}`
	}
	const jid = "5511987654321@s.whatsapp.net"
	// Evolution's numbers and names, as a number or a string, and
	// WhatzMeAPI's words.
	for _, tt := range []struct{ status, want string }{
		{"0", "failed"}, {`"0"`, "failed"}, {`"ERROR"`, "failed"},
		{"1", "pending"}, {`"PENDING"`, "pending"},
		{"2", "sent"}, {`"2"`, "sent"}, {`"SERVER_ACK"`, "sent"},
		{"3", "delivered"}, {`"DELIVERY_ACK"`, "delivered"},
		{"4", "read"}, {`"READ"`, "read"}, {"5", "played"}, {`"PLAYED"`, "played"},
		{`"sent"`, "sent"}, {`"delivered"`, "delivered"}, {`"read"`, "read"}, {`"failed"`, "failed"}, {`"error"`, "failed"}, {`"pending"`, "pending"},
	} {
		checkFacts(t, "whatzmeapi", evo("messages.update", `{"keyId":"K1","remoteJid":"`+jid+`","fromMe":true,"status":`+tt.status+`}`),
			"status K1 at=1700000000 conv="+jid+" dir=out contact=5511987654321 phone=5511987654321 jid="+jid+" status="+tt.want)
	}
	checkFacts(t, "whatzmeapi", evo("messages.update", `{"keyId":"K1","remoteJid":"`+jid+`","fromMe":false,"status":"DELETED"}`),
		"delete K1 at=1700000000 conv="+jid+" dir=in contact=5511987654321 phone=5511987654321 jid="+jid)
	checkFacts(t, "whatzmeapi", evo("messages.delete", `{"id":"K1","remoteJid":"`+jid+`","fromMe":true}`),
		"delete K1 at=1700000000 conv="+jid)
	checkFacts(t, "whatzmeapi", `{"event":"messages.update","statuses":[{"id":"ID","status":"delivered"},{"id":"ID","status":"read","timestamp":1700000050}]}`,
		"status ID status=delivered", "status ID at=1700000050 status=read")
	for _, tt := range []struct {
		name, data string
		want       string
	}{
		{"inbound text, named by pushName", `{"key":{"remoteJid":"` + jid + `","fromMe":false,"id":"M1"},"pushName":"Maria","status":"DELIVERY_ACK","message":{"conversation":"oi"},"messageType":"conversation","messageTimestamp":1700000001}`,
			"message M1 at=1700000001 conv=" + jid + " dir=in contact=5511987654321 name=Maria phone=5511987654321 jid=" + jid + " type=text text=oi status=received"},
		{"outbound, whose pushName is the business's", `{"key":{"remoteJid":"` + jid + `","fromMe":true,"id":"M2"},"pushName":"Loja","status":"SERVER_ACK","message":{"conversation":"ok"},"messageType":"conversation","messageTimestamp":1700000002}`,
			"message M2 at=1700000002 conv=" + jid + " dir=out contact=5511987654321 phone=5511987654321 jid=" + jid + " type=text text=ok status=sent"},
		{"group, by its member", `{"key":{"remoteJid":"1203@g.us","fromMe":false,"id":"M3","participant":"156985@lid"},"pushName":"Majo","message":{"extendedTextMessage":{"text":"hi","contextInfo":{"stanzaId":"M1"}}},"messageType":"extendedTextMessage","messageTimestamp":1700000003}`,
			"message M3 at=1700000003 conv=1203@g.us dir=in contact=156985@lid name=Majo jid=156985@lid type=text text=hi reply=M1 status=received"},
		{"image", `{"key":{"remoteJid":"` + jid + `","fromMe":false,"id":"M4"},"message":{"imageMessage":{"url":"https://mmg/x","mimetype":"image/jpeg","caption":"foto","fileSha256":"aGk="}},"messageType":"imageMessage","messageTimestamp":1700000004}`,
			"message M4 at=1700000004 conv=" + jid + ` dir=in contact=5511987654321 phone=5511987654321 jid=` + jid + ` type=image text=foto media={"mime_type":"image/jpeg","sha256":"aGk=","url":"https://mmg/x"} status=received`},
		{"reaction", `{"key":{"remoteJid":"` + jid + `","fromMe":false,"id":"M5"},"message":{"reactionMessage":{"text":"❤️","key":{"id":"M2"}}},"messageType":"reactionMessage","messageTimestamp":1700000005}`,
			"message M5 at=1700000005 conv=" + jid + " dir=in contact=5511987654321 phone=5511987654321 jid=" + jid + " type=reaction text=❤️ reply=M2 status=received"},
		{"edit", `{"key":{"remoteJid":"` + jid + `","fromMe":true,"id":"M6"},"message":{"protocolMessage":{"type":14,"key":{"id":"M2"},"editedMessage":{"conversation":"ok!"}}},"messageType":"protocolMessage","messageTimestamp":1700000006}`,
			"edit M2 at=1700000006 conv=" + jid + " dir=out contact=5511987654321 phone=5511987654321 jid=" + jid + " edit=ok!"},
		{"edit, nested", `{"key":{"remoteJid":"` + jid + `","fromMe":true,"id":"M7"},"message":{"editedMessage":{"message":{"protocolMessage":{"type":"MESSAGE_EDIT","key":{"id":"M2"},"editedMessage":{"extendedTextMessage":{"text":"ok!!"}}}}}},"messageType":"editedMessage","messageTimestamp":1700000007}`,
			"edit M2 at=1700000007 conv=" + jid + " dir=out contact=5511987654321 phone=5511987654321 jid=" + jid + " edit=ok!!"},
		{"revoke", `{"key":{"remoteJid":"` + jid + `","fromMe":true,"id":"M8"},"message":{"protocolMessage":{"type":"REVOKE","key":{"id":"M2"}}},"messageType":"protocolMessage","messageTimestamp":1700000008}`,
			"delete M2 at=1700000008 conv=" + jid + " dir=out contact=5511987654321 phone=5511987654321 jid=" + jid},
	} {
		t.Run(tt.name, func(t *testing.T) { checkFacts(t, "whatzmeapi", evo("messages.upsert", tt.data), tt.want) })
	}
	checkFacts(t, "whatzmeapi", evo("contacts.upsert", `[{"remoteJid":"`+jid+`","pushName":"Dani"},{"remoteJid":"1203@g.us","pushName":"Grupo"}]`),
		"contact  at=1700000000 contact=5511987654321 name=Dani phone=5511987654321 jid="+jid)
}

func TestWhapiFacts(t *testing.T) {
	for _, tt := range []struct{ ack, want string }{
		{`"pending"`, "pending"}, {`"sent"`, "sent"}, {`"delivered"`, "delivered"}, {`"read"`, "read"}, {`"played"`, "played"},
		{`"error"`, "failed"}, {"-1", "failed"}, {"0", "pending"}, {"1", "sent"}, {"2", "delivered"}, {"3", "read"}, {"4", "played"},
	} {
		checkFacts(t, "whapi", `{"event_type":"ack_update","id":"W1","ack":`+tt.ack+`}`, "status W1 status="+tt.want)
	}
	checkFacts(t, "whapi", `{"event_type":"message_received","id":"W2","instance_id":"1","chat_id":"573001112233@c.us","from":"573001112233@c.us","from_me":0,"sender_name":"Juan","body":"hola","type":"text","timestamp":1700000001,"quoted_message_id":"W0"}`,
		"message W2 at=1700000001 conv=573001112233@c.us dir=in contact=573001112233 name=Juan phone=573001112233 jid=573001112233@c.us type=text text=hola reply=W0 status=received")
	checkFacts(t, "whapi", `{"event_type":"message_received","id":"W3","chat_id":"1203@g.us","from":"573001112233@c.us","group_sender":"573004445566@c.us","sender_name":"Lu","is_group":1,"body":"g","type":"image","media_url":"https://x/y.jpg","timestamp":1700000002}`,
		`message W3 at=1700000002 conv=1203@g.us dir=in contact=573004445566 name=Lu phone=573004445566 jid=573004445566@c.us type=image text=g media={"url":"https://x/y.jpg"} status=received`)
	checkFacts(t, "whapi", `{"event_type":"message_sent","id":"W4","chat_id":"573001112233@c.us","to":"573001112233@c.us","body":"menú","type":"vcard","timestamp":1700000003,"status":"sent"}`,
		"message W4 at=1700000003 conv=573001112233@c.us dir=out contact=573001112233 phone=573001112233 jid=573001112233@c.us type=contacts text=menú status=sent")
	reaction := `{"event_type":"message_reaction","instance_id":"1","message_id":"W4","from_number":"573001112233@c.us","reaction":"👍","timestamp":1700000004}`
	checkFacts(t, "whapi", reaction,
		"message reaction:"+sha([]byte(reaction))+" at=1700000004 conv=573001112233@c.us dir=in contact=573001112233 phone=573001112233 jid=573001112233@c.us type=reaction text=👍 reply=W4 status=received")
	checkFacts(t, "whapi", `{"event_type":"test_webhook","message":"x"}`)
}

func TestPlaticaFacts(t *testing.T) {
	pl := func(event, rtype, data string) string {
		return `{"id":"d1","event":"` + event + `","workspaceId":"ws","timestamp":"2023-11-14T22:13:20.000Z","resourceType":"` + rtype + `","resourceId":"r1","data":` + data + `}`
	}
	client := `"client":{"id":"cl1","phoneNumber":"+5215544443333","name":"Fer"}`
	checkFacts(t, "platica", pl("message.created", "message", `{"message":{"id":"m1","conversationId":"c1","direction":"inbound","type":"text","text":"hola"},`+client+`}`),
		"message m1 at=1700000000 conv=c1 dir=in contact=5215544443333 name=Fer phone=5215544443333 client=cl1 type=text text=hola status=received")
	checkFacts(t, "platica", pl("message.updated", "message", `{"message":{"id":"m1","conversationId":"c1","direction":"outbound","status":"delivered"}}`),
		"status m1 at=1700000000 conv=c1 dir=out status=delivered")
	checkFacts(t, "platica", pl("message.updated", "message", `{"message":{"id":"m1","conversationId":"c1","text":"hola!","editedAt":"2023-11-14T22:13:30.000Z"}}`),
		"edit m1 at=1700000010 conv=c1 edit=hola!")
	checkFacts(t, "platica", pl("message.updated", "message", `{"message":{"id":"m1"}}`))
	checkFacts(t, "platica", pl("message.deleted", "message", `{"message":{"id":"m1","conversationId":"c1"}}`),
		"delete m1 at=1700000000 conv=c1")
	checkFacts(t, "platica", pl("client.updated", "client", `{"id":"cl1","phoneNumber":"+5215544443333","name":"Fernanda","email":"f@x.mx","tags":["a"]}`),
		`contact  at=1700000000 contact=5215544443333 name=Fernanda phone=5215544443333 client=cl1 email=f@x.mx ctags=["a"]`)
	checkFacts(t, "platica", pl("client.tags.updated", "client", `{`+client+`}`),
		"contact  at=1700000000 contact=5215544443333 name=Fer phone=5215544443333 client=cl1")
	checkFacts(t, "platica", pl("conversation.status.updated", "conversation", `{"id":"c1","status":"finished","tags":["vip"],"operation":"manual"}`),
		`conversation  at=1700000000 conv=r1 cstatus=finished operation=manual tags=["vip"]`)
	checkFacts(t, "platica", string(readPayload(t, "platica/conversation_created.json")),
		`conversation  at=1778098200 conv=conv_124 contact=5215544443333 name=Ana López phone=5215544443333 cstatus=open operation=automatic tags=[]`)
	checkFacts(t, "platica", string(readPayload(t, "platica/flows_init.json")))
}

func TestMediaJSONDropsNUL(t *testing.T) {
	if got := string(mediaJSON("", "https://x/\x00y", "", "", "")); got != `{"url":"https://x/y"}` {
		t.Errorf("mediaJSON = %s", got)
	}
	if got := mediaJSON("", "\x00", "", "", ""); got != nil {
		t.Errorf("mediaJSON of a NUL = %s, want nil", got)
	}
}
