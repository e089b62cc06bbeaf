# Sourced by the Makefile and scripts: where build outputs and caches live.
#
# Builds go to a target directory outside the clone, keyed by the toolchain, so clones share a
# warm build and another compiler never reuses its artefacts. Inside one key, Cargo's own
# fingerprints (sources, Cargo.lock, features, flags) rebuild whatever changed, so a stale
# artefact cannot pass for a fresh one; keying by Cargo.lock too would only force cold builds.
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ARAS_CACHE_DIR="${ARAS_CACHE_DIR:-$HOME/.cache/aras}"
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  build_key="$( (rustc -vV; cat "$repo_root/rust-toolchain.toml") | sha256sum | cut -c1-16)"
  export CARGO_TARGET_DIR="$ARAS_CACHE_DIR/target-$build_key"
fi
