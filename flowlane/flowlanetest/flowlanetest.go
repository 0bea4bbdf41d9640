// Package flowlanetest helps test flow responders: Serve runs a
// [flowlane.Responder] for the length of a test.
package flowlanetest

import (
	"context"
	"testing"
	"time"

	"github.com/hooklane/hooklane/flowlane"
)

// readyWait bounds the wait for a responder's subscriptions.
const readyWait = time.Minute

// Serve runs r until the test ends and returns once r has subscribed its
// handlers. The test fails if Run fails, or returns before it is ready.
func Serve(t testing.TB, r *flowlane.Responder) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("flowlanetest: Run: %v", err)
		}
	})
	select {
	case <-r.Ready():
	case err := <-done:
		t.Fatalf("flowlanetest: Run returned before it was ready: %v", err)
	case <-time.After(readyWait):
		t.Fatalf("flowlanetest: responder not subscribed after %v", readyWait)
	}
}
