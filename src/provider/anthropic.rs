//! The Anthropic Messages API backend (`POST {base_url}/messages`).
//!
//! System messages go into the top-level `system`; JSON output is obtained by forcing a tool
//! whose input schema is the contract (structured output mode `tool`), since the API has no
//! `response_format`. Cached input tokens come from `cache_read_input_tokens`.

use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

use super::openai::{excerpt, http_client, read_json, retry_after, status_error, transport_error};
use super::{ChatRequest, ChatResponse, ErrorKind, ProviderError, Usage};
use crate::config::StructuredOutput;
use crate::prompt::{ResponseFormat, Role};

/// The API version header every request carries.
pub const API_VERSION: &str = "2023-06-01";
/// `max_tokens` is required by the API; this is used when a prompt does not set it.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;
/// The name of the forced tool that carries structured output.
const TOOL_NAME: &str = "output";

pub struct Anthropic {
    http: reqwest::Client,
    base_url: String,
    api_key: Option<String>,
    structured_output: StructuredOutput,
}

impl Anthropic {
    pub fn new(
        base_url: String,
        api_key: Option<String>,
        structured_output: StructuredOutput,
        timeout: Duration,
    ) -> Result<Self, ProviderError> {
        Ok(Anthropic {
            http: http_client(timeout)?,
            base_url,
            api_key,
            structured_output,
        })
    }

    pub async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let body = request_body(request, self.structured_output);
        let url = format!("{}/messages", self.base_url);
        let mut builder = self
            .http
            .post(&url)
            .header("anthropic-version", API_VERSION)
            .json(&body);
        if let Some(key) = &self.api_key {
            builder = builder.header("x-api-key", key);
        }
        let started = Instant::now();
        let response = builder
            .send()
            .await
            .map_err(|e| transport_error(&url, &e))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry_after(response.headers());
            let text = response.text().await.unwrap_or_default();
            return Err(status_error(status.as_u16(), &text, retry_after));
        }
        let (body, latency_ms) = read_json(&url, response, started).await?;
        parse_response(body, latency_ms)
    }
}

pub fn request_body(request: &ChatRequest, mode: StructuredOutput) -> Value {
    let system: Vec<&str> = request
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    let messages: Vec<Value> = request
        .messages
        .iter()
        .filter(|m| m.role != Role::System)
        .map(|m| json!({"role": m.role, "content": m.content}))
        .collect();
    let p = &request.params;
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert(
        "max_tokens".into(),
        json!(p.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    body.insert("messages".into(), Value::Array(messages));
    body.insert("temperature".into(), json!(p.temperature));
    if let Some(v) = p.top_p {
        body.insert("top_p".into(), json!(v));
    }
    if !p.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(p.stop));
    }
    if let (ResponseFormat::Json, StructuredOutput::Tool, Some(schema)) =
        (p.response_format, mode, &request.schema)
    {
        body.insert(
            "tools".into(),
            json!([{"name": TOOL_NAME, "description": "Record the answer in the required structure.", "input_schema": schema}]),
        );
        body.insert(
            "tool_choice".into(),
            json!({"type": "tool", "name": TOOL_NAME}),
        );
    }
    Value::Object(body)
}

pub fn parse_response(body: Value, latency_ms: f64) -> Result<ChatResponse, ProviderError> {
    let bad = |m: &str| {
        ProviderError::new(
            ErrorKind::BadResponse,
            format!("{m}: {}", excerpt(&body.to_string())),
        )
    };
    let blocks = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("response has no `content` array"))?;
    let mut content = String::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                content.push_str(block.get("text").and_then(Value::as_str).unwrap_or(""))
            }
            // The forced tool's input is the structured answer.
            Some("tool_use") => {
                content.push_str(&block.get("input").map(Value::to_string).unwrap_or_default())
            }
            _ => {}
        }
    }
    let u = body.get("usage");
    let count = |k: &str| {
        u.and_then(|u| u.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let cached = count("cache_read_input_tokens");
    // `input_tokens` excludes what was read from or written to the prompt cache.
    let usage = Usage {
        input_tokens: count("input_tokens") + cached + count("cache_creation_input_tokens"),
        cached_input_tokens: cached,
        output_tokens: count("output_tokens"),
    };
    let finish_reason = body
        .get("stop_reason")
        .and_then(Value::as_str)
        .map(|r| match r {
            "max_tokens" => "length".to_string(),
            "end_turn" | "stop_sequence" | "tool_use" => "stop".to_string(),
            other => other.to_string(),
        });
    Ok(ChatResponse {
        content,
        usage,
        latency_ms,
        ttft_ms: None,
        finish_reason,
        logprobs: None,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::{Message, Params};

    #[test]
    fn system_goes_top_level_and_the_contract_becomes_a_forced_tool() {
        let r = ChatRequest {
            model: "claude".into(),
            messages: vec![
                Message {
                    role: Role::System,
                    content: "rules".into(),
                },
                Message {
                    role: Role::User,
                    content: "hi".into(),
                },
            ],
            params: Params {
                response_format: ResponseFormat::Json,
                ..Params::default()
            },
            schema: Some(json!({"type": "object"})),
        };
        let b = request_body(&r, StructuredOutput::Tool);
        assert_eq!(b["system"], "rules");
        assert_eq!(b["messages"].as_array().unwrap().len(), 1);
        assert_eq!(b["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(b["tool_choice"]["name"], "output");
        assert!(
            request_body(&r, StructuredOutput::None)
                .get("tools")
                .is_none()
        );
    }

    #[test]
    fn parses_text_tool_use_and_cache_usage() {
        let body = json!({
            "content": [{"type": "tool_use", "id": "t", "name": "output", "input": {"intent": "bug"}}],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 90, "cache_creation_input_tokens": 0, "output_tokens": 5}
        });
        let r = parse_response(body, 1.0).unwrap();
        assert_eq!(r.content, r#"{"intent":"bug"}"#);
        assert_eq!(
            r.usage,
            Usage {
                input_tokens: 100,
                cached_input_tokens: 90,
                output_tokens: 5
            }
        );
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        let text = parse_response(
            json!({"content": [{"type": "text", "text": "hello"}], "stop_reason": "max_tokens"}),
            1.0,
        )
        .unwrap();
        assert_eq!(text.content, "hello");
        assert_eq!(text.finish_reason.as_deref(), Some("length"));
        assert_eq!(
            parse_response(json!({"error": {}}), 1.0).unwrap_err().kind,
            ErrorKind::BadResponse
        );
    }
}
