//! `evalgate score RUN` as a library call: re-score a stored run with its suite's scorers as
//! the project has them now, without asking the model again.

use crate::config::{Project, Suite};
use crate::error::Error;
use crate::id::RunId;
use crate::output::Printer;
use crate::plan::{self, RunSettings};
use crate::provider::{CacheMode, ClientOptions, Clients};
use crate::store::Store;

use super::run::{judge_runners, similarity_runners, unreadable_judges};

/// What `evalgate score` is asked for.
#[derive(Debug, Clone)]
pub struct ScoreRequest {
    /// The run id, or a unique prefix of it.
    pub run: String,
    /// Ask only this judge (one the suite scores with).
    pub judge: Option<String>,
}

/// A run, re-scored.
#[derive(Debug)]
pub struct Rescored {
    pub run_id: RunId,
    /// Cases scored.
    pub cases: usize,
    pub elapsed_secs: f64,
    /// A line for each judge whose verdicts could not be read too often.
    pub unreadable: Vec<String>,
    /// What the `similar` scorers' embeddings asked again: requests, input tokens and cost
    /// (USD); None when the suite has no `similar` scorer.
    pub embeddings: Option<(usize, u64, f64)>,
}

/// Re-scores the run, with a progress bar; the model is not asked again (judges are).
pub async fn rescore(
    project: &Project,
    store: &Store,
    req: &ScoreRequest,
    printer: &Printer,
) -> Result<Rescored, Error> {
    let run = store.find_run(&req.run).await?;
    let Some(suite) = project.suites.get(&run.suite) else {
        return Err(Error::usage(
            format!(
                "run {} is of suite `{}`, which evalgate.yaml no longer has",
                run.id, run.suite
            ),
            None,
        ));
    };
    if let Some(j) = &req.judge {
        check_judge(suite, j)?;
    }
    let settings = RunSettings {
        models: vec![run.model.clone()],
        ..RunSettings::default()
    };
    let plans = plan::build(project, &suite.name, &settings)?;
    let clients = Clients::new(ClientOptions {
        cache: Some((store.clone(), CacheMode::Use)),
        record_dir: None,
        concurrency: suite.concurrency,
    });
    let judges = judge_runners(project, suite, &clients, req.judge.as_deref())?;
    // Scores are stored anew, so `similar` scorers embed again (their verdicts are not kept
    // apart like a judge's): a paid call each, which replaces the run's stored one.
    let similar = similarity_runners(project, suite, &clients)?;
    printer.info(&format!(
        "re-scoring run {} ({} of suite {}) with {} scorer{}{}",
        run.id,
        run.model,
        suite.name,
        suite.scorers.len(),
        if suite.scorers.len() == 1 { "" } else { "s" },
        match judges.len() {
            0 => String::new(),
            n => format!(", asking {n} judge{}", if n == 1 { "" } else { "s" }),
        }
    ));
    let total = run.planned_cases.max(0) as u64;
    let mut bar = printer.progress(total, 0);
    let outcome = crate::runner::rescore(&plans[0], store, &run, (&judges, &similar), |p| {
        bar.update(
            p.done as u64,
            total,
            &format!("{} pass · {} fail", p.passed, p.failed),
        )
    })
    .await?;
    bar.finish();
    let unreadable = unreadable_judges(store, &run.id, suite.max_judge_error_rate).await?;
    let p = &outcome.progress;
    Ok(Rescored {
        run_id: run.id,
        cases: p.done,
        elapsed_secs: outcome.elapsed_secs,
        unreadable,
        embeddings: (!similar.is_empty()).then_some((
            p.scorer_calls,
            p.scorer_tokens,
            p.scorer_cost_usd,
        )),
    })
}

/// The judge `j` must be one the suite scores with.
fn check_judge(suite: &Suite, j: &str) -> Result<(), Error> {
    let known: Vec<&str> = suite
        .scorers
        .iter()
        .flat_map(|s| match &s.kind {
            crate::score::ScorerKind::Judge { judges, .. } => {
                judges.iter().map(String::as_str).collect()
            }
            _ => Vec::new(),
        })
        .collect();
    if known.contains(&j) {
        return Ok(());
    }
    Err(Error::usage(
        format!("suite `{}` has no `judge` scorer using `{j}`", suite.name),
        Some(format!(
            "{}; add `- kind: judge` with `judge: {j}` to the suite's scorers first",
            crate::diag::suggestion(j, &known, "judges of this suite")
        )),
    ))
}
