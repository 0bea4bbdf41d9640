// Package loadgen load-tests hooklane. A [Generator] makes a realistic mix
// of signed deliveries from the providers' samples (Meta batches, statuses
// that follow a sent message, Platica flow requests, exact retries), each
// with ids that hold a run id; [Run] sends them closed-loop or open-loop at
// a fixed rate, measuring latency from each request's scheduled time; and
// [Drain] and [Verify] then check in Postgres that every event a 2xx
// answer acknowledged is stored exactly once. cmd/hooklane-bench drives it,
// and fault tests can reuse it.
package loadgen
