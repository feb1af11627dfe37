//! Cassettes: recorded request/response pairs, one JSON file per request hash.
//!
//! A cassette holds the logical request (model, messages, params, schema), the response
//! body and the measured latency. It never holds headers, so no API key can reach it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

use super::{ChatRequest, ChatResponse};

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct Cassette {
    pub format_version: u32,
    pub request_hash: String,
    pub request: ChatRequest,
    pub response: Value,
    pub latency_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    pub recorded_at: String,
}

/// An answer in the shape of an OpenAI chat completion, whatever the provider's own shape
/// (replay reads every cassette with the same parser).
pub fn chat_completion_body(r: &ChatResponse) -> Value {
    serde_json::json!({
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": r.content}, "finish_reason": r.finish_reason}],
        "usage": {
            "prompt_tokens": r.usage.input_tokens,
            "completion_tokens": r.usage.output_tokens,
            "prompt_tokens_details": {"cached_tokens": r.usage.cached_input_tokens},
        },
    })
}

/// The file that holds the cassette of a request hash.
pub fn path(dir: &Path, hash: &str) -> PathBuf {
    dir.join(format!("{}.json", &hash[..hash.len().min(16)]))
}

/// Writes a cassette atomically (a temporary file renamed into place).
pub fn write(
    dir: &Path,
    hash: &str,
    request: &ChatRequest,
    response: &ChatResponse,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let cassette = Cassette {
        format_version: FORMAT_VERSION,
        request_hash: hash.to_string(),
        request: request.clone(),
        response: chat_completion_body(response),
        latency_ms: (response.latency_ms * 10.0).round() / 10.0,
        ttft_ms: response.ttft_ms.map(|t| (t * 10.0).round() / 10.0),
        recorded_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let target = path(dir, hash);
    // Unique per write: concurrent repeats of one request share the target name.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = target.with_extension(format!("json.tmp{}.{n}", std::process::id()));
    let mut text = serde_json::to_string_pretty(&cassette).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &target)
}

pub fn read(dir: &Path, hash: &str) -> std::io::Result<Option<Cassette>> {
    let p = path(dir, hash);
    match std::fs::read_to_string(&p) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("`{}`: {e}", p.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
