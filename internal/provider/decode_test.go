package provider

import (
	"reflect"
	"testing"

	jsonv1 "github.com/go-json-experiment/json/v1"
)

// decodeTargets are the types the providers decode deliveries into.
var decodeTargets = []func() any{
	func() any { return new(metaDelivery) },
	func() any { return new(metaChange) },
	func() any { return new(metaUpdate) },
	func() any { return new(platicaEnvelope) },
	func() any { return new(whapiEvent) },
	func() any { return new(whatzDelivery) },
	func() any { return new(whatzItem) },
}

// unmarshalCases are inputs where one streaming pass and the legacy
// decoder could part ways: errors of type and of syntax at every depth,
// and what encoding/json tolerates.
var unmarshalCases = []string{
	`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages"}]}]}`,
	`{"entry":"not an array","object":"after the type error"}`,
	`{"entry":[{"id":{"nested":true},"changes":[]}],"object":"x"}`,
	`{"field":"messages","value":{"messages":{"not":"an array"},"statuses":[{"id":"w"}]}}`,
	`{"entry":[1,2,3],"object":"x"}`,
	`{"entry":[{"changes":[{"field":"messages"}]}],"object":"x"`,
	`{"entry":"not an array","object":}`,
	`{"object":"a","object":"b"}`,
	`{"OBJECT":"upper","Entry":[{"ID":"1"}]}`,
	"{\"object\":\"bad \xff utf8\",\"id\":\"\xfe\"}",
	`{"object":"\u00e9\ud83d\ude00","id":"esc\"aped"}`,
	`{"id":12345678901234567890,"timestamp":-1.5e3}`,
	`{"event":null,"data":null,"changes":null}`,
	`{"event":{"type":"messages","event":"x"},"data":[]}`,
	`{"messages":[{"id":"a"},{"id":{}}],"statuses":[null]}`,
	`{} trailing`,
	`{}{}`,
	`[]`,
	`null`,
	``,
	`  {"object":"padded"}  `,
}

func TestUnmarshalMatchesTheLegacyDecoder(t *testing.T) {
	for _, raw := range unmarshalCases {
		checkUnmarshalMatches(t, []byte(raw))
	}
	for _, file := range payloadFiles(t) {
		checkUnmarshalMatches(t, readPayload(t, file))
	}
}

// FuzzUnmarshal checks that unmarshal gives jsonv1.Unmarshal's values and
// errors for any input, into every type a provider decodes.
func FuzzUnmarshal(f *testing.F) {
	for _, raw := range unmarshalCases {
		f.Add([]byte(raw))
	}
	for _, file := range payloadFiles(f) {
		f.Add(readPayload(f, file))
	}
	f.Fuzz(checkUnmarshalMatches)
}

func checkUnmarshalMatches(t *testing.T, body []byte) {
	t.Helper()
	for _, target := range decodeTargets {
		got, want := target(), target()
		err, wantErr := unmarshal(body, got), jsonv1.Unmarshal(body, want)
		if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Fatalf("%T from %q: error %v, want %v", want, body, err, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%T from %q:\n got %+v\nwant %+v", want, body, got, want)
		}
	}
}
