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

# ONNX Runtime threads of a service started beside the others on this machine (make up, the
# load tests): both model services run for every review, so the sentiment service takes half the
# cores; the embedding service takes them all, as it also embeds the catalog alone while
# indexing (docs/BENCHMARKS.md, "Inference threads"). ARAS_INFERENCE_THREADS, when set, wins.
inference_threads() {
  local cores; cores="$(nproc)"
  case "$1" in
    sentiment) echo "${ARAS_INFERENCE_THREADS:-$(( cores > 1 ? cores / 2 : 1 ))}" ;;
    *) echo "${ARAS_INFERENCE_THREADS:-$cores}" ;;
  esac
}

# Waits (30 s at most) until the gateway at $1 (host:port) reports every backend named after it
# as serving; its readiness does not follow the backends, so load tests ask its detailed health
# report, an admin route: in development callers act as admin, in production set
# ARAS_HEALTH_API_KEY to an admin's API key.
wait_serving() {
  local gateway="$1"; shift
  for _ in $(seq 150); do
    curl -s ${ARAS_HEALTH_API_KEY:+-H "X-API-Key: $ARAS_HEALTH_API_KEY"} "http://$gateway/api/v1/admin/health" | python3 -c '
import json, sys
try:
    status = {d["name"]: d["status"] for d in json.load(sys.stdin)["dependencies"]}
except ValueError:
    sys.exit(1)
sys.exit(0 if all(status.get(name) == "serving" for name in sys.argv[1:]) else 1)' "$@" && return 0
    sleep 0.2
  done
  echo "the gateway at $gateway does not report $* serving within 30 s" >&2
  return 1
}
