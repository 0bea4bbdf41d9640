package main

import (
	"os"
	"testing"
	"time"

	"github.com/hooklane/hooklane/internal/loadgen"
)

func TestCPUNote(t *testing.T) {
	self, server := os.Getpid(), 4242
	cpu := &loadgen.CPUSample{
		Busy: 1500 * time.Millisecond, Total: 2 * time.Second,
		Procs: map[int]time.Duration{self: 300 * time.Millisecond, server: 900 * time.Millisecond},
	}
	for _, tt := range []struct {
		name             string
		m                measurement
		busy, perRequest string
	}{
		{"with the server", measurement{res: &loadgen.Result{Sent: 3000}, cpu: cpu, server: server},
			"75% busy", "a request: server 300µs, load generator 100µs, the rest 100µs"},
		{"server elsewhere", measurement{res: &loadgen.Result{Sent: 3000}, cpu: cpu},
			"75% busy", "a request: load generator 100µs, the rest 400µs"},
		{"no /proc", measurement{res: &loadgen.Result{Sent: 3000}}, "", ""},
		{"nothing sent", measurement{res: &loadgen.Result{}, cpu: cpu}, "", ""},
	} {
		busy, perRequest := cpuNote(&tt.m)
		if busy != tt.busy || perRequest != tt.perRequest {
			t.Errorf("%s: cpuNote = %q, %q; want %q, %q", tt.name, busy, perRequest, tt.busy, tt.perRequest)
		}
	}
}
