//go:build compose

package deploy

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestComposeStack runs docker-compose.yml on the Docker engine the docker
// CLI reaches (make compose-test): the whole stack comes up healthy, a
// signed delivery of each provider is answered 200 and stored once in the
// compose Postgres, workers scale without ingest being recreated, a NATS
// outage gives 503s and then deliveries are stored again, and down and up
// keep the data. The project is one of its own, removed with its volumes
// at the end. COMPOSE_PROFILES picks the profiles (default demo; add
// observability where its images can be pulled).
func TestComposeStack(t *testing.T) {
	if out, err := exec.Command("docker", "compose", "version").CombinedOutput(); err != nil {
		t.Fatalf("docker compose is not usable (DOCKER_HOST=%s): %v\n%s", os.Getenv("DOCKER_HOST"), err, out)
	}
	s := newStack(t)
	start := time.Now()
	step := func(name string) {
		t.Logf("=== %s (%.0fs into the run)", name, time.Since(start).Seconds())
	}

	step("up -d --build --wait")
	s.compose("up", "-d", "--build", "--wait")
	s.allHealthy(2)
	ingestID := s.containerIDs("ingest")

	step("the version stamped into the image")
	if want := os.Getenv("HOOKLANE_VERSION"); want != "" {
		if got := strings.TrimSpace(s.compose("exec", "-T", "ingest", "/hooklane", "version")); got != "hooklane "+want {
			t.Errorf("hooklane version in the image = %q, want %q", got, "hooklane "+want)
		}
	}

	step("a signed delivery of each provider, twice")
	for _, d := range s.deliveries("first") {
		for range 2 {
			if status, _ := s.post(d); status != http.StatusOK {
				t.Fatalf("%s: %d, want 200", d.source, status)
			}
		}
	}
	s.waitStored(map[string]int{"platica": 1, "wa": 1, "whatz": 1, "whapi": 1})

	step("up -d --build --scale worker=3 --wait")
	s.compose("up", "-d", "--build", "--scale", "worker=3", "--wait")
	s.allHealthy(3)
	if got := s.containerIDs("ingest"); !slices.Equal(got, ingestID) {
		t.Errorf("ingest was recreated by scaling the workers: %v, was %v", got, ingestID)
	}

	step("up -d --scale worker=3 --wait, as typed after make compose-up")
	s.compose("up", "-d", "--scale", "worker=3", "--wait")
	if got := s.containerIDs("ingest"); !slices.Equal(got, ingestID) {
		t.Errorf("ingest was recreated by a plain up: %v, was %v", got, ingestID)
	}

	step("NATS stopped: 503 with Retry-After")
	outage := s.deliveries("outage")
	s.compose("stop", "nats")
	for _, d := range outage {
		status, h := s.post(d)
		if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
			t.Errorf("%s while NATS is down: %d (Retry-After %q), want 503 with Retry-After", d.source, status, h.Get("Retry-After"))
		}
	}
	step("NATS started again: the same deliveries are accepted and stored")
	s.compose("start", "nats")
	for _, d := range outage {
		s.eventually(fmt.Sprintf("%s accepted again", d.source), func() error {
			if status, _ := s.post(d); status != http.StatusOK {
				return fmt.Errorf("status %d", status)
			}
			return nil
		})
	}
	s.waitStored(map[string]int{"platica": 2, "wa": 2, "whatz": 2, "whapi": 2})
	s.compose("up", "-d", "--scale", "worker=3", "--wait")
	s.allHealthy(3)

	step("down, then up: the data is kept")
	s.compose("down")
	s.compose("up", "-d", "--wait")
	s.allHealthy(2)
	s.waitStored(map[string]int{"platica": 2, "wa": 2, "whatz": 2, "whapi": 2})
	for _, d := range s.deliveries("after-restart") {
		if status, _ := s.post(d); status != http.StatusOK {
			t.Fatalf("%s after down and up: %d, want 200", d.source, status)
		}
	}
	s.waitStored(map[string]int{"platica": 3, "wa": 3, "whatz": 3, "whapi": 3})

	step("down -v")
	s.compose("down", "-v", "--remove-orphans")
	if out := s.run("docker", "volume", "ls", "-q", "--filter", "label=com.docker.compose.project="+s.project); strings.TrimSpace(out) != "" {
		t.Errorf("volumes left after down -v: %s", out)
	}
	step("done")
}

// stack is one compose project of the test's own.
type stack struct {
	t          *testing.T
	project    string
	envFile    string
	port       int
	secrets    map[string]string
	client     *http.Client
	composeDir string
	inEnvFile  map[string]bool
}

func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{
		t:       t,
		project: "hooklane-test-" + randomHex(t, 4),
		port:    freePort(t),
		secrets: map[string]string{
			"PLATICA_SECRET": randomHex(t, 32), "META_APP_SECRET": randomHex(t, 32), "META_VERIFY_TOKEN": randomHex(t, 16),
			"WHATZ_SECRET": randomHex(t, 32), "WHAPI_SECRET": randomHex(t, 32),
		},
		client: &http.Client{Timeout: time.Minute},
	}
	var err error
	if s.composeDir, err = filepath.Abs(".."); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"POSTGRES_PASSWORD": randomHex(t, 16), "NATS_TOKEN": randomHex(t, 16), "GRAFANA_ADMIN_PASSWORD": randomHex(t, 16),
		"HOOKLANE_PORT": strconv.Itoa(s.port), "NATS_PORT": strconv.Itoa(freePort(t)),
		"PROMETHEUS_PORT": strconv.Itoa(freePort(t)), "GRAFANA_PORT": strconv.Itoa(freePort(t)),
	}
	var b strings.Builder
	s.inEnvFile = map[string]bool{}
	for _, vars := range []map[string]string{env, s.secrets} {
		for k, v := range vars {
			fmt.Fprintf(&b, "%s=%s\n", k, v)
			s.inEnvFile[k] = true
		}
	}
	s.envFile = filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(s.envFile, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", s.composeNoFail("logs", "--no-color", "--tail", "60"))
		}
		s.composeNoFail("down", "-v", "--remove-orphans")
	})
	return s
}

func (s *stack) composeArgs(args ...string) []string {
	return append([]string{"compose", "--project-directory", s.composeDir, "-f", filepath.Join(s.composeDir, "docker-compose.yml"),
		"-p", s.project, "--env-file", s.envFile}, args...)
}

// compose runs docker compose with args and returns its stdout; a failure
// fails the test with its output.
func (s *stack) compose(args ...string) string {
	s.t.Helper()
	return s.run("docker", s.composeArgs(args...)...)
}

func (s *stack) composeNoFail(args ...string) string {
	out, _ := s.command("docker", s.composeArgs(args...)...).CombinedOutput()
	return string(out)
}

func (s *stack) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	// Compose prefers the environment to --env-file: drop what the file
	// sets (make exports development secrets, for one).
	// A command without --build runs as typed in a shell where
	// HOOKLANE_VERSION is not set: it must not rebuild, or recreate what
	// runs.
	build := slices.Contains(args, "--build")
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !s.inEnvFile[k] && (build || k != "HOOKLANE_VERSION") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if os.Getenv("COMPOSE_PROFILES") == "" {
		cmd.Env = append(cmd.Env, "COMPOSE_PROFILES=demo")
	}
	return cmd
}

func (s *stack) run(name string, args ...string) string {
	s.t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := s.command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	if len(args) > 0 && args[0] == "compose" {
		s.t.Logf("docker %s: %.1fs", strings.Join(args[9:], " "), time.Since(began).Seconds())
	}
	return stdout.String()
}

// container is what the test reads of docker compose ps --format json.
type container struct {
	ID, Service, State, Health string
	ExitCode                   int
}

func (s *stack) containers() []container {
	s.t.Helper()
	var all []container
	sc := bufio.NewScanner(strings.NewReader(s.compose("ps", "-a", "--format", "json")))
	for sc.Scan() {
		var c container
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			s.t.Fatalf("docker compose ps: %v: %s", err, sc.Text())
		}
		all = append(all, c)
	}
	return all
}

// allHealthy checks that every long-running container is running and
// healthy, that migrate exited 0, and that workers replicas run.
func (s *stack) allHealthy(workers int) {
	s.t.Helper()
	count := map[string]int{}
	for _, c := range s.containers() {
		switch {
		case c.Service == "migrate":
			if c.State != "exited" || c.ExitCode != 0 {
				s.t.Errorf("migrate: %s, exit code %d; want exited 0", c.State, c.ExitCode)
			}
		case c.State != "running" || c.Health != "healthy":
			s.t.Errorf("%s (%s): %s, %q; want running and healthy", c.Service, c.ID[:12], c.State, c.Health)
		}
		count[c.Service]++
	}
	for _, name := range []string{"nats", "postgres", "ingest"} {
		if count[name] != 1 {
			s.t.Errorf("%d %s containers, want 1", count[name], name)
		}
	}
	if count["worker"] != workers {
		s.t.Errorf("%d workers, want %d", count["worker"], workers)
	}
	s.t.Logf("containers: %v", count)
}

func (s *stack) containerIDs(service string) []string {
	s.t.Helper()
	return strings.Fields(s.compose("ps", "-q", service))
}

// delivery is one signed webhook request.
type delivery struct {
	source string
	body   []byte
	header http.Header
}

// deliveries returns one signed delivery of each provider, with ids made
// distinct by tag.
func (s *stack) deliveries(tag string) []delivery {
	id := tag + "-" + randomHex(s.t, 6)
	hmacHex := func(secret string, body []byte) string {
		m := hmac.New(sha256.New, []byte(s.secrets[secret]))
		m.Write(body)
		return hex.EncodeToString(m.Sum(nil))
	}
	mk := func(source, secret, header, prefix, body string) delivery {
		b := []byte(body)
		h := http.Header{"Content-Type": {"application/json"}}
		h.Set(header, prefix+hmacHex(secret, b))
		return delivery{source, b, h}
	}
	return []delivery{
		mk("platica", "PLATICA_SECRET", "X-Webhook-Signature", "sha256=",
			`{"id":"`+id+`","event":"message.created","workspaceId":"ws_1","timestamp":"2026-05-06T19:05:12.000Z","source":"whatsapp","resourceType":"message","resourceId":"msg_`+id+`","changes":null,"data":{"message":{"id":"msg_`+id+`","conversationId":"conv_1","direction":"inbound","type":"text","text":"Hola"}}}`),
		mk("wa", "META_APP_SECRET", "X-Hub-Signature-256", "sha256=",
			`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"2"},"contacts":[{"profile":{"name":"Ana"},"wa_id":"5215550001"}],"messages":[{"from":"5215550001","id":"wamid.`+id+`","timestamp":"1724716800","type":"text","text":{"body":"Hola"}}]}}]}]}`),
		mk("whatz", "WHATZ_SECRET", "X-Signature", "sha256=",
			`{"event":"messages.upsert","messages":[{"key":{"id":"`+id+`","fromMe":false,"remoteJid":"5215550001@s.whatsapp.net"},"message":{"conversation":"Hola"}}]}`),
		mk("whapi", "WHAPI_SECRET", "X-Whapi-Signature", "",
			`{"event_type":"message_received","id":"`+id+`","instance_id":"1","chat_id":"5215550001@c.us","from":"5215550001@c.us","body":"Hola","type":"text","timestamp":1724716800}`),
	}
}

// post sends d to ingest and returns the status and headers of the answer.
func (s *stack) post(d delivery) (int, http.Header) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/webhooks/%s", s.port, d.source), bytes.NewReader(d.body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header = d.header.Clone()
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("POST /webhooks/%s: %v", d.source, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header
}

// waitStored waits until the compose Postgres holds exactly want
// deliveries of each source, read with psql inside the postgres container.
func (s *stack) waitStored(want map[string]int) {
	s.t.Helper()
	s.eventually(fmt.Sprintf("deliveries stored %v", want), func() error {
		out, err := s.command("docker", s.composeArgs("exec", "-T", "postgres", "psql", "-U", "hooklane", "-d", "hooklane", "-XAt", "-F", " ",
			"-c", "SELECT source, count(*), count(DISTINCT dedupe_key) FROM deliveries GROUP BY source")...).Output()
		if err != nil {
			return fmt.Errorf("psql: %v", err)
		}
		got := map[string]int{}
		for line := range strings.Lines(string(out)) {
			f := strings.Fields(line)
			if len(f) != 3 {
				continue
			}
			if f[1] != f[2] {
				s.t.Fatalf("source %s: %s deliveries for %s distinct keys: stored twice", f[0], f[1], f[2])
			}
			got[f[0]], _ = strconv.Atoi(f[1])
		}
		for source, n := range got {
			if n > want[source] {
				s.t.Fatalf("source %s: %d deliveries stored, want %d: a duplicate was stored", source, n, want[source])
			}
		}
		for source, n := range want {
			if got[source] != n {
				return fmt.Errorf("stored %v", got)
			}
		}
		return nil
	})
}

// eventually retries f until it succeeds. Its bound catches a stack that
// never gets there; it is no speed requirement.
func (s *stack) eventually(what string, f func() error) {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: still %v after 5 minutes", what, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// freePort returns a TCP port free on the host's loopback just now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
