#!/usr/bin/env bash
# Load test of `evalgate serve`: N events (default 100,000) posted over loopback by C
# concurrent keep-alive clients (default 32), one event a request (or arrays of PER_REQUEST
# events: interactions and signals each in arrays of their own), into a fresh database.
# Prints events per second and latency percentiles, checks event by event that every
# acknowledged event is in the database, and that a graceful stop loses nothing; then runs
# the load again and kills the server with SIGKILL halfway through, and counts the
# acknowledged events missing from the database (which must be none).
#
# First the ceiling: the same load against `stub_server`, which answers each post at once and
# stores nothing (HTTP, the JSON parse and the client alone on this machine's cores); each
# database's figure is then also given as a fraction of it.
#
# Each is run on SQLite, then on PostgreSQL: a fresh database made (and dropped after) on the
# server of BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/test, the one the tests
# use); BENCH_PG_URL=none skips PostgreSQL, and an unreachable server is said and skipped.
#
# Usage: bench/feedback.sh [N] [CLIENTS] [PER_REQUEST]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-100000}"
CLIENTS="${2:-32}"
PER_REQUEST="${3:-1}"
PG_ADMIN="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"

cargo build --release --quiet --bin evalgate --example feedback_load --example stub_server
BIN="$PWD/target/release/evalgate"
LOAD="$PWD/target/release/examples/feedback_load"
STUB="$PWD/target/release/examples/stub_server"
WORK="$(mktemp -d)"
PG_DB="evalgate_feedback_bench_$$"
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  rm -rf "$WORK"
  if [ "$PG_ADMIN" != none ]; then
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

# Starts `evalgate serve` on database $1 (log $2); sets SERVER and URL.
start_server() {
  EVALGATE_DATABASE_URL="$1" "$BIN" -C "$WORK" serve --listen 127.0.0.1:0 2>"$2" &
  SERVER=$!
  for _ in $(seq 1 200); do grep -q "listening on" "$2" 2>/dev/null && break; sleep 0.05; done
  URL="$(grep -o 'http://[0-9.:]*' "$2" | head -1)"
}

# events/s of a line of feedback_load's output.
rate() { grep -o '[0-9]* events/s' <<<"$1" | grep -o '[0-9]*'; }

echo "== ceiling: stub_server, which stores nothing (2 threads, as evalgate serve on 2 cores)"
"$STUB" --workers 2 >"$WORK/stub.out" &
STUB_PID=$!
for _ in $(seq 1 200); do grep -q "listening on" "$WORK/stub.out" 2>/dev/null && break; sleep 0.05; done
out="$("$LOAD" --url "http://127.0.0.1:$(grep -o '[0-9]*' "$WORK/stub.out" | head -1)" --db none \
  --events "$N" --clients "$CLIENTS" --per-request "$PER_REQUEST")" || { echo "$out"; exit 1; }
echo "$out"
CEILING="$(rate "$out")"
[ -n "$CEILING" ] && [ "$CEILING" -gt 0 ] || { echo "the ceiling run gave no rate" >&2; exit 1; }
kill "$STUB_PID"
wait "$STUB_PID" 2>/dev/null || true

# Throughput, graceful stop, then the kill test, on database URLs $2 and $3 (both fresh).
bench() {
  local name="$1" db="$2" killdb="$3"
  echo "== $name"
  start_server "$db" "$WORK/serve-$name.err"
  out="$("$LOAD" --url "$URL" --db "$db" --events "$N" --clients "$CLIENTS" --per-request "$PER_REQUEST")" \
    || { echo "$out"; exit 1; }
  echo "$out"
  awk -v r="$(rate "$out")" -v c="$CEILING" 'BEGIN { printf "%s: %.2f of the ceiling (%d events/s)\n", "'"$name"'", r / c, c }'
  kill -TERM "$SERVER"
  wait "$SERVER"
  tail -1 "$WORK/serve-$name.err"
  start_server "$killdb" "$WORK/kill-$name.err"
  "$LOAD" --url "$URL" --db "$killdb" --events "$N" --clients "$CLIENTS" --per-request "$PER_REQUEST" \
    --kill-pid "$SERVER" --kill-after $((N / 2))
  { wait "$SERVER"; } 2>/dev/null || true
}

bench sqlite "sqlite://$WORK/feedback.db?mode=rwc" "sqlite://$WORK/killed.db?mode=rwc"

if [ "$PG_ADMIN" = none ]; then
  echo "== postgresql: skipped (BENCH_PG_URL=none)"
elif ! psql -q "$PG_ADMIN" -c "SELECT 1" >/dev/null 2>&1; then
  echo "== postgresql: SKIPPED, cannot connect to $PG_ADMIN (set BENCH_PG_URL)"
else
  base="${PG_ADMIN%/*}"
  psql -q "$PG_ADMIN" -c "CREATE DATABASE $PG_DB" >/dev/null
  psql -q "$PG_ADMIN" -c "CREATE DATABASE ${PG_DB}_kill" >/dev/null
  trap 'cleanup; psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS ${PG_DB}_kill" >/dev/null 2>&1 || true' EXIT
  bench postgresql "$base/$PG_DB" "$base/${PG_DB}_kill"
fi
