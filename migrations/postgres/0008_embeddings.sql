-- Embedding vectors by provider, model and input (the cache of a cascade's proxy tier): a
-- vector is little-endian f32s; tokens and latency are what its request reported and took
-- (spread over the inputs of the request).
CREATE TABLE embeddings (
    scope TEXT NOT NULL,
    model TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    vector BYTEA NOT NULL,
    tokens DOUBLE PRECISION NOT NULL,
    latency_ms DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (scope, model, input_hash)
);
