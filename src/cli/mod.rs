//! The command line: parse, dispatch to one short function per subcommand, print the error
//! once, and map the result to an exit code.

pub mod args;
mod cmd;
pub mod settings;

use clap::Parser;
use std::process::ExitCode;

use crate::error::{Error, ExitStatus};
use crate::output::Printer;

/// The crate's error keeps no renderer type (renderers sit above it): a page that cannot be
/// drawn is carried as its message.
impl From<crate::render::html::RenderError> for Error {
    fn from(e: crate::render::html::RenderError) -> Self {
        Error::Render(e.to_string())
    }
}

pub fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let printer = Printer::new();
    let status = match dispatch(cli, &printer) {
        Ok(status) => status,
        Err(err) => {
            report_error(&printer, &err);
            err.exit_status()
        }
    };
    ExitCode::from(status as u8)
}

fn report_error(printer: &Printer, err: &Error) {
    if let Error::Invalid(diags) = err {
        for d in diags {
            printer.info(&d.to_string());
        }
    }
    printer.error(err, err.hint().as_deref());
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

fn dispatch(cli: args::Cli, printer: &Printer) -> Result<ExitStatus, Error> {
    let root = cli.project;
    match cli.command {
        args::Command::Init(a) => cmd::init::run(&a, printer),
        args::Command::Validate => cmd::validate::run(&root, printer),
        args::Command::Run(a) => runtime()?.block_on(cmd::run::run(&root, a, printer)),
        args::Command::Report(a) => runtime()?.block_on(cmd::report::run(&root, a, printer)),
        args::Command::Runs(a) => runtime()?.block_on(cmd::report::list(&root, a, printer)),
        args::Command::Score(a) => runtime()?.block_on(cmd::score::run(&root, a, printer)),
        args::Command::Pairwise(a) => runtime()?.block_on(cmd::pairwise::run(&root, a, printer)),
        args::Command::Compare(a) => runtime()?.block_on(cmd::compare::run(&root, a, printer)),
        args::Command::Gate(a) => runtime()?.block_on(cmd::gate::run(&root, a, printer)),
        args::Command::Baseline(a) => runtime()?.block_on(cmd::baseline::run(&root, a, printer)),
        args::Command::Merge(a) => runtime()?.block_on(cmd::merge::run(&root, a, printer)),
        args::Command::Lift(a) => runtime()?.block_on(cmd::features::lift(&root, a, printer)),
        args::Command::Stability(a) => {
            runtime()?.block_on(cmd::features::stability(&root, a, printer))
        }
        args::Command::Cost(a) => runtime()?.block_on(cmd::features::cost(&root, a, printer)),
        args::Command::Cascade(a) => runtime()?.block_on(cmd::cascade::run(&root, a, printer)),
        args::Command::Export(a) => runtime()?.block_on(cmd::features::export(&root, a, printer)),
        args::Command::Feedback(a) => runtime()?.block_on(cmd::feedback::run(&root, a, printer)),
        args::Command::Serve(a) => runtime()?.block_on(cmd::serve::run(&root, a, printer)),
        args::Command::Golden(a) => cmd::feedback::golden(&root, a, printer),
        args::Command::Import(a) => cmd::import::run(&root, a, printer),
        args::Command::History(a) => runtime()?.block_on(cmd::history::history(&root, a, printer)),
        args::Command::Prompt(a) => runtime()?.block_on(cmd::history::prompt(&root, a, printer)),
        args::Command::Review(a) => runtime()?.block_on(cmd::review::review(&root, a, printer)),
        args::Command::Calibrate(a) => {
            runtime()?.block_on(cmd::review::calibrate(&root, a, printer))
        }
    }
}
