//! Transport to DS and the mapping of DS answers to per-dossier results.
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use reqwest::{header, StatusCode};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::Value;

use tracing::{field, Instrument};

use super::{document::BatchDocument, model::DsDossier};
use crate::{config::UpstreamConfig, error::Error, health::Health, telemetry};

/// DS nulls the whole `data` when one aliased dossier fails; each round drops the failing
/// aliases and asks again for the survivors. Two rounds suffice against DS; the third only
/// guards against an upstream that keeps changing its answer.
const MAX_ROUNDS: usize = 3;

pub type BatchResult = HashMap<i32, Result<DsDossier, Error>>;

pub struct DsClient {
    http: reqwest::Client,
    config: UpstreamConfig,
    health: Arc<Health>,
}

#[derive(Debug, Deserialize)]
struct GraphQlResponse {
    #[serde(default)]
    data: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    errors: Vec<GraphQlError>,
}

#[derive(Debug, Deserialize)]
struct GraphQlError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    path: Option<Vec<Value>>,
    #[serde(default)]
    extensions: Option<ErrorExtensions>,
}

#[derive(Debug, Deserialize)]
struct ErrorExtensions {
    #[serde(default)]
    code: Option<String>,
}

impl GraphQlError {
    fn alias(&self) -> Option<&str> {
        self.path.as_ref()?.first()?.as_str()
    }

    fn code(&self) -> Option<&str> {
        self.extensions.as_ref()?.code.as_deref()
    }

    fn to_error(&self) -> Error {
        match self.code() {
            Some("not_found") => Error::NotFound,
            Some("unauthorized") => Error::Forbidden,
            Some("timeout") => Error::UpstreamTimeout,
            _ => Error::UpstreamBadResponse,
        }
    }
}

impl DsClient {
    pub fn new(config: UpstreamConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            // A redirect could carry the token to another host or turn the POST into a GET.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ds-subgraph/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            config,
            health: Arc::default(),
        })
    }

    /// What this client has learnt of DS's state, for `/readyz`.
    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    pub fn max_batch_size(&self) -> usize {
        self.config.max_batch_size
    }

    /// Fetches dossiers, one upstream document per `max_batch_size` numbers. Every number gets
    /// its own result: one failing dossier never takes the others down with it.
    pub async fn fetch_dossiers(&self, numbers: &[i32]) -> BatchResult {
        let chunks = numbers.chunks(self.config.max_batch_size.max(1));
        let results = futures::future::join_all(chunks.map(|c| self.fetch_chunk(c))).await;
        results.into_iter().flatten().collect()
    }

    async fn fetch_chunk(&self, numbers: &[i32]) -> BatchResult {
        let mut results = BatchResult::with_capacity(numbers.len());
        let mut pending: Vec<i32> = numbers.to_vec();
        for _ in 0..MAX_ROUNDS {
            if pending.is_empty() {
                break;
            }
            let doc = BatchDocument::new(&pending);
            match self.post(&doc).await {
                Err(e) => {
                    results.extend(pending.drain(..).map(|n| (n, Err(e.clone()))));
                }
                Ok(resp) => pending = split_response(&doc, resp, &mut results),
            }
        }
        results.extend(
            pending
                .into_iter()
                .map(|n| (n, Err(Error::UpstreamBadResponse))),
        );
        results
    }

    /// One DS request, in its own span, counted in the metrics and in `/readyz`'s state.
    async fn post(&self, doc: &BatchDocument) -> Result<GraphQlResponse, Error> {
        let span = tracing::info_span!(
            "ds.request",
            otel.kind = "client",
            keys = doc.aliases.len() as i64,
            status = field::Empty,
            duration_ms = field::Empty,
            outcome = field::Empty,
        );
        async {
            let started = std::time::Instant::now();
            let result = self.send(doc).await;
            let elapsed = started.elapsed();
            let outcome = telemetry::metrics::upstream_outcome(result.as_ref().map(|_| ()));
            let span = tracing::Span::current();
            span.record("duration_ms", elapsed.as_millis() as i64);
            span.record("outcome", outcome);
            telemetry::metrics::upstream_request(
                result.as_ref().map(|_| ()),
                doc.aliases.len(),
                elapsed,
            );
            result
        }
        .instrument(span)
        .await
    }

    async fn send(&self, doc: &BatchDocument) -> Result<GraphQlResponse, Error> {
        let started = std::time::Instant::now();
        let sent = self
            .http
            .post(self.config.api_url.clone())
            .bearer_auth(self.config.token.expose_secret())
            .header(header::ACCEPT, "application/json")
            .headers(telemetry::trace_headers())
            .json(&doc.body())
            .send()
            .await;
        let resp = sent.map_err(|e| {
            self.health.upstream_unreachable();
            tracing::warn!(error = %without_url(&e), "DS request failed");
            if e.is_timeout() {
                Error::UpstreamTimeout
            } else {
                Error::UpstreamUnavailable
            }
        })?;
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
            return Err(status_error(&resp));
        }
        let bytes = resp.bytes().await.map_err(|e| {
            if e.is_timeout() {
                Error::UpstreamTimeout
            } else {
                Error::UpstreamUnavailable
            }
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            tracing::warn!(error = %e, "DS answered 200 with a body that is not a GraphQL response");
            Error::UpstreamBadResponse
        })
    }
}

/// Records the result of every alias that has one; returns the numbers to ask again.
fn split_response(
    doc: &BatchDocument,
    resp: GraphQlResponse,
    results: &mut BatchResult,
) -> Vec<i32> {
    if let Some(data) = resp.data {
        for (alias, number) in &doc.aliases {
            let result = match data.get(alias) {
                Some(v) if !v.is_null() => DsDossier::deserialize(v).map_err(|e| {
                    tracing::warn!(number, error = %e, "DS dossier does not match the expected shape");
                    Error::UpstreamBadResponse
                }),
                _ => Err(resp
                    .errors
                    .iter()
                    .find(|e| e.alias() == Some(alias))
                    .map_or(Error::UpstreamBadResponse, GraphQlError::to_error)),
            };
            results.insert(*number, result);
        }
        return Vec::new();
    }
    let keyed: HashMap<&str, Error> = resp
        .errors
        .iter()
        .filter_map(|e| e.alias().map(|a| (a, e.to_error())))
        .collect();
    let known_alias = doc
        .aliases
        .iter()
        .any(|(a, _)| keyed.contains_key(a.as_str()));
    if !known_alias {
        // No error names one of our aliases: the document failed as a whole.
        let err = if resp.errors.iter().any(|e| e.code() == Some("timeout")) {
            Error::UpstreamTimeout
        } else {
            Error::UpstreamBadResponse
        };
        let messages: Vec<&str> = resp.errors.iter().map(|e| e.message.as_str()).collect();
        tracing::warn!(?messages, "DS failed the whole document");
        results.extend(doc.aliases.iter().map(|(_, n)| (*n, Err(err.clone()))));
        return Vec::new();
    }
    let mut survivors = Vec::new();
    for (alias, number) in &doc.aliases {
        match keyed.get(alias.as_str()) {
            Some(err) => {
                results.insert(*number, Err(err.clone()));
            }
            None => survivors.push(*number),
        }
    }
    survivors
}

fn status_error(resp: &reqwest::Response) -> Error {
    let status = resp.status();
    match status.as_u16() {
        401 | 403 => {
            tracing::error!(
                status = status.as_u16(),
                "DS rejected the API token (DS_API_TOKEN)"
            );
            Error::UpstreamAuth
        }
        429 => {
            let retry_after = retry_after(resp.headers());
            tracing::warn!(?retry_after, "DS rate limit reached");
            Error::UpstreamRateLimited { retry_after }
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
            Error::UpstreamUnavailable
        }
        500..=599 => {
            tracing::warn!(status = status.as_u16(), "DS server error");
            Error::UpstreamUnavailable
        }
        _ => {
            tracing::warn!(
                status = status.as_u16(),
                "DS answered with an unexpected status"
            );
            Error::UpstreamBadResponse
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
