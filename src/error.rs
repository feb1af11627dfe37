//! The crate's error type and the exit codes it maps to.

use std::path::PathBuf;

use crate::diag::Diagnostic;

/// The process exit codes, documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything ran; no gate failed.
    Ok = 0,
    /// A gate failed: a real regression.
    GateFailed = 1,
    /// Invalid input or configuration; nothing was run or written.
    InvalidInput = 2,
    /// Infrastructure failure: provider unreachable, database unavailable, error budget exceeded.
    Infrastructure = 3,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The project files have problems; each diagnostic says where.
    #[error("the project has {} problem{}", .0.len(), if .0.len() == 1 { "" } else { "s" })]
    Invalid(Vec<Diagnostic>),
    /// A command-line argument names something that does not exist.
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A provider cannot be used at all (a missing API key variable).
    #[error("{0}")]
    ProviderSetup(crate::provider::ProviderError),
    /// Every case of a run failed with a provider error: the provider is unreachable or
    /// misconfigured.
    #[error("every one of the {cases} cases failed with a provider error (first: {first})")]
    AllFailed {
        cases: usize,
        first: String,
        /// The kind of the first error, which decides the hint.
        kind: Option<crate::provider::ErrorKind>,
    },
    #[error("cannot write `{path}`")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the runtime failed")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    RunLog(#[from] crate::runlog::LogError),
    /// A page of ours could not be drawn: one of evalgate's templates is wrong.
    #[error("{0}")]
    Render(String),
}

impl From<crate::diag::Usage> for Error {
    fn from(u: crate::diag::Usage) -> Self {
        Error::Usage {
            message: u.message,
            hint: u.hint,
        }
    }
}

impl Error {
    pub fn usage(message: impl Into<String>, hint: Option<String>) -> Self {
        Error::Usage {
            message: message.into(),
            hint,
        }
    }

    /// Every variant says whether it is bad input or an infrastructure failure.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Invalid(_) | Error::Usage { .. } => ExitStatus::InvalidInput,
            Error::ProviderSetup(e) => match e.kind {
                crate::provider::ErrorKind::MissingKey | crate::provider::ErrorKind::NoBatchApi => {
                    ExitStatus::InvalidInput
                }
                _ => ExitStatus::Infrastructure,
            },
            Error::Store(
                crate::store::StoreError::RunNotFound(_)
                | crate::store::StoreError::UnsupportedUrl(_)
                | crate::store::StoreError::RunBusy(_)
                | crate::store::StoreError::AmbiguousRun { .. },
            ) => ExitStatus::InvalidInput,
            Error::RunLog(crate::runlog::LogError::Busy { .. }) => ExitStatus::InvalidInput,
            Error::Store(_)
            | Error::RunLog(_)
            | Error::AllFailed { .. }
            | Error::Write { .. }
            | Error::Read { .. }
            | Error::Runtime(_)
            | Error::Render(_) => ExitStatus::Infrastructure,
        }
    }

    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Usage { hint, .. } => hint.clone(),
            Error::ProviderSetup(e) if e.kind == crate::provider::ErrorKind::MissingKey => {
                Some("export the variable, or run against recorded cassettes with a `replay` provider".into())
            }
            Error::ProviderSetup(e) if e.kind == crate::provider::ErrorKind::NoBatchApi => Some(
                "run without `--batch` (OpenAI serves a Batch API; llama-cpp-python, vLLM and most local servers do not)".into(),
            ),
            Error::AllFailed { kind: Some(crate::provider::ErrorKind::NoCassette), .. } => Some(
                "record the cassettes again: `evalgate run SUITE --model LIVE_MODEL --record` with a model of a live provider".into(),
            ),
            Error::AllFailed { kind: Some(crate::provider::ErrorKind::Auth), .. } => Some("check the API key the provider reads".into()),
            Error::AllFailed { .. } => Some("check that the provider is running and its `base_url` is right".into()),
            Error::Store(crate::store::StoreError::RunNotFound(_)) => Some("`evalgate runs` lists the stored runs".into()),
            Error::Store(crate::store::StoreError::AmbiguousRun { .. }) => {
                Some("give more of the id; `evalgate runs` lists the stored runs".into())
            }
            Error::Store(crate::store::StoreError::Query(_)) => Some(
                "the database refused a query: check that it is reachable and writable, with free space".into(),
            ),
            Error::Store(
                crate::store::StoreError::Open { .. } | crate::store::StoreError::UnsupportedUrl(_),
            ) => {
                Some(format!("check `{}`, or unset it to use SQLite under `.evalgate/`", crate::env::DATABASE_URL))
            }
            Error::RunLog(crate::runlog::LogError::Busy { .. })
            | Error::Store(crate::store::StoreError::RunBusy(_)) => {
                Some("wait for that run to end, or stop it (Ctrl-C), then resume it".into())
            }
            Error::RunLog(crate::runlog::LogError::Corrupt { .. }) => Some(
                "the log holds cases finished (and paid for) before the run stopped: repair that line and run again; deleting it means asking for that case again".into(),
            ),
            _ => None,
        }
    }
}
