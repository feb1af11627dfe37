//! `evalgate pairwise BASE CAND --judge J` as a library call: a pairwise judge compares the
//! two runs' answers case by case; the verdicts are stored and summarized.

use std::path::{Path, PathBuf};

use crate::config::Project;
use crate::error::Error;
use crate::judge::{Judge, VerdictKind};
use crate::output::Printer;
use crate::pairwise::PairwiseReport;
use crate::provider::{CacheMode, ClientOptions, Clients};
use crate::store::Store;

/// What `evalgate pairwise` is asked for.
#[derive(Debug, Clone)]
pub struct PairwiseRequest {
    /// The base run (id or unique prefix).
    pub base: String,
    /// The candidate run (id or unique prefix).
    pub candidate: String,
    /// A judge with `verdict: {kind: pairwise}`.
    pub judge: String,
    /// Record the judge's answers as cassettes here (under the project unless absolute).
    pub record: Option<PathBuf>,
}

/// Judges the candidate's answers against the base's, with a progress bar, and stores the
/// verdicts. The judge is checked before the store is opened.
pub async fn pairwise(
    root: &Path,
    project: &Project,
    req: &PairwiseRequest,
    printer: &Printer,
) -> Result<PairwiseReport, Error> {
    let judge = pairwise_judge(project, &req.judge)?;
    super::with_store(root, async |store| {
        judge_runs(root, project, store, judge, req, printer).await
    })
    .await
}

async fn judge_runs(
    root: &Path,
    project: &Project,
    store: &Store,
    judge: &Judge,
    req: &PairwiseRequest,
    printer: &Printer,
) -> Result<PairwiseReport, Error> {
    let base = store.find_run(&req.base).await?;
    let cand = store.find_run(&req.candidate).await?;
    if base.dataset != cand.dataset {
        printer.warn(&format!("the runs used different datasets (`{}` and `{}`): only cases with the same id are compared", base.dataset, cand.dataset));
    }
    let model = &project.models[&judge.model];
    let clients = Clients::new(ClientOptions {
        cache: Some((store.clone(), CacheMode::Use)),
        record_dir: req.record.as_ref().map(|d| root.join(d)),
        concurrency: 4,
    });
    let client = clients
        .get(project, &model.provider)
        .map_err(Error::ProviderSetup)?;
    let pj = crate::pairwise::PairJudge {
        judge,
        client: &client,
        model_api: model.api_name.clone(),
        price: model.price,
    };
    let base_cases = store.cases(&base.id).await?;
    let cand_cases = store.cases(&cand.id).await?;
    printer.info(&format!(
        "judging run {} against run {} with {} (two calls a case)",
        cand.id, base.id, judge.name
    ));
    let total = base_cases.iter().filter(|c| c.repeat_index == 0).count() as u64;
    let mut bar = printer.progress(total, 0);
    let (pairs, spend) = crate::pairwise::judge_pairs(&pj, &base_cases, &cand_cases, |done| {
        bar.update(done as u64, total, "pairs judged")
    })
    .await;
    bar.finish();
    store.cache_put(&spend.cache, &crate::runner::now()).await?;
    store
        .insert_pairwise(
            &crate::pairwise::verdict_rows(&base, &cand, &pj, &pairs),
            &crate::runner::now(),
        )
        .await?;
    Ok(crate::pairwise::summarize(
        &base, &cand, judge, &pairs, &spend,
    ))
}

/// The project's judge `name`, which must compare two outputs.
fn pairwise_judge<'p>(project: &'p Project, name: &str) -> Result<&'p Judge, Error> {
    let Some(judge) = project.judges.get(name) else {
        let known: Vec<&str> = project.judges.keys().map(String::as_str).collect();
        return Err(Error::usage(
            format!("unknown judge `{name}`"),
            Some(crate::diag::suggestion(name, &known, "judges")),
        ));
    };
    if judge.verdict != VerdictKind::Pairwise {
        return Err(Error::usage(
            format!(
                "judge `{}` grades one output; `pairwise` needs a judge with `verdict: {{kind: pairwise}}`",
                judge.name
            ),
            Some("its rubric shows `{{ output_a }}` and `{{ output_b }}`".into()),
        ));
    }
    Ok(judge)
}
