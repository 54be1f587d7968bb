//! One upstream document over HTTP: our rate limiter, per-attempt timeouts, bounded retries,
//! and the mapping of HTTP answers to our errors.
use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use reqwest::{header, StatusCode};
use secrecy::ExposeSecret;
use serde::Deserialize;
use tracing::{field, Instrument};

use super::{
    document::BatchDocument,
    limiter::{RetryBudget, UpstreamLimiter},
};
use crate::{config::UpstreamConfig, error::Error, health::Health, telemetry};

const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(2);
/// DS's own window: how long to pause after a 429 that says nothing of when to come back.
const DEFAULT_PAUSE: Duration = Duration::from_secs(60);

#[derive(Debug, Deserialize)]
pub struct GraphQlResponse {
    #[serde(default)]
    pub data: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub errors: Vec<GraphQlError>,
}

#[derive(Debug, Deserialize)]
pub struct GraphQlError {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    path: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    extensions: Option<ErrorExtensions>,
}

#[derive(Debug, Deserialize)]
struct ErrorExtensions {
    #[serde(default)]
    code: Option<String>,
}

impl GraphQlError {
    pub fn alias(&self) -> Option<&str> {
        self.path.as_ref()?.first()?.as_str()
    }

    pub fn code(&self) -> Option<&str> {
        self.extensions.as_ref()?.code.as_deref()
    }

    pub fn to_error(&self) -> Error {
        match self.code() {
            Some("not_found") => Error::NotFound,
            Some("unauthorized") => Error::Forbidden,
            Some("timeout") => Error::UpstreamTimeout,
            _ => Error::UpstreamBadResponse,
        }
    }
}

/// Why a document got no GraphQL answer.
#[derive(Debug, Clone)]
pub struct Failure {
    pub error: Error,
    /// HTTP 500: DS raised on something in the document, possibly one dossier.
    pub internal_error: bool,
    retryable: bool,
}

impl Failure {
    fn new(error: Error, retryable: bool) -> Self {
        Self {
            error,
            internal_error: false,
            retryable,
        }
    }
}

pub struct Transport {
    http: reqwest::Client,
    config: UpstreamConfig,
    limiter: UpstreamLimiter,
    retries: RetryBudget,
    health: Arc<Health>,
}

impl Transport {
    pub fn new(config: UpstreamConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            // A redirect could carry the token to another host or turn the POST into a GET.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ds-subgraph/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            limiter: UpstreamLimiter::new(config.rate_limit_per_min, config.rate_limit_burst),
            retries: RetryBudget::new(config.retry_budget_per_min),
            health: Arc::default(),
            http,
            config,
        })
    }

    /// What this transport has learnt of DS's state, for `/readyz`.
    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    pub fn config(&self) -> &UpstreamConfig {
        &self.config
    }

    /// Sends one document, retrying timeouts, connection errors and 5xx within the retry bound,
    /// the global budget and `deadline`. `retry_internal_error`: false when the caller splits
    /// the batch on a 500 instead, which is the better retry for a poisoned document.
    pub async fn send(
        &self,
        doc: &BatchDocument,
        deadline: Instant,
        retry_internal_error: bool,
    ) -> Result<GraphQlResponse, Failure> {
        let mut attempt = 0;
        loop {
            let waited = self
                .limiter
                .acquire(deadline)
                .await
                .map_err(|e| Failure::new(e, false))?;
            if !waited.is_zero() {
                telemetry::metrics::limiter_wait(waited);
            }
            let failure = match self.post_once(doc, deadline).await {
                Ok(resp) => return Ok(resp),
                Err(f) => f,
            };
            let retry = failure.retryable
                && (retry_internal_error || !failure.internal_error)
                && attempt < self.config.max_retries;
            if !retry {
                return Err(failure);
            }
            attempt += 1;
            // Full jitter: clients failing together must not come back together.
            let ceiling = BACKOFF_CAP.min(BACKOFF_BASE * 2u32.pow(attempt));
            let backoff = ceiling.mul_f64(fastrand::f64());
            if Instant::now() + backoff >= deadline || !self.retries.withdraw() {
                return Err(failure);
            }
            telemetry::metrics::upstream_retry();
            tracing::info!(attempt, backoff_ms = backoff.as_millis() as u64, error = %failure.error, "retrying DS request");
            tokio::time::sleep(backoff).await;
        }
    }

    /// One HTTP request, in its own span, counted in the metrics and in `/readyz`'s state.
    async fn post_once(
        &self,
        doc: &BatchDocument,
        deadline: Instant,
    ) -> Result<GraphQlResponse, Failure> {
        let span = tracing::info_span!(
            "ds.request",
            otel.kind = "client",
            keys = doc.aliases.len() as i64,
            status = field::Empty,
            duration_ms = field::Empty,
            outcome = field::Empty,
        );
        async {
            let started = Instant::now();
            let result = self.post_traced(doc, deadline).await;
            let elapsed = started.elapsed();
            let result_unit = result.as_ref().map(|_| ()).map_err(|f| &f.error);
            let span = tracing::Span::current();
            span.record("duration_ms", elapsed.as_millis() as i64);
            span.record("outcome", telemetry::metrics::upstream_outcome(result_unit));
            telemetry::metrics::upstream_request(result_unit, doc.aliases.len(), elapsed);
            result
        }
        .instrument(span)
        .await
    }

    async fn post_traced(
        &self,
        doc: &BatchDocument,
        deadline: Instant,
    ) -> Result<GraphQlResponse, Failure> {
        let started = Instant::now();
        let timeout = self
            .config
            .timeout
            .min(deadline.saturating_duration_since(started));
        let network = |e: reqwest::Error| {
            self.health.upstream_unreachable();
            tracing::warn!(error = %without_url(&e), "DS request failed");
            let error = if e.is_timeout() {
                Error::UpstreamTimeout
            } else {
                Error::UpstreamUnavailable
            };
            Failure::new(error, true)
        };
        let resp = self
            .http
            .post(self.config.api_url.clone())
            .timeout(timeout)
            .bearer_auth(self.config.token.expose_secret())
            .header(header::ACCEPT, "application/json")
            .headers(telemetry::trace_headers())
            .json(&doc.body())
            .send()
            .await
            .map_err(network)?;
        let status = resp.status();
        tracing::Span::current().record("status", i64::from(status.as_u16()));
        match status.as_u16() {
            200 => self.health.upstream_ok(),
            401 | 403 => self.health.upstream_auth_rejected(),
            500..=599 => self.health.upstream_unreachable(),
            _ => self.health.upstream_answered(),
        }
        tracing::debug!(
            keys = doc.aliases.len(),
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "DS request"
        );
        if status != StatusCode::OK {
            return Err(self.status_failure(&resp));
        }
        let bytes = resp.bytes().await.map_err(network)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            tracing::warn!(error = %e, "DS answered 200 with a body that is not a GraphQL response");
            Failure::new(Error::UpstreamBadResponse, false)
        })
    }

    fn status_failure(&self, resp: &reqwest::Response) -> Failure {
        let status = resp.status();
        match status.as_u16() {
            401 | 403 => {
                tracing::error!(
                    status = status.as_u16(),
                    "DS rejected the API token (DS_API_TOKEN)"
                );
                Failure::new(Error::UpstreamAuth, false)
            }
            429 => {
                let retry_after = retry_after(resp.headers());
                tracing::warn!(
                    ?retry_after,
                    "DS rate limit reached: pausing every upstream call"
                );
                self.limiter.pause(retry_after.unwrap_or(DEFAULT_PAUSE));
                Failure::new(Error::UpstreamRateLimited { retry_after }, false)
            }
            300..=399 => {
                let location = resp
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::error!(
                    status = status.as_u16(),
                    location,
                    "DS answered with a redirect, which is not followed: fix DS_API_URL"
                );
                Failure::new(Error::UpstreamUnavailable, false)
            }
            500..=599 => {
                tracing::warn!(status = status.as_u16(), "DS server error");
                Failure {
                    error: Error::UpstreamUnavailable,
                    internal_error: status == StatusCode::INTERNAL_SERVER_ERROR,
                    retryable: true,
                }
            }
            _ => {
                tracing::warn!(
                    status = status.as_u16(),
                    "DS answered with an unexpected status"
                );
                Failure::new(Error::UpstreamBadResponse, false)
            }
        }
    }
}

/// DS sends `RateLimit-Reset` (epoch seconds); other proxies may send `Retry-After` (seconds).
pub fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let number =
        |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    if let Some(secs) = number("retry-after") {
        return Some(Duration::from_secs(secs));
    }
    let reset = number("ratelimit-reset")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now)))
}

/// reqwest errors print the URL; ours holds no secret, but keep logs free of it anyway.
fn without_url(e: &reqwest::Error) -> String {
    let mut e = e.to_string();
    if let Some(i) = e.find(" for url") {
        e.truncate(i);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_both_headers() {
        let mut h = header::HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let mut h = header::HeaderMap::new();
        h.insert(
            "ratelimit-reset",
            (now.as_secs() + 30).to_string().parse().unwrap(),
        );
        let d = retry_after(&h).unwrap();
        assert!(d <= Duration::from_secs(30) && d >= Duration::from_secs(28));
        assert_eq!(retry_after(&header::HeaderMap::new()), None);
    }
}
