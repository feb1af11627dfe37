#!/usr/bin/env bash
# N shard processes writing into one PostgreSQL database at once, against one process.
#
# Usage: bench/shards.sh [N] [SHARDS] [LATENCY_MS] [CONCURRENCY]
#   defaults: 20000 cases, 4 shards, 50 ms, concurrency 32 per process.
# Needs a PostgreSQL URL in EVALGATE_BENCH_DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/test) and psql; the run goes into a fresh schema, dropped
# at the end. Prints the unsharded run's and the sharded runs' wall times (the shards' is from
# the first start to the last end) against the physical limit ⌈N / (concurrency × processes)⌉ ×
# latency, the stub's request count, and whether the merged run equals the unsharded one case
# for case (id, status, output, scores), with the counts of lost and doubled cases.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-20000}"
SHARDS="${2:-4}"
LATENCY="${3:-50}"
CONC="${4:-32}"
BASE_URL="${EVALGATE_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

cargo build --release --quiet --bin evalgate --example stub_server
BIN="$PWD/target/release/evalgate"
STUB="$PWD/target/release/examples/stub_server"
WORK="$(mktemp -d)"
. bench/lib.sh
SCHEMA="evalgate_bench_$(date +%s)_$$"
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  psql -q "$BASE_URL" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
psql -q "$BASE_URL" -c "CREATE SCHEMA $SCHEMA" >/dev/null
SEP='?'; case "$BASE_URL" in *\?*) SEP='&' ;; esac
export EVALGATE_DATABASE_URL="${BASE_URL}${SEP}options=-c%20search_path%3D${SCHEMA}"

start_stub "$LATENCY"
requests() { curl -fsS "http://127.0.0.1:$PORT/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])'; }

dir="$WORK/project"
mkdir -p "$dir/prompts" "$dir/golden"
cat >"$dir/evalgate.yaml" <<YAML
providers:
  stub:
    kind: openai
    base_url: http://127.0.0.1:$PORT/v1
    structured_output: json_object_schema
    timeout_secs: 30
models:
  bench-model:
    provider: stub
    price: {input: 0.15, output: 0.60}
suites:
  bench:
    prompt: features
    dataset: cases
    models: [bench-model]
    concurrency: $CONC
    scorers:
      - kind: contract
      - kind: json_field
        field: intent
YAML
write_prompt "$dir"
write_cases "$dir" "$N"
cd "$dir"

# The reference: one process, its own SQLite database, no cache.
start=$(date +%s.%N)
EVALGATE_DATABASE_URL= "$BIN" run bench --no-cache --out full.json --format json >/dev/null 2>"$WORK/full.err"
full_s=$(python3 -c "import time; print(time.time() - $start)")
r0=$(requests)

# The shards, all at once, into the one PostgreSQL database.
start=$(date +%s.%N)
pids=()
for k in $(seq 1 "$SHARDS"); do
  "$BIN" run bench --no-cache --shard "$k/$SHARDS" --out "s$k.json" --format json >/dev/null 2>"$WORK/s$k.err" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
shards_s=$(python3 -c "import time; print(time.time() - $start)")
r1=$(requests)
"$BIN" merge s*.json --out merged.json --format json >/dev/null 2>"$WORK/merge.err"

python3 - "$N" "$SHARDS" "$LATENCY" "$CONC" "$full_s" "$shards_s" "$r0" "$r1" <<'PY'
import json, math, sys
n, shards, latency, conc = map(int, sys.argv[1:5])
full_s, shards_s = float(sys.argv[5]), float(sys.argv[6])
r0, r1 = int(sys.argv[7]), int(sys.argv[8])
key = lambda c: json.dumps([c["id"], c["repeat"], c["status"], c["output"], c["scores"]], sort_keys=True)
full = json.load(open("full.json"))["cases"]
merged = json.load(open("merged.json"))["cases"]
ids = [c["id"] for c in merged]
lost = len({c["id"] for c in full} - set(ids))
doubled = len(ids) - len(set(ids))
equal = sorted(map(key, full)) == sorted(map(key, merged))
one = math.ceil(n / conc) * latency / 1000
many = math.ceil(n / (conc * shards)) * latency / 1000
print(f"cases                 {n} at {latency} ms, concurrency {conc} per process")
ratio = lambda s, limit: f" = {s / limit:.3f} × the physical limit {limit:.2f} s" if limit > 0 else " (0 ms latency: no physical limit)"
print(f"one process (SQLite)  {full_s:.2f} s{ratio(full_s, one)}; {r0} requests")
print(f"{shards} shards at once (PostgreSQL)  {shards_s:.2f} s{ratio(shards_s, many)}; {r1 - r0} requests; {full_s / shards_s:.2f}× faster")
print(f"merged run            {len(merged)} cases; lost {lost}, doubled {doubled}; equal to the unsharded run case for case: {'yes' if equal else 'NO'}")
sys.exit(0 if equal and not lost and not doubled else 1)
PY
