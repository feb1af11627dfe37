-- The paid calls a scorer makes besides the judges (a `similar` scorer's embeddings request):
-- one row per scorer, case and repeat, with the model asked, the input tokens the provider
-- counted, their cost at that model's price and the HTTP attempts. A run's spend limit and its
-- report count them; a resumed run reads them back. A re-score replaces a case's rows.
CREATE TABLE scorer_calls (
    run_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    repeat_index BIGINT NOT NULL,
    scorer TEXT NOT NULL,
    model TEXT NOT NULL,
    input_tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    attempts BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, case_id, repeat_index, scorer)
) WITHOUT ROWID;
