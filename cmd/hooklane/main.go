// Command hooklane is a WhatsApp webhook gateway: it verifies deliveries from
// Platica, Meta's Cloud API, WhatzMeAPI-style and whapi.co-style senders,
// queues them in NATS JetStream and stores each event once in Postgres, and
// answers WhatsApp Flows requests within their budget.
//
// Usage: hooklane <command> [--config FILE], where the command is one of
// all, ingest, worker, migrate, console, nats, responder-demo, probe and
// version; "hooklane help" describes them. The roles are wired in
// internal/app; this command parses its command line and runs one. It exits
// 0 on a clean stop and after --help, 2 on a command line it does not
// understand, 1 on any other failure.
package main

import "github.com/hooklane/hooklane/internal/app"

func main() { app.Main("hooklane", run) }
