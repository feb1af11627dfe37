#!/usr/bin/env bash
# Peak memory and CPU per case of every command that reads a whole run, at several sizes.
#
# Usage: bench/scale.sh [SIZES]   (default "10000 200000 1000000")
# For each size N: a run of N cases against the stub at 0 ms (concurrency 64), its fully
# cached re-run, `report`, a second model's run and `compare` of the two, two shards
# (`run --shard K/2 --out`) and `merge` of their run files, and `export --format jsonl`.
# Prints a table of peak RSS (MB) and CPU per case (ms) per command and size, and the
# growth of peak RSS from the second size to the last (the target: at most +10%).
# SKIP="compare …" leaves out the named commands.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES="${1:-10000 200000 1000000}"
CONC=64

# BENCH_BIN=path measures that evalgate binary (built beforehand, from another commit say) and
# builds nothing; the stub is then BENCH_STUB, or the one in the target directory.
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
if [ -n "${BENCH_BIN:-}" ]; then
  BIN="$BENCH_BIN"
  STUB="${BENCH_STUB:-$TARGET/release/examples/stub_server}"
else
  cargo build --release --quiet --bin evalgate --example stub_server
  BIN="$TARGET/release/evalgate"
  STUB="$TARGET/release/examples/stub_server"
fi
MEASURE="$PWD/bench/measure.py"
WORK="$(mktemp -d)"
. bench/lib.sh
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

start_stub 0

make_project() {
  local dir="$1" n="$2"
  mkdir -p "$dir/prompts" "$dir/golden"
  cat >"$dir/evalgate.yaml" <<YAML
providers:
  stub:
    kind: openai
    base_url: http://127.0.0.1:$PORT/v1
    structured_output: json_object_schema
    timeout_secs: 30
models:
  model-a:
    provider: stub
    price: {input: 0.15, output: 0.60}
  model-b:
    provider: stub
    price: {input: 0.30, output: 1.20}
suites:
  bench:
    prompt: features
    dataset: cases
    models: [model-a]
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

RESULTS="$WORK/results.jsonl"
SKIP="${SKIP:-}"
measure() { # label n command...
  local label="$1" n="$2"; shift 2
  case " $SKIP " in *" $label "*) return 0 ;; esac
  # The commands' progress and messages go to a log, not the table.
  local m; m=$(python3 "$MEASURE" "$@" 2>>"$WORK/commands.log")
  echo "{\"label\": \"$label\", \"n\": $n, \"m\": $m}" >>"$RESULTS"
  local code; code=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["exit"])' "$m")
  case "$code" in 0|1) ;; *) echo "$label at $n exited $code" >&2; exit 1 ;; esac
}
newest_run() { python3 -c 'import sqlite3; print(sqlite3.connect(".evalgate/evalgate.db").execute("select id from runs order by started_at desc, rowid desc limit 1").fetchone()[0])'; }

for n in $SIZES; do
  dir="$WORK/p$n"; make_project "$dir" "$n"
  cd "$dir"
  "$BIN" validate >/dev/null
  measure run "$n" "$BIN" run bench --format json
  a=$(newest_run)
  measure "cached run" "$n" "$BIN" run bench --format json
  measure report "$n" "$BIN" report "$a" --format json
  measure export "$n" "$BIN" export "$a" --format jsonl --out "$WORK/export.jsonl"
  case " $SKIP " in *" compare "*) ;; *)
    "$BIN" run bench --model model-b --format json >/dev/null 2>>"$WORK/commands.log"
    b=$(newest_run)
    measure compare "$n" "$BIN" compare "$a" "$b" --format json ;;
  esac
  "$BIN" run bench --shard 1/2 --out "$WORK/s1.json" --format json >/dev/null 2>>"$WORK/commands.log"
  "$BIN" run bench --shard 2/2 --out "$WORK/s2.json" --format json >/dev/null 2>>"$WORK/commands.log"
  measure merge "$n" "$BIN" merge "$WORK/s1.json" "$WORK/s2.json" --out "$WORK/merged.json" --format json
  rm -f "$WORK"/s?.json "$WORK/merged.json" "$WORK/export.jsonl"
  cd - >/dev/null
  rm -rf "$dir"
done

python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
sizes = sorted({r["n"] for r in rows})
labels = list(dict.fromkeys(r["label"] for r in rows))
get = {(r["label"], r["n"]): r["m"] for r in rows}
head = ["command"] + [f"{n:,}: RSS MB / CPU ms per case" for n in sizes]
if len(sizes) >= 2:
    head.append(f"RSS {sizes[-2]:,} → {sizes[-1]:,}")
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for l in labels:
    cells = [l]
    for n in sizes:
        m = get.get((l, n))
        cells.append("–" if m is None else f"{m['max_rss_kb'] / 1024:.1f} / {m['cpu_s'] * 1000 / n:.4f}")
    if len(sizes) >= 2 and (l, sizes[-2]) in get and (l, sizes[-1]) in get:
        a, b = get[(l, sizes[-2])]["max_rss_kb"], get[(l, sizes[-1])]["max_rss_kb"]
        cells.append(f"{(b / a - 1) * 100:+.0f}%")
    print("| " + " | ".join(cells) + " |")
PY
