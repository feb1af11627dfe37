-- The prompt as it was run (its messages and params, as hashed into its version), so that a
-- comparison of two runs can show what changed in the prompt.
ALTER TABLE runs ADD COLUMN prompt_source TEXT;
