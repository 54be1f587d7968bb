//! Our own pace toward DS: a token bucket shared by every upstream call, a pause that a 429
//! imposes on all of them, and the budget that keeps retries from multiplying load.
use std::{
    num::NonZeroU32,
    sync::Mutex,
    time::{Duration, Instant},
};

use governor::{clock::Clock, DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::error::Error;

/// A DS reset further away than this is probably a wrong clock: pause this long, then try.
const MAX_PAUSE: Duration = Duration::from_secs(120);

pub struct UpstreamLimiter {
    bucket: DefaultDirectRateLimiter,
    paused_until: Mutex<Option<Instant>>,
}

impl UpstreamLimiter {
    /// `per_minute` sets the pace, `burst` how many calls may start at once. DS counts 400 per
    /// fixed minute, so `burst + per_minute` must stay under 400 (the defaults give 380).
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        Self {
            bucket: RateLimiter::direct(quota),
            paused_until: Mutex::new(None),
        }
    }

    /// Waits for a token (and for the end of a 429 pause); returns how long it waited. Fails
    /// at once with `UpstreamRateLimited` when the wait would end after `deadline`.
    pub async fn acquire(&self, deadline: Instant) -> Result<Duration, Error> {
        let started = Instant::now();
        let mut slept = false;
        loop {
            let now = Instant::now();
            if let Some(until) = self.paused_until() {
                if until > deadline {
                    return Err(Error::UpstreamRateLimited {
                        retry_after: Some(until - now),
                    });
                }
                tokio::time::sleep_until(until.into()).await;
                slept = true;
                continue;
            }
            let wait = match self.bucket.check() {
                Ok(()) if slept => return Ok(started.elapsed()),
                Ok(()) => return Ok(Duration::ZERO),
                Err(not_until) => not_until.wait_time_from(self.bucket.clock().now()),
            };
            if now + wait > deadline {
                return Err(Error::UpstreamRateLimited {
                    retry_after: Some(wait),
                });
            }
            // Waiters woken together would race for the same token: spread them a little.
            let jitter = Duration::from_millis(fastrand::u64(0..=5));
            tokio::time::sleep(wait + jitter).await;
            slept = true;
        }
    }

    /// DS answered 429: no upstream call until `retry_after` has passed.
    pub fn pause(&self, retry_after: Duration) {
        let until = Instant::now() + retry_after.min(MAX_PAUSE);
        let mut paused = self.paused_until.lock().expect("limiter lock");
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }

    fn paused_until(&self) -> Option<Instant> {
        let mut paused = self.paused_until.lock().expect("limiter lock");
        match *paused {
            Some(until) if until > Instant::now() => Some(until),
            _ => {
                *paused = None;
                None
            }
        }
    }
}

/// Retries allowed per minute across all requests: during an outage, every first attempt
/// fails, and unbounded retries would multiply the load on a DS that is trying to recover.
pub struct RetryBudget(Option<DefaultDirectRateLimiter>);

impl RetryBudget {
    pub fn new(per_minute: u32) -> Self {
        Self(NonZeroU32::new(per_minute).map(|n| RateLimiter::direct(Quota::per_minute(n))))
    }

    /// Takes one retry from the budget; false when it is spent.
    pub fn withdraw(&self) -> bool {
        self.0.as_ref().is_some_and(|b| b.check().is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_empty_bucket_fails_fast_past_the_deadline() {
        let limiter = UpstreamLimiter::new(60, 2);
        let soon = Instant::now() + Duration::from_millis(100);
        assert!(limiter.acquire(soon).await.is_ok());
        assert!(limiter.acquire(soon).await.is_ok());
        // The next token is a second away: past the deadline, so no wait at all.
        assert!(matches!(
            limiter.acquire(soon).await,
            Err(Error::UpstreamRateLimited {
                retry_after: Some(_)
            })
        ));
    }

    #[tokio::test]
    async fn a_pause_holds_every_call() {
        let limiter = UpstreamLimiter::new(6000, 100);
        limiter.pause(Duration::from_secs(30));
        let err = limiter
            .acquire(Instant::now() + Duration::from_secs(5))
            .await
            .unwrap_err();
        let Error::UpstreamRateLimited {
            retry_after: Some(d),
        } = err
        else {
            panic!("{err:?}");
        };
        assert!(d > Duration::from_secs(25) && d <= Duration::from_secs(30));
    }

    #[test]
    fn the_retry_budget_runs_out() {
        let budget = RetryBudget::new(3);
        let granted = (0..10).filter(|_| budget.withdraw()).count();
        assert_eq!(granted, 3);
        assert!(!RetryBudget::new(0).withdraw());
    }
}
