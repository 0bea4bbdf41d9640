package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hooklane/hooklane"
	"github.com/hooklane/hooklane/internal/app"
	"github.com/hooklane/hooklane/internal/app/apptest"
	"github.com/hooklane/hooklane/internal/loadgen"
	"github.com/hooklane/hooklane/internal/natstest"
)

// TestBenchReferencePublishes sends one Platica delivery twice to
// "hooklane-bench reference" and reads its stream: the body alone, stored
// twice, by default; with HOOKLANE_REFERENCE_PUBLISHES=message, ingest's
// message for it, which JetStream stores once.
func TestBenchReferencePublishes(t *testing.T) {
	t.Parallel()
	const body = `{"id":"ref-1","event":"message.created","workspaceId":"ws_1","timestamp":"2026-05-06T19:00:00.000Z","source":"whatsapp","resourceType":"message","resourceId":"m-1","changes":null,"data":{}}`
	sum := sha256.Sum256([]byte(body))
	for _, tt := range []struct {
		publishes string
		stored    uint64
		msgID     string
	}{
		{publishes: "", stored: 2},
		{publishes: referenceMessage, stored: 1, msgID: "platica:" + hex.EncodeToString(sum[:])},
	} {
		t.Run(cmp.Or(tt.publishes, "default"), func(t *testing.T) {
			t.Parallel()
			natsURL, prefix := natstest.URL(t), natstest.Prefix(t)
			cfgFile := apptest.WriteConfig(t, fmt.Sprintf("  url: %q\n  subject_prefix: %s\n  stream: %s", natsURL, prefix, strings.ToUpper(prefix)))
			addr, logs := startRole(t, "reference", cfgFile, func(k string) string {
				if k == envReferencePublishes {
					return tt.publishes
				}
				return ""
			})
			for range 2 {
				req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/platica", strings.NewReader(body))
				req.Header.Set("X-Webhook-Signature", "sha256="+hmacHex("platica-test-secret", body))
				req.Header.Set("X-Webhook-Event-Id", "ref-1")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				answer, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d %s\n%s", resp.StatusCode, answer, logs)
				}
			}

			js, err := jetstream.New(natstest.ConnectURL(t, natsURL))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			stream, err := js.Stream(ctx, strings.ToUpper(prefix)+"_REFERENCE")
			if err != nil {
				t.Fatal(err)
			}
			info, err := stream.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.State.Msgs != tt.stored {
				t.Errorf("the stream holds %d messages, want %d", info.State.Msgs, tt.stored)
			}
			msg, err := stream.GetMsg(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if string(msg.Data) != body {
				t.Errorf("data %q, want the body", msg.Data)
			}
			want := map[string]string{nats.MsgIdHdr: tt.msgID}
			if tt.msgID != "" {
				want[hooklane.HeaderSource] = "platica"
				want["X-Webhook-Event-Id"] = "ref-1"
			}
			for name, value := range want {
				if got := msg.Header.Get(name); got != value {
					t.Errorf("header %s = %q, want %q", name, got, value)
				}
			}
		})
	}
}

func TestBenchReferenceRefusesAnUnknownMode(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"reference", "--config", apptest.NATSConfig(t, t.TempDir())}, app.Env{
		Getenv: func(k string) string {
			if k == envReferencePublishes {
				return "everything"
			}
			return ""
		},
		Stdout: io.Discard, Stderr: io.Discard,
	})
	if err == nil || !strings.Contains(err.Error(), envReferencePublishes) {
		t.Errorf("run reference = %v, want an error naming %s", err, envReferencePublishes)
	}
}

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
