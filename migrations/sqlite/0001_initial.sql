-- Runs, the golden cases they used, case results, scores and the response cache.
-- (SQLite: tables keyed by their primary key are WITHOUT ROWID, so each row lives in one
-- b-tree instead of a table plus an index, which halves the pages a commit writes.)

CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    suite TEXT NOT NULL,
    model TEXT NOT NULL,
    model_api_name TEXT NOT NULL,
    provider TEXT NOT NULL,
    provider_kind TEXT NOT NULL,
    prompt TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    dataset TEXT NOT NULL,
    dataset_version TEXT NOT NULL,
    status TEXT NOT NULL,
    planned_cases BIGINT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    price_json TEXT NOT NULL,
    scorers_json TEXT NOT NULL,
    contract_json TEXT,
    case_limit BIGINT,
    repeats BIGINT NOT NULL,
    stop_reason TEXT,
    batch_id TEXT
);
CREATE INDEX runs_by_suite ON runs (suite, started_at);

-- A case's inputs and expected values, stored once per dataset version however many runs
-- use it.
CREATE TABLE golden_cases (
    dataset_version TEXT NOT NULL,
    case_id TEXT NOT NULL,
    vars_json TEXT NOT NULL,
    expected_json TEXT NOT NULL,
    tags_json TEXT NOT NULL,
    PRIMARY KEY (dataset_version, case_id)
) WITHOUT ROWID;

CREATE TABLE case_results (
    run_id TEXT NOT NULL REFERENCES runs (id),
    case_id TEXT NOT NULL,
    repeat_index BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    status TEXT NOT NULL,
    kind TEXT,
    message TEXT,
    request_hash TEXT,
    output TEXT,
    parsed_json TEXT,
    input_tokens BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    latency_ms DOUBLE PRECISION,
    ttft_ms DOUBLE PRECISION,
    cache_hit BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (run_id, case_id, repeat_index)
) WITHOUT ROWID;

CREATE TABLE scores (
    run_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    repeat_index BIGINT NOT NULL,
    scorer TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT,
    PRIMARY KEY (run_id, case_id, repeat_index, scorer)
) WITHOUT ROWID;

-- One vote of one judge (a scorer may ask several judges, several times each) on one case
-- result, with the judge's version (for calibration against
-- human labels later) and what the judgment cost.
CREATE TABLE verdicts (
    run_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    repeat_index BIGINT NOT NULL,
    scorer TEXT NOT NULL,
    judge TEXT NOT NULL,
    vote BIGINT NOT NULL,
    judge_version TEXT NOT NULL,
    judge_model TEXT NOT NULL,
    outcome TEXT NOT NULL,
    score BIGINT,
    reason TEXT,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    cache_hit BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    PRIMARY KEY (run_id, case_id, repeat_index, scorer, judge, vote)
) WITHOUT ROWID;

-- A pairwise judge's verdict on one case of two runs, in one order (the two orders of a
-- case are two rows), with the judge's version.
CREATE TABLE pairwise_verdicts (
    base_run TEXT NOT NULL,
    candidate_run TEXT NOT NULL,
    case_id TEXT NOT NULL,
    judge TEXT NOT NULL,
    judge_version TEXT NOT NULL,
    judge_model TEXT NOT NULL,
    candidate_first BIGINT NOT NULL,
    winner TEXT,
    reason TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (base_run, candidate_run, case_id, judge_version, candidate_first)
) WITHOUT ROWID;

-- Answers by request: provider kind, base URL, request hash and (for random sampling) the
-- repeat index, hashed into the key.
-- (SQLite: a rowid table, so that rows are appended in order and only the small key index
-- takes the random inserts; as a WITHOUT ROWID table keyed by the hash, page splits made
-- each new answer rewrite about five pages.)
CREATE TABLE response_cache (
    cache_key TEXT NOT NULL UNIQUE,
    provider_kind TEXT NOT NULL,
    model TEXT NOT NULL,
    response_json TEXT NOT NULL,
    created_at TEXT NOT NULL
);
