// Package opscmd holds hooklane's operating commands, run against a
// deployment's NATS and Postgres: tail, dead-letters, replay, purge and
// reproject.
// Each takes its command line after the command's name; --help prints its
// usage and succeeds, a command line it cannot take is an app.ErrUsage.
// cmd/hooklane dispatches to them, so that it stays a thin command line.
package opscmd
