package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func getenv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestParseExpandsAndDefaults(t *testing.T) {
	raw := []byte(`
sources:
  - name: platica
    provider: platica
    secrets: ["${PLATICA_SECRET}", "${OLD_SECRET:-old: with # yaml}"]
  - name: wa
    provider: meta
    secrets: ["${META_SECRET}"]
    verify_token: tok
worker:
  batch_size: ${BATCH}
`)
	cfg, err := Parse(raw, getenv(map[string]string{
		"PLATICA_SECRET": "p1", "META_SECRET": "m1", "BATCH": "64", "DATABASE_URL": "postgres://db/x",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Sources[0].Secrets; len(got) != 2 || got[0] != "p1" || got[1] != "old: with # yaml" {
		t.Errorf("secrets = %q", got)
	}
	if cfg.Worker.BatchSize != 64 {
		t.Errorf("batch_size = %d, want 64 from ${BATCH}", cfg.Worker.BatchSize)
	}
	if cfg.DatabaseURL != "postgres://db/x" {
		t.Errorf("DATABASE_URL override not applied: %q", cfg.DatabaseURL)
	}
	if cfg.Addr != DefaultAddr || cfg.NATS.Stream != "HOOKLANE_EVENTS" || cfg.Ingest.MaxBodyBytes != 4<<20 {
		t.Errorf("defaults not applied: addr %q stream %q max body %d", cfg.Addr, cfg.NATS.Stream, cfg.Ingest.MaxBodyBytes)
	}
	if cfg.NATS.DuplicateWindow != 2*time.Minute {
		t.Errorf("duplicate_window = %v, want the 2m default", cfg.NATS.DuplicateWindow)
	}
	if cfg.Worker.BatchWait != 10*time.Millisecond {
		t.Errorf("batch_wait = %v, want the 10ms default", cfg.Worker.BatchWait)
	}
	if cfg.Sources[0].Flows.Budget != 700*time.Millisecond || cfg.Sources[1].Flows.Budget != 10*time.Second {
		t.Errorf("flow budgets = %v, %v", cfg.Sources[0].Flows.Budget, cfg.Sources[1].Flows.Budget)
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{"missing variable", "sources:\n  - name: a\n    provider: whapi\n    secrets: [\"${NOPE}\"]\n", nil, "environment variable NOPE is not set"},
		{"no secret fails closed", "sources:\n  - name: a\n    provider: whapi\n", nil, "sources[0].secrets"},
		{"unknown provider", "sources:\n  - name: a\n    provider: telegram\n    secrets: [x]\n", nil, `sources[0].provider: "telegram" is not one of`},
		{"bad name", "sources:\n  - name: a.b\n    provider: whapi\n    secrets: [x]\n", nil, "sources[0].name"},
		{"duplicate names", "sources:\n  - {name: a, provider: whapi, secrets: [x]}\n  - {name: a, provider: meta, secrets: [y]}\n", nil, "sources: names must be unique"},
		{"misspelt key", "sources:\n  - name: a\n    provider: whapi\n    secret: [x]\n", nil, "field secret not found"},
		{"verify token off meta", "sources:\n  - {name: a, provider: whapi, secrets: [x], verify_token: t}\n", nil, "sources[0].verify_token"},
		{"bad fallback", "sources:\n  - name: a\n    provider: platica\n    secrets: [x]\n    flows: {fallback: '{nope'}\n", nil, "sources[0].flows.fallback: is not valid JSON"},
		{"negative replicas", "nats: {replicas: -1}\n", nil, "nats.replicas"},
		{"batch wait past its cap", "worker: {batch_wait: 1m}\n", nil, "worker.batch_wait"},
		{"deliveries inside the retry horizon", "retention: {deliveries: 3d, events: 3d}\n", nil,
			"retention.deliveries: 3d is shorter than 7d, the longest provider retry horizon (Meta retries a delivery for up to 7 days)"},
		{"deliveries aged, events kept", "retention: {deliveries: 30d}\n", nil, "retention.events: set it to at most retention.deliveries (30d)"},
		{"events outlive deliveries", "retention: {deliveries: 8d, events: 9d}\n", nil, "retention.events"},
		{"negative age", "retention: {dead_letters: -1h}\n", nil, "retention.dead_letters: -1h0m0s is negative"},
		{"bad age", "retention: {events: a week}\n", nil, `"a week" is not an age such as 30d or 36h`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), getenv(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestRetention(t *testing.T) {
	cfg, err := Parse([]byte("retention: {deliveries: 7d, events: 36h, flow_exchanges: 1.5d}\n"), getenv(nil))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Retention
	if time.Duration(r.Deliveries) != 7*24*time.Hour || time.Duration(r.Events) != 36*time.Hour ||
		time.Duration(r.FlowExchanges) != 36*time.Hour || r.DeadLetters != 0 || r.Off() {
		t.Errorf("retention = %+v", r)
	}
	if r.Interval != time.Hour || r.BatchSize != 1000 {
		t.Errorf("retention defaults: interval %v, batch size %d", r.Interval, r.BatchSize)
	}
	if r.Deliveries.String() != "7d" || r.Events.String() != "36h0m0s" {
		t.Errorf("ages print as %s and %s", r.Deliveries, r.Events)
	}
	cfg, err = Parse(nil, getenv(nil))
	if err != nil || !cfg.Retention.Off() {
		t.Errorf("retention is not off by default: %+v, %v", cfg.Retention, err)
	}
}

func TestAllowUnsigned(t *testing.T) {
	cfg, err := Parse([]byte("sources:\n  - {name: dev, provider: whapi, allow_unsigned: true}\n"), getenv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Sources[0].AllowUnsigned {
		t.Fatal("allow_unsigned not read")
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("sources:\n  - {name: a, provider: whapi}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, getenv(nil))
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "sources[0].secrets") {
		t.Fatalf("err = %v, want the file and the field named", err)
	}
}

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := Load("../../hooklane.example.yaml", getenv(map[string]string{
		"PLATICA_SECRET": "a", "META_APP_SECRET": "b", "META_VERIFY_TOKEN": "c", "WHATZ_SECRET": "d", "WHAPI_SECRET": "e",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Sources) != 4 || cfg.NATS.URL != "" {
		t.Fatalf("sources %d, nats url %q", len(cfg.Sources), cfg.NATS.URL)
	}
}

func TestReferences(t *testing.T) {
	refs, err := References([]byte("# ${IN_A_COMMENT}\na: ${ONE}\nb: \"${TWO:-x}\"\nc: $THREE # ${ALSO_COMMENT}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 2 || refs[0] != (Reference{"ONE", true}) || refs[1] != (Reference{"TWO", false}) {
		t.Fatalf("refs = %+v", refs)
	}
}

func TestParseModel(t *testing.T) {
	base := "sources:\n  - {name: w, provider: whapi, secrets: [s]}\n"
	for _, tt := range []struct {
		yaml string
		want bool
	}{{"", true}, {"model: true\n", true}, {"model: false\n", false}} {
		cfg, err := Parse([]byte(base+tt.yaml), getenv(nil))
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.ModelOn(); got != tt.want {
			t.Errorf("%q: ModelOn = %v, want %v", tt.yaml, got, tt.want)
		}
	}
	if _, err := Parse([]byte(base+"model: maybe\n"), getenv(nil)); err == nil {
		t.Error("model: maybe was accepted")
	}
}
