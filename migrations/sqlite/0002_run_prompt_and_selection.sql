-- The prompt as it was run (its messages and params, as hashed into its version), so that a
-- comparison of two runs can show what changed in the prompt.
ALTER TABLE runs ADD COLUMN prompt_source TEXT;

-- Which cases a run covers when not the whole dataset (`--only-failing RUN`, `--shard K/N`),
-- as JSON, so that a resume covers the same cases.
ALTER TABLE runs ADD COLUMN selection_json TEXT;
