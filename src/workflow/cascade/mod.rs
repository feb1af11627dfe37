//! A suite's cascade: run every tier (each a stored run, answered from the cache when it
//! can be; a proxy tier learns its labeller's labels), then replay the thresholds offline.

mod proxy;

use std::collections::HashMap;
use std::path::Path;

use crate::cascade::{self, CascadeReport, CascadeSpec, Confidence, simulate};
use crate::config::{Project, Suite};
use crate::error::{Error, ExitStatus};
use crate::id::RunId;
use crate::output::Printer;
use crate::plan::{ParamsPatch, RunSettings};
use crate::workflow::run::RunRequest;

/// How a tier's run differs from a plain run: log-probabilities asked for, or K samples at
/// a temperature.
fn tier_run(confidence: &Confidence) -> (ParamsPatch, u32) {
    match confidence {
        Confidence::Logprobs => (
            ParamsPatch {
                logprobs: Some(cascade::TOP_LOGPROBS),
                temperature: None,
            },
            1,
        ),
        Confidence::SelfConsistency {
            samples,
            temperature,
        } => (
            ParamsPatch {
                logprobs: None,
                temperature: Some(*temperature),
            },
            *samples,
        ),
        Confidence::Field(_) | Confidence::Final | Confidence::Probability => {
            (ParamsPatch::default(), 1)
        }
    }
}

/// A run of the suite for the cascade (a tier, or the proxy's pool): no report, no judges
/// (the cascade measures answers; judges would be paid for nothing), the cascade's
/// concurrency, recorded when asked. None when the run did not finish.
pub(super) async fn cascade_run(
    root: &Path,
    project: &Project,
    opts: &Options<'_>,
    req: RunRequest,
    printer: &Printer,
) -> Result<Option<RunId>, Error> {
    let req = RunRequest {
        plan: RunSettings {
            concurrency: opts.concurrency.map(|c| c as usize),
            ..req.plan
        },
        no_judges: true,
        record_dir: opts.record_dir(root),
        ..req
    };
    let (status, ids) = super::run::run_quietly(root, project, &req, printer).await?;
    Ok(ids
        .into_iter()
        .next()
        .filter(|_| status != ExitStatus::Infrastructure))
}

/// How `analyze` runs the tiers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    /// The share of the top tier's accuracy to keep (default: the suite's).
    pub target: Option<f64>,
    /// Only the first N cases.
    pub limit: Option<u64>,
    pub concurrency: Option<u32>,
    /// Ask live and save cassettes here.
    pub record: Option<&'a Path>,
}

impl Options<'_> {
    /// Where to save cassettes: under the project unless the path is absolute.
    fn record_dir(&self, root: &Path) -> Option<std::path::PathBuf> {
        self.record.map(|d| root.join(d))
    }
}

/// Runs every tier of the suite's cascade (each a stored run, answered from the cache when it
/// can be) and replays the thresholds. None (with the run's status) when a tier's run did not
/// finish.
pub async fn analyze(
    root: &Path,
    project: &Project,
    suite: &Suite,
    opts: &Options<'_>,
    printer: &Printer,
) -> Result<(Option<CascadeReport>, ExitStatus), Error> {
    let spec: &CascadeSpec = suite.cascade.as_ref().ok_or_else(|| {
        Error::usage(
            format!("suite `{}` has no `cascade:` section", suite.name),
            None,
        )
    })?;
    let Some(run_ids) = run_tiers(root, project, suite, spec, opts, printer).await? else {
        return Ok((None, ExitStatus::Infrastructure));
    };
    let rows = tier_rows(root, &run_ids).await?;
    let labels: Vec<String> = project.prompts[&suite.prompt]
        .contract
        .as_ref()
        .and_then(|c| c.labels(&spec.field))
        .map(<[String]>::to_vec)
        .unwrap_or_default();
    let mut notes = Vec::new();
    // The golden cases as the top tier's run holds them (every case once).
    let golden_rows: &[crate::store::CaseRow] = rows.last().map_or(&[], Vec::as_slice);
    let mut answers: Vec<HashMap<String, simulate::TierAnswer>> = Vec::new();
    for (k, t) in spec.tiers.iter().enumerate() {
        let a = match &t.proxy {
            Some(proxy) => {
                printer.info(&format!(
                    "cascade tier {} of {}: {} (labels of {} on the pool `{}`)",
                    k + 1,
                    spec.tiers.len(),
                    t.model,
                    proxy.labeller,
                    proxy.pool
                ));
                let context = proxy::Context {
                    root,
                    project,
                    suite,
                    field: &spec.field,
                    opts,
                    printer,
                };
                match proxy::answers(&context, proxy, golden_rows, &mut notes).await? {
                    Some(a) => a,
                    None => return Ok((None, ExitStatus::Infrastructure)),
                }
            }
            None => cascade::tier_answers(t, &spec.field, &labels, &rows[k], &mut notes),
        };
        answers.push(a);
    }
    let report = replay(
        suite,
        spec,
        opts.target,
        &run_ids,
        golden_rows,
        &answers,
        notes,
    )?;
    Ok((Some(report), ExitStatus::Ok))
}

/// Runs each tier that is a model (a proxy tier runs its labeller later); None when one did
/// not finish (said, with how to go on).
async fn run_tiers(
    root: &Path,
    project: &Project,
    suite: &Suite,
    spec: &CascadeSpec,
    opts: &Options<'_>,
    printer: &Printer,
) -> Result<Option<Vec<Option<RunId>>>, Error> {
    let mut run_ids: Vec<Option<RunId>> = Vec::new();
    for (k, tier) in spec.tiers.iter().enumerate() {
        if tier.proxy.is_some() {
            run_ids.push(None);
            continue;
        }
        printer.info(&format!(
            "cascade tier {} of {}: {} ({})",
            k + 1,
            spec.tiers.len(),
            tier.model,
            tier.confidence.describe()
        ));
        let (params, repeat) = tier_run(&tier.confidence);
        let req = RunRequest {
            suite: suite.name.clone(),
            plan: RunSettings {
                models: vec![tier.model.clone()],
                limit: opts.limit.map(|l| l as usize),
                params,
                ..RunSettings::default()
            },
            repeat,
            ..RunRequest::default()
        };
        let Some(id) = cascade_run(root, project, opts, req, printer).await? else {
            printer.warn(&format!(
                "tier {} ({}) did not finish: run `evalgate cascade {}` again to go on (finished answers come from the cache)",
                k + 1,
                tier.model,
                suite.name
            ));
            return Ok(None);
        };
        run_ids.push(Some(id));
    }
    Ok(Some(run_ids))
}

/// The case results of each tier's run (none for a proxy tier).
async fn tier_rows(
    root: &Path,
    run_ids: &[Option<RunId>],
) -> Result<Vec<Vec<crate::store::CaseRow>>, Error> {
    let store = super::open_store(root).await?;
    let mut rows = Vec::new();
    for id in run_ids {
        let r = match id {
            Some(id) => store.cases(id).await,
            None => Ok(Vec::new()),
        };
        match r {
            Ok(r) => rows.push(r),
            Err(e) => {
                store.close().await;
                return Err(e.into());
            }
        }
    }
    store.close().await;
    Ok(rows)
}

/// Joins the tiers' answers with the expected labels and replays every threshold: the
/// frontier, the recommended and the pinned points, each against the top tier alone.
fn replay(
    suite: &Suite,
    spec: &CascadeSpec,
    target: Option<f64>,
    run_ids: &[Option<RunId>],
    golden_rows: &[crate::store::CaseRow],
    answers: &[HashMap<String, simulate::TierAnswer>],
    mut notes: Vec<String>,
) -> Result<CascadeReport, Error> {
    // The expected labels, in case order, from the top tier's run (every case is there once).
    let mut expected: Vec<(String, Option<String>)> = golden_rows
        .iter()
        .filter(|c| c.repeat_index == 0)
        .map(|c| {
            let e: serde_json::Value = serde_json::from_str(&c.expected_json).unwrap_or_default();
            (
                c.case_id.clone(),
                e.get(&spec.field).and_then(cascade::label_of),
            )
        })
        .collect();
    expected.sort();
    let cases = cascade::join(&expected, answers, &mut notes);
    if cases.is_empty() {
        return Err(Error::usage(
            format!(
                "no case of suite `{}` has an expected `{}` and an answer of every tier",
                suite.name, spec.field
            ),
            Some(format!(
                "the golden cases need `expected.{}` to measure accuracy",
                spec.field
            )),
        ));
    }
    let tiers: Vec<cascade::TierSummary> = spec
        .tiers
        .iter()
        .enumerate()
        .map(|(k, t)| {
            cascade::summarize_tier(
                k,
                &t.model,
                t.confidence.describe(),
                run_ids[k].clone().map(String::from),
                &cases,
            )
        })
        .collect();
    notes.extend(cascade::weak_top(&tiers));
    let target = target.unwrap_or(spec.target);
    let frontier = simulate::frontier(&cases, spec.tiers.len(), target);
    let pinned_thresholds: Option<Vec<Option<f64>>> = spec.tiers[..spec.tiers.len() - 1]
        .iter()
        .map(|t| t.threshold.map(Some))
        .collect();
    let pinned = pinned_thresholds.map(|t| frontier.relative(simulate::evaluate(&cases, &t)));
    let vs_top = |p: &Option<simulate::Point>| {
        p.as_ref()
            .and_then(|p| simulate::versus_top(&cases, &p.thresholds, target))
    };
    Ok(CascadeReport {
        suite: suite.name.clone(),
        field: spec.field.clone(),
        cases: cases.len(),
        recommended_vs_top: vs_top(&frontier.recommended),
        pinned_vs_top: vs_top(&pinned),
        tiers,
        frontier,
        pinned,
        notes,
    })
}
