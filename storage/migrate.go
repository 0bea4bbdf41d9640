package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/tern/v2/migrate"

	"github.com/hooklane/hooklane/schema"
)

// versionTable records the schema version; unqualified, like the tables, so
// that the search_path chooses its schema.
const versionTable = "hooklane_schema_version"

// Migrate applies the migrations of package schema that the database at
// databaseURL lacks, each in its own transaction, and records the version in
// the table hooklane_schema_version. Tern holds a session advisory lock while
// it creates that table and while it migrates, so processes that start
// together may all call Migrate: the first applies the migrations, the others
// wait for it and find nothing left to do.
func Migrate(ctx context.Context, databaseURL string) error {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close(ctx)

	m, err := migrate.NewMigrator(ctx, conn, versionTable)
	if err != nil {
		return fmt.Errorf("migrate: create %s: %w", versionTable, err)
	}
	if err := m.LoadMigrations(schema.FS); err != nil {
		return fmt.Errorf("migrate: load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// EnsureDatabase creates the database that databaseURL names if it does not
// exist, connecting to the server's postgres database to do so, and reports
// whether it did. Creating needs the CREATEDB privilege.
func EnsureDatabase(ctx context.Context, databaseURL string) (created bool, err error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return false, fmt.Errorf("parse database URL: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return false, conn.Close(ctx)
	}
	if !hasCode(err, "3D000") { // invalid_catalog_name: no such database
		return false, fmt.Errorf("connect to database %s: %w", cfg.Database, err)
	}

	name := cfg.Database
	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err = pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return false, fmt.Errorf("create database %s: %w", name, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	switch {
	case hasCode(err, "42P04"): // duplicate_database: another process was first
		return false, nil
	case err != nil:
		return false, fmt.Errorf("create database %s: %w", name, err)
	}
	return true, nil
}

// hasCode reports whether err carries a PostgreSQL error with SQLSTATE code.
func hasCode(err error, code string) bool {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	return ok && pgErr.Code == code
}
