-- The git commit of the project when the run started (with `-dirty` when files differed from
-- it), so that a suite's history can name the commit of each prompt version.
ALTER TABLE runs ADD COLUMN git_commit TEXT;
