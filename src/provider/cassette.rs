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
    // Log-probabilities in OpenAI's shape, when the answer has them.
    let logprobs = r.logprobs.as_ref().map(|tokens| {
        let content: Vec<Value> = tokens
            .iter()
            .map(|t| {
                let top: Vec<Value> = t
                    .top
                    .iter()
                    .map(|(token, lp)| serde_json::json!({"token": token, "logprob": lp}))
                    .collect();
                serde_json::json!({"token": t.token, "logprob": t.logprob, "top_logprobs": top})
            })
            .collect();
        serde_json::json!({ "content": content })
    });
    let mut choice = serde_json::json!({"index": 0, "message": {"role": "assistant", "content": r.content}, "finish_reason": r.finish_reason});
    if let Some(l) = logprobs {
        choice["logprobs"] = l;
    }
    serde_json::json!({
        "object": "chat.completion",
        "choices": [choice],
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

/// The file of one repeat of a request: repeats beyond the first (samples at a temperature)
/// are answers of their own, so each has its own cassette.
pub fn repeat_path(dir: &Path, hash: &str, repeat: u32) -> PathBuf {
    if repeat == 0 {
        path(dir, hash)
    } else {
        dir.join(format!("{}-{repeat}.json", &hash[..hash.len().min(16)]))
    }
}

/// Writes a cassette atomically (a temporary file renamed into place).
pub fn write(
    dir: &Path,
    hash: &str,
    repeat: u32,
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
    // Log-probabilities (alternatives for every token) are long: those cassettes are compact.
    let mut text = if response.logprobs.is_some() {
        serde_json::to_string(&cassette)
    } else {
        serde_json::to_string_pretty(&cassette)
    }
    .map_err(std::io::Error::other)?;
    text.push('\n');
    crate::files::replace_file(&repeat_path(dir, hash, repeat), text.as_bytes())
}

/// The cassette of a repeat of a request. A repeat that was not recorded on its own gets the
/// request's first answer (as when repeats were not recorded apart) only when `sampled` is
/// false: the same answer again is what a temperature of 0 gives, but K copies of one sample
/// would pass for K agreeing samples (a self-consistency tier fully confident).
pub fn read(
    dir: &Path,
    hash: &str,
    repeat: u32,
    sampled: bool,
) -> std::io::Result<Option<Cassette>> {
    if repeat == 0 {
        return read_file(&path(dir, hash));
    }
    match read_file(&repeat_path(dir, hash, repeat))? {
        Some(c) => Ok(Some(c)),
        None if !sampled => read_file(&path(dir, hash)),
        None => Ok(None),
    }
}

fn read_file(p: &Path) -> std::io::Result<Option<Cassette>> {
    match std::fs::read_to_string(p) {
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

/// A recorded embeddings request: the model, the inputs and the vectors. Vectors are the
/// little-endian bytes of their f32 values in base64: exact, and half the size of decimals.
#[derive(Debug, Serialize, Deserialize)]
pub struct EmbeddingCassette {
    pub format_version: u32,
    pub request_hash: String,
    pub model: String,
    pub input: Vec<String>,
    pub vectors: Vec<String>,
    pub tokens: u64,
    pub latency_ms: f64,
    pub recorded_at: String,
}

/// The hash of an embeddings request, as the cassette's name.
pub fn embeddings_hash(model: &str, inputs: &[String]) -> String {
    crate::hash::json_hash(&serde_json::json!({"embeddings": model, "input": inputs}))
}

fn encode(v: &[f32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(crate::vector::to_le_bytes(v))
}

fn decode(text: &str) -> Option<Vec<f32>> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    crate::vector::from_le_bytes(&bytes)
}

/// Writes an embeddings cassette.
pub fn write_embeddings(
    dir: &Path,
    model: &str,
    inputs: &[String],
    embedded: &super::openai::Embedded,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let hash = embeddings_hash(model, inputs);
    let cassette = EmbeddingCassette {
        format_version: FORMAT_VERSION,
        request_hash: hash.clone(),
        model: model.to_string(),
        input: inputs.to_vec(),
        vectors: embedded.vectors.iter().map(|v| encode(v)).collect(),
        tokens: embedded.tokens,
        latency_ms: (embedded.latency_ms * 10.0).round() / 10.0,
        recorded_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let mut text = serde_json::to_string_pretty(&cassette).map_err(std::io::Error::other)?;
    text.push('\n');
    crate::files::replace_file(&path(dir, &hash), text.as_bytes())
}

/// The recorded vectors of an embeddings request: None without a cassette, an error for a
/// cassette that cannot be read.
pub fn read_embeddings(
    dir: &Path,
    model: &str,
    inputs: &[String],
) -> std::io::Result<Option<super::openai::Embedded>> {
    let hash = embeddings_hash(model, inputs);
    let p = path(dir, &hash);
    let bad = |m: String| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("`{}`: {m}", p.display()),
        )
    };
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let c: EmbeddingCassette = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if c.request_hash != hash {
        return Ok(None);
    }
    let vectors: Option<Vec<Vec<f32>>> = c.vectors.iter().map(|v| decode(v)).collect();
    let vectors = vectors.ok_or_else(|| bad("a vector is not base64 of f32 values".into()))?;
    if vectors.len() != inputs.len() {
        return Err(bad(format!(
            "{} vectors for {} inputs",
            vectors.len(),
            inputs.len()
        )));
    }
    Ok(Some(super::openai::Embedded {
        vectors,
        tokens: c.tokens,
        latency_ms: c.latency_ms,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_without_its_own_cassette_replays_the_first_answer_only_when_not_sampled() {
        let dir = tempfile::tempdir().unwrap();
        let request = ChatRequest {
            model: "m".into(),
            messages: Vec::new(),
            params: crate::prompt::Params::default(),
            schema: None,
        };
        let answer = |content: &str| ChatResponse {
            content: content.into(),
            usage: super::super::Usage::default(),
            latency_ms: 1.0,
            ttft_ms: None,
            finish_reason: None,
            logprobs: None,
            body: serde_json::json!({"choices": [{"message": {"content": content}}]}),
        };
        write(dir.path(), "h1", 0, &request, &answer("first")).unwrap();
        let body =
            |c: Option<Cassette>| c.map(|c| c.response["choices"][0]["message"]["content"].clone());
        assert_eq!(
            body(read(dir.path(), "h1", 1, false).unwrap()),
            Some("first".into())
        );
        assert_eq!(body(read(dir.path(), "h1", 1, true).unwrap()), None);
        write(dir.path(), "h1", 1, &request, &answer("second")).unwrap();
        assert_eq!(
            body(read(dir.path(), "h1", 1, true).unwrap()),
            Some("second".into())
        );
        assert_eq!(
            body(read(dir.path(), "h1", 0, true).unwrap()),
            Some("first".into())
        );
        assert_eq!(body(read(dir.path(), "h2", 0, false).unwrap()), None);
    }

    #[test]
    fn embedding_cassettes_keep_vectors_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = vec!["a".to_string(), "b b".to_string()];
        let e = super::super::openai::Embedded {
            vectors: vec![vec![0.1, -2.5e-8, f32::MAX], vec![1.0, 0.0, -0.333_333_34]],
            tokens: 3,
            latency_ms: 12.34,
        };
        write_embeddings(dir.path(), "m", &inputs, &e).unwrap();
        let back = read_embeddings(dir.path(), "m", &inputs).unwrap().unwrap();
        assert_eq!(back.vectors, e.vectors);
        assert_eq!((back.tokens, back.latency_ms), (3, 12.3));
        assert!(
            read_embeddings(dir.path(), "other", &inputs)
                .unwrap()
                .is_none()
        );
    }
}
