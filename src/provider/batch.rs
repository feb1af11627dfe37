//! The OpenAI Batch API: upload a JSONL file of requests, create a batch, poll it with
//! backoff, download the results and map them back by `custom_id`. Half the price, answers
//! within 24 hours; for large backfills.

use serde_json::{Value, json};
use std::time::Duration;

use super::openai::{
    OpenAi, excerpt, parse_response, request_body, retry_after, status_error, transport_error,
};
use super::{ChatRequest, ChatResponse, ErrorKind, ProviderError};

/// The state of a batch, as the provider reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchStatus {
    pub id: String,
    /// `validating`, `in_progress`, `finalizing`, `completed`, `failed`, `expired`, `cancelling`, `cancelled`.
    pub status: String,
    pub total: u64,
    pub completed: u64,
    pub failed: u64,
    pub output_file_id: Option<String>,
    pub error_file_id: Option<String>,
}

impl BatchStatus {
    pub fn is_done(&self) -> bool {
        matches!(
            self.status.as_str(),
            "completed" | "failed" | "expired" | "cancelled"
        )
    }
}

/// One line of a batch's results: the answer or the error of one request.
#[derive(Debug)]
pub struct BatchResult {
    pub custom_id: String,
    pub result: Result<ChatResponse, ProviderError>,
}

/// One line of the input file.
pub fn input_line(custom_id: &str, request: &ChatRequest, api: &OpenAi) -> String {
    json!({
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": request_body(request, api.structured_output()),
    })
    .to_string()
}

async fn json_response(url: &str, response: reqwest::Response) -> Result<Value, ProviderError> {
    let status = response.status();
    // No such endpoint: the server has no Batch API at all.
    if matches!(status.as_u16(), 404 | 405 | 501)
        && (url.ends_with("/files") || url.ends_with("/batches"))
    {
        return Err(ProviderError::new(
            ErrorKind::NoBatchApi,
            format!(
                "`--batch` needs a Batch API, and this provider has none: POST {url} answered {status}"
            ),
        ));
    }
    if !status.is_success() {
        let after = retry_after(response.headers());
        let text = response.text().await.unwrap_or_default();
        return Err(status_error(status.as_u16(), &text, after));
    }
    let text = response
        .text()
        .await
        .map_err(|e| transport_error(url, &e))?;
    serde_json::from_str(&text).map_err(|e| {
        ProviderError::new(
            ErrorKind::BadResponse,
            format!("{url}: not JSON ({e}): {}", excerpt(&text)),
        )
    })
}

fn status_of(v: &Value) -> Result<BatchStatus, ProviderError> {
    let id = v["id"].as_str().ok_or_else(|| {
        ProviderError::new(
            ErrorKind::BadResponse,
            format!("batch without an id: {}", excerpt(&v.to_string())),
        )
    })?;
    let count = |k: &str| v["request_counts"][k].as_u64().unwrap_or(0);
    Ok(BatchStatus {
        id: id.to_string(),
        status: v["status"].as_str().unwrap_or("unknown").to_string(),
        total: count("total"),
        completed: count("completed"),
        failed: count("failed"),
        output_file_id: v["output_file_id"].as_str().map(str::to_string),
        error_file_id: v["error_file_id"].as_str().map(str::to_string),
    })
}

impl OpenAi {
    /// Uploads the input file (`purpose=batch`) and creates the batch; returns its status.
    pub async fn create_batch(&self, jsonl: String) -> Result<BatchStatus, ProviderError> {
        let url = format!("{}/files", self.base_url());
        let part = reqwest::multipart::Part::text(jsonl)
            .file_name("evalgate-batch.jsonl")
            .mime_str("application/jsonl")
            .map_err(|e| transport_error(&url, &e))?;
        let form = reqwest::multipart::Form::new()
            .text("purpose", "batch")
            .part("file", part);
        let file = json_response(
            &url,
            self.authorized(self.http().post(&url))
                .multipart(form)
                .send()
                .await
                .map_err(|e| transport_error(&url, &e))?,
        )
        .await?;
        let file_id = file["id"].as_str().ok_or_else(|| {
            ProviderError::new(ErrorKind::BadResponse, "the uploaded file has no id")
        })?;
        let url = format!("{}/batches", self.base_url());
        let body = json!({"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"});
        let batch = json_response(
            &url,
            self.authorized(self.http().post(&url))
                .json(&body)
                .send()
                .await
                .map_err(|e| transport_error(&url, &e))?,
        )
        .await?;
        status_of(&batch)
    }

    pub async fn batch_status(&self, id: &str) -> Result<BatchStatus, ProviderError> {
        let url = format!("{}/batches/{id}", self.base_url());
        status_of(
            &json_response(
                &url,
                self.authorized(self.http().get(&url))
                    .send()
                    .await
                    .map_err(|e| transport_error(&url, &e))?,
            )
            .await?,
        )
    }

    async fn file_content(&self, file_id: &str) -> Result<String, ProviderError> {
        let url = format!("{}/files/{file_id}/content", self.base_url());
        let response = self
            .authorized(self.http().get(&url))
            .send()
            .await
            .map_err(|e| transport_error(&url, &e))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(status_error(status.as_u16(), &text, None));
        }
        response.text().await.map_err(|e| transport_error(&url, &e))
    }

    /// Downloads the results of a finished batch (answers and errors).
    pub async fn batch_results(
        &self,
        status: &BatchStatus,
    ) -> Result<Vec<BatchResult>, ProviderError> {
        let mut out = Vec::new();
        for file in [&status.output_file_id, &status.error_file_id]
            .into_iter()
            .flatten()
        {
            for line in self
                .file_content(file)
                .await?
                .lines()
                .filter(|l| !l.trim().is_empty())
            {
                let v: Value = serde_json::from_str(line).map_err(|e| {
                    ProviderError::new(
                        ErrorKind::BadResponse,
                        format!("bad result line ({e}): {}", excerpt(line)),
                    )
                })?;
                let Some(custom_id) = v["custom_id"].as_str() else {
                    continue;
                };
                let code = v["response"]["status_code"].as_u64().unwrap_or(0) as u16;
                let result = if v["error"].is_object() && !v["error"].is_null() {
                    Err(ProviderError::new(
                        ErrorKind::ServerError,
                        format!("batch error: {}", excerpt(&v["error"].to_string())),
                    ))
                } else if (200..300).contains(&code) {
                    parse_response(v["response"]["body"].clone(), 0.0)
                } else {
                    Err(status_error(code, &v["response"]["body"].to_string(), None))
                };
                out.push(BatchResult {
                    custom_id: custom_id.to_string(),
                    result,
                });
            }
        }
        Ok(out)
    }
}

/// The wait before the next poll: from 1 s, times 1.5 each time, at most 60 s.
pub fn poll_delay(poll: u32) -> Duration {
    Duration::from_secs_f64((1.5f64.powi(poll.min(20) as i32)).min(60.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_delay_grows_and_is_capped() {
        assert_eq!(poll_delay(0), Duration::from_secs(1));
        assert_eq!(poll_delay(2), Duration::from_secs_f64(2.25));
        assert_eq!(poll_delay(30), Duration::from_secs(60));
    }

    #[test]
    fn reads_a_batch_status() {
        let v = json!({"id": "batch_1", "status": "in_progress", "request_counts": {"total": 3, "completed": 1, "failed": 0}, "output_file_id": null});
        let s = status_of(&v).unwrap();
        assert_eq!((s.total, s.completed, s.is_done()), (3, 1, false));
    }
}
