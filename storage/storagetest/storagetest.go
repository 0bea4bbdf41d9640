// Package storagetest gives each test a PostgreSQL schema of its own, so that
// tests that store data can run in parallel against one server.
//
// The server is the one TEST_DATABASE_URL names, by default a local
// PostgreSQL that trusts the postgres user. A test that cannot reach it fails.
package storagetest

import (
	"cmp"
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hooklane/hooklane/storage"
)

// defaultURL is the database tests use when TEST_DATABASE_URL is unset.
const defaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

const howTo = `start PostgreSQL, e.g.
	docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:15
or set TEST_DATABASE_URL to a database where the user may create schemas (default ` + defaultURL + `)`

// URL creates an empty schema named hooklane_test_<random> and returns a URL
// of the test database whose connections use it through their search_path.
// The schema is dropped, with all it holds, when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	base := cmp.Or(os.Getenv("TEST_DATABASE_URL"), defaultURL)
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatal("storagetest: TEST_DATABASE_URL is not a postgres:// URL")
	}
	name := "hooklane_test_" + strings.ToLower(rand.Text())
	exec(t, base, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize())
	t.Cleanup(func() { exec(t, base, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE") })

	q := u.Query()
	q.Set("search_path", name) // pgx sends unknown parameters as run-time settings
	u.RawQuery = q.Encode()
	return u.String()
}

// New returns a Store on a fresh, migrated schema of its own, which is closed
// and dropped when the test ends.
func New(t testing.TB) *storage.Store {
	t.Helper()
	return NewConfig(t, storage.Config{})
}

// NewConfig is New with the Store configured by cfg.
func NewConfig(t testing.TB, cfg storage.Config) *storage.Store {
	t.Helper()
	databaseURL := URL(t)
	ctx := context.Background()
	if err := storage.Migrate(ctx, databaseURL); err != nil {
		t.Fatalf("storagetest: %v", err)
	}
	s, err := storage.Open(ctx, databaseURL, cfg)
	if err != nil {
		t.Fatalf("storagetest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// exec runs sql on its own connection to databaseURL. It does not use the
// test's context, which is already cancelled when cleanups run.
func exec(t testing.TB, databaseURL, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatalf("storagetest: cannot reach the test database: %v\n%s", err, howTo)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("storagetest: %s: %v", sql, err)
	}
}
