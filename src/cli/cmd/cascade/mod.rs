//! `evalgate cascade`: run every tier of a suite's cascade, replay thresholds offline
//! (`workflow::cascade`), then draw the frontier and print the report.

use std::path::Path;

use crate::cli::args::{CascadeArgs, Format};
use crate::config::{Project, Suite};
use crate::error::{Error, ExitStatus};
use crate::output::Printer;
use crate::workflow::cascade::{Options, analyze};

pub async fn run(root: &Path, args: CascadeArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let project = super::load(root, printer)?;
    let suite = suite_with_cascade(&project, &args.suite)?;
    if let Some(t) = args.target
        && !(t > 0.0 && t <= 1.0)
    {
        return Err(Error::usage(
            format!("`--target` is a share in (0, 1], got {t}"),
            Some("0.98 keeps 98% of the top tier's accuracy".into()),
        ));
    }
    let (report, status) = analyze(
        root,
        &project,
        suite,
        &Options {
            target: args.target,
            limit: args.limit,
            concurrency: args.concurrency,
            record: args.record.as_deref(),
        },
        printer,
    )
    .await?;
    let Some(report) = report else {
        return Ok(status);
    };
    let svg = crate::render::html::render_cascade_svg(&report)?;
    let svg_path = args.svg.clone().unwrap_or_else(|| {
        root.join(".evalgate/cascade")
            .join(format!("{}.svg", suite.name))
    });
    if let Some(dir) = svg_path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| Error::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(&svg_path, &svg).map_err(|source| Error::Write {
        path: svg_path.clone(),
        source,
    })?;
    printer.info(&format!(
        "wrote the frontier chart to {}",
        svg_path.display()
    ));
    if let Some(path) = &args.html {
        super::write_html(
            path,
            &crate::render::html::render_cascade(&report, &svg)?,
            printer,
        )?;
    }
    match args.format {
        Format::Terminal => printer.data(&crate::render::terminal::render_cascade(&report)),
        Format::Json => printer.data(&serde_json::to_string_pretty(&report).unwrap_or_default()),
    }
    Ok(status)
}

/// The suite, which must have a `cascade:` section.
pub fn suite_with_cascade<'p>(project: &'p Project, name: &str) -> Result<&'p Suite, Error> {
    let suite = crate::plan::suite(project, name)?;
    if suite.cascade.is_none() {
        return Err(Error::usage(
            format!("suite `{name}` has no `cascade:` section"),
            Some("add one: `cascade: {field: FIELD, tiers: [{model: CHEAP, confidence: logprobs}, {model: BIG}]}` (see `evalgate cascade --help`)".into()),
        ));
    }
    Ok(suite)
}
