-- A review item is either a judge verdict to check (`verdict`) or a golden case promoted from
-- production feedback that waits for its expected value (`label`; no judge columns then).
ALTER TABLE review_items ADD COLUMN kind TEXT NOT NULL DEFAULT 'verdict';
