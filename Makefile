# graphwatch: `make run` starts the local stack, `make test` runs every check.
# Both install what is missing first (Rust components, Java 17, DynamoDB Local, moto, cfn-lint).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

SERVICES := tools/scripts/local-services
VENV_BIN := .local/venv/bin
RELEASE := $(or $(CARGO_TARGET_DIR),target)/release
CARGO_DENY_VERSION := 0.20.2

.PHONY: help deps run test lint unit bench fmt

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'

deps: ## install what is missing
	@rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
	@command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest
	@command -v cargo-deny >/dev/null || cargo install --locked cargo-deny@$(CARGO_DENY_VERSION)
	@$(SERVICES) install

run: deps ## run the whole system locally (no Docker) and print how to connect the demo account
	cargo run --locked -p graphwatch -- dev

test: deps lint unit ## every check: format, clippy, all tests on the local services, cfn-lint

lint: ## formatting, clippy, the dependency policy (deny.toml) and the template linter
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cargo clippy -p graphwatch --no-default-features --all-targets --locked -- -D warnings
	@# the scanner alone (`--no-default-features`) must compile none of the AWS / server / function crates
	@heavy=$$(cargo tree -p graphwatch --no-default-features -e normal --prefix none --locked \
		| { grep -E '^(aws-|axum |hyper |tokio |reqwest |lambda_|graphwatch-shared |graphwatch-testkit |graph-emulator |graph-webhook |oauth-callback |privacy-scan |renew-subscriptions )' || true; } | sort -u); \
	if [ -n "$$heavy" ]; then echo "graphwatch --no-default-features must build the scanner alone, but pulls:"; echo "$$heavy"; exit 1; fi
	cargo deny --locked check licenses bans sources
	@# the advisory database is a git repository on github.com: checked wherever it can be fetched
	@if cargo deny fetch db >/dev/null 2>&1; then cargo deny --locked check advisories; \
	else echo "NOTICE: RustSec advisory database unreachable (github.com): advisories not checked; run 'cargo deny check advisories' where it is reachable"; fi
	$(VENV_BIN)/cfn-lint template.yaml
	AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 $(VENV_BIN)/sam validate --lint --template-file template.yaml

unit: ## all tests (unit and integration) with the local services started for them
	$(SERVICES) run -- cargo nextest run --workspace --locked --no-fail-fast

bench: deps ## benchmarks on release builds; figures and commands in docs/performance.md
	cargo build --release --locked -p graph-webhook -p graphwatch-bench
	$(RELEASE)/lambda-init-time --anchor $(RELEASE)/empty-lambda $(RELEASE)/graph-webhook \
		--event events/webhook-handshake.json \
		--env GRAPHWATCH_TABLE=bench --env GRAPHWATCH_SECRET_ID=bench \
		--env PUBLIC_BASE_URL=https://bench.example --env AWS_REGION=us-east-1
	$(SERVICES) run -- cargo bench --locked -p graph-webhook --bench latency
	$(SERVICES) run -- cargo bench --locked -p renew-subscriptions --bench renewal
	$(SERVICES) run -- cargo bench --locked -p privacy-scan --bench scan
	tools/scripts/bench-privacy

fmt: ## format the code
	cargo fmt --all
