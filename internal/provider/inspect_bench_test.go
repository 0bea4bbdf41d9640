package provider

import (
	"strings"
	"testing"
)

// BenchmarkInspect runs each provider's Inspect over its sample deliveries,
// what ingest does to every request.
func BenchmarkInspect(b *testing.B) {
	for _, file := range payloadFiles(b) {
		name, _, _ := strings.Cut(file, "/")
		p := mustLookup(b, name)
		body := readPayload(b, file)
		b.Run(strings.TrimSuffix(file, ".json"), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Inspect(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
