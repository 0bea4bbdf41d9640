package storage_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hooklane/hooklane/storage"
	"github.com/hooklane/hooklane/storage/storagetest"
)

// BenchmarkSearchEvents reads pages of the console's event search from
// 150,000 events (50,000 deliveries of three, 1,000 contacts): the first
// page, one halfway down by keyset beside the same page by OFFSET, and
// pages filtered by type, by contact and by payload containment.
func BenchmarkSearchEvents(b *testing.B) {
	const records = 50000
	databaseURL := storagetest.URL(b)
	ctx := context.Background()
	if err := storage.Migrate(ctx, databaseURL); err != nil {
		b.Fatal(err)
	}
	s, err := storage.Open(ctx, databaseURL, storage.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for n := 0; n < records; n += 500 {
		batch := make([]storage.Record, 500)
		for i := range batch {
			batch[i] = benchRecord(n+i, 3)
			for j := range batch[i].Events {
				batch[i].Events[j].Phone = fmt.Sprintf("55119%07d", (n+i)%1000)
			}
		}
		if _, err := s.Save(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ANALYZE events"); err != nil {
		b.Fatal(err)
	}
	var maxID int64
	if err := conn.QueryRow(ctx, "SELECT max(id) FROM events").Scan(&maxID); err != nil {
		b.Fatal(err)
	}
	search := func(f storage.EventFilter) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				events, _, err := s.SearchEvents(ctx, f)
				if err != nil || len(events) != 50 {
					b.Fatalf("%d events, %v", len(events), err)
				}
			}
		}
	}
	b.Run("first page", search(storage.EventFilter{}))
	b.Run("halfway by keyset", search(storage.EventFilter{BeforeID: maxID / 2}))
	b.Run("halfway by offset", func(b *testing.B) {
		for b.Loop() {
			rows, err := conn.Query(ctx, "SELECT id, payload FROM events ORDER BY id DESC OFFSET $1 LIMIT 50", maxID/2)
			if err != nil {
				b.Fatal(err)
			}
			rows.Close()
		}
	})
	b.Run("type", search(storage.EventFilter{Type: "status"}))
	b.Run("contact", search(storage.EventFilter{Contact: "551190000042"}))
	b.Run("containment", search(storage.EventFilter{Contains: []byte(`{"status":"read"}`)}))
}
