#!/usr/bin/env bash
# The spend limit under concurrency: N cases against a stub with LATENCY_MS, concurrency CONC,
# and `--max-cost BUDGET`. Prints what the run spent against its budget, how many cases it
# finished, and its exit code (3: stopped by the budget, resumable).
#
# Usage: bench/budget.sh [N] [LATENCY_MS] [CONC] [BUDGET]
#   defaults: 2000 cases at 100 ms with concurrency 32 and a budget of $0.02 (the stub's
#   answers cost $0.000027 each, so about 740 cases).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-2000}"
LATENCY="${2:-100}"
CONC="${3:-32}"
BUDGET="${4:-0.02}"

cargo build --release --quiet --bin evalgate --example stub_server
BIN="$PWD/target/release/evalgate"
STUB="$PWD/target/release/examples/stub_server"
WORK="$(mktemp -d)"
. bench/lib.sh
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

start_stub "$LATENCY"

dir="$WORK/project"
mkdir -p "$dir/prompts" "$dir/golden"
cat >"$dir/evalgate.yaml" <<YAML
providers:
  stub:
    kind: openai
    base_url: http://127.0.0.1:$PORT/v1
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
YAML
write_prompt "$dir"
write_cases "$dir" "$N"

set +e
(cd "$dir" && "$BIN" run bench --max-cost "$BUDGET" --format json --out run.json >/dev/null 2>"$WORK/stderr")
code=$?
set -e
requests=$(curl -fsS "http://127.0.0.1:$PORT/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
python3 - "$dir/run.json" "$BUDGET" "$code" "$requests" "$N" "$LATENCY" "$CONC" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
budget, code, requests = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
spent = run["report"]["usage"]["cost_paid_usd"]
print(f"{sys.argv[5]} cases at {sys.argv[6]} ms, concurrency {sys.argv[7]}, --max-cost {budget}")
print(f"  exit code          {code} (run status {run['run']['status']}, {run['run'].get('stop_reason')})")
print(f"  cases finished     {len(run['cases'])} ({requests} requests to the stub)")
print(f"  spent              ${spent:.6f} = {spent / budget:.4f} × the budget")
PY
grep "stopped at the spend limit" "$WORK/stderr" || true
