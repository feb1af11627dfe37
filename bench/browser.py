#!/usr/bin/env python3
"""Opens evalgate's HTML pages in headless Chromium (through chromedriver and selenium) and
prints, as JSON per page: the milliseconds from asking for the page to its case table's first
rows drawn (wall clock here, and the page's own `data-drawn-ms`), the rows drawn, and the
milliseconds a search, a status filter and a sort by latency take to redraw the table.

Usage: bench/browser.py PAGE.html...   (needs chromium, chromium-driver and `pip install selenium`)
"""
import json, sys, time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

COUNT = "var c = document.getElementById('cases-count'); return c && c.getAttribute('data-drawn-ms');"


def timed(driver, script):
    """Runs `script` (which changes the table) and waits until the case count's text changes."""
    before = driver.execute_script("return document.getElementById('cases-count').textContent")
    start = time.monotonic()
    driver.execute_script(script)
    while driver.execute_script("return document.getElementById('cases-count').textContent") == before:
        time.sleep(0.005)
    return round((time.monotonic() - start) * 1000)


def main():
    opts = webdriver.ChromeOptions()
    for a in ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"]:
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        for page in sys.argv[1:]:
            start = time.monotonic()
            driver.get("file://" + page)
            while not driver.execute_script(COUNT):
                if time.monotonic() - start > 60:
                    raise SystemExit(f"{page}: no rows drawn in 60 s")
                time.sleep(0.005)
            wall = round((time.monotonic() - start) * 1000)
            drawn = int(driver.execute_script(COUNT))
            rows = len(driver.find_elements(By.CSS_SELECTOR, "#cases-body tr"))
            search = timed(driver, "var q = document.getElementById('f-q'); q.value = 'card'; q.dispatchEvent(new Event('input'));")
            status = timed(driver, "var s = document.getElementById('f-status'); s.value = 'fail'; s.dispatchEvent(new Event('change'));")
            timed(driver, "var q = document.getElementById('f-q'); q.value = ''; q.dispatchEvent(new Event('input'));")
            sort_start = time.monotonic()
            driver.execute_script("document.querySelector('th[data-key=latency_ms]').click();")
            sort = round((time.monotonic() - sort_start) * 1000)
            print(json.dumps({"page": page, "wall_ms": wall, "drawn_ms": drawn, "rows": rows,
                              "search_ms": search, "filter_ms": status, "sort_ms": sort}))
    finally:
        driver.quit()


main()
