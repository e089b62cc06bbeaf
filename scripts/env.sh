# Sourced by the Makefile and scripts: where build outputs and caches live.
#
# Builds go to a target directory outside the clone, keyed by the toolchain and Cargo.lock, so
# clones share a warm build while a different toolchain or dependency set gets its own.
# (Cargo's own fingerprints already rebuild whatever changed inside one key.)
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ARAS_CACHE_DIR="${ARAS_CACHE_DIR:-$HOME/.cache/aras}"
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  build_key="$( (rustc -V; cat "$repo_root/rust-toolchain.toml" "$repo_root/Cargo.lock") | sha256sum | cut -c1-16)"
  export CARGO_TARGET_DIR="$ARAS_CACHE_DIR/target-$build_key"
fi
