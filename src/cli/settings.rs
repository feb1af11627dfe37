//! Flags, environment and project file merged once into the settings value a workflow
//! takes (`workflow::run::RunRequest`), with the flags' own checks.

use std::path::Path;

use crate::cli::args::RunArgs;
use crate::error::Error;
use crate::plan::{RunSettings, Selection};
use crate::provider::CacheMode;
use crate::workflow::run::RunRequest;

/// The run `evalgate run` is asked for.
pub fn run_request(root: &Path, args: &RunArgs) -> Result<RunRequest, Error> {
    if let Some(c) = args.max_cost
        && !(c > 0.0 && c.is_finite())
    {
        return Err(Error::usage(
            format!("`--max-cost` must be a positive amount in USD, got {c}"),
            None,
        ));
    }
    let cache = if args.no_cache {
        CacheMode::Off
    } else if args.refresh {
        CacheMode::Refresh
    } else {
        CacheMode::Use
    };
    Ok(RunRequest {
        suite: args.suite.clone(),
        plan: RunSettings {
            models: args.models.clone(),
            concurrency: args.concurrency.map(|c| c as usize),
            limit: args.limit.map(|l| l as usize),
            selection: Selection {
                only_failing: args.only_failing.clone(),
                shard: args.shard,
                only: None,
            },
            params: args.params,
            dataset: args.dataset.clone(),
        },
        max_cost: args.max_cost,
        cache,
        // Cassettes go under the project unless the path is absolute.
        record_dir: args.record.as_ref().map(|d| root.join(d)),
        resume: args.resume.clone(),
        no_judges: args.no_judges,
        repeat: args.repeat,
        batch: args.batch,
    })
}
