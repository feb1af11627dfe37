# Shared by the bench scripts: source it after setting STUB (the stub server binary) and WORK
# (a scratch directory).

# Starts the stub server with a fixed latency in ms (and any further arguments); sets PORT.
start_stub() {
  local latency="$1" out; out="$(mktemp "$WORK/stub-XXXX.out")"
  shift
  "$STUB" --latency-ms "$latency" "$@" >"$out" 2>&1 &
  for _ in $(seq 1 100); do grep -q listening "$out" 2>/dev/null && break; sleep 0.05; done
  PORT="$(awk '/listening on/ {print $3}' "$out")"
}

# Writes DIR/prompts/features.yaml: the support-message labeller every bench suite runs.
write_prompt() {
  mkdir -p "$1/prompts"
  cat >"$1/prompts/features.yaml" <<'YAML'
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
}

# Writes DIR/golden/cases.jsonl: N synthetic cases with expected labels.
write_cases() {
  mkdir -p "$1/golden"
  python3 - "$2" >"$1/golden/cases.jsonl" <<'PY'
import json, sys
intents = ["billing", "bug", "feature_request", "other"]
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": f"c{i:06d}", "vars": {"text": f"Message {i}: I was charged twice for invoice INV-{i:06d}, please refund."},
                      "expected": {"intent": intents[i % 4], "sentiment": "neutral", "escalation_risk": 1 + i % 5}}))
PY
}
