//! Per-provider limits shared by everything that calls the provider in this process: requests
//! and tokens per minute (governor), and a concurrency limit that halves when the provider
//! answers 429 and grows back by one after a window of successes (AIMD).

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct Limits {
    requests: Option<DefaultDirectRateLimiter>,
    tokens: Option<(DefaultDirectRateLimiter, u32)>,
    adaptive: Adaptive,
}

impl Limits {
    pub fn new(
        requests_per_minute: Option<u32>,
        tokens_per_minute: Option<u32>,
        concurrency: usize,
    ) -> Limits {
        let per_minute =
            |n: u32| NonZeroU32::new(n).map(|n| RateLimiter::direct(Quota::per_minute(n)));
        Limits {
            requests: requests_per_minute.and_then(per_minute),
            tokens: tokens_per_minute.and_then(|n| per_minute(n).map(|l| (l, n))),
            adaptive: Adaptive::new(concurrency),
        }
    }

    /// Waits until one more request of about `tokens` tokens may start, and holds a slot of
    /// the adaptive concurrency limit until the returned permit is dropped.
    pub async fn acquire(&self, tokens: u32) -> Permit {
        let permit = self.adaptive.acquire().await;
        if let Some(r) = &self.requests {
            r.until_ready().await;
        }
        if let Some((t, cap)) = &self.tokens {
            // A request larger than the whole minute's budget waits for the full budget.
            if let Some(n) = NonZeroU32::new(tokens.clamp(1, *cap)) {
                let _ = t.until_n_ready(n).await;
            }
        }
        permit
    }

    pub fn on_success(&self) {
        self.adaptive.on_success();
    }

    pub fn on_rate_limited(&self) {
        self.adaptive.on_rate_limited();
    }

    /// The current concurrency limit.
    pub fn concurrency(&self) -> usize {
        self.adaptive.state.lock().map(|s| s.limit).unwrap_or(1)
    }
}

struct State {
    limit: usize,
    max: usize,
    successes: usize,
    /// Permits to retire as they come back, after a decrease below the permits in use.
    debt: usize,
}

/// A semaphore whose size follows additive increase, multiplicative decrease.
struct Adaptive {
    sem: Arc<Semaphore>,
    state: Arc<Mutex<State>>,
}

/// A slot of the adaptive limit; retired instead of returned when the limit went down.
pub struct Permit {
    permit: Option<OwnedSemaphorePermit>,
    state: Arc<Mutex<State>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let (Some(p), Ok(mut s)) = (self.permit.take(), self.state.lock())
            && s.debt > 0
        {
            s.debt -= 1;
            p.forget();
        }
    }
}

impl Adaptive {
    fn new(max: usize) -> Adaptive {
        let max = max.max(1);
        Adaptive {
            sem: Arc::new(Semaphore::new(max)),
            state: Arc::new(Mutex::new(State {
                limit: max,
                max,
                successes: 0,
                debt: 0,
            })),
        }
    }

    async fn acquire(&self) -> Permit {
        let permit = self.sem.clone().acquire_owned().await.ok();
        Permit {
            permit,
            state: self.state.clone(),
        }
    }

    fn on_success(&self) {
        let Ok(mut s) = self.state.lock() else { return };
        s.successes += 1;
        if s.limit < s.max && s.successes >= s.limit {
            s.successes = 0;
            s.limit += 1;
            if s.debt > 0 {
                s.debt -= 1;
            } else {
                self.sem.add_permits(1);
            }
        }
    }

    fn on_rate_limited(&self) {
        let Ok(mut s) = self.state.lock() else { return };
        let new = (s.limit / 2).max(1);
        let remove = s.limit - new;
        s.limit = new;
        s.successes = 0;
        let forgotten = self.sem.forget_permits(remove);
        s.debt += remove - forgotten;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn concurrency_halves_on_429_and_recovers_one_step_per_window() {
        let limits = Limits::new(None, None, 8);
        assert_eq!(limits.concurrency(), 8);
        // Four requests in flight when the provider says 429: the limit halves to 4, and the
        // permits in use are retired as they come back, not handed out again.
        let held: Vec<Permit> = futures::future::join_all((0..4).map(|_| limits.acquire(1))).await;
        limits.on_rate_limited();
        assert_eq!(limits.concurrency(), 4);
        assert_eq!(limits.adaptive.sem.available_permits(), 0);
        drop(held);
        assert_eq!(limits.adaptive.sem.available_permits(), 4);
        limits.on_rate_limited();
        limits.on_rate_limited();
        limits.on_rate_limited();
        assert_eq!(limits.concurrency(), 1);
        // Additive increase: one more slot after `limit` successes.
        limits.on_success();
        assert_eq!(limits.concurrency(), 2);
        limits.on_success();
        assert_eq!(limits.concurrency(), 2);
        limits.on_success();
        assert_eq!(limits.concurrency(), 3);
        assert_eq!(limits.adaptive.sem.available_permits(), 3);
    }

    #[tokio::test]
    async fn requests_per_minute_are_enforced() {
        // A quota of 60 per minute allows a burst of 60, then one a second.
        // No clock in the test: each request of the burst is admitted on its first poll,
        // without waiting at all (a wall-clock bound would flake on a busy machine).
        use futures::FutureExt;
        let limits = Limits::new(Some(60), None, 4);
        for i in 0..60 {
            let permit = limits.acquire(1).now_or_never();
            assert!(permit.is_some(), "request {i} of the burst had to wait");
        }
        assert!(
            limits.requests.as_ref().unwrap().check().is_err(),
            "the 61st request must wait"
        );
    }
}
