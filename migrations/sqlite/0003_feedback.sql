-- Production feedback: interactions and the signals about them, idempotent by event id.
-- The whole event is kept as JSON (`body_json`); the columns are what queries filter on.
CREATE TABLE feedback_interactions (
    event_id TEXT PRIMARY KEY,
    occurred_at TEXT NOT NULL,
    prompt TEXT NOT NULL,
    prompt_version TEXT,
    model TEXT,
    -- The normalized inputs' hash, to recognize an input already in golden.
    input_hash TEXT NOT NULL,
    body_json TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX feedback_interactions_time ON feedback_interactions (occurred_at);

CREATE TABLE feedback_signals (
    event_id TEXT PRIMARY KEY,
    -- An interaction's event id; it may arrive before or after the interaction.
    interaction_id TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    -- -1 a bad answer, 1 a good one, 0 unknown.
    polarity INTEGER NOT NULL,
    body_json TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX feedback_signals_interaction ON feedback_signals (interaction_id);
CREATE INDEX feedback_signals_time ON feedback_signals (occurred_at);
