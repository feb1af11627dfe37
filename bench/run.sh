#!/usr/bin/env bash
# Throughput and footprint of `evalgate run` against a stub with configurable latency.
#
# Usage: bench/run.sh [N] [LATENCY_MS] [CONCURRENCY] [BIG_N]
#   defaults: 10000 cases at 50 ms with concurrency 32, then BIG_N="200000 1000000": a run of
#   each of those sizes at 0 ms (CPU and memory per case as the runs grow). BIG_N=0 skips them.
# Prints, for each run: wall time against the physical limit ceil(N / concurrency) × latency,
# CPU milliseconds per case (user + sys of the evalgate process), peak memory, bytes written
# per case (what reached storage: the kernel's write_bytes less cancelled_write_bytes, the
# pages dropped before write-back: the run log's, emptied after each transaction, and those
# of SQLite's temporary statement journals; and what the database grew by), and the time of
# a fully cached re-run with the stub's request count (which must not move).
# BENCH_KEEP_DB=path keeps the first run's database there (for bench/sqlite-writes.py, which
# replays it under other storage layouts and commit sizes).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-10000}"
LATENCY="${2:-50}"
CONC="${3:-32}"
BIG_N="${4:-200000 1000000}"

cargo build --release --quiet --bin evalgate --example stub_server
BIN="$PWD/target/release/evalgate"
STUB="$PWD/target/release/examples/stub_server"
WORK="$(mktemp -d)"
. bench/lib.sh
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

make_project() {
  local dir="$1" n="$2" port="$3"
  mkdir -p "$dir/prompts" "$dir/golden"
  cat >"$dir/evalgate.yaml" <<YAML
providers:
  stub:
    kind: openai
    base_url: http://127.0.0.1:$port/v1
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
      - kind: json_field
        field: sentiment
      - kind: numeric
        field: escalation_risk
        tolerance: 1
YAML
  write_prompt "$dir"
  write_cases "$dir" "$n"
}

db_bytes() { du -sb "$1/.evalgate" 2>/dev/null | awk '{print $1}'; }

bench() {
  local n="$1" latency="$2" label="$3"
  start_stub "$latency"
  local dir="$WORK/$label"
  make_project "$dir" "$n" "$PORT"
  (cd "$dir" && "$BIN" validate >/dev/null 2>&1)
  local before; before=$(db_bytes "$dir" || echo 0)
  local m; m=$(cd "$dir" && python3 "$OLDPWD/bench/measure.py" "$BIN" run bench --format json)
  local after; after=$(db_bytes "$dir")
  if [ -n "${BENCH_KEEP_DB:-}" ] && [ "$label" = "run-$N" ]; then
    cp "$dir/.evalgate/evalgate.db" "$BENCH_KEEP_DB"
  fi
  local requests; requests=$(curl -fsS "http://127.0.0.1:$PORT/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
  local cached; cached=$(cd "$dir" && python3 "$OLDPWD/bench/measure.py" "$BIN" run bench --format json)
  local requests_after; requests_after=$(curl -fsS "http://127.0.0.1:$PORT/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
  kill %% 2>/dev/null || true
  wait 2>/dev/null || true
  python3 - "$n" "$latency" "$CONC" "$m" "$cached" "${before:-0}" "$after" "$requests" "$requests_after" "$label" <<'PY'
import json, math, sys
n, latency, conc = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
m, c = json.loads(sys.argv[4]), json.loads(sys.argv[5])
before, after, req, req_after, label = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9]), sys.argv[10]
limit = math.ceil(n / conc) * latency / 1000
rows = [
    ("cases", f"{n} at {latency} ms, concurrency {conc}"),
    ("exit codes", f"{m['exit']} (run), {c['exit']} (cached re-run)"),
    ("requests to the stub", f"{req} (run), {req_after - req} (cached re-run)"),
    ("wall time", f"{m['wall_s']:.2f} s" + (f" = {m['wall_s'] / limit:.3f} × the physical limit {limit:.2f} s" if limit > 0 else "")),
    ("CPU per case", f"{m['cpu_s'] * 1000 / n:.3f} ms (user + sys {m['cpu_s']:.2f} s)"),
    ("peak memory", f"{m['max_rss_kb'] / 1024:.1f} MB"),
    ("written per case", f"{((m['write_bytes'] or 0) - (m['cancelled_write_bytes'] or 0)) / n:.0f} B to storage"
        f" ({(m['write_bytes'] or 0) / n:.0f} B dirtied, less {(m['cancelled_write_bytes'] or 0) / n:.0f} B dropped before write-back: the run log, emptied after each transaction, and SQLite's temporary files);"
        f" the database grew {(after - before) / n:.0f} B per case"),
    ("cached re-run", f"{c['wall_s']:.3f} s, CPU {c['cpu_s'] * 1000 / n:.3f} ms per case, peak memory {c['max_rss_kb'] / 1024:.1f} MB"),
]
print(f"\n{label}")
w = max(len(k) for k, _ in rows)
for k, v in rows:
    print(f"  {k:<{w}}  {v}")
PY
}

bench "$N" "$LATENCY" "run-$N"
for big in $BIG_N; do
  [ "$big" = 0 ] || bench "$big" 0 "run-$big"
done
