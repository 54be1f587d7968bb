//! Fault injection, driven over HTTP so that tests in another process can use it too.
//!
//! `POST /mock/faults` with a JSON object; every key is optional and only the keys present
//! change the current faults (the others stay as they were):
//!
//! ```json
//! {
//!   "status": 503,          // answer GraphQL POSTs with this status and DS's exact body for it:
//!                           //   500 internal_error (fresh exception_id), 503 maintenance_mode,
//!                           //   401 expired_token, 403 invalid token, 429 rate limited (plain
//!                           //   text + RateLimit-* headers), 400 bad_request,
//!                           //   301/302/307/308 redirect to the API URL,
//!                           //   anything else: a proxy-style HTML error page
//!   "body": "html",         // "html" (an HTML page, text/html), "malformed" (truncated JSON),
//!                           //   "unexpected" (valid JSON that is not a GraphQL response:
//!                           //   {"foo":1}); status 200 unless "status" is given too
//!   "times": 2,             // the status/body fault above serves the next N GraphQL POSTs only,
//!                           //   then clears itself (absent: until reset)
//!   "latency_ms": 250,      // extra latency before each GraphQL answer
//!   "poison": [1000003],    // a document asking for one of these numbers fails as a whole:
//!                           //   HTTP 500 + internal_error body (an error without a path)
//!   "poison_status": 200,   // 200: poisoned documents get DS's other whole-document failure
//!                           //   instead, HTTP 200 + an invalid_null error without a path
//!                           //   and "data": null (500, the default, restores the above)
//!   "location": "http://x/", // where an injected 3xx points (default: the mock's own API URL),
//!                           //   e.g. another host, as DS's transitional domain does
//!   "retry_after": 30,      // 429 answers also carry `Retry-After: 30`, as a proxy in front
//!                           //   of DS would (DS itself only sends RateLimit-Reset)
//!   "timeout": [1000004],   // these numbers fail with "Timeout on Query.dossier", code
//!                           //   "timeout", path [alias] (so data is null, HTTP 200)
//!   "expired": true         // the (valid) token is treated as expired: 401 "Token expired"
//! }
//! ```
//!
//! `GET /mock/faults` shows the current faults, `DELETE /mock/faults` clears them, and
//! `POST /mock/reset` clears them along with the stats. An unknown key is a 400, so that a typo
//! in a test does not silently inject nothing.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyFault {
    Html,
    Malformed,
    Unexpected,
}

/// The request body of `POST /mock/faults`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub status: Option<u16>,
    pub body: Option<BodyFault>,
    pub times: Option<u32>,
    pub latency_ms: Option<u64>,
    pub poison: Option<Vec<i32>>,
    pub poison_status: Option<u16>,
    pub location: Option<String>,
    pub retry_after: Option<u64>,
    pub timeout: Option<Vec<i32>>,
    pub expired: Option<bool>,
}

/// A fault that replaces the whole HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseFault {
    pub status: Option<u16>,
    pub body: Option<BodyFault>,
}

/// The faults in force.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Faults {
    pub status: Option<u16>,
    pub body: Option<BodyFault>,
    /// How many more GraphQL POSTs the status/body fault serves; `None` = until reset.
    pub remaining: Option<u32>,
    pub latency_ms: u64,
    pub poison: BTreeSet<i32>,
    /// 200: poisoned documents fail with DS's invalid_null error instead of a 500.
    pub poison_status: Option<u16>,
    /// Where an injected redirect points; `None`: the mock's own API URL.
    pub location: Option<String>,
    pub retry_after: Option<u64>,
    pub timeout: BTreeSet<i32>,
    pub expired: bool,
}

impl Faults {
    pub fn apply(&mut self, spec: FaultSpec) {
        if spec.status.is_some() || spec.body.is_some() {
            self.status = spec.status;
            self.body = spec.body;
            self.remaining = spec.times;
        } else if spec.times.is_some() {
            self.remaining = spec.times;
        }
        if let Some(ms) = spec.latency_ms {
            self.latency_ms = ms;
        }
        if let Some(p) = spec.poison {
            self.poison = p.into_iter().collect();
        }
        if let Some(s) = spec.poison_status {
            self.poison_status = Some(s);
        }
        if let Some(l) = spec.location {
            self.location = Some(l);
        }
        if let Some(r) = spec.retry_after {
            self.retry_after = Some(r);
        }
        if let Some(t) = spec.timeout {
            self.timeout = t.into_iter().collect();
        }
        if let Some(e) = spec.expired {
            self.expired = e;
        }
    }

    /// The response fault for this request, if any, counting it against `times`.
    pub fn take_response_fault(&mut self) -> Option<ResponseFault> {
        if self.status.is_none() && self.body.is_none() {
            return None;
        }
        let fault = ResponseFault {
            status: self.status,
            body: self.body,
        };
        match self.remaining {
            Some(0) => {
                self.clear_response_fault();
                return None;
            }
            Some(1) => self.clear_response_fault(),
            Some(n) => self.remaining = Some(n - 1),
            None => {}
        }
        Some(fault)
    }

    fn clear_response_fault(&mut self) {
        self.status = None;
        self.body = None;
        self.remaining = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_counts_down_then_clears() {
        let mut f = Faults::default();
        f.apply(serde_json::from_str(r#"{"status":500,"times":2}"#).unwrap());
        assert_eq!(f.take_response_fault().unwrap().status, Some(500));
        assert!(f.take_response_fault().is_some());
        assert!(f.take_response_fault().is_none());
    }

    #[test]
    fn without_times_lasts_and_unknown_keys_are_refused() {
        let mut f = Faults::default();
        f.apply(serde_json::from_str(r#"{"body":"html","poison":[1]}"#).unwrap());
        for _ in 0..3 {
            assert_eq!(f.take_response_fault().unwrap().body, Some(BodyFault::Html));
        }
        assert!(f.poison.contains(&1));
        assert!(serde_json::from_str::<FaultSpec>(r#"{"statuss":500}"#).is_err());
    }
}
