#!/usr/bin/env bash
# Load test of `evalgate serve`: N events (default 100,000) posted over loopback by C
# concurrent clients (default 32), one event a request, into a fresh SQLite database. Prints
# events per second and latency percentiles, then checks that every acknowledged event is in
# the database, and that a graceful stop loses nothing.
#
# Usage: bench/feedback.sh [N] [CLIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-100000}"
CLIENTS="${2:-32}"

cargo build --release --quiet --bin evalgate --example feedback_load
BIN="$PWD/target/release/evalgate"
LOAD="$PWD/target/release/examples/feedback_load"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

DB="sqlite://$WORK/feedback.db?mode=rwc"
EVALGATE_DATABASE_URL="$DB" "$BIN" -C "$WORK" serve --listen 127.0.0.1:0 2>"$WORK/serve.err" &
SERVER=$!
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/serve.err" 2>/dev/null && break; sleep 0.05; done
URL="$(grep -o 'http://[0-9.:]*' "$WORK/serve.err" | head -1)"
echo "server: $URL, database: $DB"
"$LOAD" --url "$URL" --db "$DB" --events "$N" --clients "$CLIENTS"
kill -TERM "$SERVER"
wait "$SERVER"
tail -1 "$WORK/serve.err"
