#!/usr/bin/env python3
"""Opens evalgate's HTML pages in headless Chromium (through chromedriver and selenium) and
prints, as JSON per page: the milliseconds from asking for the page to its case table's first
rows drawn (wall clock here, and the page's own `data-drawn-ms`), the rows drawn, and the
milliseconds a search, a status filter and a sort by latency take to redraw the table. On an
output matrix page (`report --matrix`) the filter is "status differs" and the third action is
the next page of rows instead of a sort.

Usage: bench/browser.py PAGE.html...   (needs chromium, chromium-driver and `pip install selenium`)
"""
import json, sys, time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

# The element whose text says how many cases are shown, and its `data-drawn-ms`: the case
# table's on a run or comparison page, the matrix's on a matrix page.
COUNTER = "return document.getElementById('cases-count') ? 'cases-count' : (document.getElementById('matrix-count') ? 'matrix-count' : null);"


def drawn_ms(driver):
    return driver.execute_script(
        "var c = document.getElementById('cases-count') || document.getElementById('matrix-count');"
        " return c && c.getAttribute('data-drawn-ms');")


def timed(driver, script, watch):
    """Runs `script` (which changes the table) and waits until the text of `watch` changes."""
    text = f"return document.getElementById('{watch}').textContent"
    before = driver.execute_script(text)
    start = time.monotonic()
    driver.execute_script(script)
    while driver.execute_script(text) == before:
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
            while not drawn_ms(driver):
                if time.monotonic() - start > 60:
                    raise SystemExit(f"{page}: no rows drawn in 60 s")
                time.sleep(0.005)
            wall = round((time.monotonic() - start) * 1000)
            drawn = int(drawn_ms(driver))
            counter = driver.execute_script(COUNTER)
            search_script = "var q = document.getElementById('f-q'); q.value = 'card'; q.dispatchEvent(new Event('input'));"
            clear_script = "var q = document.getElementById('f-q'); q.value = ''; q.dispatchEvent(new Event('input'));"
            if counter == "matrix-count":
                rows = len(driver.find_elements(By.CSS_SELECTOR, "#matrix-body tr"))
                search = timed(driver, search_script, counter)
                timed(driver, clear_script, counter)
                status = timed(driver, "var s = document.getElementById('f-show'); s.value = 'status'; s.dispatchEvent(new Event('change'));", counter)
                timed(driver, "var s = document.getElementById('f-show'); s.value = 'all'; s.dispatchEvent(new Event('change'));", counter)
                sort = timed(driver, "document.getElementById('next').click();", "page")
            else:
                rows = len(driver.find_elements(By.CSS_SELECTOR, "#cases-body tr"))
                search = timed(driver, search_script, counter)
                status = timed(driver, "var s = document.getElementById('f-status'); s.value = 'fail'; s.dispatchEvent(new Event('change'));", counter)
                timed(driver, clear_script, counter)
                sort_start = time.monotonic()
                driver.execute_script("document.querySelector('th[data-key=latency_ms]').click();")
                sort = round((time.monotonic() - sort_start) * 1000)
            print(json.dumps({"page": page, "wall_ms": wall, "drawn_ms": drawn, "rows": rows,
                              "search_ms": search, "filter_ms": status, "sort_ms": sort}))
    finally:
        driver.quit()


main()
