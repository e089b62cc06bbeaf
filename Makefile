# The two commands of the README: `make up` runs ARAS, `make test` tests it.
.PHONY: up test check bench fmt

# Build outputs live outside the clone, keyed by toolchain and lockfile (see scripts/env.sh).
SHELL := /bin/bash

up:
	@scripts/up

test:
	@source scripts/env.sh && cargo test --workspace --all-targets --locked

# What CI checks besides the tests: formatting, lints, pure domain crates.
check:
	@source scripts/env.sh && scripts/check

bench:
	@source scripts/env.sh && cargo bench -p aras-ranking-core --bench rank

fmt:
	@cargo fmt --all
