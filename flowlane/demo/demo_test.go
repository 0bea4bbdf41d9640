package demo_test

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hooklane/hooklane/flowlane"
	"github.com/hooklane/hooklane/flowlane/demo"
	"github.com/hooklane/hooklane/flowlane/flowlanetest"
	"github.com/hooklane/hooklane/flowlane/gateway"
	"github.com/hooklane/hooklane/internal/natstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const products = `"products":[{"id":"p1","title":"Plan Básico"},{"id":"p2","title":"Plan Premium"}]`

func TestCotizador(t *testing.T) {
	url, prefix := natstest.URL(t), natstest.Prefix(t)
	r := flowlane.NewResponder(natstest.ConnectURL(t, url), flowlane.ResponderConfig{Prefix: prefix})
	demo.RegisterCotizador(r, "platica")
	flowlanetest.Serve(t, r)
	x := gateway.NewExchanger(natstest.ConnectURL(t, url), gateway.ExchangerConfig{Prefix: prefix})

	seed := func(name string) *flowlane.Request {
		body, err := os.ReadFile("../gateway/testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		req, err := gateway.ParsePlatica(body, "platica")
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	exchange := func(screen, data string) *flowlane.Request {
		return &flowlane.Request{Action: flowlane.ActionDataExchange, Source: "platica", FlowID: "flow_doc_abc",
			Screen: screen, Data: json.RawMessage(data), FlowToken: "ZmxvdyQwMQ=="}
	}
	for _, tc := range []struct {
		name string
		req  *flowlane.Request
		want string
	}{
		{"init", seed("platica_init.json"), `{"screen":"WELCOME","data":{` + products + `}}`},
		{"premium", seed("platica_screen_advance.json"),
			`{"screen":"PAYMENT","data":{"amount_mxn":499,"email":"juan@empresa.com","selected_product":"p2"}}`},
		{"basic", exchange("WELCOME", `{"selected_product":"p1","email":"ana@ejemplo.mx"}`),
			`{"screen":"PAYMENT","data":{"amount_mxn":199,"email":"ana@ejemplo.mx","selected_product":"p1"}}`},
		{"invalid email", exchange("WELCOME", `{"selected_product":"p1","email":"ana@"}`),
			`{"screen":"WELCOME","data":{"error_message":"Escribe un correo electrónico válido.",` + products + `}}`},
		{"named email", exchange("WELCOME", `{"selected_product":"p1","email":"Ana <ana@ejemplo.mx>"}`),
			`{"screen":"WELCOME","data":{"error_message":"Escribe un correo electrónico válido.",` + products + `}}`},
		{"unknown product", exchange("WELCOME", `{"selected_product":"p9","email":"ana@ejemplo.mx"}`),
			`{"screen":"WELCOME","data":{"error_message":"Elige uno de los planes disponibles.",` + products + `}}`},
		{"unreadable data", exchange("WELCOME", `{"selected_product":2}`),
			`{"screen":"WELCOME","data":{"error_message":"No pudimos leer tus datos. Inténtalo de nuevo.",` + products + `}}`},
		{"confirm", exchange("PAYMENT", `{"selected_product":"p2","amount_mxn":1}`),
			`{"screen":"SUCCESS","data":{"extension_message_response":{"params":{"amount_mxn":499,"flow_token":"ZmxvdyQwMQ==","selected_product":"p2"}}}}`},
		{"back", seed("platica_back.json"), `{"screen":"WELCOME","data":{` + products + `}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := x.Exchange(t.Context(), tc.req, gateway.Budget{Total: 5 * time.Second})
			if res.Outcome != gateway.OutcomeAnswered || string(res.Answer) != tc.want {
				t.Errorf("outcome %s, err %v\n got %s\nwant %s", res.Outcome, res.Err, res.Answer, tc.want)
			}
		})
	}
	t.Run("unknown screen", func(t *testing.T) {
		res := x.Exchange(t.Context(), exchange("SUMMARY", `{"selected_product":"p2"}`), gateway.Budget{Total: 5 * time.Second})
		if res.Outcome != gateway.OutcomeError {
			t.Errorf("outcome %s, want error", res.Outcome)
		}
	})
}
