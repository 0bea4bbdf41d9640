// Package chaos is hooklane's fault suite: each test starts the real
// processes (hooklane ingest, two hooklane workers and, for flows,
// responders) against an embedded NATS server of its own and a Postgres
// schema of its own, sends load from internal/loadgen, breaks something in
// the middle of it, and ends with the exactly-once check: every delivery
// that got a 2xx is stored once, and nothing else of the run is.
//
// The faults: NATS stopped and restarted; Postgres connections killed and
// then refused outright; a worker killed with SIGKILL in the middle of a
// batch; ingest stopped with SIGTERM under load; every delivery sent three
// times at once; statuses sent before what they follow; and responders
// that hang, panic, answer garbage or are killed.
//
// The tests are behind the chaos build tag, so "go test ./..." does not run
// them; "make chaos" does:
//
//	go test -tags chaos -count=1 -v -timeout 20m ./internal/chaos
//
// They need what "make test" needs (a Postgres that TEST_DATABASE_URL
// names, by default the local one, user postgres) and build the hooklane
// binary once. Their bounds on time, CPU and log volume catch hangs and hot
// loops on a shared two-core machine; they are not speed claims.
package chaos
