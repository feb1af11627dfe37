#!/usr/bin/env python3
"""What a run writes to storage per case, under other storage layouts, commit sizes and
SQLite journal modes.

Usage: bench/sqlite-writes.py DB [COMMIT_SIZES]
  DB: an evalgate SQLite database holding one finished run (BENCH_KEEP_DB=path bench/run.sh
      keeps the 10,000-case run's database); COMMIT_SIZES: cases per commit, default 30,640,2000
      (at 640 cases a second, a commit per group of cases finishing within 20 ms holds about
      30; evalgate's transaction a second about 640; 2,000 is its most).

The run's own rows (golden cases, case results, scores, cached answers) are replayed into a
fresh database with a rollback journal (TRUNCATE with synchronous=FULL, what evalgate uses)
and with the write-ahead log (WAL with synchronous=NORMAL, what it used before), in commits of the
given size, in the order the run recorded them, and the bytes that reached storage are read
from /proc/self/io the way bench/run.sh reads them for the real binary (write_bytes less
cancelled_write_bytes). The first layout is the one evalgate uses; each next one changes one
more thing, cumulatively. A model of the real run, not a measurement of it: the run log's
bytes are not in it (they are dropped before write-back), and its TRUNCATE row at 640 is to be
checked against bench/run.sh's figure.
"""

import hashlib
import json
import os
import sqlite3
import sys
import tempfile


def written():
    io = dict(line.split(":") for line in open("/proc/self/io"))
    return int(io["write_bytes"]) - int(io["cancelled_write_bytes"])


src = sqlite3.connect(sys.argv[1])
sizes = [int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "30,640,2000").split(",")]
run_id = src.execute("SELECT id FROM runs ORDER BY started_at LIMIT 1").fetchone()[0]
cols = [r[1] for r in src.execute("PRAGMA table_info(case_results)")]
cases = src.execute("SELECT * FROM case_results WHERE run_id = ? ORDER BY seq", (run_id,)).fetchall()
golden = src.execute("SELECT * FROM golden_cases").fetchall()
scores = {}
for r in src.execute("SELECT * FROM scores WHERE run_id = ?", (run_id,)):
    scores.setdefault((r[1], r[2]), []).append(r)
cache = {}
for r in src.execute("SELECT * FROM response_cache"):
    cache[r[0].split("/")[0]] = r
at = {c: i for i, c in enumerate(cols)}

GOLDEN = """CREATE TABLE golden_cases (dataset_version TEXT NOT NULL, case_id TEXT NOT NULL,
  vars_json TEXT NOT NULL, expected_json TEXT NOT NULL, tags_json TEXT NOT NULL,
  PRIMARY KEY (dataset_version, case_id)) WITHOUT ROWID;"""
GOLDEN_BY_ID = GOLDEN.replace("dataset_version TEXT", "dataset_id INTEGER").replace(
    "(dataset_version, case_id)", "(dataset_id, case_id)")
RESULTS = "CREATE TABLE case_results ({}, PRIMARY KEY (run_id, case_id, repeat_index)) WITHOUT ROWID;"
SCORES = """CREATE TABLE scores (run_id TEXT NOT NULL, case_id TEXT NOT NULL, repeat_index INTEGER NOT NULL,
  scorer TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT,
  PRIMARY KEY (run_id, case_id, repeat_index, scorer)) WITHOUT ROWID;"""
CACHE_JSON = """CREATE TABLE response_cache (cache_key TEXT NOT NULL UNIQUE, provider_kind TEXT NOT NULL,
  model TEXT NOT NULL, response_json TEXT NOT NULL, created_at TEXT NOT NULL);"""
CACHE_COLUMNS = """CREATE TABLE response_cache (cache_key TEXT NOT NULL UNIQUE, model TEXT NOT NULL,
  content TEXT, input_tokens INTEGER, cached_input_tokens INTEGER, output_tokens INTEGER,
  latency_ms REAL, finish_reason TEXT, created_at TEXT NOT NULL);"""
CACHE_INDEX = "CREATE INDEX case_results_cache ON case_results (cache_key) WHERE cache_key IS NOT NULL;"


def layout(scores_column=False, answers="json", dataset_id=False):
    """The schema of a layout and the function that writes one commit of it."""
    extra = (["scores_json"] if scores_column else []) + (["cache_key", "finish_reason"] if answers == "pointer" else [])
    schema = (GOLDEN_BY_ID if dataset_id else GOLDEN) + RESULTS.format(", ".join(cols + extra))
    schema += "" if scores_column else SCORES
    schema += {"json": CACHE_JSON, "columns": CACHE_COLUMNS, "pointer": CACHE_INDEX}[answers]

    def write(db, chunk):
        rows = []
        for c in chunk:
            c = list(c)
            if answers == "pointer":
                c[at["request_hash"]] = None  # the cache key below takes its place
            s = scores.get((c[at["case_id"]], c[at["repeat_index"]]), [])
            if scores_column:
                c.append(json.dumps([[x[3], x[4]] + ([x[5]] if x[5] else []) for x in s], separators=(",", ":")))
            if answers == "pointer":
                key = cache[c[at["case_id"]]][0]
                c += [c[at["case_id"]] + "/" + hashlib.sha256(key.encode()).hexdigest()[:32], "stop"]
            rows.append(c)
        db.executemany(f"INSERT INTO case_results VALUES ({','.join('?' * len(rows[0]))})", rows)
        if not scores_column:
            db.executemany("INSERT INTO scores VALUES (?,?,?,?,?,?)",
                           [x for c in chunk for x in scores.get((c[at["case_id"]], c[at["repeat_index"]]), [])])
        entries = [cache[c[at["case_id"]]] for c in chunk if c[at["case_id"]] in cache]
        if answers == "json":
            db.executemany("INSERT INTO response_cache VALUES (?,?,?,?,?)", entries)
        elif answers == "columns":
            out = []
            for k in entries:
                r = json.loads(k[3])
                u = r["usage"]
                out.append((k[0], k[2], r["content"], u["input_tokens"], u["cached_input_tokens"],
                            u["output_tokens"], r["latency_ms"], r.get("finish_reason"), k[4]))
            db.executemany("INSERT INTO response_cache VALUES (?,?,?,?,?,?,?,?,?)", out)

    return schema, write, dataset_id


def measure(schema, write, dataset_id, per_commit, journal):
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(sys.argv[1]))) as d:
        db = sqlite3.connect(os.path.join(d, "x.db"), isolation_level=None)
        db.execute(f"PRAGMA journal_mode = {journal}")
        db.execute(f"PRAGMA synchronous = {'FULL' if journal == 'TRUNCATE' else 'NORMAL'}")
        db.executescript(schema)
        before = written()
        db.execute("BEGIN")  # the run stores its golden cases first, in one go
        db.executemany("INSERT INTO golden_cases VALUES (?,?,?,?,?)",
                       [(1,) + g[1:] if dataset_id else g for g in golden])
        db.execute("COMMIT")
        for i in range(0, len(cases), per_commit):
            db.execute("BEGIN")
            write(db, cases[i:i + per_commit])
            db.execute("COMMIT")
        size = db.execute("PRAGMA page_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]
        db.close()
        return (written() - before) / len(cases), size / len(cases)


layouts = [
    ("as evalgate stores a run now", layout()),
    ("+ scores in a column of the result", layout(scores_column=True)),
    ("+ cached answers in columns, not JSON", layout(scores_column=True, answers="columns")),
    ("+ the cache points at the result instead", layout(scores_column=True, answers="pointer")),
    ("+ golden cases keyed by a dataset number", layout(scores_column=True, answers="pointer", dataset_id=True)),
]
print(f"{len(cases)} cases of run {run_id}; bytes written per case (database size per case)")
w = max(len(n) for n, _ in layouts)
for journal in ("TRUNCATE", "WAL"):
    print(f"\njournal_mode = {journal}")
    print(" " * w + "".join(f"  {f'{n} per commit':>20}" for n in sizes))
    for name, (schema, write, dataset_id) in layouts:
        cells = [measure(schema, write, dataset_id, n, journal) for n in sizes]
        print(f"{name:<{w}}" + "".join(f"  {f'{a:,.0f} ({b:,.0f})':>20}" for a, b in cells), flush=True)
