//! Providers: one request type, several backends (OpenAI-compatible HTTP, replay of recorded
//! cassettes), usage and cost. The only module that speaks HTTP to models.
//!
//! `Client` is what the runner calls: the backend plus, when asked, a recorder that saves
//! every successful exchange as a cassette for offline replay.

pub mod cassette;
pub mod openai;
pub mod replay;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::PathBuf;

use crate::config::{Project, ProviderKind};
use crate::hash;
use crate::prompt::{Message, Params};

/// One chat request, independent of the backend that serves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model id sent to the API.
    pub model: String,
    pub messages: Vec<Message>,
    pub params: Params,
    /// JSON Schema of the expected output, derived from the prompt's contract.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
}

impl ChatRequest {
    /// The request hash: the same logical request has the same hash whichever provider
    /// serves it, so a cassette recorded against a live server replays offline.
    pub fn hash(&self) -> String {
        hash::json_hash(&json!({
            "model": self.model,
            "messages": self.messages,
            "params": self.params,
            "schema": self.schema,
        }))
    }
}

/// Token counts reported by the provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    /// Input tokens served from the provider's prompt cache (priced at the cached rate).
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Clone)]
pub struct ChatResponse {
    pub content: String,
    pub usage: Usage,
    pub latency_ms: f64,
    pub finish_reason: Option<String>,
    /// The response body as received (saved in cassettes).
    pub body: Value,
}

/// Why a request failed; stored with the case as its error kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// HTTP 429.
    RateLimited,
    /// HTTP 5xx.
    ServerError,
    /// No answer within the timeout.
    Timeout,
    /// The connection could not be made or was dropped.
    Connection,
    /// HTTP 401 / 403.
    Auth,
    /// Another HTTP 4xx: the provider rejected the request.
    BadRequest,
    /// HTTP 200 with a body that is not a chat completion.
    BadResponse,
    /// Replay has no cassette for this request.
    NoCassette,
    /// The provider's API key variable is not set.
    MissingKey,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::ServerError => "server_error",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connection => "connection",
            ErrorKind::Auth => "auth",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::BadResponse => "bad_response",
            ErrorKind::NoCassette => "no_cassette",
            ErrorKind::MissingKey => "missing_key",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub kind: ErrorKind,
    pub message: String,
    pub status: Option<u16>,
}

impl ProviderError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            message: message.into(),
            status: None,
        }
    }
}

/// A backend plus the optional cassette recorder.
pub struct Client {
    backend: Backend,
    record_dir: Option<PathBuf>,
}

enum Backend {
    OpenAi(openai::OpenAi),
    Replay(replay::Replay),
}

impl Client {
    /// The client for one of the project's providers. `record_dir` saves every successful
    /// exchange as a cassette there.
    pub fn for_provider(
        project: &Project,
        provider: &str,
        record_dir: Option<PathBuf>,
    ) -> Result<Client, ProviderError> {
        let p = project.providers.get(provider).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::BadRequest,
                format!("unknown provider `{provider}`"),
            )
        })?;
        let backend = match &p.kind {
            ProviderKind::OpenAi {
                base_url,
                api_key_env,
                structured_output,
                timeout,
            } => {
                let api_key = match api_key_env {
                    Some(var) => Some(crate::env::secret(var).ok_or_else(|| {
                        ProviderError::new(
                            ErrorKind::MissingKey,
                            format!("provider `{provider}` reads its API key from `{var}`, which is not set"),
                        )
                    })?),
                    None => None,
                };
                Backend::OpenAi(openai::OpenAi::new(
                    base_url.clone(),
                    api_key,
                    *structured_output,
                    *timeout,
                )?)
            }
            ProviderKind::Replay { dir } => Backend::Replay(replay::Replay::new(dir.clone())),
        };
        Ok(Client {
            backend,
            record_dir,
        })
    }

    /// Whether responses come from recorded cassettes.
    pub fn is_replay(&self) -> bool {
        matches!(self.backend, Backend::Replay(_))
    }

    pub async fn chat(
        &self,
        request: &ChatRequest,
        hash: &str,
    ) -> Result<ChatResponse, ProviderError> {
        let response = match &self.backend {
            Backend::OpenAi(b) => b.chat(request).await?,
            Backend::Replay(b) => b.chat(request, hash).await?,
        };
        if let Some(dir) = &self.record_dir {
            cassette::write(dir, hash, request, &response).map_err(|e| {
                ProviderError::new(
                    ErrorKind::BadResponse,
                    format!("cannot write cassette in `{}`: {e}", dir.display()),
                )
            })?;
        }
        Ok(response)
    }
}
