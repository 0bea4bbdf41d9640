// Package provider holds the implementations of [hooklane.Provider]: how
// each webhook provider signs a delivery, how its event type and idempotency
// key are found, and how one delivery fans out into the events it carries.
// Each provider lives in a file of its own, so adding a provider is adding a
// file and a line in the registry, the one list of provider names.
package provider

import (
	"errors"
	"fmt"
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

// ErrTooManyEvents: the delivery fans out to more than MaxEvents.
var ErrTooManyEvents = errors.New("delivery carries more events than a delivery may")

// MaxEvents is the most events one delivery fans out to; past it, Events
// returns ErrTooManyEvents (wrapped). Meta sends up to 1,000 updates a
// delivery; the bound is a hundred times that, so that the memory one
// delivery costs a worker stays bounded whatever it holds (a 4 MiB body of
// {} statuses would be 1.4 million).
const MaxEvents = 100_000

// tooMany is ErrTooManyEvents with the count.
func tooMany(n int) error {
	return fmt.Errorf("%w: %d, over %d", ErrTooManyEvents, n, MaxEvents)
}
