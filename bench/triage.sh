#!/usr/bin/env bash
# Triage of a million stored feedback events: time and peak memory.
#
# Usage: bench/triage.sh [EVENTS]   (default 1000000: half interactions, half signals)
# Makes EVENTS events from banking77's texts (each interaction's text made unique by a ticket
# number; a thumbs-down on 40% of the card questions and 10% of the rest; a low retrieval
# score on half the card questions), stores them with `feedback ingest`, then runs
# `feedback triage` and prints its wall time, CPU time and peak RSS, and the ingest's.
# Target (issue 20): under a minute and under 200 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-1000000}"
DATA="$PWD/../shared/data/banking77_train.jsonl"

cargo build --release --quiet --bin evalgate
BIN="$PWD/target/release/evalgate"
MEASURE="$PWD/bench/measure.py"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

python3 - "$EVENTS" "$DATA" >"$WORK/events.jsonl" <<'PY'
import json, random, sys
random.seed(7)
rows = [json.loads(l) for l in open(sys.argv[2])]
out = sys.stdout
for i in range(int(sys.argv[1]) // 2):
    row = rows[random.randrange(len(rows))]
    card = row["label"].startswith("card")
    day = f"2026-11-{1 + i % 28:02d}"
    out.write(json.dumps({"type": "interaction", "event_id": f"int-{i:07d}", "timestamp": f"{day}T10:00:00Z",
        "prompt": "banking_intent", "prompt_version": random.choice(["8245395e", "1c0ffee0"]),
        "model": random.choice(["small", "large"]), "vars": {"text": f"{row['text']} (ticket {i})"},
        "context": [{"id": "kb-1", "text": "Cards arrive in 5 days.", "score": 0.3 if card and random.random() < 0.5 else 0.8}],
        "output": json.dumps({"intent": row["label"]}), "latency_ms": 300 + i % 500,
        "tokens": {"input": 120, "output": 12}, "tags": [row["label"].split("_")[0]]}) + "\n")
    bad = random.random() < (0.4 if card else 0.1)
    out.write(json.dumps({"type": "signal", "event_id": f"sig-{i:07d}", "interaction_id": f"int-{i:07d}",
        "timestamp": f"{day}T10:00:01Z", "kind": "explicit", "name": "thumbs_down" if bad else "thumbs_up"}) + "\n")
PY

mkdir -p "$WORK/p"
cp evalgate.yaml "$WORK/p/"
cp -r prompts golden judges "$WORK/p/"
cd "$WORK/p"
ingest=$(python3 "$MEASURE" "$BIN" feedback ingest "$WORK/events.jsonl" 2>"$WORK/ingest.log")
triage=$(python3 "$MEASURE" "$BIN" feedback triage --format json)
"$BIN" feedback triage --format json >"$WORK/report.json"
python3 - "$EVENTS" "$ingest" "$triage" "$WORK/report.json" <<'PY'
import json, sys
n, ingest, triage, report = int(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3]), json.load(open(sys.argv[4]))
print(f"| {n:,} events | wall | CPU | peak RSS |")
print("|---|---|---|---|")
for label, m in [("feedback ingest", ingest), ("feedback triage", triage)]:
    print(f"| {label} | {m['wall_s']:.1f} s | {m['cpu_s']:.1f} s | {m['max_rss_kb'] / 1024:.1f} MB |")
print(f"triage: {report['interactions']:,} interactions, {report['bad']:,} bad, {len(report['by_text'])} text clusters with bad answers")
PY
