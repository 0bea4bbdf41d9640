package flowlane_test

import (
	"encoding/json"
	"testing"

	"github.com/hooklane/hooklane/flowlane"
)

func TestDecodeData(t *testing.T) {
	var v struct{ Email string }
	if err := (&flowlane.Request{}).DecodeData(&v); err != nil || v.Email != "" {
		t.Errorf("no data: %v, %+v", err, v)
	}
	if err := (&flowlane.Request{Data: []byte(`{"email":"a@b.mx"}`)}).DecodeData(&v); err != nil || v.Email != "a@b.mx" {
		t.Errorf("with data: %v, %+v", err, v)
	}
}

func TestResponseHelpers(t *testing.T) {
	params := map[string]any{"amount_mxn": 499}
	for _, tc := range []struct {
		name string
		resp *flowlane.Response
		want string
	}{
		{"Screen", flowlane.Screen("PAYMENT", map[string]any{"amount_mxn": 499}), `{"screen":"PAYMENT","data":{"amount_mxn":499}}`},
		{"Screen without data", flowlane.Screen("PAYMENT", nil), `{"screen":"PAYMENT"}`},
		{"StayWithError", flowlane.StayWithError("WELCOME", "Correo inválido"), `{"screen":"WELCOME","data":{"error_message":"Correo inválido"}}`},
		{"Complete", flowlane.Complete("tok", params),
			`{"screen":"SUCCESS","data":{"extension_message_response":{"params":{"amount_mxn":499,"flow_token":"tok"}}}}`},
	} {
		got, err := json.Marshal(tc.resp)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s = %s, %v; want %s", tc.name, got, err, tc.want)
		}
	}
	if _, ok := params["flow_token"]; ok {
		t.Error("Complete modified its params")
	}
}
