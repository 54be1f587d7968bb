//! DS's throttle (rack-attack): a fixed 60 s window aligned on the epoch, per raw
//! `Authorization` header; requests over the limit still count.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

const PERIOD_SECS: u64 = 60;

#[derive(Debug, Default)]
pub struct RateLimiter {
    /// 0 = off.
    limit: u32,
    windows: Mutex<HashMap<String, (u64, u32)>>,
}

/// Over the limit: when the window ends (unix epoch seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub limit: u32,
    pub reset: u64,
}

impl RateLimiter {
    pub fn new(limit: u32) -> RateLimiter {
        RateLimiter {
            limit,
            windows: Mutex::default(),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    pub fn check(&self, key: &str) -> Result<(), Throttled> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.check_at(key, now)
    }

    fn check_at(&self, key: &str, now: u64) -> Result<(), Throttled> {
        if self.limit == 0 {
            return Ok(());
        }
        let window = now / PERIOD_SECS;
        let mut windows = self.windows.lock().expect("rate limiter lock");
        let entry = windows.entry(key.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        if entry.1 > self.limit {
            Err(Throttled {
                limit: self.limit,
                reset: (window + 1) * PERIOD_SECS,
            })
        } else {
            Ok(())
        }
    }

    pub fn reset(&self) {
        self.windows.lock().expect("rate limiter lock").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_window_per_key() {
        let rl = RateLimiter::new(2);
        assert!(rl.check_at("a", 61).is_ok());
        assert!(rl.check_at("a", 62).is_ok());
        assert_eq!(
            rl.check_at("a", 119),
            Err(Throttled {
                limit: 2,
                reset: 120
            })
        );
        assert!(rl.check_at("b", 119).is_ok());
        assert!(rl.check_at("a", 120).is_ok());
        assert!(RateLimiter::new(0).check_at("a", 0).is_ok());
    }
}
