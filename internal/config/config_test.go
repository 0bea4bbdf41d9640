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
		"PLATICA_SECRET": "p1-0123456789", "META_SECRET": "m1-0123456789", "BATCH": "64", "DATABASE_URL": "postgres://db/x",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Sources[0].Secrets; len(got) != 2 || got[0] != "p1-0123456789" || got[1] != "old: with # yaml" {
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
	const key = "0123456789abcdef"
	tests := []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{"missing variable", "addr: ${NOPE}\n", nil, "line 1: addr: environment variable NOPE is not set"},
		{"missing variable of a kept source", "sources:\n  - name: a\n    provider: whapi\n    secrets: [\"${S}\"]\n    bearer_token: ${NOPE}\n",
			map[string]string{"S": key}, "line 5: sources[0].bearer_token: environment variable NOPE is not set"},
		{"no secret fails closed", "sources:\n  - name: a\n    provider: whapi\n", nil, "line 2: sources[0].secrets: source \"a\" has no secret"},
		{"unknown provider", "sources:\n  - name: a\n    provider: telegram\n    secrets: [" + key + "]\n", nil,
			`line 3: sources[0].provider: "telegram" is not one of: platica, meta, whatzmeapi, whapi`},
		{"bad name", "sources:\n  - name: a.b\n    provider: whapi\n    secrets: [" + key + "]\n", nil, "line 2: sources[0].name"},
		{"duplicate names", "sources:\n  - {name: a, provider: whapi, secrets: [" + key + "]}\n  - {name: a, provider: meta, secrets: [" + key + "]}\n", nil,
			"line 2: sources: names must be unique"},
		// The key sits on line 6, after a comment and a blank line: the
		// error names that line, not one of a re-marshalled document.
		{"misspelt key", "sources:\n  - name: a\n    provider: whapi\n    # the secret\n\n    secret: [x]\n", nil,
			"line 6: sources[0].secret: unknown key; sources[0] takes name, provider, secrets, allow_unsigned"},
		{"misspelt top-level key", "adr: :8080\n", nil, "line 1: adr: unknown key; the top level takes addr, database_url"},
		{"verify token off meta", "sources:\n  - {name: a, provider: whapi, secrets: [" + key + "], verify_token: t}\n", nil, "sources[0].verify_token"},
		{"bad fallback", "sources:\n  - name: a\n    provider: platica\n    secrets: [" + key + "]\n    flows: {fallback: '{nope'}\n", nil,
			"line 5: sources[0].flows.fallback: is not valid JSON"},
		{"negative replicas", "nats: {replicas: -1}\n", nil, "line 1: nats.replicas: is -1; it may not be below 0"},
		{"batch wait past its cap", "worker:\n  batch_wait: 1m\n", nil, "line 2: worker.batch_wait: is 1m0s; it may not be above 10s"},
		{"duration without a unit", "worker:\n  batch_wait: 700\n", nil, "line 2: worker.batch_wait: 700 has no unit: add one, e.g. 700ms"},
		{"duration from a variable without a unit", "nats:\n  duplicate_window: ${WINDOW}\n", map[string]string{"WINDOW": "30"}, "line 2: nats.duplicate_window: 30 has no unit: add one, e.g. 30ms"},
		{"not a duration", "ingest: {publish_timeout: soon}\n", nil, `line 1: ingest.publish_timeout: "soon" is not a duration`},
		{"not a number", "worker:\n  batch_size: many\n", nil, `line 2: worker.batch_size: "many" is not a whole number`},
		{"list for a value", "addr: [a, b]\n", nil, "line 1: addr: want a single value"},
		{"value for a list", "sources:\n  - {name: a, provider: whapi, secrets: " + key + "}\n", nil, "line 2: sources[0].secrets: want a list"},
		{"jargon-free listen", "nats: {listen: 'localhost'}\n", nil, `nats.listen: "localhost" is not an address to listen on: want host:port`},
		{"set but empty", "sources:\n  - {name: a, provider: whapi, secrets: [\"${S}\"]}\n", map[string]string{"S": ""},
			"line 2: sources[0].secrets[0] (from S): is required; the variable is set, but empty"},
		{"placeholder secret", "sources:\n  - {name: a, provider: whapi, secrets: [\"${S}\"]}\n", map[string]string{"S": "CHANGE-ME-whapi-secret"},
			"line 2: sources[0].secrets[0] (from S): is a placeholder, not a secret"},
		{"short secret", "sources:\n  - {name: a, provider: whapi, secrets: [\"${S}\"]}\n", map[string]string{"S": "hunter2"},
			"sources[0].secrets[0] (from S): is too weak: 7 characters"},
		{"repeated character", "sources:\n  - {name: a, provider: whapi, secrets: [aaaaaaaaaaaaaaaa]}\n", nil, "sources[0].secrets[0]: is too weak: one character repeated"},
		{"common secret", "sources:\n  - {name: a, provider: whapi, secrets: [Password]}\n", nil, "sources[0].secrets[0]: is a placeholder"},
		{"placeholder bearer", "sources:\n  - {name: a, provider: whatzmeapi, secrets: [" + key + "], bearer_token: changeme-token}\n", nil, "sources[0].bearer_token: is a placeholder"},
		{"placeholder verify token", "sources:\n  - {name: a, provider: meta, secrets: [" + key + "], verify_token: CHANGE-ME-meta-verify-token}\n", nil, "sources[0].verify_token: is a placeholder"},
		{"placeholder database password", "{}\n", map[string]string{"DATABASE_URL": "postgres://hooklane:CHANGE-ME-postgres-password@postgres/hooklane"},
			"database_url (from DATABASE_URL): the password in the URL is a placeholder"},
		{"placeholder NATS token", "nats: {url: 'nats://CHANGE-ME-nats-token@nats:4222'}\n", nil, "line 1: nats.url: the password in the URL is a placeholder"},
		{"TLS half set", "tls: {cert_file: /etc/hosts}\n", nil, "tls.key_file: cert_file and key_file go together"},
		{"TLS file missing", "tls: {cert_file: /nonexistent/cert.pem, key_file: /nonexistent/key.pem}\n", nil, `line 1: tls.cert_file: "/nonexistent/cert.pem" is not a file that can be read`},
		{"deliveries inside the retry horizon", "retention: {deliveries: 3d, events: 3d}\n", nil,
			"retention.deliveries: 3d is shorter than 7d, the longest provider retry horizon (Meta retries a delivery for up to 7 days)"},
		{"deliveries aged, events kept", "retention: {deliveries: 30d}\n", nil, "retention.events: set it to at most retention.deliveries (30d)"},
		{"events outlive deliveries", "retention: {deliveries: 8d, events: 9d}\n", nil, "retention.events"},
		{"negative age", "retention: {dead_letters: -1h}\n", nil, "retention.dead_letters: -1h0m0s is negative"},
		{"bad age", "retention: {events: a week}\n", nil, `"a week" is not an age such as 30d or 36h`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseLookup([]byte(tt.yaml), lookup(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "CHANGE-ME-") || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("err = %v: it shows the secret", err)
			}
		})
	}
}

func lookup(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func TestSourcesWithUnsetSecretsAreLeftOut(t *testing.T) {
	raw := []byte(`
sources:
  - {name: platica, provider: platica, secrets: ["${PLATICA_SECRET}"]}
  - {name: wa, provider: meta, secrets: ["${META_APP_SECRET}"], verify_token: "${META_VERIFY_TOKEN}"}
  - {name: fixed, provider: whapi, secrets: [literal-0123456789, "${OTHER_SECRET}"]}
  - {name: defaulted, provider: whapi, secrets: ["${DEFAULTED_SECRET:-defaulted-0123456789}"]}
`)
	cfg, err := ParseLookup(raw, lookup(map[string]string{"PLATICA_SECRET": "platica-0123456789", "OTHER_SECRET": "other-0123456789"}))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range cfg.Sources {
		names = append(names, s.Name)
	}
	// wa is left out although META_VERIFY_TOKEN is not set either: its
	// other variables are never read.
	if strings.Join(names, ",") != "platica,fixed,defaulted" {
		t.Errorf("sources = %v, want platica, fixed and defaulted", names)
	}
	if len(cfg.Skipped) != 1 || cfg.Skipped[0].Name != "wa" || strings.Join(cfg.Skipped[0].Variables, ",") != "META_APP_SECRET" {
		t.Errorf("skipped = %+v, want wa for META_APP_SECRET", cfg.Skipped)
	}

	// A source whose secret variable is set but empty is not left out:
	// that is a mistake to report.
	_, err = ParseLookup(raw, lookup(map[string]string{"PLATICA_SECRET": "", "OTHER_SECRET": "other-0123456789"}))
	if err == nil || !strings.Contains(err.Error(), "sources[0].secrets[0] (from PLATICA_SECRET): is required; the variable is set, but empty") {
		t.Errorf("err = %v, want the empty PLATICA_SECRET reported", err)
	}
}

func TestListenPortZero(t *testing.T) {
	cfg, err := Parse([]byte("nats: {listen: '127.0.0.1:0'}\n"), getenv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NATS.Listen != "127.0.0.1:0" {
		t.Errorf("listen = %q", cfg.NATS.Listen)
	}
}

func TestEmptyDefault(t *testing.T) {
	cfg, err := ParseLookup([]byte("nats:\n  url: ${NATS_URL_X:-}\n  max_bytes: ${BYTES:-}\n"), lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NATS.URL != "" || cfg.NATS.MaxBytes != -1 {
		t.Errorf("url %q, max_bytes %v; want empty and the default", cfg.NATS.URL, cfg.NATS.MaxBytes)
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
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line 2: sources[0].secrets") {
		t.Fatalf("err = %v, want the file and the field named", err)
	}
}

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := Load("../../hooklane.example.yaml", getenv(map[string]string{
		"PLATICA_SECRET": "dev-platica-secret", "META_APP_SECRET": "dev-meta-app-secret", "META_VERIFY_TOKEN": "dev-meta-verify-token",
		"WHATZ_SECRET": "dev-whatz-secret", "WHAPI_SECRET": "dev-whapi-secret",
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
	base := "sources:\n  - {name: w, provider: whapi, secrets: [whapi-test-secret]}\n"
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

// TestErrorsCountSourcesAsTheFileDoes: with sources left out, an error
// names a kept source by its index in the file.
func TestErrorsCountSourcesAsTheFileDoes(t *testing.T) {
	raw := []byte("sources:\n  - {name: a, provider: whapi, secrets: [\"${A}\"]}\n  - {name: b, provider: whapi, secret: [\"${B}\"]}\n")
	_, err := ParseLookup(raw, lookup(map[string]string{"B": "b-0123456789abcdef"}))
	if err == nil || !strings.Contains(err.Error(), "line 3: sources[1].secret: unknown key") {
		t.Fatalf("err = %v, want sources[1], the second source of the file", err)
	}
}
