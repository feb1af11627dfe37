//! Pairwise comparison of two runs by a judge: each case's two answers are judged in both
//! orders (base as A, then candidate as A), so that a judge's preference for a position
//! cannot pass for a preference for an answer. A verdict that flips with the order is a tie,
//! and counted as position bias.

use serde_json::{Map, Value};
use std::collections::HashMap;

use crate::provider::{CallKey, ChatRequest, Client};
use serde::{Deserialize, Serialize};

use crate::judge::{Judge, Winner};
use crate::stats;
use crate::stats::Proportion;
use crate::store::{CaseRow, RunRow};

/// The outcome of one case, from the candidate's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Win,
    Tie,
    Loss,
}

/// One judged pair.
#[derive(Debug, Clone)]
pub struct Pair {
    pub case_id: String,
    /// `None`: a judge error (an unreadable verdict or a failed call) in either order.
    pub side: Option<Side>,
    /// The two orders disagreed because the judge picked the same position both times.
    pub position_biased: bool,
    pub reason: String,
    /// The raw verdict of each order (base first, candidate first): the winner or the error.
    pub orders: [Result<(Winner, String), String>; 2],
}

/// A pairwise judge with its client and price.
pub struct PairJudge<'a> {
    pub judge: &'a Judge,
    pub client: &'a Client,
    pub model_api: String,
    pub price: crate::config::Price,
}

/// Totals of the judge calls, and the fresh answers for the response cache.
#[derive(Debug, Default, Clone)]
pub struct Spend {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub calls: u64,
    pub cache_hits: u64,
    pub cache: Vec<crate::store::CacheRow>,
}

fn object(text: &str) -> Map<String, Value> {
    serde_json::from_str(text).unwrap_or_default()
}

/// Asks for one verdict with `a` and `b` in these positions; one retry on an unreadable one.
async fn ask(
    j: &PairJudge<'_>,
    case_id: &str,
    vars: &Map<String, Value>,
    expected: &Map<String, Value>,
    a: &str,
    b: &str,
    spend: &mut Spend,
) -> Result<(Winner, String), String> {
    let messages = j
        .judge
        .render_pair(vars, expected, a, b)
        .map_err(|e| format!("the rubric failed: {e}"))?;
    let mut request = ChatRequest {
        model: j.model_api.clone(),
        messages,
        params: j.judge.params.clone(),
        schema: j.judge.contract().json_schema(),
    };
    let mut problem = String::new();
    for round in 0..2 {
        let hash = request.hash();
        let reply = j
            .client
            .chat(
                &request,
                CallKey {
                    case_id,
                    request_hash: &hash,
                    repeat: 0,
                },
            )
            .await
            .map_err(|f| {
                format!(
                    "the judge call failed: {}: {}",
                    f.error.kind.as_str(),
                    f.error.message
                )
            })?;
        let u = reply.response.usage;
        spend.calls += 1;
        spend.cache_hits += u64::from(reply.cache_hit);
        spend.input_tokens += u.input_tokens;
        spend.output_tokens += u.output_tokens;
        if !reply.cache_hit {
            spend.cost_usd += j
                .price
                .cost(u.input_tokens, u.cached_input_tokens, u.output_tokens);
        }
        spend.cache.extend(reply.cache_entry);
        match j.judge.parse_pair(&reply.response.content) {
            Ok(v) => return Ok(v),
            Err(p) if round == 0 => {
                request.messages.push(crate::prompt::Message {
                    role: crate::prompt::Role::Assistant,
                    content: reply.response.content,
                });
                request.messages.push(j.judge.repair(&p));
                problem = p;
            }
            Err(p) => problem = p,
        }
    }
    Err(format!("no readable verdict after a retry: {problem}"))
}

/// Judges every case both runs answered (the first repeat of each), in both orders.
pub async fn judge_pairs(
    j: &PairJudge<'_>,
    base: &[CaseRow],
    cand: &[CaseRow],
    mut on_pair: impl FnMut(usize),
) -> (Vec<Pair>, Spend) {
    let cand_by_id: HashMap<&str, &CaseRow> = cand
        .iter()
        .filter(|c| c.repeat_index == 0)
        .map(|c| (c.case_id.as_str(), c))
        .collect();
    let mut spend = Spend::default();
    let mut pairs = Vec::new();
    for b in base.iter().filter(|c| c.repeat_index == 0) {
        let (Some(c), Some(base_out)) = (cand_by_id.get(b.case_id.as_str()), b.output.as_deref())
        else {
            continue;
        };
        let Some(cand_out) = c.output.as_deref() else {
            continue;
        };
        let (vars, expected) = (object(&b.vars_json), object(&b.expected_json));
        // Order 1: base is A. Order 2: candidate is A.
        let first = ask(
            j, &b.case_id, &vars, &expected, base_out, cand_out, &mut spend,
        )
        .await;
        let second = ask(
            j, &b.case_id, &vars, &expected, cand_out, base_out, &mut spend,
        )
        .await;
        let orders = [first.clone(), second.clone()];
        let pair = match (first, second) {
            (Ok((w1, r1)), Ok((w2, _))) => {
                let side1 = match w1 {
                    Winner::A => Side::Loss,
                    Winner::B => Side::Win,
                    Winner::Tie => Side::Tie,
                };
                let side2 = match w2 {
                    Winner::A => Side::Win,
                    Winner::B => Side::Loss,
                    Winner::Tie => Side::Tie,
                };
                let consistent = side1 == side2;
                // The same position chosen in both orders: a preference for the slot.
                let position_biased = !consistent && w1 == w2 && w1 != Winner::Tie;
                Pair {
                    case_id: b.case_id.clone(),
                    side: Some(if consistent { side1 } else { Side::Tie }),
                    position_biased,
                    reason: r1,
                    orders: orders.clone(),
                }
            }
            (Err(e), _) | (_, Err(e)) => Pair {
                orders,
                case_id: b.case_id.clone(),
                side: None,
                position_biased: false,
                reason: e,
            },
        };
        pairs.push(pair);
        on_pair(pairs.len());
    }
    (pairs, spend)
}

/// The pairwise report of two runs.
pub fn summarize(
    base: &RunRow,
    cand: &RunRow,
    judge: &Judge,
    pairs: &[Pair],
    spend: &Spend,
) -> PairwiseReport {
    let decided: Vec<Side> = pairs.iter().filter_map(|p| p.side).collect();
    let n = decided.len() as u64;
    let count = |s: Side| decided.iter().filter(|d| **d == s).count() as u64;
    let biased = pairs.iter().filter(|p| p.position_biased).count() as u64;
    PairwiseReport {
        base_run: base.id.clone(),
        base_model: base.model.clone(),
        candidate_run: cand.id.clone(),
        candidate_model: cand.model.clone(),
        judge: judge.name.clone(),
        judge_version: judge.version.clone(),
        pairs: pairs.len() as u64,
        wins: stats::wilson(count(Side::Win), n),
        ties: stats::wilson(count(Side::Tie), n),
        losses: stats::wilson(count(Side::Loss), n),
        position_bias: stats::wilson(biased, n),
        judge_errors: pairs.iter().filter(|p| p.side.is_none()).count() as u64,
        judge_calls: spend.calls,
        judge_cache_hits: spend.cache_hits,
        judge_input_tokens: spend.input_tokens,
        judge_output_tokens: spend.output_tokens,
        judge_cost_usd: spend.cost_usd,
    }
}

/// The verdicts of a comparison as rows to store: two a case, one per order.
pub fn verdict_rows(
    base: &RunRow,
    cand: &RunRow,
    j: &PairJudge<'_>,
    pairs: &[Pair],
) -> Vec<crate::store::PairwiseVerdictRow> {
    let mut rows = Vec::with_capacity(pairs.len() * 2);
    for p in pairs {
        for (candidate_first, order) in p.orders.iter().enumerate() {
            let (winner, reason) = match order {
                Ok((w, r)) => (
                    Some(
                        match w {
                            Winner::A => "A",
                            Winner::B => "B",
                            Winner::Tie => "tie",
                        }
                        .to_string(),
                    ),
                    r.clone(),
                ),
                Err(e) => (None, e.clone()),
            };
            rows.push(crate::store::PairwiseVerdictRow {
                base_run: base.id.to_string(),
                candidate_run: cand.id.to_string(),
                case_id: p.case_id.clone(),
                judge: j.judge.name.clone(),
                judge_version: j.judge.version.clone(),
                judge_model: j.model_api.clone(),
                candidate_first: candidate_first as i64,
                winner,
                reason: Some(reason),
            });
        }
    }
    rows
}

/// A pairwise comparison of two runs by a judge, from the candidate's side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairwiseReport {
    pub base_run: crate::id::RunId,
    pub base_model: String,
    pub candidate_run: crate::id::RunId,
    pub candidate_model: String,
    pub judge: String,
    pub judge_version: String,
    /// Cases both runs answered.
    pub pairs: u64,
    /// Out of the pairs with a readable verdict in both orders.
    pub wins: Proportion,
    pub ties: Proportion,
    pub losses: Proportion,
    /// Pairs whose verdict flipped with the order because the judge chose the same position.
    pub position_bias: Proportion,
    pub judge_errors: u64,
    pub judge_calls: u64,
    pub judge_cache_hits: u64,
    pub judge_input_tokens: u64,
    pub judge_output_tokens: u64,
    pub judge_cost_usd: f64,
}
