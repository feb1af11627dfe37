//! The integration tests: one binary that drives the real `evalgate` executable against an
//! OpenAI-compatible stub server on 127.0.0.1.

mod cascade;
mod common;
mod diagnostics;
mod embeddings;
mod errors;
mod features;
mod feedback;
mod gate;
mod generative;
mod history;
mod html;
mod import;
mod init;
mod judge;
mod otlp;
mod resilience;
mod review;
mod run;
mod security;
mod shards;
mod store;
mod validate;
