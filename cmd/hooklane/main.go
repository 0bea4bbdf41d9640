// Command hooklane is a WhatsApp webhook gateway: it verifies deliveries from
// Platica, Meta's Cloud API, WhatzMeAPI-style and whapi.co-style senders,
// queues them in NATS JetStream and stores each event once in Postgres, and
// answers WhatsApp Flows requests within their budget.
//
// Usage: hooklane <command> [--config FILE], where the command is one of
// all, ingest, worker, responder-demo, migrate, bench, bench-reference,
// probe and version; "hooklane help" describes them.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], env{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr}); err != nil {
		fmt.Fprintln(os.Stderr, "hooklane:", err)
		os.Exit(1)
	}
}
