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

"$STUB" --latency-ms "$LATENCY" >"$WORK/stub.out" 2>&1 &
for _ in $(seq 1 100); do grep -q listening "$WORK/stub.out" 2>/dev/null && break; sleep 0.05; done
PORT="$(awk '/listening on/ {print $3}' "$WORK/stub.out")"
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
cat >"$dir/prompts/features.yaml" <<'YAML'
messages:
  - role: system
    content: Label the support message. Answer with JSON only.
  - role: user
    content: "{{ text }}"
params: {temperature: 0, max_tokens: 60, response_format: json}
output:
  fields:
    intent: {type: enum, values: [billing, bug, feature_request, other]}
    sentiment: {type: enum, values: [positive, neutral, negative]}
    escalation_risk: {type: integer, min: 1, max: 5}
    summary: {type: string, max_length: 200}
YAML
python3 - "$N" >"$dir/golden/cases.jsonl" <<'PY'
import json, sys
intents = ["billing", "bug", "feature_request", "other"]
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": f"c{i:07d}", "vars": {"text": f"Message {i}: invoice INV-{i:07d}"},
                      "expected": {"intent": intents[i % 4]}}))
PY
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
print(f"one process (SQLite)  {full_s:.2f} s = {full_s / one:.3f} × its physical limit {one:.2f} s; {r0} requests")
print(f"{shards} shards at once (PostgreSQL)  {shards_s:.2f} s = {shards_s / many:.3f} × their physical limit {many:.2f} s; {r1 - r0} requests; {full_s / shards_s:.2f}× faster")
print(f"merged run            {len(merged)} cases; lost {lost}, doubled {doubled}; equal to the unsharded run case for case: {'yes' if equal else 'NO'}")
sys.exit(0 if equal and not lost and not doubled else 1)
PY
