-- Runs, case results and scores.
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
    contract_json TEXT
);
CREATE INDEX runs_by_suite ON runs (suite, started_at);

CREATE TABLE case_results (
    run_id TEXT NOT NULL REFERENCES runs (id),
    case_id TEXT NOT NULL,
    repeat_index BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    status TEXT NOT NULL,
    kind TEXT,
    message TEXT,
    request_hash TEXT,
    vars_json TEXT NOT NULL,
    expected_json TEXT NOT NULL,
    tags_json TEXT NOT NULL,
    output TEXT,
    parsed_json TEXT,
    input_tokens BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    latency_ms DOUBLE PRECISION,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (run_id, case_id, repeat_index)
);

CREATE TABLE scores (
    run_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    repeat_index BIGINT NOT NULL,
    scorer TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT,
    PRIMARY KEY (run_id, case_id, repeat_index, scorer)
);
