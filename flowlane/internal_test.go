package flowlane

import (
	"context"
	"strings"
	"testing"

	"github.com/hooklane/hooklane"
)

// TestResponderSubjectMatchesSubject guards the subject layout the
// responder builds its subscriptions with.
func TestResponderSubjectMatchesSubject(t *testing.T) {
	r := NewResponder(nil, ResponderConfig{Prefix: "hl.x"})
	h := func(context.Context, *Request) (*Response, error) { return nil, nil }
	r.Handle("plat.ica", "flow a", h)
	subject := Subject("hl.x", "plat.ica", "flow a", "init")
	if sub := r.subject(route{hooklane.Token("plat.ica"), hooklane.Token("flow a")}); sub != strings.TrimSuffix(subject, "init")+"*" {
		t.Errorf("subscription subject %s does not match %s", sub, subject)
	}
	if r.handler(subject) == nil {
		t.Fatalf("no handler for %s", subject)
	}
	if r.handler(Subject("hl.x", "platica", "flow a", "init")) != nil {
		t.Fatal("handler for another source")
	}
}
