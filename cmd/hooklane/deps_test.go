package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoLoadTool keeps the load tool out of the product binary: it is
// cmd/hooklane-bench's.
func TestNoLoadTool(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/hooklane/hooklane/cmd/hooklane").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for pkg := range strings.FieldsSeq(string(out)) {
		if strings.HasPrefix(pkg, "github.com/hooklane/hooklane/internal/loadgen") || strings.HasPrefix(pkg, "github.com/hooklane/hooklane/internal/chaos") {
			t.Errorf("hooklane links %s", pkg)
		}
	}
}
