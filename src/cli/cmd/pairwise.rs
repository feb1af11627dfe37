//! `evalgate pairwise BASE CAND --judge J`: two runs compared answer by answer.

use std::path::Path;

use crate::cli::args::{Format, PairwiseArgs};
use crate::error::{Error, ExitStatus};
use crate::judge::VerdictKind;
use crate::output::Printer;
use crate::provider::{CacheMode, ClientOptions, Clients};

pub async fn run(root: &Path, args: PairwiseArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let project = super::load(root, printer)?;
    let Some(judge) = project.judges.get(&args.judge) else {
        let known: Vec<&str> = project.judges.keys().map(String::as_str).collect();
        return Err(Error::usage(
            format!("unknown judge `{}`", args.judge),
            Some(crate::diag::suggestion(&args.judge, &known, "judges")),
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
    let store = super::open_store(root).await?;
    let base = store.find_run(&args.base).await?;
    let cand = store.find_run(&args.candidate).await?;
    if base.dataset != cand.dataset {
        printer.warn(&format!("the runs used different datasets (`{}` and `{}`): only cases with the same id are compared", base.dataset, cand.dataset));
    }
    let model = &project.models[&judge.model];
    let record_dir = args.record.as_ref().map(|d| {
        if d.is_absolute() {
            d.clone()
        } else {
            root.join(d)
        }
    });
    let clients = Clients::new(ClientOptions {
        cache: Some((store.clone(), CacheMode::Use)),
        record_dir,
        concurrency: 4,
    });
    let client = clients
        .get(&project, &model.provider)
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
    let report = crate::pairwise::summarize(&base, &cand, judge, &pairs, &spend);
    match args.format {
        Format::Terminal => printer.data(&crate::render::terminal::render_pairwise(&report)),
        Format::Json => printer.data(&serde_json::to_string_pretty(&report).unwrap_or_default()),
    }
    store.close().await;
    Ok(ExitStatus::Ok)
}
