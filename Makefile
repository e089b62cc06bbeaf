# The two commands of the README: `make up` runs ARAS, `make test` tests it.
.PHONY: up test check bench fmt models

# Build outputs live outside the clone, keyed by toolchain and lockfile (see scripts/env.sh).
SHELL := /bin/bash

up: models
	@scripts/up

# scripts/setup first: the browser test needs Debian's chromium and chromium-driver.
test: models
	@scripts/setup
	@source scripts/env.sh && cargo test --release --workspace --all-targets --locked
	@scripts/contract-test
	@scripts/check-deploy

# The offline models and the ONNX Runtime library, cached outside the clone by recipe.
models:
	@scripts/build-models

# What CI checks besides the tests: formatting, lints, pure domain crates.
check:
	@source scripts/env.sh && scripts/check

bench:
	@source scripts/env.sh && cargo bench -p aras-ranking-core --bench rank

fmt:
	@cargo fmt --all
