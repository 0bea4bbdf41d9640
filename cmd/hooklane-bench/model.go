package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"
)

// The databases of the suite's "hooklane all" with the model tables and
// without, for the model's cost.
const (
	suiteModelOnDatabase  = "hooklane_bench_model_on"
	suiteModelOffDatabase = "hooklane_bench_model_off"
)

// modelOffConfig writes, in dir, the config at path with model: false, and
// returns the copy's path. The copy keeps the ${VAR} references.
func modelOffConfig(dir, path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return "", fmt.Errorf("bench: %s is not a YAML mapping", path)
	}
	top := doc.Content[0]
	off := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"}
	set := false
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "model" {
			top.Content[i+1], set = off, true
		}
	}
	if !set {
		top.Content = append(top.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "model"}, off)
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	copyPath := filepath.Join(dir, "model-off.yaml")
	return copyPath, os.WriteFile(copyPath, out, 0o600)
}

// writeModelRows prints the model's cost: end-to-end events/s at
// saturation with the model tables and without, and their ratio.
func writeModelRows(out io.Writer, ons, offs []*measurement) {
	eventsPerSecond := func(m *measurement) float64 { return m.drained.EventsPerSecond(m.res.Start) }
	on, off := median(ons, eventsPerSecond), median(offs, eventsPerSecond)
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	row := func(label, value string, note ...string) {
		fmt.Fprintf(w, "%s\t%s\t%s\n", label, value, strings.Join(note, ", "))
	}
	row("the model", "in turns at saturation", fmt.Sprintf("%d each", len(ons)))
	row("  end-to-end, model on", perSecond(eventsPerSecond(on), "events"), spread(ons, eventsPerSecond, "%.0f"), lag(on))
	row("  end-to-end, model off", perSecond(eventsPerSecond(off), "events"), spread(offs, eventsPerSecond, "%.0f"), lag(off))
	row("  ratio on / off", fmt.Sprintf("%.2f", eventsPerSecond(on)/eventsPerSecond(off)), "messages, contacts and conversations written in the events' transaction")
	_ = w.Flush()
}
