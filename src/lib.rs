//! evalgate keeps LLM features honest over time.
//!
//! Data flows one way:
//!
//! ```text
//! evalgate.yaml · prompts/*.yaml · golden/*.jsonl
//!    │  config::load     parse and cross-check everything once → diagnostics → exit 2
//!    ▼
//! Project ── plan::build ──► Plan (work items with request hashes)
//!    ▼
//! runner::execute ── render → provider::Client::chat → contract → score
//!    │  one owner logs each finished case at once (runlog) and commits them to the store
//!    ▼
//! analysis::summarize (stored data) ──► report::ReportModel ──► terminal | json
//! ```
//!
//! `cli` is the only module that knows about the command line; `output` is the only module
//! that prints; `store` is the only sqlx user; `provider` is the only reqwest user.

// Bad input, a failed call or a full disk is an error with a message, never a panic: no
// unwrap or expect outside tests (they are fine in tests, where a panic is the failure).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod analysis;
pub mod cascade;
pub mod cli;
pub mod compare;
pub mod config;
pub mod contract;
pub mod diag;
pub mod env;
pub mod error;
pub mod features;
pub mod feedback;
pub mod files;
pub mod gate;
pub mod golden;
pub mod hash;
pub mod history;
pub mod id;
pub mod import;
pub mod intern;
pub mod judge;
pub mod merge;
pub mod metric;
pub mod output;
pub mod pairwise;
pub mod plan;
pub mod prompt;
pub mod provider;
pub mod render;
pub mod report;
pub mod review;
pub mod runfile;
pub mod runlog;
pub mod runner;
pub mod score;
pub mod secrets;
pub mod serve;
pub mod stats;
pub mod status;
pub mod store;
pub mod text;
pub mod vcs;
pub mod vector;
pub mod workflow;
