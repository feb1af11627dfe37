use crate::status::{GateStatus, RunStatus};
use std::path::Path;

use crate::cli::args::{BaselineArgs, BaselineCommand, Format};
use crate::error::{Error, ExitStatus};
use crate::output::Printer;

pub async fn run(root: &Path, args: BaselineArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    match args.command {
        BaselineCommand::Update { suite, from } => {
            update(root, &suite, from.as_deref(), printer).await
        }
    }
}

async fn update(
    root: &Path,
    suite: &str,
    from: Option<&str>,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let project = super::load(root, printer)?;
    // An unknown suite fails here (with a did-you-mean).
    crate::plan::build(&project, suite, &crate::plan::RunSettings::default())?;
    let file = match from {
        Some(run) => {
            let store = super::open_store(root).await?;
            let file = super::load_run(&store, run).await?;
            store.close().await;
            file
        }
        None => {
            // The project loaded above: loading it again would say its warnings twice.
            let req = crate::workflow::run::RunRequest {
                suite: suite.to_string(),
                plan: crate::plan::RunSettings {
                    models: vec![project.suites[suite].models[0].clone()],
                    ..Default::default()
                },
                repeat: 1,
                ..Default::default()
            };
            let (status, ids) = crate::workflow::run::run_stored(
                root,
                &project,
                &req,
                printer,
                async |store, _, outcome| {
                    super::report::print(store, &outcome.run_id, Format::Terminal, None, printer)
                        .await
                },
            )
            .await?;
            if status != ExitStatus::Ok {
                return Err(Error::usage(
                    "the run did not finish cleanly, so it cannot be the baseline",
                    Some("fix the errors above, or pass a good run with `--from RUN`".into()),
                ));
            }
            let store = super::open_store(root).await?;
            let file = super::stored_run(&store, &ids[0]).await?;
            store.close().await;
            file
        }
    };
    if file.run.suite != suite {
        return Err(Error::usage(
            format!(
                "run {} is of suite `{}`, not `{suite}`",
                file.run.id, file.run.suite
            ),
            None,
        ));
    }
    if file.run.status != RunStatus::Finished {
        return Err(Error::usage(
            format!(
                "run {} is {}, not finished: a baseline must be a complete run",
                file.run.id, file.run.status
            ),
            Some(format!(
                "finish it with `evalgate run {suite} --resume {}`",
                file.run.id
            )),
        ));
    }
    let path = crate::runfile::baseline_path(root, suite);
    crate::runfile::write(&path, &file)?;
    // A baseline that fails its own suite's absolute gates makes every `gate --all` red.
    let own = crate::gate::evaluate(
        &project.suites[suite],
        &file,
        None,
        &crate::gate::Analyses::default(),
    );
    let failing: Vec<String> = own
        .iter()
        .filter(|g| g.status == GateStatus::Fail)
        .map(|g| format!("{}: {}", g.gate, g.detail))
        .collect();
    if !failing.is_empty() {
        printer.warn(&format!(
            "this baseline fails its own suite's gates ({}): `evalgate gate --all` will fail until the gates or the run change",
            failing.join("; ")
        ));
    }
    printer.info(&format!(
        "wrote {} (run {}, model {}, prompt {}@{}, pass rate {:.1}%): commit it on the main branch",
        path.strip_prefix(root).unwrap_or(&path).display(),
        file.run.id,
        file.run.model,
        file.run.prompt,
        crate::hash::short(&file.run.prompt_version),
        file.report.pass_rate.rate * 100.0
    ));
    Ok(ExitStatus::Ok)
}
