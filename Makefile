# wfgen's tasks. The README's two commands are `make demo` and `make test`.
#
# Every target that needs PostgreSQL runs through internal/tools/withpg: with DATABASE_URL
# set it uses that server; without, it starts a throwaway cluster from the PostgreSQL
# binaries on this machine and removes it afterwards.

GO     ?= go
WITHPG := $(GO) run ./internal/tools/withpg

.PHONY: demo test generate check-generated lint bench postgres chromium

## demo: run the example pipeline end to end: three worker processes and the API server,
# pipelines submitted over HTTP, the monthly fan-out, a worker SIGKILLed midway, a summary.
# `make demo DEMO_FLAGS=-keep` keeps the status page and the dashboard up until Ctrl-C.
demo: postgres
	$(WITHPG) -- $(GO) run ./examples/pipeline/cmd/demo $(DEMO_FLAGS)

## test: check generated code, vet, and run every test with the race detector.
test: postgres chromium check-generated lint
	$(WITHPG) -- $(GO) test -race -count=1 -timeout 20m ./...

## generate: regenerate the database layer (sqlc) and the example's workflow code (wfgen).
generate:
	$(GO) tool sqlc generate
	$(GO) tool sqlc generate -f examples/pipeline/sqlc.yaml
	$(GO) generate ./examples/...

## check-generated: fail when committed generated code is stale.
check-generated:
	@$(GO) tool sqlc diff || { echo "sqlc output is stale: run 'make generate' and commit the result"; exit 1; }
	@$(GO) tool sqlc diff -f examples/pipeline/sqlc.yaml || { echo "sqlc output of examples/pipeline is stale: run 'make generate' and commit the result"; exit 1; }
	@$(GO) tool wfgen check ./... || { echo "wfgen output is stale: run 'make generate' and commit the result"; exit 1; }

## lint: gofmt, go vet, and a tidy go.mod.
lint:
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod or go.sum is not tidy: run 'go mod tidy' and commit the result"; exit 1; }
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

## bench: compare wfgen with River and DBOS Transact Go (see bench/README.md).
# Prints the table and writes it as JSON to bench/results/<UTC time>.json. Runs on a durable
# throwaway cluster (fsync on) unless DATABASE_URL is set. Pass flags with BENCH_FLAGS, e.g.
#     make bench BENCH_FLAGS="-rounds 5 -v"
bench: postgres
	$(WITHPG) -durable -- $(GO) -C bench run ./cmd/compare -out results $(BENCH_FLAGS)

## postgres: make sure PostgreSQL's server binaries are here when DATABASE_URL is not set.
# On Debian/Ubuntu as root it installs them; elsewhere it says how.
postgres:
	@if [ -n "$$DATABASE_URL" ]; then exit 0; fi; \
	if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "PostgreSQL server binaries not found: installing the Debian package 'postgresql'"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null || exit 1; \
	else \
		echo "PostgreSQL server binaries (initdb, postgres) not found, and DATABASE_URL is not set."; \
		echo "Install them, for example:"; \
		echo "    Debian/Ubuntu:  sudo apt-get install -y postgresql"; \
		echo "    macOS:          brew install postgresql@15"; \
		echo "or set DATABASE_URL to a PostgreSQL server you already run."; \
		exit 1; \
	fi

## chromium: make sure a Chromium is here for the browser tests (internal/browsertest).
# On Debian/Ubuntu as root it installs the Debian package 'chromium'; elsewhere it says how.
chromium:
	@if [ -n "$$WFGEN_CHROMIUM" ]; then exit 0; fi; \
	for b in chromium chromium-browser google-chrome google-chrome-stable headless-shell; do \
		if command -v $$b >/dev/null 2>&1; then exit 0; fi; \
	done; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Chromium not found: installing the Debian package 'chromium' for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || exit 1; \
	else \
		echo "Chromium not found; the browser tests need it. Install it, for example:"; \
		echo "    Debian/Ubuntu:  sudo apt-get install -y chromium"; \
		echo "    macOS:          brew install --cask chromium"; \
		echo "or set WFGEN_CHROMIUM to a Chromium or Chrome binary."; \
		exit 1; \
	fi
