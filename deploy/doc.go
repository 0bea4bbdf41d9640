// Package deploy holds no code: this directory keeps hooklane's deployment
// files that do not sit at the repository root (a NATS cluster config), and
// the tests that check them all against the code. Those tests load
// docker-compose.yml with the Compose loader and compare it with the
// binary's commands and environment, the Dockerfile with the Makefile, and
// run hooklane's ingest against a three-node JetStream cluster that loses a
// node.
package deploy
