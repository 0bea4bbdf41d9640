package storage_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hooklane/hooklane/storage"
)

func TestIsTransient(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		code string
		want bool
	}{
		{"08000", true},  // connection exception
		{"08006", true},  // connection failure
		{"53100", true},  // disk full
		{"53200", true},  // out of memory
		{"53300", true},  // too many connections
		{"57P01", true},  // admin shutdown
		{"57P02", true},  // crash shutdown
		{"57P03", true},  // cannot connect now
		{"40001", true},  // serialization failure
		{"40P01", true},  // deadlock detected
		{"55P03", true},  // lock not available
		{"22P05", false}, // untranslatable character: \u0000 in jsonb
		{"22021", false}, // invalid UTF-8
		{"22P02", false}, // invalid text representation
		{"23502", false}, // not null violation
		{"23503", false}, // foreign key violation
		{"23505", false}, // unique violation
		{"23514", false}, // check violation
		{"42P01", false}, // undefined table: not migrated
		{"28P01", false}, // invalid password
		{"3D000", false}, // no such database
		{"57014", false}, // query canceled
	} {
		err := &pgconn.PgError{Code: tt.code}
		if got := storage.IsTransient(err); got != tt.want {
			t.Errorf("IsTransient(SQLSTATE %s) = %v, want %v", tt.code, got, tt.want)
		}
		if got := storage.IsTransient(fmt.Errorf("save: %w", err)); got != tt.want {
			t.Errorf("IsTransient(wrapped SQLSTATE %s) = %v, want %v", tt.code, got, tt.want)
		}
	}

	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"cancelled", fmt.Errorf("save: %w", context.Canceled), false},
		{"deadline", fmt.Errorf("save: %w", context.DeadlineExceeded), true},
		{"connection reset", &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, true},
		{"unexpected EOF", fmt.Errorf("receive: %w", io.ErrUnexpectedEOF), true},
		{"other", errors.New("cannot encode"), false},
	} {
		if got := storage.IsTransient(tt.err); got != tt.want {
			t.Errorf("IsTransient(%s: %v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}

	// A real connection failure: nothing listens on port 1.
	_, err := pgx.Connect(t.Context(), "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5")
	if err == nil || !storage.IsTransient(err) {
		t.Errorf("IsTransient(%v) = false, want true", err)
	}
}

func TestIsDataError(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "22P05"}, true},
		{&pgconn.PgError{Code: "22021"}, true},
		{&pgconn.PgError{Code: "23502"}, true},
		{fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "22P02"}), true},
		{&pgconn.PgError{Code: "22003"}, true}, // numeric value out of range
		{&pgconn.PgError{Code: "54000"}, true}, // program limit: index row too large
		{&pgconn.PgError{Code: "54001"}, true}, // statement too complex: nesting past the stack depth
		{&pgconn.PgError{Code: "54023"}, true}, // too many arguments
		{&pgconn.PgError{Code: "53200"}, false},
		{&pgconn.PgError{Code: "42P01"}, false},
		{&pgconn.PgError{Code: "57P01"}, false},
		{errors.New("closed pool"), false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := storage.IsDataError(tt.err); got != tt.want {
			t.Errorf("IsDataError(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
