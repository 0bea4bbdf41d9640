package ingest

import (
	"context"
	"maps"
	"net/http"
	"testing"
	"time"
)

// TestRunSummary: requests leave one summary line, by source and outcome,
// those served before RunSummary started too, and an interval without
// traffic leaves none.
func TestRunSummary(t *testing.T) {
	r := newRig(t, 0)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	start := r.logs.len()
	// The first request is served before RunSummary runs; the others may
	// be served before it has begun too.
	if rec := r.do(post("/webhooks/platica", platicaBody, "X-Webhook-Signature", sign(platicaSecret, platicaBody))); rec.Code != http.StatusOK {
		t.Fatalf("platica: %d %s", rec.Code, rec.Body)
	}
	go func() { done <- r.handler.RunSummary(ctx, 20*time.Millisecond) }()

	if rec := r.do(post("/webhooks/platica", platicaBody, "X-Webhook-Signature", sign(platicaSecret, platicaBody))); rec.Code != http.StatusOK {
		t.Fatalf("platica retry: %d %s", rec.Code, rec.Body)
	}
	if rec := r.do(post("/webhooks/platica", platicaBody, "X-Webhook-Signature", sign("wrong", platicaBody))); rec.Code != http.StatusUnauthorized {
		t.Fatalf("bad signature: %d", rec.Code)
	}
	if rec := r.do(post("/webhooks/nope", "{}")); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown source: %d", rec.Code)
	}

	// The requests may straddle a tick: add up the summary lines until
	// they count all four. The bound is for lines that never come.
	got := map[string]map[string]float64{}
	var total float64
	deadline := time.Now().Add(time.Minute)
	for seen := start; total < 4; {
		lines := r.logs.since(seen)
		seen += len(lines)
		for _, line := range lines {
			if line["msg"] != "requests answered" {
				continue
			}
			if line["level"] != "INFO" {
				t.Errorf("summary at %v, want INFO", line["level"])
			}
			total += line["total"].(float64)
			for _, source := range []string{"platica", "unknown"} {
				outcomes, _ := line[source].(map[string]any)
				for outcome, n := range outcomes {
					if got[source] == nil {
						got[source] = map[string]float64{}
					}
					got[source][outcome] += n.(float64)
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("summaries counted %v requests within a minute, want 4", total)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// One delivery and its retry, which JetStream found a duplicate.
	want := map[string]map[string]float64{
		"platica": {"accepted": 1, "duplicate": 1, "bad_signature": 1},
		"unknown": {"unknown_source": 1},
	}
	if total != 4 || !maps.EqualFunc(got, want, maps.Equal) {
		t.Errorf("summaries counted %v: %v, want 4: %v", total, got, want)
	}

	// No traffic, no more lines.
	lines := r.logs.len()
	time.Sleep(100 * time.Millisecond)
	for _, line := range r.logs.since(lines) {
		if line["msg"] == "requests answered" {
			t.Errorf("a summary without traffic: %v", line)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunSummary = %v, want nil once ctx is done", err)
	}
}
