// Package provider holds the implementations of [hooklane.Provider]: how
// each webhook provider signs a delivery, how its event type and idempotency
// key are found, and how one delivery fans out into the events it carries.
// Each provider lives in a file of its own, so adding a provider is adding a
// file and a line in the registry, the one list of provider names.
package provider

import (
	"slices"

	"github.com/hooklane/hooklane"
)

// registry maps provider names to their implementation; names keeps their
// documented order.
var (
	registry = map[string]hooklane.Provider{}
	names    []string
)

func init() {
	for _, p := range []hooklane.Provider{platica{}, meta{}, whatzmeapi{}, whapi{}} {
		registry[p.Name()] = p
		names = append(names, p.Name())
	}
}

// Lookup returns the provider named name.
func Lookup(name string) (hooklane.Provider, bool) {
	p, ok := registry[name]
	return p, ok
}

// Names lists the known provider names, in the order the docs give them.
func Names() []string { return slices.Clone(names) }
