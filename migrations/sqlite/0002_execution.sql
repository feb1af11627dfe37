-- Execution that survives production: the response cache, per-case cache hits, attempts and
-- time to first token, and what a run needs to be resumed.
CREATE TABLE response_cache (
    cache_key TEXT PRIMARY KEY,
    provider_kind TEXT NOT NULL,
    model TEXT NOT NULL,
    response_json TEXT NOT NULL,
    created_at TEXT NOT NULL
);

ALTER TABLE case_results ADD COLUMN cache_hit BIGINT NOT NULL DEFAULT 0;
ALTER TABLE case_results ADD COLUMN attempts BIGINT NOT NULL DEFAULT 1;
ALTER TABLE case_results ADD COLUMN ttft_ms DOUBLE PRECISION;

ALTER TABLE runs ADD COLUMN case_limit BIGINT;
ALTER TABLE runs ADD COLUMN repeats BIGINT NOT NULL DEFAULT 1;
ALTER TABLE runs ADD COLUMN stop_reason TEXT;
ALTER TABLE runs ADD COLUMN batch_id TEXT;
