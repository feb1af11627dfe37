//! The replay backend: answers from recorded cassettes, offline, and fails clearly on a
//! request it has no cassette for.

use std::path::PathBuf;

use super::{ChatRequest, ChatResponse, ErrorKind, ProviderError, cassette, openai};

pub struct Replay {
    dir: PathBuf,
}

impl Replay {
    pub fn new(dir: PathBuf) -> Self {
        Replay { dir }
    }

    pub async fn chat(
        &self,
        request: &ChatRequest,
        hash: &str,
        repeat: u32,
    ) -> Result<ChatResponse, ProviderError> {
        let sampled = request.params.temperature > 0.0;
        let found = cassette::read(&self.dir, hash, repeat, sampled).map_err(|e| {
            ProviderError::new(ErrorKind::BadResponse, format!("unreadable cassette {e}"))
        })?;
        let Some(c) = found.filter(|c| c.request_hash == hash) else {
            return Err(ProviderError::new(
                ErrorKind::NoCassette,
                if repeat > 0 && sampled {
                    format!(
                        "no cassette for sample {} of request {} in `{}` (sampled at temperature {}, each repeat needs its own recording); record it with `--record` against a live provider",
                        repeat + 1,
                        crate::hash::short(hash),
                        self.dir.display(),
                        request.params.temperature
                    )
                } else {
                    format!(
                        "no cassette for request {} in `{}` (the prompt, params or case changed since recording); record it with `--record` against a live provider",
                        crate::hash::short(hash),
                        self.dir.display()
                    )
                },
            ));
        };
        // The recorded latency is reported, so a replayed run shows the real model's timing.
        let mut response = openai::parse_response(c.response, c.latency_ms)?;
        response.ttft_ms = c.ttft_ms;
        Ok(response)
    }

    /// Recorded vectors for an embeddings request.
    pub fn embed(&self, model: &str, inputs: &[String]) -> Result<openai::Embedded, ProviderError> {
        let found = cassette::read_embeddings(&self.dir, model, inputs).map_err(|e| {
            ProviderError::new(ErrorKind::BadResponse, format!("unreadable cassette {e}"))
        })?;
        let Some(c) = found else {
            return Err(ProviderError::new(
                ErrorKind::NoCassette,
                format!(
                    "no cassette for these {} embedding inputs of `{model}` in `{}`; record them with `--record` against a live provider",
                    inputs.len(),
                    self.dir.display()
                ),
            ));
        };
        Ok(c)
    }
}
