-- Human review of judge verdicts: batches of sampled verdicts, and a reviewer's label for
-- each item (the latest label of an item wins).
CREATE TABLE review_items (
    batch_id TEXT NOT NULL,
    item INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    repeat_index INTEGER NOT NULL,
    scorer TEXT NOT NULL,
    judge TEXT NOT NULL,
    judge_version TEXT NOT NULL,
    judge_model TEXT NOT NULL,
    -- The judge's verdict (`pass` or `fail`), hidden from the reviewer until they answer.
    judge_outcome TEXT NOT NULL,
    judge_reason TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (batch_id, item)
);

CREATE TABLE review_labels (
    batch_id TEXT NOT NULL,
    item INTEGER NOT NULL,
    reviewer TEXT NOT NULL,
    -- `pass`, `fail` or `skip`.
    verdict TEXT NOT NULL,
    note TEXT,
    labelled_at TEXT NOT NULL,
    PRIMARY KEY (batch_id, item)
);
