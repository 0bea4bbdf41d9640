// Package operate acts on what hooklane has queued and stored, for its
// operator: Tail follows deliveries as ingest accepts them, Redrive sends dead
// letters back through the workers, Replay re-derives the events of stored
// deliveries with today's parsers, and Retention purges what is older than
// configured, in the workers' background. The SQL it needs lives in package
// storage; this package adds the stream's side and the bookkeeping.
package operate
