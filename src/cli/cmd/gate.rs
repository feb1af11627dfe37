//! `evalgate gate`: call `workflow::gate`, write each suite's run file and HTML report as it
//! is gated, then print the verdicts and write the markdown summary and JUnit XML.

use std::path::{Path, PathBuf};

use crate::cli::args::{Format, GateArgs};
use crate::error::{Error, ExitStatus};
use crate::output::Printer;
use crate::report::SuiteVerdict;
use crate::runfile::RunFile;
use crate::status::SuiteStatus;
use crate::workflow::gate::{GateRequest, Gated};

pub async fn run(root: &Path, args: GateArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let project = super::load(root, printer)?;
    let out_dir = if args.out_dir.is_absolute() {
        args.out_dir.clone()
    } else {
        root.join(&args.out_dir)
    };
    let req = GateRequest {
        suites: args.suites.clone(),
        all: args.all,
        run: args.run.clone(),
        repeat: args.repeat,
    };
    let gated = crate::workflow::gate::gate(
        root,
        &project,
        &req,
        printer,
        async |store, run_id| {
            super::report::print(store, run_id, Format::Terminal, None, printer).await
        },
        async |g| write_suite(&out_dir, g, printer),
    )
    .await?;
    let lifts: Vec<String> = gated
        .iter()
        .filter_map(|g| g.lift.as_ref())
        .map(crate::render::terminal::render_lift)
        .collect();
    let (verdicts, runs): (Vec<SuiteVerdict>, Vec<Option<RunFile>>) =
        gated.into_iter().map(|g| (g.verdict, g.candidate)).unzip();
    summarize(&args, &verdicts, &runs, &lifts, printer)
}

/// Writes a gated suite's run file and HTML report beside it.
fn write_suite(out_dir: &Path, g: &mut Gated, printer: &Printer) -> Result<(), Error> {
    let Some(candidate) = &g.candidate else {
        return Ok(());
    };
    let name = &g.verdict.suite;
    let file = out_dir.join(format!("{name}.json"));
    crate::runfile::write(&file, candidate)?;
    printer.info(&format!("wrote run file {}", file.display()));
    let html_name = format!("{name}.html");
    let html = match (&g.baseline, &g.verdict.comparison) {
        (Some(b), Some(c)) => {
            crate::render::html::render_comparison(b, candidate, c, &g.verdict.gates)
        }
        _ => crate::render::html::render_run(candidate, &g.verdict.gates),
    }?;
    super::write_html(&out_dir.join(&html_name), &html, printer)?;
    g.verdict.html = Some(html_name);
    Ok(())
}

/// Prints the comparisons, lifts and verdicts, writes the summaries asked for, and says
/// how the gate ended.
fn summarize(
    args: &GateArgs,
    verdicts: &[SuiteVerdict],
    runs: &[Option<RunFile>],
    lifts: &[String],
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let color = super::stdout_color();
    let mut text = String::new();
    for v in verdicts {
        if let Some(c) = &v.comparison {
            text.push_str(&crate::render::terminal::render_comparison(c, color));
            text.push('\n');
        }
    }
    for l in lifts {
        text.push_str(l);
        text.push('\n');
    }
    for v in verdicts {
        text.push_str(&crate::render::terminal::render_verdict(v));
    }
    printer.data(&text);

    write_summaries(args, verdicts, runs, printer)?;

    let failed: Vec<&str> = verdicts
        .iter()
        .filter(|v| v.status == SuiteStatus::Fail)
        .map(|v| v.suite.as_str())
        .collect();
    if verdicts.iter().any(|v| v.status == SuiteStatus::Error) {
        printer.warn("a suite's run could not be trusted (errors or an interruption): see above");
        return Ok(ExitStatus::Infrastructure);
    }
    if !failed.is_empty() {
        printer.warn(&format!("regression in {}", failed.join(", ")));
        return Ok(ExitStatus::GateFailed);
    }
    Ok(ExitStatus::Ok)
}

/// Writes the markdown summary (to GitHub's step summary too, when set) and the JUnit XML
/// asked for.
fn write_summaries(
    args: &GateArgs,
    verdicts: &[SuiteVerdict],
    runs: &[Option<RunFile>],
    printer: &Printer,
) -> Result<(), Error> {
    let markdown = crate::render::markdown::render(verdicts);
    if let Some(summary) = crate::env::setting(crate::env::GITHUB_STEP_SUMMARY) {
        use std::io::Write;
        let path = PathBuf::from(summary);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(markdown.as_bytes()))
            .map_err(|source| Error::Write { path, source })?;
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, &markdown).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        printer.info(&format!("wrote markdown summary {}", path.display()));
    }
    if let Some(path) = &args.junit {
        let pairs: Vec<(&SuiteVerdict, Option<&RunFile>)> = verdicts
            .iter()
            .zip(runs.iter().map(Option::as_ref))
            .collect();
        let xml = crate::render::junit::render(&pairs).map_err(Error::Render)?;
        std::fs::write(path, xml).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        printer.info(&format!("wrote JUnit XML {}", path.display()));
    }
    Ok(())
}
