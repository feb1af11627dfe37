//! The OpenAI-compatible chat completions backend (`POST {base_url}/chat/completions`).

use futures::StreamExt;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant, SystemTime};

use super::{ChatRequest, ChatResponse, ErrorKind, ProviderError, TokenLogprob, Usage};
use crate::config::StructuredOutput;
use crate::prompt::ResponseFormat;

pub struct OpenAi {
    http: reqwest::Client,
    base_url: String,
    api_key: Option<String>,
    structured_output: StructuredOutput,
    stream: bool,
}

/// The HTTP client every backend uses: the per-request timeout and a short connect timeout.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .user_agent(concat!("evalgate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            ProviderError::new(
                ErrorKind::Connection,
                format!("cannot build the HTTP client: {e}"),
            )
        })
}

impl OpenAi {
    pub fn new(
        base_url: String,
        api_key: Option<String>,
        structured_output: StructuredOutput,
        timeout: Duration,
        stream: bool,
    ) -> Result<Self, ProviderError> {
        Ok(OpenAi {
            http: http_client(timeout)?,
            base_url,
            api_key,
            structured_output,
            stream,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn structured_output(&self) -> StructuredOutput {
        self.structured_output
    }

    /// Adds the bearer token, when the provider has a key.
    pub fn authorized(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(key) => builder.bearer_auth(key),
            None => builder,
        }
    }

    pub async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let mut body = request_body(request, self.structured_output);
        // Log-probabilities come with a whole answer, not with a stream.
        let stream = self.stream && request.params.logprobs.is_none();
        if stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        let url = format!("{}/chat/completions", self.base_url);
        let (response, started) = self.post(&url, &body).await?;
        if stream {
            return read_stream(&url, response, started).await;
        }
        let (body, latency_ms) = read_json(&url, response, started).await?;
        parse_response(body, latency_ms)
    }

    /// `POST /embeddings` for several inputs at once: one vector per input, in input order.
    pub async fn embed(&self, model: &str, inputs: &[String]) -> Result<Embedded, ProviderError> {
        let url = format!("{}/embeddings", self.base_url);
        let body = json!({"model": model, "input": inputs});
        let (response, started) = self.post(&url, &body).await?;
        let (body, latency_ms) = read_json(&url, response, started).await?;
        parse_embeddings(&body, inputs.len(), latency_ms)
    }

    /// Posts a JSON body with the key; a status other than success is the provider's error
    /// (with its `Retry-After`). Returns the response and when the request started.
    async fn post(
        &self,
        url: &str,
        body: &Value,
    ) -> Result<(reqwest::Response, Instant), ProviderError> {
        let builder = self.authorized(self.http.post(url).json(body));
        let started = Instant::now();
        let response = builder.send().await.map_err(|e| transport_error(url, &e))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry_after(response.headers());
            let text = response.text().await.unwrap_or_default();
            return Err(status_error(status.as_u16(), &text, retry_after));
        }
        Ok((response, started))
    }
}

/// Vectors from `/embeddings`, with the tokens and the time of the request.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    pub tokens: u64,
    pub latency_ms: f64,
}

/// Reads an embeddings response: `data[i].embedding` by `index`, one flat vector per input.
pub fn parse_embeddings(
    body: &Value,
    inputs: usize,
    latency_ms: f64,
) -> Result<Embedded, ProviderError> {
    let bad = |m: String| ProviderError::new(ErrorKind::BadResponse, m);
    let data = body.get("data").and_then(Value::as_array).ok_or_else(|| {
        bad(format!(
            "embeddings response has no `data` array: {}",
            excerpt(&body.to_string())
        ))
    })?;
    if data.len() != inputs {
        return Err(bad(format!(
            "embeddings response has {} vectors for {inputs} inputs",
            data.len()
        )));
    }
    let mut vectors = vec![Vec::new(); inputs];
    for (pos, item) in data.iter().enumerate() {
        let index = item
            .get("index")
            .and_then(Value::as_u64)
            .map_or(pos, |i| i as usize);
        let values = item
            .get("embedding")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("`data[{pos}].embedding` is not an array")))?;
        if values.first().is_some_and(Value::is_array) {
            return Err(bad(
                "the server returned one vector per token, not one per input: it pools nothing (llama-cpp-python: start it with `--embedding true --kv_overrides llama.pooling_type=int:1`)".into(),
            ));
        }
        let v: Option<Vec<f32>> = values
            .iter()
            .map(|x| x.as_f64().map(|f| f as f32))
            .collect();
        let v = v.ok_or_else(|| bad(format!("`data[{pos}].embedding` holds a non-number")))?;
        if index >= inputs || !vectors[index].is_empty() {
            return Err(bad(format!("`data[{pos}].index` {index} is out of place")));
        }
        vectors[index] = v;
    }
    let dims = vectors.first().map_or(0, Vec::len);
    if dims == 0 || vectors.iter().any(|v| v.len() != dims) {
        return Err(bad(
            "embedding vectors are empty or of different lengths".into()
        ));
    }
    // An embeddings request has input tokens only: `prompt_tokens`, or `total_tokens` from a
    // server that sends no other count.
    let tokens = body
        .pointer("/usage/prompt_tokens")
        .or_else(|| body.pointer("/usage/total_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Ok(Embedded {
        vectors,
        tokens,
        latency_ms,
    })
}

/// Reads a successful response's JSON body and the time since the request started.
pub async fn read_json(
    url: &str,
    response: reqwest::Response,
    started: Instant,
) -> Result<(Value, f64), ProviderError> {
    let text = response
        .text()
        .await
        .map_err(|e| transport_error(url, &e))?;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let body = serde_json::from_str(&text).map_err(|e| {
        ProviderError::new(
            ErrorKind::BadResponse,
            format!("response body is not JSON ({e}): {}", excerpt(&text)),
        )
    })?;
    Ok((body, latency_ms))
}

/// The `Retry-After` of a response, if any.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    super::retry::parse_retry_after(value, SystemTime::now())
}

/// Reads a server-sent-event stream of chat completion chunks: the content, the time to the
/// first content token, the finish reason and the usage (when the server sends it).
async fn read_stream(
    url: &str,
    response: reqwest::Response,
    started: Instant,
) -> Result<ChatResponse, ProviderError> {
    let mut bytes = response.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut state = StreamState::default();
    let mut ended = false;
    while !ended {
        match bytes.next().await {
            Some(chunk) => buf.extend_from_slice(&chunk.map_err(|e| transport_error(url, &e))?),
            // A last line without its newline still counts.
            None => {
                buf.push(b'\n');
                ended = true;
            }
        }
        // Lines are split on bytes, so a UTF-8 character cut between chunks stays whole.
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            state.line(&String::from_utf8_lossy(&line), started)?;
        }
    }
    if !state.done {
        return Err(ProviderError::new(
            ErrorKind::BadResponse,
            format!("{url}: the stream ended before `data: [DONE]`"),
        ));
    }
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    // The assembled answer in the shape of a plain completion, as cassettes keep it.
    let body = json!({
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": state.content}, "finish_reason": state.finish_reason}],
        "usage": state.usage,
    });
    let mut response = parse_response(body, latency_ms)?;
    response.ttft_ms = state.ttft_ms;
    Ok(response)
}

/// What a server-sent-event stream has delivered so far.
#[derive(Default)]
struct StreamState {
    content: String,
    ttft_ms: Option<f64>,
    finish_reason: Option<String>,
    usage: Value,
    done: bool,
}

impl StreamState {
    fn line(&mut self, line: &str, started: Instant) -> Result<(), ProviderError> {
        let Some(data) = line.trim().strip_prefix("data:") else {
            return Ok(());
        };
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let event: Value = serde_json::from_str(data).map_err(|e| {
            ProviderError::new(
                ErrorKind::BadResponse,
                format!("bad stream event ({e}): {}", excerpt(data)),
            )
        })?;
        if let Some(choice) = event.get("choices").and_then(|c| c.get(0)) {
            // A refusal streams like content; the non-streamed path keeps it as the output too.
            for key in ["/delta/content", "/delta/refusal"] {
                if let Some(piece) = choice.pointer(key).and_then(Value::as_str) {
                    if !piece.is_empty() && self.ttft_ms.is_none() {
                        self.ttft_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
                    }
                    self.content.push_str(piece);
                }
            }
            if let Some(r) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish_reason = Some(r.to_string());
            }
        }
        if event.get("usage").is_some_and(|u| !u.is_null()) {
            self.usage = event["usage"].clone();
        }
        Ok(())
    }
}

/// The JSON body of a chat completion request.
pub fn request_body(request: &ChatRequest, mode: StructuredOutput) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("messages".into(), json!(request.messages));
    let p = &request.params;
    body.insert("temperature".into(), json!(p.temperature));
    if let Some(v) = p.max_tokens {
        body.insert("max_tokens".into(), json!(v));
    }
    if let Some(v) = p.seed {
        body.insert("seed".into(), json!(v));
    }
    if let Some(v) = p.top_p {
        body.insert("top_p".into(), json!(v));
    }
    if !p.stop.is_empty() {
        body.insert("stop".into(), json!(p.stop));
    }
    if let Some(n) = p.logprobs {
        body.insert("logprobs".into(), json!(true));
        body.insert("top_logprobs".into(), json!(n.min(20)));
    }
    if p.response_format == ResponseFormat::Json {
        let format = match (mode, &request.schema) {
            (StructuredOutput::None, _) => None,
            (StructuredOutput::JsonSchema, Some(schema)) => {
                // Strict mode requires every property to be required.
                // Strict mode requires every property to be required and no others allowed.
                let strict = schema["required"].as_array().map(Vec::len)
                    == schema["properties"].as_object().map(Map::len)
                    && schema["additionalProperties"] == json!(false);
                Some(
                    json!({"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": strict}}),
                )
            }
            (StructuredOutput::JsonObjectSchema, Some(schema)) => {
                Some(json!({"type": "json_object", "schema": schema}))
            }
            _ => Some(json!({"type": "json_object"})),
        };
        if let Some(f) = format {
            body.insert("response_format".into(), f);
        }
    }
    Value::Object(body)
}

/// Reads a chat completion body: the first choice's content, the usage and finish reason.
pub fn parse_response(body: Value, latency_ms: f64) -> Result<ChatResponse, ProviderError> {
    let bad = |m: &str| {
        ProviderError::new(
            ErrorKind::BadResponse,
            format!("{m}: {}", excerpt(&body.to_string())),
        )
    };
    let choice = body
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| bad("response has no `choices[0]`"))?;
    let message = choice
        .get("message")
        .ok_or_else(|| bad("`choices[0]` has no `message`"))?;
    let content = match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => {
            // A refusal or a tool call has no content; keep what there is as the output.
            match message.get("refusal").and_then(Value::as_str) {
                Some(r) => r.to_string(),
                None => return Err(bad("`choices[0].message.content` is missing")),
            }
        }
        Some(_) => return Err(bad("`choices[0].message.content` is not a string")),
    };
    let usage = body.get("usage");
    let count = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    let usage = Usage {
        input_tokens: count(usage.and_then(|u| u.get("prompt_tokens"))),
        cached_input_tokens: count(
            usage
                .and_then(|u| u.get("prompt_tokens_details"))
                .and_then(|d| d.get("cached_tokens")),
        ),
        output_tokens: count(usage.and_then(|u| u.get("completion_tokens"))),
    };
    let finish_reason = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .map(str::to_string);
    let logprobs = choice
        .pointer("/logprobs/content")
        .and_then(Value::as_array)
        .map(|tokens| tokens.iter().filter_map(token_logprob).collect());
    Ok(ChatResponse {
        ttft_ms: None,
        content,
        usage,
        latency_ms,
        finish_reason,
        logprobs,
        body,
    })
}

/// One entry of `choices[0].logprobs.content`.
fn token_logprob(v: &Value) -> Option<TokenLogprob> {
    let top = v
        .get("top_logprobs")
        .and_then(Value::as_array)
        .map(|alts| {
            alts.iter()
                .filter_map(|a| {
                    Some((
                        a.get("token")?.as_str()?.to_string(),
                        a.get("logprob")?.as_f64()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(TokenLogprob {
        token: v.get("token")?.as_str()?.to_string(),
        logprob: v.get("logprob")?.as_f64()?,
        top,
    })
}

pub fn status_error(status: u16, text: &str, retry_after: Option<Duration>) -> ProviderError {
    let detail = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| excerpt(text));
    let kind = match status {
        429 => ErrorKind::RateLimited,
        401 | 403 => ErrorKind::Auth,
        500..=599 => ErrorKind::ServerError,
        _ => ErrorKind::BadRequest,
    };
    ProviderError {
        status: Some(status),
        retry_after,
        ..ProviderError::new(kind, format!("HTTP {status}: {detail}"))
    }
}

pub fn transport_error(url: &str, e: &reqwest::Error) -> ProviderError {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_decode() || e.is_body() {
        ErrorKind::BadResponse
    } else {
        ErrorKind::Connection
    };
    // reqwest's Display omits the cause (connection refused, reset); add the chain.
    // The URL without its query string (where some gateways take a key).
    let shown = url.split('?').next().unwrap_or(url);
    let mut message = format!("{shown}: {}", e.to_string().replace(url, shown));
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    ProviderError::new(kind, message)
}

/// A body or message excerpt for an error: trimmed, at most 200 characters.
pub fn excerpt(s: &str) -> String {
    crate::text::clip(s.trim(), 200)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::{Message, Params, Role};

    fn request(format: ResponseFormat) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![Message {
                role: Role::User,
                content: "hi".into(),
            }],
            params: Params {
                response_format: format,
                seed: Some(3),
                max_tokens: Some(50),
                ..Params::default()
            },
            schema: Some(
                json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": false}),
            ),
        }
    }

    #[test]
    fn structured_output_modes_shape_the_body() {
        let r = request(ResponseFormat::Json);
        let b = request_body(&r, StructuredOutput::JsonSchema);
        assert_eq!(b["response_format"]["type"], "json_schema");
        assert_eq!(b["response_format"]["json_schema"]["strict"], true);
        // Extra fields allowed: OpenAI's strict mode would reject the schema.
        let mut open = r.clone();
        open.schema.as_mut().unwrap()["additionalProperties"] = json!(true);
        assert_eq!(
            request_body(&open, StructuredOutput::JsonSchema)["response_format"]["json_schema"]["strict"],
            false
        );
        let b = request_body(&r, StructuredOutput::JsonObjectSchema);
        assert_eq!(b["response_format"]["type"], "json_object");
        assert_eq!(b["response_format"]["schema"]["required"][0], "a");
        let b = request_body(&r, StructuredOutput::JsonObject);
        assert_eq!(b["response_format"], json!({"type": "json_object"}));
        assert!(
            request_body(&r, StructuredOutput::None)
                .get("response_format")
                .is_none()
        );
        assert!(
            request_body(&request(ResponseFormat::Text), StructuredOutput::JsonSchema)
                .get("response_format")
                .is_none()
        );
        assert_eq!(b["seed"], 3);
        assert_eq!(b["max_tokens"], 50);
        assert_eq!(b["messages"][0]["role"], "user");
    }

    #[test]
    fn parses_usage_including_cached_tokens() {
        let body = json!({
            "choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 64}}
        });
        let r = parse_response(body, 12.0).unwrap();
        assert_eq!(r.content, "ok");
        assert_eq!(
            r.usage,
            Usage {
                input_tokens: 100,
                cached_input_tokens: 64,
                output_tokens: 7
            }
        );
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        let err = parse_response(json!({"object": "list"}), 1.0).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadResponse);
    }

    #[test]
    fn classifies_http_errors() {
        assert_eq!(status_error(429, "", None).kind, ErrorKind::RateLimited);
        assert_eq!(status_error(503, "", None).kind, ErrorKind::ServerError);
        assert_eq!(status_error(529, "", None).kind, ErrorKind::ServerError);
        assert_eq!(status_error(401, "", None).kind, ErrorKind::Auth);
        let e = status_error(400, r#"{"error":{"message":"context too long"}}"#, None);
        assert_eq!(e.kind, ErrorKind::BadRequest);
        assert_eq!(e.message, "HTTP 400: context too long");
    }
}
