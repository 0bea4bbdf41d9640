package storage

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// IsTransient reports whether err is worth retrying later: the database was
// unreachable, overloaded, shutting down or timed out, or the transaction lost
// a serialization, deadlock or lock-timeout race. It is false for the caller's
// own cancellation and for errors the data causes, such as a \u0000 escape in
// a JSON payload, invalid UTF-8 or a violated constraint: retrying those fails
// again.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch code := pgErr.Code; {
		case strings.HasPrefix(code, "08"), // connection exception
			strings.HasPrefix(code, "53"): // insufficient resources, e.g. too many connections
			return true
		}
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", // admin or crash shutdown, cannot connect now
			"40001", // serialization failure
			"40P01", // deadlock detected
			"55P03": // lock not available
			return true
		}
		return false
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return true
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.Timeout(err) || pgconn.SafeToRetry(err)
}

// IsDataError reports whether err was caused by the data written, so that
// writing the same data again fails again and it is no use retrying: SQLSTATE
// class 22 (data exception: invalid text, a value out of range), 23
// (integrity violation) and 54 (program limit exceeded: an index row too
// large, a value nested too deep for the parser's stack, too many columns or
// arguments). Any other failure may pass on a later try.
func IsDataError(err error) bool {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	if !ok {
		return false
	}
	switch pgErr.Code[:min(len(pgErr.Code), 2)] {
	case "22", "23", "54":
		return true
	}
	return false
}

// IsMissingDatabase reports whether err says that the database named in the
// URL does not exist (SQLSTATE 3D000).
func IsMissingDatabase(err error) bool {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	return ok && pgErr.Code == "3D000"
}
