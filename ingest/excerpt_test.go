package ingest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRequestTextIsBounded: request text in a rejection (an unknown
// source's 40 KB name, a 40 KB method) reaches the log line and the answer
// cut short and quoted.
func TestRequestTextIsBounded(t *testing.T) {
	t.Parallel()
	r := newRig(t, 4<<10)
	long := strings.Repeat("s", 40<<10)
	method := httptest.NewRequest(http.MethodPost, "/webhooks/platica", nil)
	method.Method = strings.Repeat("M", 40<<10) + "\n"
	for name, req := range map[string]*http.Request{
		"unknown source": post("/webhooks/"+long, "{}"),
		"method":         method,
	} {
		before := r.logs.len()
		rec := r.do(req)
		if rec.Code < 400 || rec.Body.Len() > 1<<10 {
			t.Errorf("%s: status %d with a %d-byte answer, want a refusal of at most 1 KiB", name, rec.Code, rec.Body.Len())
		}
		for _, line := range r.logs.since(before) {
			raw, _ := json.Marshal(line)
			if len(raw) > 2<<10 {
				t.Errorf("%s: a %d-byte log line: %.200s", name, len(raw), raw)
			}
		}
	}
	rec := r.do(method)
	if !strings.Contains(rec.Body.String(), `\"MMMM`) || !strings.Contains(rec.Body.String(), "bytes)") {
		t.Errorf("the method is not quoted and cut in the answer: %.200s", rec.Body.String())
	}
}
