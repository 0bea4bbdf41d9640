package hooklane_test

import (
	"errors"
	"net/http"
	"reflect"
	"testing"

	"github.com/hooklane/hooklane"
)

// signedBy is a provider whose signature is the X-Sig header naming the
// secret that signed.
type signedBy struct{}

func (signedBy) Name() string { return "fake" }

func (signedBy) Verify(h http.Header, _ []byte, secrets [][]byte) error {
	if h.Get("X-Sig") == "" {
		return hooklane.ErrNoSignature
	}
	for _, s := range secrets {
		if h.Get("X-Sig") == string(s) {
			return nil
		}
	}
	return hooklane.ErrBadSignature
}
func (signedBy) Inspect([]byte) (hooklane.Summary, error) { return hooklane.Summary{}, nil }
func (signedBy) Events([]byte) ([]hooklane.Event, error)  { return nil, nil }
func (signedBy) KeepHeaders() []string                    { return []string{"Content-Type", "X-Sig"} }

func TestSourceAuthenticate(t *testing.T) {
	signed := &hooklane.Source{Name: "s", Provider: signedBy{}, Secrets: [][]byte{[]byte("old"), []byte("new")}}
	guarded := &hooklane.Source{Name: "g", Provider: signedBy{}, Secrets: [][]byte{[]byte("new")}, BearerToken: "tok"}
	open := &hooklane.Source{Name: "o", Provider: signedBy{}, AllowUnsigned: true}
	closed := &hooklane.Source{Name: "c", Provider: signedBy{}}
	for _, tt := range []struct {
		name   string
		src    *hooklane.Source
		header http.Header
		want   error
	}{
		{"any secret may sign", signed, http.Header{"X-Sig": {"new"}}, nil},
		{"unsigned", signed, http.Header{}, hooklane.ErrNoSignature},
		{"wrong secret", signed, http.Header{"X-Sig": {"guess"}}, hooklane.ErrBadSignature},
		{"bearer and signature", guarded, http.Header{"X-Sig": {"new"}, "Authorization": {"Bearer tok"}}, nil},
		{"bearer in any case", guarded, http.Header{"X-Sig": {"new"}, "Authorization": {"bearer tok"}}, nil},
		{"no bearer", guarded, http.Header{"X-Sig": {"new"}}, hooklane.ErrUnauthorized},
		{"wrong bearer", guarded, http.Header{"X-Sig": {"new"}, "Authorization": {"Bearer tik"}}, hooklane.ErrUnauthorized},
		{"bearer without signature", guarded, http.Header{"Authorization": {"Bearer tok"}}, hooklane.ErrNoSignature},
		{"unsigned source", open, http.Header{}, nil},
		{"no secret, unsigned not allowed", closed, http.Header{"X-Sig": {"x"}}, hooklane.ErrBadSignature},
	} {
		err := tt.src.Authenticate(tt.header, []byte("{}"))
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: Authenticate = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestSourceKeptHeaders(t *testing.T) {
	src := &hooklane.Source{Name: "s", Provider: signedBy{}}
	got := src.KeptHeaders(http.Header{"Content-Type": {"application/json"}, "X-Sig": {"a"}, "Authorization": {"Bearer x"}})
	want := http.Header{"Content-Type": {"application/json"}, "X-Sig": {"a"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("KeptHeaders = %v, want %v", got, want)
	}
}
