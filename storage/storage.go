// Package storage keeps hooklane's data in PostgreSQL. It applies the
// migrations of package schema and writes deliveries with their events, dead
// letters and Flows exchanges in batches of one round trip each. All of
// hooklane's SQL lives here.
package storage

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config tunes a Store.
type Config struct {
	// MaxConns is the most connections the pool holds. Defaults to the URL's
	// pool_max_conns, else to the larger of 4 and the number of CPUs.
	MaxConns int32
	// SkipModel makes Save store events only, leaving the model tables
	// (messages, contacts, conversations) alone. Defaults to false: Save
	// merges each new event's facts into them.
	SkipModel bool
}

// Store writes to a PostgreSQL database through a pool of connections. It is
// safe for concurrent use.
type Store struct {
	pool      *pgxpool.Pool
	skipModel bool
}

// Open connects to the database at databaseURL, which Migrate has brought up
// to date, and checks that it answers.
func Open(ctx context.Context, databaseURL string, cfg Config) (*Store, error) {
	poolCfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	poolCfg.MaxConns = cmp.Or(cfg.MaxConns, poolCfg.MaxConns)
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping database: %w", err)
	}
	return &Store{pool: pool, skipModel: cfg.SkipModel}, nil
}

// Close closes the pool's connections, waiting for those in use.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// sendBatch runs b as one implicit transaction in one round trip: with no
// BEGIN in it, PostgreSQL commits a pipeline at its closing Sync, and rolls it
// all back if any statement fails.
func (s *Store) sendBatch(ctx context.Context, b *pgx.Batch) error {
	return s.pool.SendBatch(ctx, b).Close()
}

// headersJSON encodes h as a JSON object of string arrays, {} when h is nil,
// with text jsonb cannot hold (NUL, invalid UTF-8) cleaned.
func headersJSON(h map[string][]string) string {
	if h == nil {
		return "{}"
	}
	if !needsCleaning(h) {
		b, _ := json.Marshal(h) // a map of strings always encodes
		return string(b)
	}
	clean := make(map[string][]string, len(h))
	for name, values := range h {
		cv := make([]string, len(values))
		for i, v := range values {
			cv[i] = pgText(v)
		}
		clean[pgText(name)] = cv
	}
	b, _ := json.Marshal(clean) // a map of strings always encodes
	return string(b)
}

func needsCleaning(h map[string][]string) bool {
	for name, values := range h {
		if !storableText(name) {
			return true
		}
		for _, v := range values {
			if !storableText(v) {
				return true
			}
		}
	}
	return false
}

// pgText makes s storable as PostgreSQL text, which holds neither NUL bytes
// nor invalid UTF-8.
func pgText(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
}
