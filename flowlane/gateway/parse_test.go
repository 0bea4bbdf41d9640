package gateway_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/hooklane/hooklane/flowlane"
	"github.com/hooklane/hooklane/flowlane/gateway"
)

func TestParsePlaticaSeedPayloads(t *testing.T) {
	for _, tc := range []struct {
		file          string
		action        flowlane.Action
		screen, data  string
		flowName      string
		hasClientConv bool
	}{
		{file: "platica_init.json", action: flowlane.ActionInit, data: `{}`},
		{file: "platica_screen_advance.json", action: flowlane.ActionDataExchange, screen: "WELCOME",
			data: `{"selected_product":"p2","email":"juan@empresa.com"}`},
		{file: "platica_back.json", action: flowlane.ActionBack, screen: "PAYMENT", data: `{}`},
		{file: "platica_screen_advance_full.json", action: flowlane.ActionDataExchange, screen: "WELCOME",
			data: `{"selected_product":"p2","email":"juan@empresa.com"}`, flowName: "Cotizador", hasClientConv: true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			body := readTestdata(t, tc.file)
			req, err := gateway.ParsePlatica(body, "platica")
			if err != nil {
				t.Fatal(err)
			}
			if req.Action != tc.action || req.Screen != tc.screen {
				t.Errorf("action, screen = %q, %q; want %q, %q", req.Action, req.Screen, tc.action, tc.screen)
			}
			if req.FlowToken != "ZmxvdyQwMQ==" || req.FlowID != "flow_doc_abc" || req.FlowName != tc.flowName {
				t.Errorf("flow token, id, name = %q, %q, %q", req.FlowToken, req.FlowID, req.FlowName)
			}
			if req.Source != "platica" || req.Version != "3.0" {
				t.Errorf("source, version = %q, %q", req.Source, req.Version)
			}
			assertJSONEqual(t, "data", req.Data, tc.data)
			if got := req.Client != nil && req.Conversation != nil; got != tc.hasClientConv {
				t.Errorf("client and conversation present = %v, want %v", got, tc.hasClientConv)
			}
			if tc.hasClientConv {
				var c struct{ Name string }
				if err := json.Unmarshal(req.Client, &c); err != nil || c.Name != "Juan Pérez" {
					t.Errorf("client = %s", req.Client)
				}
			}
		})
	}
}

// TestParsePlaticaVariants covers what the seed's samples leave out.
func TestParsePlaticaVariants(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		action     flowlane.Action
		token      string
	}{
		{"token from resourceId", `{"resourceId":"tok","data":{"flowResponse":null,"flowExchange":{"action":"init"}}}`, flowlane.ActionInit, "tok"},
		{"action from event", `{"event":"whatsapp.flows.screen_advance","data":{"flowExchange":{"payload":{"a":1}}}}`, flowlane.ActionDataExchange, ""},
		{"upper-case action", `{"data":{"flowExchange":{"action":"BACK"}}}`, flowlane.ActionBack, ""},
		{"flowResponse token wins", `{"resourceId":"r","data":{"flowResponse":{"flowToken":"f"},"flowExchange":{"action":"init"}}}`, flowlane.ActionInit, "f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := gateway.ParsePlatica([]byte(tc.body), "p")
			if err != nil {
				t.Fatal(err)
			}
			if req.Action != tc.action || req.FlowToken != tc.token {
				t.Errorf("action, token = %q, %q; want %q, %q", req.Action, req.FlowToken, tc.action, tc.token)
			}
		})
	}
	for _, body := range []string{
		``, `[]`, `{"data":{}}`, `{"data":null}`,
		`{"data":{"flowExchange":{}}}`,
		`{"data":{"flowExchange":{"action":"navigate"}}}`,
		`{"data":{"flowExchange":{"action":"init","payload":[1]}}}`,
		`{"data":{"flowExchange":{"action":7}}}`,
	} {
		if _, err := gateway.ParsePlatica([]byte(body), "p"); !errors.Is(err, gateway.ErrMalformed) {
			t.Errorf("ParsePlatica(%s) error = %v, want ErrMalformed", body, err)
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		file           string
		action         flowlane.Action
		screen, data   string
		token          string
		errKey, errMsg string
	}{
		{file: "endpoint_ping.json", action: flowlane.ActionPing},
		{file: "endpoint_init.json", action: flowlane.ActionInit, token: "flow-token-123"},
		{file: "endpoint_data_exchange.json", action: flowlane.ActionDataExchange, screen: "WELCOME", token: "flow-token-123",
			data: `{"selected_product":"p2","email":"juan@empresa.com"}`},
		{file: "endpoint_back.json", action: flowlane.ActionBack, screen: "PAYMENT", token: "flow-token-123"},
		{file: "endpoint_error.json", action: flowlane.ActionError, token: "flow-token-123",
			data:   `{"error":"invalid_screen_transition","error_message":"WELCOME cannot go to SUMMARY"}`,
			errKey: "invalid_screen_transition", errMsg: "WELCOME cannot go to SUMMARY"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			req, err := gateway.ParseEndpoint(readTestdata(t, tc.file), "meta")
			if err != nil {
				t.Fatal(err)
			}
			if req.Action != tc.action || req.Screen != tc.screen || req.FlowToken != tc.token || req.Source != "meta" {
				t.Errorf("got %+v", req)
			}
			if req.ErrorKey != tc.errKey || req.ErrorMessage != tc.errMsg {
				t.Errorf("error key, message = %q, %q", req.ErrorKey, req.ErrorMessage)
			}
			if tc.data == "" {
				if req.Data != nil {
					t.Errorf("data = %s, want none", req.Data)
				}
			} else {
				assertJSONEqual(t, "data", req.Data, tc.data)
			}
		})
	}
	t.Run("field named error", func(t *testing.T) {
		for _, body := range []string{
			`{"action":"data_exchange","data":{"error":true}}`,
			`{"action":"data_exchange","data":{"Error":"x"}}`,
		} {
			req, err := gateway.ParseEndpoint([]byte(body), "meta")
			if err != nil || req.Action != flowlane.ActionDataExchange {
				t.Errorf("ParseEndpoint(%s) = %+v, %v; want data_exchange", body, req, err)
			}
		}
	})
	for _, body := range []string{
		``, `null`, `"ping"`, `{}`, `{"action":""}`, `{"action":"error"}`, `{"action":"navigate"}`,
		`{"action":"INIT","data":[]}`, `{"action":"INIT","data":"x"}`, `{"action":"INIT","screen":1}`,
	} {
		if _, err := gateway.ParseEndpoint([]byte(body), "meta"); !errors.Is(err, gateway.ErrMalformed) {
			t.Errorf("ParseEndpoint(%s) error = %v, want ErrMalformed", body, err)
		}
	}
}

func TestValidAnswer(t *testing.T) {
	for _, tc := range []struct {
		answer string
		valid  bool
	}{
		{`{"data":{}}`, true},
		{`{"data" : {"products":[]}}`, true},
		{`{"screen":"PAYMENT"}`, true},
		{`{"screen":"PAYMENT","data":[1]}`, true}, // either condition is enough
		{`{"screen":7,"data":{"a":1}}`, true},
		{` {"screen":"\u0000"} `, true},
		{`{"screen":""}`, false},
		{`{"data":[]}`, false},
		{`{"data":"x"}`, false},
		{`{"data":null}`, false},
		{`{"DATA":{}}`, false},
		{`{"data":{},"data":1}`, false}, // the last duplicate counts, as in JavaScript
		{`{}`, false},
		{`[]`, false},
		{`null`, false},
		{`"hello"`, false},
		{`{"data":{}`, false},
		{`{"data":{}} x`, false},
		{``, false},
	} {
		if got := gateway.ValidAnswer([]byte(tc.answer)); got != tc.valid {
			t.Errorf("ValidAnswer(%s) = %v, want %v", tc.answer, got, tc.valid)
		}
	}
}

func assertJSONEqual(t testing.TB, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v in %s", what, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("%s = %s, want %s", what, gb, wb)
	}
}
