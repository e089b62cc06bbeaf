# Sourced by the recommendation and job load tests, with `vehicles` set: builds the release
# binaries, seeds a demo catalog of that size into its own database (aras_bench_<vehicles>),
# starts the sentiment, embedding, recommender and gateway services on ports of their own, and
# indexes the catalog (once per size: the vectors are kept in $ARAS_CACHE_DIR). `start` runs
# more services; everything started stops when the script exits.
source scripts/env.sh
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
scripts/build-models >/dev/null
cargo build --release --locked --workspace --all-targets  # the selection of make up and make test: one build
bin="$CARGO_TARGET_DIR/release"

work="$(mktemp -d)"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
# Runs services in the background, each logging to $work/<service>.log.
start() {
  for service in "$@"; do
    ARAS_INFERENCE_THREADS="$(inference_threads "$service")" \
      "$bin/aras-$service" >"$work/$service.log" 2>&1 & pids+=($!)
  done
}

export ARAS_DATABASE_URL="postgres://postgres@127.0.0.1:5432/aras_bench_$vehicles"
export ARAS_VECTOR_DIR="$ARAS_CACHE_DIR/bench/vectors-$vehicles" ARAS_REDIS_PREFIX="bench-$vehicles:"
export ARAS_SENTIMENT_ADDR=127.0.0.1:50251 ARAS_SENTIMENT_URL=http://127.0.0.1:50251
export ARAS_EMBEDDING_ADDR=127.0.0.1:50252 ARAS_EMBEDDING_URL=http://127.0.0.1:50252
export ARAS_RECOMMENDER_ADDR=127.0.0.1:50253 ARAS_RECOMMENDER_URL=http://127.0.0.1:50253
export ARAS_RANKING_URL=http://127.0.0.1:50254 ARAS_GATEWAY_ADDR=127.0.0.1:8103 RUST_LOG=warn
"$bin/aras" seed --if-empty --vehicles "$vehicles"
start sentiment embedding recommender gateway
echo "== indexing $vehicles vehicles (only what is not indexed yet)"
"$bin/aras" index 2>&1 | tail -n 1
