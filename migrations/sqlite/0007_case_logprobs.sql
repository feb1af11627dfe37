-- The answer tokens' log-probabilities with their top alternatives, when the request asked
-- for them (a cascade tier whose confidence comes from logprobs); NULL otherwise.
ALTER TABLE case_results ADD COLUMN logprobs_json TEXT;
