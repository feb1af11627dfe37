//! Retries: which failures are worth another attempt, how long to wait, and `Retry-After`.

use std::time::{Duration, SystemTime};

use super::{ErrorKind, ProviderError};

pub use crate::config::spec::RetryPolicy;

/// Failures that may succeed when tried again: rate limits, server errors, timeouts, dropped
/// connections and garbled bodies. A rejected request (4xx), a missing key or a missing
/// cassette will fail the same way every time.
pub fn is_retryable(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::RateLimited
            | ErrorKind::ServerError
            | ErrorKind::Timeout
            | ErrorKind::Connection
            | ErrorKind::BadResponse
    )
}

/// The one retry loop. Calls `call` until it succeeds, fails in a way another attempt cannot
/// mend (`is_retryable`), or has made `policy.max_attempts` attempts; between attempts it
/// waits `policy.delay` (unless `wait` is false: tests). Returns the answer or the last
/// error, each with the attempts made.
pub async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    wait: bool,
    mut call: F,
) -> Result<(T, u32), (ProviderError, u32)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call().await {
            Ok(answer) => return Ok((answer, attempt)),
            Err(e) if attempt < policy.max_attempts && is_retryable(e.kind) => {
                if wait {
                    tokio::time::sleep(policy.delay(attempt, e.retry_after)).await;
                }
            }
            Err(e) => return Err((e, attempt)),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (attempt counts from 1): the server's
    /// `Retry-After` when it gave one (capped at `max_delay`), else exponential backoff with
    /// "equal jitter": half the capped exponential delay, plus a uniform random part of up to
    /// the other half. (Not "full jitter", which draws from zero to the cap: equal jitter keeps
    /// a floor, so a retry never comes back at once, while still spreading clients out.)
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            return d.min(self.max_delay);
        }
        let exp = self
            .base_delay
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16));
        let cap = exp.min(self.max_delay);
        let half = cap / 2;
        half + Duration::from_secs_f64(half.as_secs_f64() * fastrand::f64())
    }
}

/// Parses a `Retry-After` header: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        // A huge value is not an error to crash on: `delay` caps it at `max_delay` anyway.
        return (secs >= 0.0).then(|| Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after(" 0.5 ", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        // A date in the past means: now.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("1e30", now), Some(Duration::MAX));
        assert_eq!(parse_retry_after("NaN", now), None);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        for _ in 0..50 {
            let d1 = p.delay(1, None);
            assert!(
                d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
                "{d1:?}"
            );
            let d2 = p.delay(2, None);
            assert!(
                d2 >= Duration::from_millis(100) && d2 <= Duration::from_millis(200),
                "{d2:?}"
            );
            let d5 = p.delay(5, None);
            assert!(
                d5 >= Duration::from_millis(175) && d5 <= Duration::from_millis(350),
                "{d5:?}"
            );
        }
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(9))),
            Duration::from_millis(350)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_millis(20))),
            Duration::from_millis(20)
        );
    }

    #[tokio::test]
    async fn the_loop_stops_at_success_at_a_lasting_failure_or_at_the_last_attempt() {
        let policy = RetryPolicy {
            max_attempts: 4,
            ..Default::default()
        };
        let calls = std::cell::Cell::new(0u32);
        let failing = |kind| {
            let calls = &calls;
            move || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    if n < 3 {
                        Err(ProviderError::new(kind, "no"))
                    } else {
                        Ok(n)
                    }
                }
            }
        };
        assert_eq!(
            with_retries(&policy, false, failing(ErrorKind::ServerError))
                .await
                .unwrap(),
            (3, 3)
        );
        calls.set(0);
        let (e, attempts) = with_retries(&policy, false, failing(ErrorKind::BadRequest))
            .await
            .unwrap_err();
        assert_eq!((e.kind, attempts), (ErrorKind::BadRequest, 1));
        calls.set(0);
        let short = RetryPolicy {
            max_attempts: 2,
            ..Default::default()
        };
        let (e, attempts) = with_retries(&short, false, failing(ErrorKind::Timeout))
            .await
            .unwrap_err();
        assert_eq!((e.kind, attempts), (ErrorKind::Timeout, 2));
    }

    #[test]
    fn only_transient_failures_are_retried() {
        assert!(is_retryable(ErrorKind::RateLimited));
        assert!(is_retryable(ErrorKind::Timeout));
        assert!(!is_retryable(ErrorKind::BadRequest));
        assert!(!is_retryable(ErrorKind::NoCassette));
    }
}
