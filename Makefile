# hooklane: `make help` lists the targets.

GO        ?= go
# go.mod names the Go release to build with; an older go fetches it through
# the module proxy.
export GOTOOLCHAIN ?= auto
BIN       ?= bin/hooklane
BENCH_BIN ?= bin/hooklane-bench
CONFIG    ?= hooklane.example.yaml
FUZZTIME  ?= 10s
# The version hooklane version reports; the Dockerfile gets it as a build
# argument, as its context has no .git.
VERSION_VAR := github.com/hooklane/hooklane/internal/app.buildVersion
ifeq ($(origin VERSION), undefined)
VERSION := $(shell git describe --tags --match 'v[0-9]*' --always --dirty 2>/dev/null || echo devel)
endif
# The Postgres make run uses, and make clean drops.
DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/hooklane?sslmode=disable
# The NATS server the compatibility tests run against (Debian's is 2.9).
TEST_NATS_URL ?= nats://127.0.0.1:4222

# Development secrets for the targets that run the example config; a real
# deployment sets its own. Only those targets get them: docker compose
# would prefer them to .env's.
run bench migrate: export PLATICA_SECRET    ?= dev-platica-secret
run bench migrate: export META_APP_SECRET   ?= dev-meta-app-secret
run bench migrate: export META_VERIFY_TOKEN ?= dev-meta-verify-token
run bench migrate: export WHATZ_SECRET      ?= dev-whatz-secret
run bench migrate: export WHAPI_SECRET      ?= dev-whapi-secret

.DEFAULT_GOAL := help
.PHONY: help build run migrate clean test test-nats fuzz microbench bench chaos lint compose-up compose-test

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build the static binary into bin/ (the same build as the Dockerfile)
	@echo "building $(BIN) $(VERSION) (the first build downloads Go and the modules: a few minutes)"
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X $(VERSION_VAR)=$(VERSION)" -o $(BIN) ./cmd/hooklane

run: build ## Run every role in one process with the example config and an embedded NATS
	$(BIN) all --config $(CONFIG)

migrate: build ## Create the database at DATABASE_URL if missing and apply the schema
	$(BIN) migrate --config $(CONFIG)

# The database's name is the URL's path; it is dropped from the server's
# "postgres" database.
clean: ## Drop the development database (DATABASE_URL) and remove ./data and bin/
	@url='$(DATABASE_URL)'; base=$${url%%\?*}; db=$${base##*/}; \
	echo "dropping database $$db and removing ./data and bin/"; \
	psql -X -q -v ON_ERROR_STOP=1 -d "$${base%/*}/postgres" -c "DROP DATABASE IF EXISTS \"$$db\" WITH (FORCE)"
	rm -rf data bin

compose-up: ## docker compose up -d --build --wait, the image stamped with git describe
	HOOKLANE_VERSION=$(VERSION) docker compose up -d --build --wait

# Runs against the Docker engine the docker CLI reaches (DOCKER_HOST), in
# a compose project of its own, and removes it and its volumes at the end.
compose-test: ## Run the stack on a real Docker engine: health, a delivery of each provider, scaling, a NATS restart, down and up (needs docker compose)
	HOOKLANE_VERSION=$(VERSION) $(GO) test -tags compose -count=1 -v -timeout 30m -run '^TestComposeStack$$' ./deploy

test: lint ## Run the whole test suite with the race detector (needs Postgres; see README)
	$(GO) test -race -count=1 -timeout 15m ./...

# TestWorkerMemoryCeiling needs 8 MB messages, so it always runs on an
# embedded server: make test has run it already.
test-nats: ## Run the NATS-facing tests against the server at TEST_NATS_URL
	TEST_NATS_URL=$(TEST_NATS_URL) $(GO) test -race -count=1 -timeout 10m -skip '^TestWorkerMemoryCeiling$$' ./ingest ./worker ./flowlane/... ./internal/natstest

fuzz: ## Run every fuzz target for FUZZTIME each
	@set -e; for pkg in $$($(GO) list ./...); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$target"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

microbench: ## Run the Go benchmarks of the hot paths
	$(GO) test -run '^$$' -bench . -benchmem ./ingest ./internal/provider ./internal/stdjson ./storage ./flowlane/...

# The driver runs in a session of its own with everything it starts: the
# trap ends that process group, however make stops.
bench: build ## Build hooklane-bench, load-test hooklane against a bare reference handler and check exactly-once (about two minutes)
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BENCH_BIN) ./cmd/hooklane-bench
	@setsid $(BENCH_BIN) --suite --hooklane $(BIN) --config $(CONFIG) & pid=$$!; \
	trap 'kill -TERM -$$pid 2>/dev/null; wait $$pid' INT TERM; \
	trap 'kill -KILL -$$pid 2>/dev/null' EXIT; \
	wait $$pid

chaos: ## Run the fault suite: NATS, Postgres, crashes, duplicates and responders failing under load (about 2 minutes; needs Postgres)
	$(GO) vet -tags chaos ./internal/chaos
	$(GO) test -tags chaos -count=1 -v -timeout 20m ./internal/chaos

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
