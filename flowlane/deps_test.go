package flowlane_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sdkModules are the modules the SDK may depend on: nats.go and what it
// needs, and hooklane's root package.
var sdkModules = []string{
	"github.com/hooklane/hooklane",
	"github.com/nats-io/nats.go",
	"github.com/nats-io/nkeys",
	"github.com/nats-io/nuid",
	"github.com/klauspost/compress",
	"golang.org/x/crypto",
	"golang.org/x/sys",
}

// allowed reports whether the package or module path is the standard
// library's or one of sdkModules'; of hooklane's own packages only the
// root and the SDK itself are.
func allowed(path string) bool {
	if first, _, _ := strings.Cut(path, "/"); !strings.Contains(first, ".") {
		return true // the standard library
	}
	switch path {
	case "github.com/hooklane/hooklane", "github.com/hooklane/hooklane/flowlane":
		return true
	}
	for _, m := range sdkModules[1:] {
		if path == m || strings.HasPrefix(path, m+"/") {
			return true
		}
	}
	return false
}

func goCommand(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDependencies keeps the SDK light: a responder imports it without
// hooklane's server side (Prometheus, pgx, the JSON decoder, internal/).
func TestDependencies(t *testing.T) {
	out := goCommand(t, ".", "list", "-deps", "github.com/hooklane/hooklane/flowlane")
	for pkg := range strings.FieldsSeq(out) {
		if !allowed(pkg) {
			t.Errorf("flowlane depends on %s", pkg)
		}
	}
}

// TestResponderInItsOwnModule builds a responder in a module of its own,
// which requires hooklane and nothing else, and checks that the modules it
// needs are the SDK's.
func TestResponderInItsOwnModule(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	ours := module(t, root)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "go.mod"), "module example.com/responder\n\ngo "+ours.Go+"\n\n"+
		"require github.com/hooklane/hooklane v0.0.0\n\nreplace github.com/hooklane/hooklane => "+root+"\n")
	write(t, filepath.Join(dir, "main.go"), `package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/nats-io/nats.go"

	"github.com/hooklane/hooklane/flowlane"
)

func main() {
	nc, err := nats.Connect(os.Getenv("NATS_URL"))
	if err != nil {
		panic(err)
	}
	r := flowlane.NewResponder(nc, flowlane.ResponderConfig{})
	r.Handle("platica", "*", func(ctx context.Context, req *flowlane.Request) (*flowlane.Response, error) {
		return flowlane.Screen("WELCOME", map[string]any{"source": req.Source}), nil
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := r.Run(ctx); err != nil {
		panic(err)
	}
}
`)
	goCommand(t, dir, "mod", "tidy")
	goCommand(t, dir, "build", "-o", filepath.Join(dir, "responder"), ".")
	for _, r := range module(t, dir).Require {
		if !allowed(r.Path) {
			t.Errorf("the responder's module requires %s", r.Path)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "responder")); err != nil {
		t.Errorf("no binary: %v", err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// goMod is what go mod edit -json says of a go.mod.
type goMod struct {
	Go      string
	Require []struct{ Path string }
}

func module(t *testing.T, dir string) goMod {
	t.Helper()
	var m goMod
	if err := json.Unmarshal([]byte(goCommand(t, dir, "mod", "edit", "-json")), &m); err != nil {
		t.Fatal(err)
	}
	return m
}
