//! `evalgate baseline update`: call `workflow::baseline`, print the run's report (when it
//! ran one) and where the baseline went.

use std::path::Path;

use crate::cli::args::{BaselineArgs, BaselineCommand, Format};
use crate::error::{Error, ExitStatus};
use crate::output::Printer;
use crate::workflow::baseline::{BaselineRequest, update};

pub async fn run(root: &Path, args: BaselineArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let BaselineCommand::Update { suite, from } = args.command;
    let project = super::load(root, printer)?;
    let req = BaselineRequest { suite, from };
    let u = update(root, &project, &req, printer, async |store, run_id| {
        super::report::print(store, run_id, Format::Terminal, None, printer).await
    })
    .await?;
    if !u.failing.is_empty() {
        printer.warn(&format!(
            "this baseline fails its own suite's gates ({}): `evalgate gate --all` will fail until the gates or the run change",
            u.failing.join("; ")
        ));
    }
    let run = &u.file.run;
    printer.info(&format!(
        "wrote {} (run {}, model {}, prompt {}@{}, pass rate {:.1}%): commit it on the main branch",
        u.path.strip_prefix(root).unwrap_or(&u.path).display(),
        run.id,
        run.model,
        run.prompt,
        crate::hash::short(&run.prompt_version),
        u.file.report.pass_rate.rate * 100.0
    ));
    Ok(ExitStatus::Ok)
}
