-- What decides a run's verdict, part by part (prompt, dataset, model, judges, scorers, gates,
-- lift, cascade, error budget), so that `evalgate gate` notices any change against a baseline.
ALTER TABLE runs ADD COLUMN fingerprint_json TEXT;
