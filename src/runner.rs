//! The runner: executes a plan with bounded concurrency and commits each finished case at
//! once. It never prints: it reports progress through a callback, and the report is built
//! afterwards from what was stored.

use futures::StreamExt;
use serde_json::{Map, Value};
use std::time::Instant;

use crate::golden::Case;
use crate::plan::Plan;
use crate::provider::{ChatResponse, Client, ProviderError};
use crate::score::{self, Outcome, Output};
use crate::store::{CaseRow, RunRow, ScoreRow, Store};

/// Progress of a run, for the caller to show.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub done: usize,
    pub planned: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub cost_usd: f64,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run_id: String,
    pub progress: Progress,
    pub interrupted: bool,
    /// The first provider error, when there was one.
    pub first_error: Option<String>,
    pub first_error_kind: Option<crate::provider::ErrorKind>,
    pub elapsed_secs: f64,
}

/// What one case produced, before it is stored.
struct Finished {
    case: Case,
    request_hash: Option<String>,
    result: Result<ChatResponse, CaseError>,
}

enum CaseError {
    Render(String),
    Provider(ProviderError),
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A new run id: 12 hex digits, shown in full and accepted by unique prefix.
pub fn new_run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

/// Runs every case of a plan through `client`, committing each result to `store` as soon as
/// it is scored. Ctrl-C stops scheduling, and the run is marked interrupted.
pub async fn execute(
    plan: &Plan<'_>,
    client: &Client,
    store: &Store,
    mut on_progress: impl FnMut(&Progress),
) -> Result<RunOutcome, crate::error::Error> {
    let started = Instant::now();
    let run_id = new_run_id();
    let run = RunRow {
        id: run_id.clone(),
        suite: plan.suite.name.clone(),
        model: plan.model.name.clone(),
        model_api_name: plan.model.api_name.clone(),
        provider: plan.provider.name.clone(),
        provider_kind: plan.provider.kind.name().to_string(),
        prompt: plan.prompt.name.clone(),
        prompt_version: plan.prompt.version.clone(),
        dataset: plan.dataset.name.clone(),
        dataset_version: plan.dataset.version.clone(),
        status: "running".into(),
        planned_cases: plan.planned as i64,
        started_at: now(),
        finished_at: None,
        price_json: serde_json::to_string(&plan.model.price).unwrap_or_default(),
        scorers_json: Value::Array(plan.scorer_names()).to_string(),
        contract_json: plan
            .prompt
            .contract
            .as_ref()
            .and_then(|c| serde_json::to_string(c).ok()),
    };
    store.create_run(&run).await?;

    let cases = plan
        .dataset
        .cases()
        .map_err(|source| crate::error::Error::Read {
            path: plan.dataset.path.clone(),
            source,
        })?;
    let limit = plan.limit.unwrap_or(usize::MAX);
    let stream = futures::stream::iter(cases.take(limit))
        .map(|case| async move {
            let case = match case {
                Ok(c) => c,
                // The dataset was validated by `config::load`; a bad line now means the file
                // changed during the run.
                Err(d) => {
                    let case = Case {
                        id: format!("line-{}", d.line),
                        vars: Map::new(),
                        expected: Map::new(),
                        outcome: None,
                        base_features: None,
                        tags: Vec::new(),
                        source: None,
                    };
                    return Finished {
                        case,
                        request_hash: None,
                        result: Err(CaseError::Render(format!(
                            "dataset changed during the run: {d}"
                        ))),
                    };
                }
            };
            let request = match plan.request(&case) {
                Ok(r) => r,
                Err(e) => {
                    return Finished {
                        case,
                        request_hash: None,
                        result: Err(CaseError::Render(e.to_string())),
                    };
                }
            };
            let hash = request.hash();
            let result = client
                .chat(&request, &hash)
                .await
                .map_err(CaseError::Provider);
            Finished {
                case,
                request_hash: Some(hash),
                result,
            }
        })
        .buffer_unordered(plan.concurrency);
    futures::pin_mut!(stream);

    let mut progress = Progress {
        planned: plan.planned,
        ..Progress::default()
    };
    let mut first_error = None;
    let mut first_error_kind = None;
    let mut interrupted = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let finished = tokio::select! {
            next = stream.next() => match next {
                Some(f) => f,
                None => break,
            },
            _ = &mut ctrl_c => {
                interrupted = true;
                break;
            }
        };
        let seq = progress.done as i64;
        let (row, scores) = record(
            plan,
            &run_id,
            seq,
            finished,
            &mut first_error,
            &mut first_error_kind,
        );
        match row.status.as_str() {
            "pass" => progress.passed += 1,
            "fail" => progress.failed += 1,
            _ => progress.errors += 1,
        }
        progress.cost_usd += row.cost_usd;
        progress.done += 1;
        store.insert_case(&row, &scores).await?;
        on_progress(&progress);
    }
    let status = if interrupted {
        "interrupted"
    } else {
        "finished"
    };
    store.finish_run(&run_id, status, &now()).await?;
    Ok(RunOutcome {
        run_id,
        progress,
        interrupted,
        first_error,
        first_error_kind,
        elapsed_secs: started.elapsed().as_secs_f64(),
    })
}

/// Scores a finished case and turns it into rows.
fn record(
    plan: &Plan<'_>,
    run_id: &str,
    seq: i64,
    f: Finished,
    first_error: &mut Option<String>,
    first_error_kind: &mut Option<crate::provider::ErrorKind>,
) -> (CaseRow, Vec<ScoreRow>) {
    let case = f.case;
    let json = |v: &Map<String, Value>| Value::Object(v.clone()).to_string();
    let mut row = CaseRow {
        run_id: run_id.to_string(),
        case_id: case.id.clone(),
        repeat_index: 0,
        seq,
        status: "error".into(),
        kind: None,
        message: None,
        request_hash: f.request_hash,
        vars_json: json(&case.vars),
        expected_json: json(&case.expected),
        tags_json: serde_json::to_string(&case.tags).unwrap_or_else(|_| "[]".into()),
        output: None,
        parsed_json: None,
        input_tokens: 0,
        cached_input_tokens: 0,
        output_tokens: 0,
        cost_usd: 0.0,
        latency_ms: None,
        finished_at: now(),
    };
    let response = match f.result {
        Ok(r) => r,
        Err(CaseError::Render(m)) => {
            row.kind = Some("template".into());
            row.message = Some(m);
            return (row, Vec::new());
        }
        Err(CaseError::Provider(e)) => {
            first_error.get_or_insert_with(|| format!("{}: {}", e.kind.as_str(), e.message));
            first_error_kind.get_or_insert(e.kind);
            row.kind = Some(e.kind.as_str().into());
            row.message = Some(e.message);
            return (row, Vec::new());
        }
    };
    let usage = response.usage;
    row.input_tokens = usage.input_tokens as i64;
    row.cached_input_tokens = usage.cached_input_tokens as i64;
    row.output_tokens = usage.output_tokens as i64;
    row.cost_usd = plan.model.price.cost(
        usage.input_tokens,
        usage.cached_input_tokens,
        usage.output_tokens,
    );
    row.latency_ms = Some((response.latency_ms * 10.0).round() / 10.0);

    let contract = plan.prompt.contract.as_ref();
    let checked = contract.map(|c| c.check(&response.content));
    let parsed: Option<Map<String, Value>> = match &checked {
        Some(Ok(fields)) if !fields.is_empty() => Some(fields.clone()),
        // Keep what parses even when the contract is broken: the report shows it.
        _ => crate::contract::parse_json_output(&response.content)
            .ok()
            .and_then(|v| match v {
                Value::Object(m) => Some(m),
                _ => None,
            }),
    };
    let violation = checked.as_ref().and_then(|c| c.as_ref().err());
    let output = Output {
        text: &response.content,
        parsed: parsed.as_ref(),
        contract: checked.as_ref().map(|c| c.as_ref().map(|_| ())),
    };
    let scores = score::score_all(&plan.suite.scorers, &case, &output);
    let failed: Vec<&score::Score> = scores
        .iter()
        .filter(|s| s.outcome == Outcome::Fail)
        .collect();
    if let Some(v) = violation {
        row.status = "fail".into();
        row.kind = Some("contract".into());
        row.message = Some(v.to_string());
    } else if let Some(first) = failed.first() {
        row.status = "fail".into();
        row.kind = Some("score".into());
        row.message = Some(format!(
            "{}: {}",
            first.scorer,
            first.detail.clone().unwrap_or_default()
        ));
    } else {
        row.status = "pass".into();
    }
    if response.finish_reason.as_deref() == Some("length") && row.status != "pass" {
        let m = row.message.take().unwrap_or_default();
        row.message = Some(format!("{m} (the output hit max_tokens)"));
    }
    row.output = Some(response.content);
    row.parsed_json = parsed.map(|p| Value::Object(p).to_string());
    let score_rows = scores
        .into_iter()
        .map(|s| ScoreRow {
            case_id: case.id.clone(),
            repeat_index: 0,
            scorer: s.scorer,
            outcome: s.outcome.as_str().into(),
            detail: s.detail,
        })
        .collect();
    (row, score_rows)
}
