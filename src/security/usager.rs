//! Data access rules applied where DS results become `Dossier`s: the démarche allowlist and
//! the citizen-safe lookup (email check and per-caller attempt limit).
use std::{collections::BTreeSet, num::NonZeroU32, sync::Arc, time::Duration};

use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::constant_time_eq;
use crate::{
    config::SecurityConfig,
    error::Error,
    upstream::{FieldSet, Lookup},
};

/// Who is asking, for the attempt limit: the router-forwarded caller id, else the client IP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallerId(pub String);

/// Keys kept before idle ones are dropped: bounds the limiter's memory under a flood of ids.
const MAX_TRACKED_CALLERS: usize = 10_000;

#[derive(Clone)]
pub struct Access {
    allowed_demarches: Option<Arc<BTreeSet<i32>>>,
    attempts: Arc<DefaultKeyedRateLimiter<CallerId>>,
}

impl Default for Access {
    fn default() -> Self {
        Self::new(None, NonZeroU32::new(10).expect("non-zero"))
    }
}

impl Access {
    pub fn new(allowed_demarches: Option<BTreeSet<i32>>, per_minute: NonZeroU32) -> Self {
        Self {
            allowed_demarches: allowed_demarches.map(Arc::new),
            attempts: Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute))),
        }
    }

    pub fn from_config(config: &SecurityConfig) -> Self {
        Self::new(
            config.allowed_demarches.clone(),
            config.usager_lookup_per_minute,
        )
    }

    /// The DS fields the checks need whatever the client selected: the démarche, to apply
    /// the allowlist.
    pub fn required_fields(&self) -> FieldSet {
        if self.allowed_demarches.is_some() {
            FieldSet::DEMARCHE
        } else {
            FieldSet::CORE
        }
    }

    /// Applies the allowlist to a lookup: a dossier of another démarche, or one the token may
    /// not see, reads exactly like an unknown number. A dossier whose démarche is unknown (not
    /// fetched) is not let through.
    pub fn filter(&self, result: Lookup) -> Lookup {
        let Some(allowed) = &self.allowed_demarches else {
            return result;
        };
        match result {
            Ok(found)
                if found
                    .dossier
                    .demarche
                    .as_ref()
                    .is_some_and(|d| allowed.contains(&d.number)) =>
            {
                Ok(found)
            }
            Ok(_) | Err(Error::Forbidden) => Err(Error::NotFound),
            Err(e) => Err(e),
        }
    }

    /// Counts one `dossierForUsager` attempt of `caller`.
    pub fn attempt(&self, caller: &CallerId) -> Result<(), Error> {
        if self.attempts.len() > MAX_TRACKED_CALLERS {
            self.attempts.retain_recent();
        }
        self.attempts.check_key(caller).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            Error::RateLimited {
                retry_after: Some(Duration::from_secs(wait.as_secs() + 1)),
            }
        })
    }

    /// The dossier, only for its usager: a wrong email, an unknown number and a dossier out of
    /// the allowlist all give the same `NOT_FOUND`, after the same upstream lookup.
    pub fn for_usager(&self, looked_up: Lookup, email: &str) -> Lookup {
        match self.filter(looked_up) {
            Ok(found)
                if found
                    .dossier
                    .usager
                    .as_ref()
                    .is_some_and(|u| email_matches(email, &u.email)) =>
            {
                Ok(found)
            }
            Ok(_) | Err(Error::NotFound) | Err(Error::Forbidden) => Err(Error::NotFound),
            Err(e) => Err(e),
        }
    }
}

/// Trimmed, case-insensitive, constant-time email comparison.
pub fn email_matches(given: &str, actual: &str) -> bool {
    let given = given.trim().to_lowercase();
    let actual = actual.trim().to_lowercase();
    !actual.is_empty() & constant_time_eq(given.as_bytes(), actual.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_match_trimmed_and_case_insensitive() {
        assert!(email_matches(
            " Jeanne.Martin@Example.FR ",
            "jeanne.martin@example.fr"
        ));
        assert!(!email_matches(
            "jeanne.martin@example.f",
            "jeanne.martin@example.fr"
        ));
        assert!(!email_matches("", ""));
    }

    #[test]
    fn attempts_are_limited_per_caller() {
        let access = Access::new(None, NonZeroU32::new(2).unwrap());
        let a = CallerId("a".into());
        let b = CallerId("b".into());
        assert!(access.attempt(&a).is_ok());
        assert!(access.attempt(&a).is_ok());
        assert!(matches!(
            access.attempt(&a),
            Err(Error::RateLimited {
                retry_after: Some(_)
            })
        ));
        assert!(access.attempt(&b).is_ok());
    }
}
