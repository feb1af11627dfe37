//! The spend limit as a promise. Before a case's request is sent, the most it can cost is
//! reserved from the budget; when it finishes, the reservation is settled with what was paid.
//! A case whose reservation the budget cannot cover is not started: the run waits for the
//! requests in flight (a settled reservation usually frees money) and stops when none is left.
//!
//! The most a case can cost is its model call plus every judge vote on its answer, each with
//! the repair round a judge may need:
//! - input tokens at 4 characters a token, scaled up by how many more the provider counted on
//!   the answers so far (a tokenizer that splits finer than the estimate);
//! - output tokens at the request's `max_tokens`, which the provider never bills beyond; a
//!   request without one is estimated at the longest answer seen so far in the run (256 tokens
//!   before the first). Only then can the run spend more than its budget, by at most what the
//!   requests in flight when the line was crossed wrote beyond that estimate.

use crate::config::Price;
use crate::golden::Case;
use crate::provider::ChatRequest;

use super::JudgeRunner;

/// Output tokens assumed for a request without `max_tokens`, before any answer was seen.
pub const DEFAULT_OUTPUT_ESTIMATE: u64 = 256;

/// The characters of the message a judge gets when its first verdict cannot be read.
const REPAIR_MESSAGE_CHARS: u64 = 400;

/// What was reserved for one case: the cost, and the token estimates the provider's counts
/// are compared with when it settles.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reservation {
    pub cost: f64,
    /// Estimated input tokens of the model call (0 for an answer from the cache).
    model_input: u64,
    /// Estimated input tokens of the judges' first rounds.
    judge_input: u64,
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
    /// the cache), then every judge vote.
    pub fn estimate(
        &self,
        price: &Price,
        case: &Case,
        request: Option<&ChatRequest>,
        judges: &[JudgeRunner],
    ) -> Reservation {
        let output_of = |max_tokens: Option<u32>, seen: Option<u64>| {
            max_tokens.map_or(seen.unwrap_or(DEFAULT_OUTPUT_ESTIMATE), u64::from)
        };
        let model_output = match request {
            Some(r) => output_of(r.params.max_tokens, self.longest_output),
            None => 0,
        };
        let mut out = Reservation::default();
        if let Some(r) = request {
            out.model_input = r.estimated_input_tokens();
            let input = (out.model_input as f64
                * Self::scale(self.model_counted, self.model_estimated))
            .ceil() as u64;
            out.cost += price.cost(input, 0, model_output);
        }
        // The answer a judge sees is at most as long as the model may write (a cached answer
        // is not known here: assume the longest).
        let answer_chars = 4 * request.map_or(
            self.longest_output.unwrap_or(DEFAULT_OUTPUT_ESTIMATE),
            |_| model_output,
        );
        for j in judges {
            let rubric = j
                .judge
                .render(&case.vars, &case.expected, "")
                .map(|messages| {
                    messages
                        .iter()
                        .map(|m| m.content.chars().count() as u64 / 4 + 4)
                        .sum::<u64>()
                })
                .unwrap_or(0);
            let first = rubric + answer_chars / 4;
            let verdict = output_of(j.judge.params.max_tokens, self.longest_verdict);
            let scale = Self::scale(self.judge_counted, self.judge_estimated);
            // The repair round sends the first round again, its answer and the repair message.
            let both_rounds = 2 * first + verdict + REPAIR_MESSAGE_CHARS / 4;
            let input = (both_rounds as f64 * scale).ceil() as u64;
            let votes = u64::from(j.votes.max(1));
            out.judge_input += first * votes;
            out.cost += votes as f64 * j.price.cost(input, 0, 2 * verdict);
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
        let mut b = Budget::new(0.001, 0.0);
        // 400 characters: 104 input tokens at $1/M, 100 output tokens at $2/M: $0.000304.
        let r = b.estimate(&price(), &case(), Some(&request(400, Some(100))), &[]);
        assert!((r.cost - 0.000304).abs() < 1e-12, "{}", r.cost);
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
    }

    #[test]
    fn an_estimate_grows_when_the_provider_counts_more_tokens() {
        let mut b = Budget::new(1.0, 0.0);
        let r = b.estimate(&price(), &case(), Some(&request(400, Some(0))), &[]);
        assert_eq!(r.model_input, 104);
        b.reserve(&r);
        b.settle(
            &r,
            &Paid {
                cost: 0.0,
                model_input: 208,
                model_output: 0,
                ..Paid::default()
            },
        );
        let again = b.estimate(&price(), &case(), Some(&request(400, Some(0))), &[]);
        assert!((again.cost - 208.0 / 1e6).abs() < 1e-12, "{}", again.cost);
    }

    #[test]
    fn without_max_tokens_the_longest_answer_seen_is_the_estimate() {
        let mut b = Budget::new(1.0, 0.0);
        let r = b.estimate(&price(), &case(), Some(&request(0, None)), &[]);
        assert!((r.cost - (4.0 + 2.0 * 256.0) / 1e6).abs() < 1e-12);
        b.reserve(&r);
        b.settle(
            &r,
            &Paid {
                cost: 0.0,
                model_input: 4,
                model_output: 10,
                ..Paid::default()
            },
        );
        let r = b.estimate(&price(), &case(), Some(&request(0, None)), &[]);
        assert!((r.cost - (4.0 + 20.0) / 1e6).abs() < 1e-12, "{}", r.cost);
        assert!(
            b.estimate(&price(), &case(), None, &[]).cost == 0.0,
            "a cached answer without judges costs nothing"
        );
    }
}
