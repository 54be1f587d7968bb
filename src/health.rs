//! Readiness state, fed by the DS client as answers come in, read by `/readyz` without any
//! upstream call: a probe must stay cheap, and must not spend DS's rate limit.
use std::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::{Duration, Instant},
};

#[derive(Debug)]
pub struct Health {
    epoch: Instant,
    auth_rejected: AtomicBool,
    /// Milliseconds since `epoch` (+1, so that 0 means "reachable") of the first failure in the
    /// current run of consecutive connection failures.
    down_since: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    TokenRejected,
    UpstreamDown(Duration),
}

impl Default for Health {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            auth_rejected: AtomicBool::new(false),
            down_since: AtomicU64::new(0),
        }
    }
}

impl Health {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// DS answered 200: the token works and DS is up.
    pub fn upstream_ok(&self) {
        self.auth_rejected.store(false, Ordering::Relaxed);
        self.down_since.store(0, Ordering::Relaxed);
    }

    /// DS answered with some status: it is reachable, whatever it thinks of the request.
    pub fn upstream_answered(&self) {
        self.down_since.store(0, Ordering::Relaxed);
    }

    /// DS answered 401/403: our token is invalid or expired until an answer proves otherwise.
    pub fn upstream_auth_rejected(&self) {
        self.upstream_answered();
        self.auth_rejected.store(true, Ordering::Relaxed);
    }

    /// No answer (connection refused, timeout) or a 5xx: only the first of a run is recorded.
    pub fn upstream_unreachable(&self) {
        let now = self.now();
        let _ = self
            .down_since
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Not ready while the token is known to be rejected, or DS has been unreachable for
    /// longer than `down_threshold`.
    pub fn readiness(&self, down_threshold: Duration) -> Readiness {
        if self.auth_rejected.load(Ordering::Relaxed) {
            return Readiness::TokenRejected;
        }
        match self.down_since.load(Ordering::Relaxed) {
            0 => Readiness::Ready,
            since => {
                let down = Duration::from_millis(self.now().saturating_sub(since));
                if down >= down_threshold {
                    Readiness::UpstreamDown(down)
                } else {
                    Readiness::Ready
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flips_and_recovers() {
        let h = Health::default();
        assert_eq!(h.readiness(Duration::ZERO), Readiness::Ready);
        h.upstream_auth_rejected();
        assert_eq!(h.readiness(Duration::ZERO), Readiness::TokenRejected);
        h.upstream_ok();
        h.upstream_unreachable();
        assert!(matches!(
            h.readiness(Duration::ZERO),
            Readiness::UpstreamDown(_)
        ));
        assert_eq!(h.readiness(Duration::from_secs(3600)), Readiness::Ready);
        h.upstream_answered();
        assert_eq!(h.readiness(Duration::ZERO), Readiness::Ready);
    }
}
