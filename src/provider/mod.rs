//! Providers: one request type, several backends (OpenAI-compatible HTTP, Anthropic, replay
//! of recorded cassettes), usage and cost. The only module that speaks HTTP to models.
//!
//! `Client` is what the runner (and later the judges) call. In front of the backend it puts,
//! in order: the response cache (a store table keyed by the request), the provider's limits
//! (requests and tokens per minute, adaptive concurrency), and retries with backoff and
//! `Retry-After`; behind it, when asked, the recorder that saves cassettes.

pub mod anthropic;
pub mod batch;
pub mod cassette;
pub mod limits;
pub mod openai;
pub mod replay;
pub mod retry;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Project, Provider, ProviderKind};
use crate::hash;
use crate::store::Store;
use limits::Limits;
use retry::RetryPolicy;

pub use crate::prompt::ChatRequest;

/// Token counts reported by the provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    /// Input tokens served from the provider's prompt cache (priced at the cached rate).
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatResponse {
    pub content: String,
    pub usage: Usage,
    pub latency_ms: f64,
    /// Time to the first content token, when the response was streamed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    pub finish_reason: Option<String>,
    /// The answer tokens' log-probabilities, when the request asked for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<TokenLogprob>>,
    /// The response body as received (saved in cassettes; not kept in the response cache).
    #[serde(skip)]
    pub body: Value,
}

/// One answer token with its log-probability and the most likely alternatives at its place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    #[serde(rename = "t")]
    pub token: String,
    #[serde(rename = "lp")]
    pub logprob: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<(String, f64)>,
}

pub use crate::status::ErrorKind;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub kind: ErrorKind,
    pub message: String,
    pub status: Option<u16>,
    /// The server's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    /// An error whose message (often a provider's own words, which may echo the key it was
    /// sent) carries no secret: see `secrets::redact`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            message: crate::secrets::redact(&message.into()),
            status: None,
            retry_after: None,
        }
    }
}

/// How a client uses the response cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// Read and write (the default).
    #[default]
    Use,
    /// Neither read nor write (`--no-cache`).
    Off,
    /// Do not read, but write the fresh answers (`--refresh`).
    Refresh,
}

/// A fresh answer for the response cache, for the caller to commit with its own writes.
pub type CacheEntry = crate::store::CacheRow;

/// What identifies one call for the response cache: the case it is made for, the request's
/// hash and the repeat index.
#[derive(Debug, Clone, Copy)]
pub struct CallKey<'a> {
    pub case_id: &'a str,
    pub request_hash: &'a str,
    pub repeat: u32,
}

/// The response-cache key of a call: the case id, then a hash of the provider's kind,
/// address and structured-output mode (`scope`), the request, and the repeat index (so that
/// repeats are never collapsed into one answer: each repeat was asked, and paid for, on its
/// own).
///
/// The case id leads so that a run's new entries land next to each other in the key index
/// (cases are run in dataset order) instead of on random pages: a commit of a few dozen
/// answers then rewrites a few index pages, not a few dozen. It is only a prefix for
/// locality; the hash alone identifies the answer (128 bits are plenty for a cache).
pub fn cache_key(kind: &str, scope: &str, call: CallKey<'_>) -> String {
    let hash = hash::json_hash(
        &json!({"kind": kind, "scope": scope, "request": call.request_hash, "repeat": call.repeat}),
    );
    format!("{}/{}", call.case_id, &hash[..32])
}

/// Where a provider's answers are cached: its kind, and its address with the structured
/// output mode (which changes the request body, so the answer).
pub fn cache_identity(p: &Provider) -> Option<(&'static str, String)> {
    match &p.kind {
        ProviderKind::OpenAi {
            base_url,
            structured_output,
            ..
        }
        | ProviderKind::Anthropic {
            base_url,
            structured_output,
            ..
        } => Some((p.kind.name(), format!("{base_url} {structured_output:?}"))),
        ProviderKind::Replay { .. } => None,
    }
}

/// The outcome of one call through a `Client`.
#[derive(Debug, Clone)]
pub struct Reply {
    pub response: ChatResponse,
    /// Served from the response cache: no request was made and nothing was paid.
    pub cache_hit: bool,
    /// HTTP attempts made (0 on a cache hit).
    pub attempts: u32,
    /// The entry to store in the response cache, for a fresh answer.
    pub cache_entry: Option<CacheEntry>,
    /// Answered through the Batch API (priced at the batch rate, no latency of its own).
    pub batch: bool,
}

/// The failure of a call after every attempt.
#[derive(Debug, Clone)]
pub struct Failure {
    pub error: ProviderError,
    pub attempts: u32,
}

/// A cassette that could not be written: the answer was paid for, so the call fails loudly.
fn cassette_failure(dir: &std::path::Path, e: &std::io::Error, attempts: u32) -> Failure {
    Failure {
        error: ProviderError::new(
            ErrorKind::BadResponse,
            format!("cannot write cassette in `{}`: {e}", dir.display()),
        ),
        attempts,
    }
}

enum Backend {
    OpenAi(openai::OpenAi),
    Anthropic(anthropic::Anthropic),
    Replay(replay::Replay),
}

/// A provider's backend with its cache, limits, retries and recorder. One per provider and
/// command, shared by everything that calls the provider.
pub struct Client {
    provider: String,
    kind: &'static str,
    base_url: String,
    backend: Backend,
    retry: RetryPolicy,
    limits: Limits,
    cache: Option<(Store, CacheMode)>,
    record_dir: Option<PathBuf>,
    /// Test-only: no sleep between attempts (`EVALGATE_NO_RETRY_DELAY`).
    no_delay: bool,
}

/// Options shared by the clients of one command.
#[derive(Clone, Default)]
pub struct ClientOptions {
    pub cache: Option<(Store, CacheMode)>,
    pub record_dir: Option<PathBuf>,
    /// Requests in flight at most, per provider (the adaptive limit starts here).
    pub concurrency: usize,
}

/// The clients of one command, one per provider, created on first use.
pub struct Clients {
    options: ClientOptions,
    clients: std::sync::Mutex<HashMap<String, Arc<Client>>>,
}

impl Clients {
    pub fn new(options: ClientOptions) -> Clients {
        Clients {
            options,
            clients: Default::default(),
        }
    }

    pub fn get(&self, project: &Project, provider: &str) -> Result<Arc<Client>, ProviderError> {
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| ProviderError::new(ErrorKind::Connection, "client registry poisoned"))?;
        if let Some(c) = clients.get(provider) {
            return Ok(c.clone());
        }
        let p = project.providers.get(provider).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::BadRequest,
                format!("unknown provider `{provider}`"),
            )
        })?;
        let client = Arc::new(Client::new(p, &self.options)?);
        clients.insert(provider.to_string(), client.clone());
        Ok(client)
    }
}

fn api_key(provider: &str, var: &Option<String>) -> Result<Option<String>, ProviderError> {
    match var {
        Some(var) => crate::env::secret(var).map(Some).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::MissingKey,
                format!("provider `{provider}` reads its API key from `{var}`, which is not set"),
            )
        }),
        None => Ok(None),
    }
}

impl Client {
    pub fn new(p: &Provider, options: &ClientOptions) -> Result<Client, ProviderError> {
        let (backend, base_url) = match &p.kind {
            ProviderKind::OpenAi {
                base_url,
                api_key_env,
                structured_output,
                timeout,
            } => {
                let key = api_key(&p.name, api_key_env)?;
                (
                    Backend::OpenAi(openai::OpenAi::new(
                        base_url.clone(),
                        key,
                        *structured_output,
                        *timeout,
                        p.settings.stream,
                    )?),
                    base_url.clone(),
                )
            }
            ProviderKind::Anthropic {
                base_url,
                api_key_env,
                structured_output,
                timeout,
            } => {
                let key = api_key(&p.name, api_key_env)?;
                (
                    Backend::Anthropic(anthropic::Anthropic::new(
                        base_url.clone(),
                        key,
                        *structured_output,
                        *timeout,
                    )?),
                    base_url.clone(),
                )
            }
            ProviderKind::Replay { dir } => (
                Backend::Replay(replay::Replay::new(dir.clone())),
                dir.display().to_string(),
            ),
        };
        let concurrency = p
            .settings
            .max_concurrency
            .unwrap_or(options.concurrency.max(1));
        // Replayed answers are already offline and free: no cache, no limits in front of them.
        let replay = matches!(backend, Backend::Replay(_));
        Ok(Client {
            provider: p.name.clone(),
            kind: p.kind.name(),
            // The cache scope: the address with the structured-output mode.
            base_url: cache_identity(p)
                .map(|(_, scope)| scope)
                .unwrap_or(base_url),
            backend,
            retry: p.settings.retry,
            limits: Limits::new(
                if replay {
                    None
                } else {
                    p.settings.requests_per_minute
                },
                if replay {
                    None
                } else {
                    p.settings.tokens_per_minute
                },
                concurrency,
            ),
            cache: if replay || options.record_dir.is_some() {
                None
            } else {
                options.cache.clone()
            },
            record_dir: options.record_dir.clone(),
            no_delay: crate::env::setting(crate::env::NO_RETRY_DELAY).is_some(),
        })
    }

    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// Whether responses come from recorded cassettes.
    pub fn is_replay(&self) -> bool {
        matches!(self.backend, Backend::Replay(_))
    }

    pub fn cache_key(&self, call: CallKey<'_>) -> String {
        cache_key(self.kind, &self.base_url, call)
    }

    /// Looks a request up in the response cache without calling anything.
    pub async fn cached(&self, key: &str) -> Option<ChatResponse> {
        let (store, mode) = self.cache.as_ref()?;
        if *mode != CacheMode::Use {
            return None;
        }
        let text = store.cache_get(key).await.ok()??;
        serde_json::from_str(&text).ok()
    }

    /// The OpenAI-compatible backend, for the Batch API.
    pub fn batch_api(&self) -> Option<&openai::OpenAi> {
        match &self.backend {
            Backend::OpenAi(b) => Some(b),
            _ => None,
        }
    }

    /// The cache entry of a fresh answer obtained outside `chat` (a batch result).
    pub fn cache_entry(
        &self,
        request: &ChatRequest,
        call: CallKey<'_>,
        response: &ChatResponse,
    ) -> Option<CacheEntry> {
        match &self.cache {
            Some((_, CacheMode::Use | CacheMode::Refresh)) => Some(CacheEntry {
                key: self.cache_key(call),
                provider_kind: self.kind.to_string(),
                model: request.model.clone(),
                response_json: serde_json::to_string(response).unwrap_or_default(),
            }),
            _ => None,
        }
    }

    /// Whether answers are looked up in the response cache before calling.
    pub fn reads_cache(&self) -> bool {
        matches!(self.cache, Some((_, CacheMode::Use)))
    }

    /// Looks several requests up in the response cache at once (one query), by cache key.
    pub async fn cached_many(&self, keys: &[String]) -> HashMap<String, ChatResponse> {
        let Some((store, CacheMode::Use)) = &self.cache else {
            return HashMap::new();
        };
        let Ok(found) = store.cache_get_many(keys).await else {
            return HashMap::new();
        };
        found
            .into_iter()
            .filter_map(|(k, v)| serde_json::from_str(&v).ok().map(|r| (k, r)))
            .collect()
    }

    /// Embeds inputs (one request) through the limits and retries. Only OpenAI-compatible
    /// providers serve `/embeddings`.
    pub async fn embed(&self, model: &str, inputs: &[String]) -> Result<openai::Embedded, Failure> {
        self.embed_counted(model, inputs).await.map(|(e, _)| e)
    }

    /// `embed`, with the HTTP attempts it took (none for a replay).
    pub async fn embed_counted(
        &self,
        model: &str,
        inputs: &[String],
    ) -> Result<(openai::Embedded, u32), Failure> {
        let b = match &self.backend {
            Backend::OpenAi(b) => b,
            Backend::Replay(r) => {
                return r
                    .embed(model, inputs)
                    .map(|e| (e, 0))
                    .map_err(|error| Failure { error, attempts: 0 });
            }
            Backend::Anthropic(_) => {
                return Err(Failure {
                    error: ProviderError::new(
                        ErrorKind::BadRequest,
                        format!(
                            "provider `{}` is not OpenAI-compatible, so it serves no embeddings",
                            self.provider
                        ),
                    ),
                    attempts: 0,
                });
            }
        };
        let estimate: u64 = inputs
            .iter()
            .map(|t| t.chars().count() as u64 / 4 + 1)
            .sum();
        let (embedded, attempts) = self.attempts(estimate, || b.embed(model, inputs)).await?;
        if let Some(dir) = &self.record_dir {
            cassette::write_embeddings(dir, model, inputs, &embedded)
                .map_err(|e| cassette_failure(dir, &e, attempts))?;
        }
        Ok((embedded, attempts))
    }

    /// Calls `call` through the limits until it succeeds, fails for good or has used the
    /// attempts: 429s slow the provider's limit down, retryable failures wait (backoff, or
    /// `Retry-After`) and try again. Returns the answer and the attempts made.
    async fn attempts<T, F, Fut>(&self, estimate: u64, call: F) -> Result<(T, u32), Failure>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, ProviderError>>,
    {
        let (limits, call) = (&self.limits, &call);
        retry::with_retries(&self.retry, !self.no_delay, move || async move {
            let result = {
                let _permit = limits
                    .acquire(estimate.min(u64::from(u32::MAX)) as u32)
                    .await;
                call().await
            };
            match &result {
                Ok(_) => limits.on_success(),
                Err(e) if e.kind == ErrorKind::RateLimited => limits.on_rate_limited(),
                Err(_) => {}
            }
            result
        })
        .await
        .map_err(|(error, attempts)| Failure { error, attempts })
    }

    /// The scope of this client's cached answers: its kind and address.
    pub fn scope(&self) -> String {
        format!("{} {}", self.kind, self.base_url)
    }

    /// Calls the model: cache, limits, retries, backend, recorder.
    pub async fn chat(&self, request: &ChatRequest, call: CallKey<'_>) -> Result<Reply, Failure> {
        if self.reads_cache() {
            let key = self.cache_key(call);
            if let Some(response) = self.cached(&key).await {
                return Ok(Reply {
                    response,
                    cache_hit: true,
                    attempts: 0,
                    cache_entry: None,
                    batch: false,
                });
            }
        }
        self.chat_fresh(request, call).await
    }

    /// Calls the model without looking in the cache (the caller already did), and returns
    /// the fresh answer's cache entry with it.
    pub async fn chat_fresh(
        &self,
        request: &ChatRequest,
        call: CallKey<'_>,
    ) -> Result<Reply, Failure> {
        let request_hash = call.request_hash;
        let key = self.cache.as_ref().map(|_| self.cache_key(call));
        let estimate =
            request.estimated_input_tokens() + u64::from(request.params.max_tokens.unwrap_or(256));
        let (response, attempt) = self
            .attempts(estimate, || async {
                match &self.backend {
                    Backend::OpenAi(b) => b.chat(request).await,
                    Backend::Anthropic(b) => b.chat(request).await,
                    Backend::Replay(b) => b.chat(request, request_hash, call.repeat).await,
                }
            })
            .await?;
        if let Some(dir) = &self.record_dir {
            cassette::write(dir, request_hash, call.repeat, request, &response)
                .map_err(|e| cassette_failure(dir, &e, attempt))?;
        }
        let cache_entry = match (&self.cache, key) {
            (Some((_, CacheMode::Use | CacheMode::Refresh)), Some(key)) => Some(CacheEntry {
                key,
                provider_kind: self.kind.to_string(),
                model: request.model.clone(),
                response_json: serde_json::to_string(&response).unwrap_or_default(),
            }),
            _ => None,
        };
        Ok(Reply {
            response,
            cache_hit: false,
            attempts: attempt,
            cache_entry,
            batch: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(case_id: &str, request_hash: &str, repeat: u32) -> String {
        cache_key(
            "openai",
            "http://127.0.0.1:1/v1 JsonSchema",
            CallKey {
                case_id,
                request_hash,
                repeat,
            },
        )
    }

    #[test]
    fn cache_keys_lead_with_the_case_and_keep_repeats_apart() {
        let a = key("c001", "h1", 0);
        assert!(a.starts_with("c001/"), "{a}");
        assert_eq!(a.len(), "c001/".len() + 32);
        assert_eq!(a, key("c001", "h1", 0), "the key is deterministic");
        assert_ne!(a, key("c001", "h1", 1), "a repeat is its own answer");
        assert_ne!(a, key("c001", "h2", 0), "another request is another answer");
        assert_ne!(
            a,
            cache_key(
                "anthropic",
                "http://127.0.0.1:1/v1 JsonSchema",
                CallKey {
                    case_id: "c001",
                    request_hash: "h1",
                    repeat: 0
                }
            ),
            "another provider is another answer"
        );
    }
}
