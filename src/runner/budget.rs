//! The spend limit as a promise. Before a case's request is sent, the most it can cost is
//! reserved from the budget; when it finishes, the reservation is settled with what was paid.
//! A case whose reservation the budget cannot cover is not started: the run waits for the
//! requests in flight (a settled reservation usually frees money) and stops when none is left.
//!
//! The most a case can cost is its model call plus every judge vote on its answer, each with
//! the repair round a judge may need:
//! - input tokens at most the request's bytes (its messages and its schema) plus a few tokens
//!   a message for the chat template: a byte-level tokenizer (OpenAI's, Llama's) never makes
//!   more tokens than bytes. Should a provider count more than that (a hidden system prompt),
//!   the estimates grow by the ratio seen on the answers so far;
//! - output tokens at the request's `max_tokens`, which the provider never bills beyond; a
//!   request without one is estimated at the longest answer seen so far in the run (256 tokens
//!   before the first). Only then can the run spend more than its budget, by at most what the
//!   requests in flight when the line was crossed wrote beyond that estimate.
//! - a judge reads the answer: an answer from the cache by its bytes, a fresh one at 4 bytes
//!   for each token the model may write.
//! - a `similar` scorer embeds the answer (counted as a judge reads it) and the case's expected
//!   text (its bytes), each with a few tokens for the tokenizer's markers, at the embedding
//!   model's input price; a case without the expected text skips the scorer and reserves
//!   nothing for it. Should the provider count more tokens than that, the estimates grow by
//!   the ratio seen, as for the model and the judges.

use crate::config::Price;
use crate::golden::Case;
use crate::provider::ChatRequest;

use super::{JudgeRunner, SimilarityRunner};

/// Output tokens assumed for a request without `max_tokens`, before any answer was seen.
pub const DEFAULT_OUTPUT_ESTIMATE: u64 = 256;

/// The bytes of the message a judge gets when its first verdict cannot be read, besides the
/// keys of its answer it names (at most the answer's length): the problem and the shape asked
/// for.
const REPAIR_MESSAGE_BYTES: u64 = 600;

/// Tokens of the chat template around each message, and around a request, at most (and
/// around each input of an embeddings request).
const MESSAGE_OVERHEAD: u64 = 8;
const REQUEST_OVERHEAD: u64 = 16;

/// The bytes a token may stand for, when an answer's length is known only in tokens.
const BYTES_PER_OUTPUT_TOKEN: u64 = 4;

/// The most input tokens a request can be counted as (see the module's comment).
fn input_bound(request: &ChatRequest) -> u64 {
    let messages: u64 = request
        .messages
        .iter()
        .map(|m| m.content.len() as u64 + MESSAGE_OVERHEAD)
        .sum();
    let schema = request
        .schema
        .as_ref()
        .map_or(0, |s| s.to_string().len() as u64);
    messages + schema + REQUEST_OVERHEAD
}

/// What was reserved for one case: the cost, and the token estimates the provider's counts
/// are compared with when it settles.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reservation {
    pub cost: f64,
    /// Estimated input tokens of the model call (0 for an answer from the cache).
    model_input: u64,
    /// Estimated input tokens of the judges' first rounds.
    judge_input: u64,
    /// Estimated input tokens of the embeddings requests.
    embed_input: u64,
}

/// What a finished case paid, as the provider counted it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Paid {
    pub cost: f64,
    /// Input tokens of the model call (0 for an answer from the cache).
    pub model_input: u64,
    pub model_output: u64,
    /// Input tokens of the judges' calls that were paid for.
    pub judge_input: u64,
    pub judge_output_max: u64,
    /// Input tokens of the embeddings requests.
    pub embed_input: u64,
}

#[derive(Debug)]
pub struct Budget {
    limit: f64,
    /// Paid so far (a resumed run starts with what it paid before).
    paid: f64,
    /// Reserved for the cases in flight.
    reserved: f64,
    /// Estimated and counted input tokens of the settled model calls, and of the judges'.
    model_estimated: u64,
    model_counted: u64,
    judge_estimated: u64,
    judge_counted: u64,
    embed_estimated: u64,
    embed_counted: u64,
    /// The longest answer seen, for requests without `max_tokens`.
    longest_output: Option<u64>,
    longest_verdict: Option<u64>,
}

impl Budget {
    pub fn new(limit: f64, paid: f64) -> Budget {
        Budget {
            limit,
            paid,
            reserved: 0.0,
            model_estimated: 0,
            model_counted: 0,
            judge_estimated: 0,
            judge_counted: 0,
            embed_estimated: 0,
            embed_counted: 0,
            longest_output: None,
            longest_verdict: None,
        }
    }

    /// What is left once the cases in flight are paid at their worst.
    pub fn available(&self) -> f64 {
        self.limit - self.paid - self.reserved
    }

    /// Input tokens the provider counted for each one estimated (never below 1: the estimate
    /// is not trusted to be high).
    fn scale(counted: u64, estimated: u64) -> f64 {
        if estimated == 0 {
            1.0
        } else {
            (counted as f64 / estimated as f64).max(1.0)
        }
    }

    /// The most a case can cost: `request` is its model call (None when the answer comes from
    /// the cache, then `cached_answer` is that answer), then every judge vote and every
    /// `similar` scorer's embeddings.
    pub fn estimate(
        &self,
        price: &Price,
        case: &Case,
        request: Option<&ChatRequest>,
        cached_answer: Option<&str>,
        (judges, similar): (&[JudgeRunner], &[SimilarityRunner]),
    ) -> Reservation {
        let output_of = |max_tokens: Option<u32>, seen: Option<u64>| {
            max_tokens.map_or(seen.unwrap_or(DEFAULT_OUTPUT_ESTIMATE), u64::from)
        };
        let mut out = Reservation::default();
        // The bytes of the answer a judge will read.
        let mut answer_bytes = cached_answer.map_or(0, |a| a.len() as u64);
        if let Some(r) = request {
            let model_output = output_of(r.params.max_tokens, self.longest_output);
            out.model_input = input_bound(r);
            let input = (out.model_input as f64
                * Self::scale(self.model_counted, self.model_estimated))
            .ceil() as u64;
            out.cost += price.cost(input, 0, model_output);
            answer_bytes = BYTES_PER_OUTPUT_TOKEN * model_output;
        }
        for j in judges {
            let rubric = j
                .judge
                .render(&case.vars, &case.expected, "")
                .map(|messages| {
                    messages
                        .iter()
                        .map(|m| m.content.len() as u64 + MESSAGE_OVERHEAD)
                        .sum::<u64>()
                })
                .unwrap_or(0);
            let schema = j
                .judge
                .contract()
                .json_schema()
                .map_or(0, |s| s.to_string().len() as u64);
            let first = rubric + schema + answer_bytes + REQUEST_OVERHEAD;
            let verdict = output_of(j.judge.params.max_tokens, self.longest_verdict);
            let scale = Self::scale(self.judge_counted, self.judge_estimated);
            // The repair round sends the first round again, its answer and the repair message
            // (which may name every key of that answer).
            let both_rounds =
                2 * first + 2 * BYTES_PER_OUTPUT_TOKEN * verdict + REPAIR_MESSAGE_BYTES;
            let input = (both_rounds as f64 * scale).ceil() as u64;
            let votes = u64::from(j.votes.max(1));
            out.judge_input += first * votes;
            out.cost += votes as f64 * j.price.cost(input, 0, 2 * verdict);
        }
        let scale = Self::scale(self.embed_counted, self.embed_estimated);
        for s in similar {
            let Some(expected) = s.expected_text(case) else {
                continue;
            };
            let inputs = answer_bytes + expected.len() as u64 + 2 * MESSAGE_OVERHEAD;
            out.embed_input += inputs;
            out.cost += s.price.cost((inputs as f64 * scale).ceil() as u64, 0, 0);
        }
        out
    }

    /// Reserves a case's cost if the budget covers it.
    pub fn reserve(&mut self, r: &Reservation) -> bool {
        // A little slack for floating-point sums of many small amounts.
        if self.paid + self.reserved + r.cost > self.limit * (1.0 + 1e-9) {
            return false;
        }
        self.reserved += r.cost;
        true
    }

    /// Replaces a finished case's reservation with what it paid, and learns from the
    /// provider's counts.
    pub fn settle(&mut self, r: &Reservation, paid: &Paid) {
        self.reserved = (self.reserved - r.cost).max(0.0);
        self.paid += paid.cost;
        if r.model_input > 0 && paid.model_input > 0 {
            self.model_estimated += r.model_input;
            self.model_counted += paid.model_input;
            self.longest_output = Some(self.longest_output.unwrap_or(0).max(paid.model_output));
        }
        if r.embed_input > 0 && paid.embed_input > 0 {
            self.embed_estimated += r.embed_input;
            self.embed_counted += paid.embed_input;
        }
        if r.judge_input > 0 && paid.judge_input > 0 {
            self.judge_estimated += r.judge_input;
            self.judge_counted += paid.judge_input;
            self.longest_verdict =
                Some(self.longest_verdict.unwrap_or(0).max(paid.judge_output_max));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::{Message, Params, Role};

    fn price() -> Price {
        Price {
            input: 1.0,
            cached_input: 1.0,
            output: 2.0,
            batch_input: 0.5,
            batch_output: 1.0,
        }
    }

    fn request(chars: usize, max_tokens: Option<u32>) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![Message {
                role: Role::User,
                content: "x".repeat(chars),
            }],
            params: Params {
                max_tokens,
                ..Params::default()
            },
            schema: None,
        }
    }

    fn case() -> Case {
        Case {
            id: "c".into(),
            vars: Default::default(),
            expected: Default::default(),
            outcome: None,
            base_features: None,
            tags: Vec::new(),
            source: None,
        }
    }

    #[test]
    fn a_case_the_budget_cannot_cover_is_not_started() {
        let mut b = Budget::new(0.002, 0.0);
        // 400 bytes: at most 424 input tokens (with the chat template's) at $1/M, 100 output
        // tokens at $2/M: $0.000624.
        let r = b.estimate(
            &price(),
            &case(),
            Some(&request(400, Some(100))),
            None,
            (&[], &[]),
        );
        assert!((r.cost - 0.000624).abs() < 1e-12, "{}", r.cost);
        assert!(b.reserve(&r));
        assert!(b.reserve(&r));
        assert!(b.reserve(&r));
        assert!(!b.reserve(&r), "a fourth would pass the budget");
        // One finishes having paid a tenth of its reservation: a fourth now fits.
        b.settle(
            &r,
            &Paid {
                cost: 0.00003,
                model_input: 100,
                model_output: 5,
                ..Paid::default()
            },
        );
        assert!(b.reserve(&r));
        assert!(b.available() >= 0.0);
        assert!(!b.reserve(&r), "and no more");
    }

    #[test]
    fn an_estimate_grows_when_the_provider_counts_more_tokens() {
        let mut b = Budget::new(1.0, 0.0);
        let r = b.estimate(
            &price(),
            &case(),
            Some(&request(400, Some(0))),
            None,
            (&[], &[]),
        );
        assert_eq!(r.model_input, 424);
        b.reserve(&r);
        b.settle(
            &r,
            &Paid {
                cost: 0.0,
                model_input: 848,
                model_output: 0,
                ..Paid::default()
            },
        );
        let again = b.estimate(
            &price(),
            &case(),
            Some(&request(400, Some(0))),
            None,
            (&[], &[]),
        );
        assert!((again.cost - 848.0 / 1e6).abs() < 1e-12, "{}", again.cost);
    }

    #[test]
    fn without_max_tokens_the_longest_answer_seen_is_the_estimate() {
        let mut b = Budget::new(1.0, 0.0);
        let r = b.estimate(&price(), &case(), Some(&request(0, None)), None, (&[], &[]));
        assert!((r.cost - (24.0 + 2.0 * 256.0) / 1e6).abs() < 1e-12);
        b.reserve(&r);
        b.settle(
            &r,
            &Paid {
                cost: 0.0,
                model_input: 24,
                model_output: 10,
                ..Paid::default()
            },
        );
        let r = b.estimate(&price(), &case(), Some(&request(0, None)), None, (&[], &[]));
        assert!((r.cost - (24.0 + 20.0) / 1e6).abs() < 1e-12, "{}", r.cost);
        assert!(
            b.estimate(&price(), &case(), None, Some("cached"), (&[], &[]))
                .cost
                == 0.0,
            "a cached answer without judges costs nothing"
        );
    }

    /// A `similar` scorer comparing with the case's `answer`, embedding with a model priced at
    /// $1 a million input tokens (a replay client: nothing is called here).
    fn similar(dir: &std::path::Path) -> SimilarityRunner {
        let provider = crate::config::Provider {
            name: "tape".into(),
            kind: crate::config::ProviderKind::Replay { dir: dir.into() },
            settings: Default::default(),
        };
        let client = crate::provider::Client::new(&provider, &Default::default()).unwrap();
        SimilarityRunner {
            scorer: "close".into(),
            expected: crate::score::Expectation::Key("answer".into()),
            threshold: 0.8,
            negate: false,
            client: std::sync::Arc::new(client),
            model_api: "embed".into(),
            price: Price {
                input: 1.0,
                cached_input: 1.0,
                output: 0.0,
                batch_input: 0.5,
                batch_output: 0.0,
            },
        }
    }

    fn answered(answer: &str) -> Case {
        let mut c = case();
        c.expected
            .insert("answer".into(), serde_json::Value::String(answer.into()));
        c
    }

    fn free() -> Price {
        Price {
            input: 0.0,
            cached_input: 0.0,
            output: 0.0,
            batch_input: 0.0,
            batch_output: 0.0,
        }
    }

    #[test]
    fn embeddings_alone_stop_a_run_that_they_would_take_over_its_budget() {
        let dir = tempfile::tempdir().unwrap();
        let similar = [similar(dir.path())];
        let mut b = Budget::new(0.0007, 0.0);
        // The model is free. Its answer of up to 50 tokens is embedded as at most 200 bytes,
        // the expected text as its 100 bytes, 8 tokens each for the markers: 316 tokens at
        // $1/M, $0.000316 a case. Two fit in $0.0007, a third does not.
        let expected = "x".repeat(100);
        let r = b.estimate(
            &free(),
            &answered(&expected),
            Some(&request(40, Some(50))),
            None,
            (&[], &similar),
        );
        assert!((r.cost - 0.000316).abs() < 1e-12, "{}", r.cost);
        assert!(b.reserve(&r));
        assert!(b.reserve(&r));
        assert!(!b.reserve(&r), "the embeddings would pass the budget");
        // Without them the same case costs nothing and always starts.
        let bare = b.estimate(
            &free(),
            &answered(&expected),
            Some(&request(40, Some(50))),
            None,
            (&[], &[]),
        );
        assert_eq!(bare.cost, 0.0);
        assert!(b.reserve(&bare));
        // One settles having paid for 10 tokens ($0.00001): with the other still reserved,
        // $0.000326 is spoken for, so a third fits ($0.000642) and a fourth does not.
        b.settle(
            &r,
            &Paid {
                cost: 0.00001,
                embed_input: 10,
                ..Paid::default()
            },
        );
        assert!(b.reserve(&r));
        assert!(!b.reserve(&r));
        assert!(b.available() >= 0.0);
    }

    #[test]
    fn an_embedding_estimate_reads_a_cached_answer_and_skips_a_case_without_its_text() {
        let dir = tempfile::tempdir().unwrap();
        let similar = [similar(dir.path())];
        let b = Budget::new(1.0, 0.0);
        // A cached answer of 30 bytes and an expected text of 10: 30 + 10 + 16 tokens.
        let r = b.estimate(
            &free(),
            &answered("0123456789"),
            None,
            Some(&"a".repeat(30)),
            (&[], &similar),
        );
        assert!((r.cost - 56.0 / 1e6).abs() < 1e-12, "{}", r.cost);
        // A case without `answer` skips the scorer, so nothing is embedded.
        let r = b.estimate(&free(), &case(), None, Some("cached"), (&[], &similar));
        assert_eq!(r.cost, 0.0);
    }

    #[test]
    fn an_embedding_estimate_grows_when_the_provider_counts_more_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let similar = [similar(dir.path())];
        let mut b = Budget::new(1.0, 0.0);
        let r = b.estimate(
            &free(),
            &answered("0123456789"),
            None,
            Some(&"a".repeat(30)),
            (&[], &similar),
        );
        b.reserve(&r);
        // The provider counted 112 tokens for the 56 estimated: twice as many.
        b.settle(
            &r,
            &Paid {
                cost: 112.0 / 1e6,
                embed_input: 112,
                ..Paid::default()
            },
        );
        let again = b.estimate(
            &free(),
            &answered("0123456789"),
            None,
            Some(&"a".repeat(30)),
            (&[], &similar),
        );
        assert!((again.cost - 112.0 / 1e6).abs() < 1e-12, "{}", again.cost);
    }
}
