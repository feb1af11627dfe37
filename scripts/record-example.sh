#!/usr/bin/env bash
# Records the example project's cassettes from the local models of scripts/local-model.sh:
# - SmolLM2 (port 8088): the answers of both suites, the verdicts of the example judge, the
#   pairwise judge's comparisons of the two suites' runs, and the README's gate demos;
# - gemma-3-270m (port 8089): the answers of both suites, and the example judge's verdicts
#   on them (the judge is SmolLM2, as for SmolLM2's own answers).
# The judges name the replay model `smollm2`; for the recording they are pointed at the live
# one, then pointed back (the request hash does not depend on the provider, so the cassettes
# replay under `smollm2` and `gemma3`).
#
# Usage: scripts/record-example.sh [all|gemma3]   (default: all)
#   all     wipe cassettes/ and record everything above
#   gemma3  record only gemma's part: its cassettes (and the judge's verdicts on its answers)
#           are replaced, SmolLM2's are left as they are (the README's figures come from them)
#
# Environment: EVALGATE_BIN, an evalgate binary to use instead of building one with
# `cargo build --release` (which honours CARGO_TARGET_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
part="${1:-all}"
case "$part" in
  all | gemma3) ;;
  *) echo "usage: $0 [all|gemma3]" >&2; exit 2 ;;
esac

if [ -n "${EVALGATE_BIN:-}" ]; then
  bin="$EVALGATE_BIN"
else
  cargo build --release --quiet
  bin="${CARGO_TARGET_DIR:-target}/release/evalgate"
fi

# The servers this script starts, stopped on exit (one already running is left running).
started=()
serve() { # serve MODEL PORT
  if ! EVALGATE_LOCAL_MODEL_PORT="$2" scripts/local-model.sh status >/dev/null 2>&1; then
    EVALGATE_LOCAL_MODEL="$1" EVALGATE_LOCAL_MODEL_PORT="$2" scripts/local-model.sh start
    started+=("$2")
  fi
}
restore=(judges/summary_faithful.yaml judges/summary_preference.yaml)
cleanup() {
  for f in "${restore[@]}"; do
    if [ -f "$f.bak" ]; then mv "$f.bak" "$f"; fi
  done
  for port in "${started[@]}"; do
    EVALGATE_LOCAL_MODEL_PORT="$port" scripts/local-model.sh stop || true
  done
}
trap cleanup EXIT

serve smollm2 8088
for judge in judges/summary_faithful.yaml judges/summary_preference.yaml; do
  cp "$judge" "$judge.bak"
  sed -i 's/^model: smollm2$/model: smollm2-live/' "$judge"
done
export EVALGATE_DATABASE_URL="sqlite://$(mktemp -d)/record.db?mode=rwc"

if [ "$part" = all ]; then
  rm -rf cassettes
  SECONDS=0
  "$bin" run support-features --model smollm2-live --record
  "$bin" run support-features-brief --model smollm2-live --record
  base=$("$bin" runs --suite support-features --limit 1 | awk 'NR==4 {print $2}')
  cand=$("$bin" runs --suite support-features-brief --limit 1 | awk 'NR==4 {print $2}')
  "$bin" pairwise "$base" "$cand" --judge summary_preference --record
  # The gate demos of the README: prompt changes in place of support_features, answered and
  # judged (the brief prompt's answers are the brief suite's; the judge's verdicts are new).
  cp prompts/support_features.yaml prompts/support_features.yaml.bak
  restore+=(prompts/support_features.yaml)
  for variant in prompts/support_features_brief.yaml examples/prompt-changes/support_features_fewshot.yaml; do
    cp "$variant" prompts/support_features.yaml
    "$bin" run support-features --model smollm2-live --record
  done
  mv prompts/support_features.yaml.bak prompts/support_features.yaml
  echo "record-example: SmolLM2's part recorded in ${SECONDS} s"
else
  # Only gemma's part: take out its answers and the judge's verdicts on them, so that none
  # is left over from an older recording. A verdict's request holds the case's transcript and
  # the answer it grades, fenced as <<<output-NONCE>>> (NONCE from the answer's SHA-256); a
  # verdict on an answer that SmolLM2 also gave to the same case is kept.
  python3 - <<'PY'
import glob, hashlib, json, os

def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)

def fence(c):
    answer = c["response"]["choices"][0]["message"]["content"]
    return "<<<output-%s>>>" % hashlib.sha256(answer.encode()).hexdigest()[:12]

def transcript(c):
    user = [m["content"] for m in c["request"]["messages"] if m["role"] == "user"][-1]
    return user.removeprefix("Conversation:\n").strip()

def text(c):
    return "\n".join(m["content"] for m in c["request"]["messages"])

cassettes = {p: load(p) for p in glob.glob("cassettes/*.json")}
answers = {p: c for p, c in cassettes.items() if "<<<output-" not in text(c)}
gemma = [p for p, c in answers.items() if c["request"]["model"] == "gemma-3-270m"]
pairs = lambda ps: {(fence(answers[p]), transcript(answers[p])) for p in ps}
mine = pairs(gemma) - pairs(p for p in answers if p not in gemma)
verdicts = [
    p for p, c in cassettes.items()
    if p not in answers and any(f in text(c) and t in text(c) for f, t in mine)
]
for p in gemma + verdicts:
    os.remove(p)
print(f"record-example: took out {len(gemma)} answers of gemma and {len(verdicts)} verdicts on them")
PY
fi

serve gemma3-270m 8089
SECONDS=0
"$bin" run support-features --model gemma3-live --record
"$bin" run support-features-brief --model gemma3-live --record
echo "record-example: gemma's part recorded in ${SECONDS} s"
