//! `evalgate score RUN`: re-scores a stored run without asking the model again.

use std::path::Path;

use crate::cli::args::ScoreArgs;
use crate::error::{Error, ExitStatus};
use crate::output::Printer;
use crate::plan::{self, RunSettings};
use crate::provider::{CacheMode, ClientOptions, Clients};

pub async fn run(root: &Path, args: ScoreArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let project = super::load(root, printer)?;
    let store = super::open_store(root).await?;
    let run = store.find_run(&args.run).await?;
    let Some(suite) = project.suites.get(&run.suite) else {
        return Err(Error::usage(
            format!(
                "run {} is of suite `{}`, which evalgate.yaml no longer has",
                run.id, run.suite
            ),
            None,
        ));
    };
    if let Some(j) = &args.judge {
        let uses = suite
            .scorers
            .iter()
            .any(|s| matches!(&s.kind, crate::score::ScorerKind::Judge { judges, .. } if judges.contains(j)));
        if !uses {
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
            return Err(Error::usage(
                format!("suite `{}` has no `judge` scorer using `{j}`", suite.name),
                Some(format!(
                    "{}; add `- kind: judge` with `judge: {j}` to the suite's scorers first",
                    crate::diag::suggestion(j, &known, "judges of this suite")
                )),
            ));
        }
    }
    let settings = RunSettings {
        models: vec![run.model.clone()],
        ..RunSettings::default()
    };
    let plans = plan::build(&project, &suite.name, &settings)?;
    let plan = &plans[0];
    let clients = Clients::new(ClientOptions {
        cache: Some((store.clone(), CacheMode::Use)),
        record_dir: None,
        concurrency: suite.concurrency,
    });
    let judges = super::run::judge_runners(&project, suite, &clients, args.judge.as_deref())?;
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
    let outcome = crate::runner::rescore(plan, &store, &run, &judges, |p| {
        bar.update(
            p.done as u64,
            total,
            &format!("{} pass · {} fail", p.passed, p.failed),
        )
    })
    .await?;
    bar.finish();
    super::report::print(&store, &run.id, args.format, None, printer).await?;
    printer.info(&format!(
        "re-scored {} cases of run {} ({:.1}s); the model was not asked again",
        outcome.progress.done, run.id, outcome.elapsed_secs
    ));
    let unreadable =
        super::run::unreadable_judges(&store, &run.id, suite.max_judge_error_rate).await?;
    store.close().await;
    for line in &unreadable {
        printer.warn(line);
    }
    Ok(if unreadable.is_empty() {
        ExitStatus::Ok
    } else {
        ExitStatus::Infrastructure
    })
}
