package stdjson

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	jsonv1 "github.com/go-json-experiment/json/v1"
)

// text takes any JSON value as its literal text, as the providers' scalars
// do: a type with its own UnmarshalJSON.
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	*t = text(b)
	return nil
}

// delivery has the shapes hooklane decodes: strings, numbers, raw values,
// nested arrays of objects, optional objects and values read by a method.
type delivery struct {
	Object string `json:"object"`
	Count  int    `json:"count"`
	Entry  []struct {
		ID      text              `json:"id"`
		Changes []json.RawMessage `json:"changes"`
	} `json:"entry"`
	Data *struct {
		Screen  *string                    `json:"screen"`
		Payload json.RawMessage            `json:"payload"`
		Fields  map[string]json.RawMessage `json:"fields"`
	} `json:"data"`
}

// targets are the types every input is decoded into.
var targets = []func() any{
	func() any { return new(delivery) },
	func() any { return new(map[string]json.RawMessage) },
	func() any { return new([]text) },
	func() any { return new(any) },
}

// cases are inputs where one streaming pass and the legacy semantics could
// part ways: errors of type and of syntax at every depth, and what
// encoding/json tolerates.
var cases = []string{
	`{"object":"whatsapp_business_account","count":2,"entry":[{"id":"1","changes":[{"field":"messages"}]}]}`,
	`{"entry":"not an array","object":"after the type error"}`,
	`{"count":"12","object":"after the type error"}`,
	`{"count":1.5,"entry":[{"id":{"nested":true},"changes":{}}],"object":"x"}`,
	`{"data":{"screen":7,"payload":{"a":1},"fields":[]},"object":"x"}`,
	`{"entry":[1,2,3],"object":"x"}`,
	`{"entry":[{"changes":[{"field":"messages"}]}],"object":"x"`,
	`{"entry":"not an array","object":}`,
	`{"object":"a","object":"b"}`,
	`{"OBJECT":"upper","Entry":[{"ID":"1"}]}`,
	"{\"object\":\"bad \xff utf8\",\"data\":{\"screen\":\"\xfe\"}}",
	`{"object":"\u00e9\ud83d\ude00","data":{"screen":"esc\"aped"}}`,
	`{"count":12345678901234567890}`,
	`{"data":null,"entry":null}`,
	`["a",1,{"b":null},true]`,
	`{} trailing`,
	`{}{}`,
	`[]`,
	`null`,
	`"a string"`,
	``,
	`  {"object":"padded"}  `,
}

func TestUnmarshalMatchesTheLegacySemantics(t *testing.T) {
	for _, raw := range cases {
		checkMatches(t, []byte(raw))
	}
	for _, body := range payloads(t) {
		checkMatches(t, body)
	}
}

// FuzzUnmarshal checks that Unmarshal gives jsonv1.Unmarshal's values and
// errors for any input.
func FuzzUnmarshal(f *testing.F) {
	for _, raw := range cases {
		f.Add([]byte(raw))
	}
	for _, body := range payloads(f) {
		f.Add(body)
	}
	f.Fuzz(checkMatches)
}

func checkMatches(t *testing.T, data []byte) {
	t.Helper()
	for _, target := range targets {
		got, want := target(), target()
		err, wantErr := Unmarshal(data, got), jsonv1.Unmarshal(data, want)
		if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Fatalf("%T from %q: error %v, want %v", want, data, err, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%T from %q:\n got %+v\nwant %+v", want, data, got, want)
		}
	}
}

// BenchmarkUnmarshal decodes a Meta delivery, as ingest does, by Unmarshal
// and by the legacy semantics it stands in for.
func BenchmarkUnmarshal(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "payloads", "meta", "statuses.json"))
	if err != nil {
		b.Fatal(err)
	}
	for name, unmarshal := range map[string]func([]byte, any) error{"stdjson": Unmarshal, "jsonv1": jsonv1.Unmarshal} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				var d delivery
				if err := unmarshal(body, &d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// payloads returns the providers' sample deliveries.
func payloads(tb testing.TB) [][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "payloads", "*", "*.json"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no sample payloads: %v", err)
	}
	var bodies [][]byte
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		bodies = append(bodies, body)
	}
	return bodies
}
