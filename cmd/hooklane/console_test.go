package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hooklane/hooklane/internal/app"
	"github.com/hooklane/hooklane/internal/config"
	"github.com/hooklane/hooklane/internal/console"
	"github.com/hooklane/hooklane/internal/natstest"
	"github.com/hooklane/hooklane/internal/testlog"
	"github.com/hooklane/hooklane/storage/storagetest"
)

// consoleConfig writes a config for the console roles, on a database and
// a stream of the test's own, with the given console section.
func consoleConfig(t *testing.T, consoleYAML string) string {
	t.Helper()
	prefix := natstest.Prefix(t)
	path := filepath.Join(t.TempDir(), "hooklane.yaml")
	yaml := fmt.Sprintf(`
addr: 127.0.0.1:0
database_url: %q
nats:
  url: %q
  store_dir: %q
  subject_prefix: %s
  stream: %s
worker:
  consumer: %s_worker
console:
%s
sources:
  - {name: platica, provider: platica, secrets: [platica-test-secret]}
`, storagetest.URL(t), natstest.URL(t), filepath.Join(t.TempDir(), "nats"), prefix, strings.ToUpper(prefix), prefix, consoleYAML)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConsoleRoles(t *testing.T) {
	t.Parallel()
	for _, role := range []string{"console", "all"} {
		t.Run(role, func(t *testing.T) {
			t.Parallel()
			cfgFile := consoleConfig(t, "  addr: 127.0.0.1:0\n  token: ${CONSOLE_TOKEN}")
			ctx, cancel := context.WithCancel(context.Background())
			addr := make(chan net.Addr, 1)
			done := make(chan error, 1)
			logs := &testlog.Buffer{}
			go func() {
				done <- run(ctx, []string{role, "--config", cfgFile}, app.Env{
					Getenv: func(k string) string {
						if k == "CONSOLE_TOKEN" {
							return "test-token"
						}
						return ""
					},
					Stdout: io.Discard, Stderr: logs,
					ConsoleListening: func(a net.Addr) { addr <- a },
				})
			}()
			var url string
			select {
			case a := <-addr:
				url = "http://" + a.String()
			case err := <-done:
				cancel()
				t.Fatalf("hooklane %s did not start: %v\n%s", role, err, logs)
			}
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("hooklane %s stopped with %v\n%s", role, err, logs)
				}
			}()
			get := func(token string) (int, string) {
				req, _ := http.NewRequest(http.MethodGet, url+"/", nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			if code, _ := get(""); code != http.StatusUnauthorized {
				t.Errorf("without the token: %d, want 401", code)
			}
			if code, body := get("test-token"); code != http.StatusOK || !strings.Contains(body, "<h1>Overview</h1>") {
				t.Errorf("with the token: %d\n%s", code, body)
			}
		})
	}
}

func TestConsoleRefusesExposedAddressWithoutCredentials(t *testing.T) {
	t.Parallel()
	for _, role := range []string{"console", "all"} {
		cfgFile := consoleConfig(t, "  addr: 0.0.0.0:0")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := run(ctx, []string{role, "--config", cfgFile}, app.Env{
			Getenv: func(string) string { return "" }, Stdout: io.Discard, Stderr: io.Discard,
		})
		cancel()
		if !errors.Is(err, console.ErrExposed) || !strings.Contains(err.Error(), "console.token") {
			t.Errorf("hooklane %s on 0.0.0.0 without a token: %v", role, err)
		}
	}
}

func TestConsoleConfigFromEnvironment(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		config.EnvConsoleAddr: "0.0.0.0:9", config.EnvConsoleUser: "ops", config.EnvConsolePassword: "pw",
	}
	cfg, err := config.Parse([]byte("sources: []"), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Console.Addr != "0.0.0.0:9" || cfg.Console.User != "ops" || cfg.Console.Password != "pw" || console.CheckAddr(cfg.Console.Addr, cfg.Console.User != "") != nil {
		t.Errorf("console config %+v, check %v", cfg.Console, console.CheckAddr(cfg.Console.Addr, cfg.Console.User != ""))
	}
	if _, err := config.Parse([]byte("console: {user: ops}"), func(string) string { return "" }); err == nil ||
		!strings.Contains(err.Error(), "console.password") {
		t.Errorf("a user without a password: %v", err)
	}
	def, err := config.Parse(nil, func(string) string { return "" })
	if err != nil || def.Console.Addr != "127.0.0.1:8081" {
		t.Errorf("default console address %q (%v)", def.Console.Addr, err)
	}
}
