// Package hooklane holds the domain every hooklane role shares: the
// [Delivery] envelope that carries one verified webhook request from ingest,
// through JetStream, to the workers; the [Provider] interface that each
// webhook provider implements, with the [Summary] and [Event]s it reads from
// a delivery; the [FlowExchange] record of one flow request; and the NATS
// subject names of deliveries and exchange records.
//
// The roles live in packages of their own that import this one and never
// each other: ingest (HTTP in, verify, publish), worker (consume, persist),
// storage (Postgres), flowlane (the responder SDK) and flowlane/gateway (the
// flow lane's server side). Provider implementations are in
// internal/provider; cmd/hooklane wires everything together.
//
// This package depends on the standard library and nats.go alone, so a
// consumer of hooklane's subjects can import it without the rest.
package hooklane
