#!/usr/bin/env bash
# Retakes docs/img/matrix.png, the README's picture of the output matrix: the example's two
# suites on its two models (SmolLM2 and gemma-3-270m), replayed offline from cassettes/ into a
# scratch store, put side by side with `evalgate report --matrix … --html`, and the page
# photographed in headless Chromium.
#
# Usage: scripts/screenshot-matrix.sh [OUT.png]   (default: docs/img/matrix.png)
# Needs chromium, chromium-driver and `pip install selenium` (as bench/browser.py does).
# Environment: EVALGATE_BIN, an evalgate binary to use instead of building one with
# `cargo build --release` (which honours CARGO_TARGET_DIR); WINDOW, the browser window as
# WIDTH,HEIGHT (default 1400,1400).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(realpath -m "${1:-docs/img/matrix.png}")"

if [ -n "${EVALGATE_BIN:-}" ]; then
  bin="$EVALGATE_BIN"
else
  cargo build --release --quiet
  bin="${CARGO_TARGET_DIR:-target}/release/evalgate"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export EVALGATE_DATABASE_URL="sqlite://$work/matrix.db?mode=rwc"
runs=()
for model in smollm2 gemma3; do
  for suite in support-features support-features-brief; do
    "$bin" run "$suite" --model "$model" >/dev/null
    runs+=("$("$bin" runs --suite "$suite" --limit 1 | awk 'NR==4 {print $2}')")
  done
done
"$bin" report --matrix "${runs[@]}" --html "$work/matrix.html"

python3 - "$work/matrix.html" "$out" "${WINDOW:-1400,1400}" <<'PY'
import sys, time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

page, out, window = sys.argv[1:]
opts = webdriver.ChromeOptions()
for a in ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--window-size={window}"]:
    opts.add_argument(a)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
try:
    driver.get("file://" + page)
    start = time.monotonic()
    # The rows are drawn by the page's script, from data it unpacks first.
    while not driver.execute_script("return document.querySelectorAll('#matrix-body tr').length"):
        if time.monotonic() - start > 30:
            raise SystemExit(f"{page}: no rows drawn in 30 s")
        time.sleep(0.05)
    driver.save_screenshot(out)
finally:
    driver.quit()
PY
echo "screenshot-matrix: wrote $out (runs ${runs[*]})"
