// Package schema holds hooklane's PostgreSQL schema as forward-only, numbered
// SQL migrations (001_deliveries.sql, ...), which storage.Migrate applies with
// tern. Table names are unqualified, so the connection's search_path chooses
// the schema they land in.
package schema

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
