#!/usr/bin/env bash
# Records the example project's cassettes from the local SmolLM2 server: the answers of the
# model under test and the verdicts of the example judge. The judge names the replay model
# `smollm2`; for the recording it is pointed at the live one, then pointed back (the request
# hash does not depend on the provider, so the cassettes replay under `smollm2`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/local-model.sh start
cargo build --release --quiet
judge=judges/summary_faithful.yaml
cp "$judge" "$judge.bak"
trap 'mv "$judge.bak" "$judge"' EXIT
sed -i 's/^model: smollm2$/model: smollm2-live/' "$judge"
rm -rf cassettes
./target/release/evalgate run support-features --model smollm2-live --record
