//! `evalgate import promptfoo`: turns a promptfoo project into an evalgate project.
//!
//! `read` reads promptfoo's files (with the line of every item), `map` decides what each
//! construct becomes, `write` writes evalgate's files, and `report` says what became what
//! and what was left out. The importer never runs anything a project names (scripts,
//! providers of code) and never copies a secret: keys are named as environment variables.
//! It writes only into a directory without an evalgate project.

pub mod map;
pub mod read;
pub mod report;
pub mod yaml;

use std::path::{Path, PathBuf};

use crate::diag::Diagnostic;
pub use report::{Loc, Report};

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A promptfoo file could not be read or parsed; each diagnostic says where.
    #[error("the promptfoo project cannot be read")]
    Invalid(Vec<Diagnostic>),
    /// Nothing runnable would come of it (no provider, prompt or assertion mapped).
    #[error("{message}")]
    Nothing {
        message: String,
        report: Box<Report>,
    },
    /// The output directory already holds an evalgate project.
    #[error("`{}` already holds an evalgate.yaml", .0.display())]
    Exists(PathBuf),
    #[error("cannot write `{path}`")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Reads the promptfoo config at `config` and writes the evalgate project into `out`.
pub fn promptfoo(config: &Path, out: &Path) -> Result<Report, ImportError> {
    if out.join("evalgate.yaml").exists() {
        return Err(ImportError::Exists(out.to_path_buf()));
    }
    let mut report = Report::default();
    let project = read::Reader::new(config, &mut report)
        .project(config)
        .map_err(|mut d| {
            // The report names files from the config's directory; an error names the file
            // as the user can open it from where they are.
            if let Some(dir) = config.parent() {
                d.file = dir.join(&d.file);
            }
            ImportError::Invalid(vec![d])
        })?;
    let dataset = project
        .description
        .as_deref()
        .map(map::slug)
        .unwrap_or_else(|| "promptfoo".into());
    let imported = match map::Mapper::new(&mut report).map(&project, &dataset) {
        Ok(i) => i,
        Err(message) => {
            return Err(ImportError::Nothing {
                message,
                report: Box::new(report),
            });
        }
    };
    write(&imported, config, out, &mut report)?;
    Ok(report)
}

/// Writes the project's files: evalgate.yaml, prompts/, judges/, golden/.
fn write(
    p: &map::Imported,
    config: &Path,
    out: &Path,
    report: &mut Report,
) -> Result<(), ImportError> {
    let header = format!(
        "# Imported from the promptfoo config `{}` by `evalgate import promptfoo`.\n# The import's report lists what each promptfoo construct became and what was left out.\n\n",
        config
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or("promptfooconfig.yaml")
    );
    let mut files: Vec<(String, String, String)> = Vec::new();
    let config_doc = serde_json::json!({
        "providers": p.providers,
        "models": p.models,
        "suites": p.suites,
    });
    files.push((
        "evalgate.yaml".into(),
        format!("{header}{}", yaml_text(&config_doc)),
        format!(
            "{} provider(s), {} model(s), {} suite(s)",
            p.providers.len(),
            p.models.len(),
            p.suites.len()
        ),
    ));
    for (name, doc) in &p.prompts {
        files.push((
            format!("prompts/{name}.yaml"),
            yaml_text(doc),
            "prompt".into(),
        ));
    }
    for (name, doc) in &p.judges {
        files.push((
            format!("judges/{name}.yaml"),
            yaml_text(doc),
            "judge".into(),
        ));
    }
    let mut jsonl = String::new();
    for case in &p.cases {
        jsonl.push_str(&case.to_string());
        jsonl.push('\n');
    }
    files.push((
        format!("golden/{}.jsonl", p.dataset),
        jsonl,
        format!("{} case(s)", p.cases.len()),
    ));
    for (rel, text, what) in files {
        let path = out.join(&rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| ImportError::Write {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&path, text).map_err(|source| ImportError::Write { path, source })?;
        report.written.push((rel, what));
    }
    Ok(())
}

/// A document as YAML (multi-line strings as literal blocks).
fn yaml_text(doc: &serde_json::Value) -> String {
    serde_yaml::to_string(doc).unwrap_or_default()
}
