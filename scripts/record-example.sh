#!/usr/bin/env bash
# Records the example project's cassettes from the local SmolLM2 server: the answers of both
# suites, the verdicts of the example judge, and the pairwise judge's comparisons of the two
# suites' runs. The judges name the replay model `smollm2`; for the recording they are pointed
# at the live one, then pointed back (the request hash does not depend on the provider, so
# the cassettes replay under `smollm2`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/local-model.sh start
cargo build --release --quiet
bin=./target/release/evalgate
for judge in judges/summary_faithful.yaml judges/summary_preference.yaml; do
  cp "$judge" "$judge.bak"
  sed -i 's/^model: smollm2$/model: smollm2-live/' "$judge"
done
trap 'for j in judges/summary_faithful.yaml judges/summary_preference.yaml; do mv "$j.bak" "$j"; done' EXIT
rm -rf cassettes
export EVALGATE_DATABASE_URL="sqlite://$(mktemp -d)/record.db?mode=rwc"
$bin run support-features --model smollm2-live --record
$bin run support-features-brief --model smollm2-live --record
base=$($bin runs --suite support-features --limit 1 | awk 'NR==4 {print $2}')
cand=$($bin runs --suite support-features-brief --limit 1 | awk 'NR==4 {print $2}')
$bin pairwise "$base" "$cand" --judge summary_preference --record
# The gate demos of the README: prompt changes in place of support_features, answered and
# judged (the brief prompt's answers are the brief suite's; the judge's verdicts are new).
cp prompts/support_features.yaml prompts/support_features.yaml.bak
trap 'mv prompts/support_features.yaml.bak prompts/support_features.yaml; for j in judges/summary_faithful.yaml judges/summary_preference.yaml; do mv "$j.bak" "$j"; done' EXIT
for variant in prompts/support_features_brief.yaml examples/prompt-changes/support_features_fewshot.yaml; do
  cp "$variant" prompts/support_features.yaml
  $bin run support-features --model smollm2-live --record
done
