//! The mock's HTTP surface: DS's GraphQL endpoint (token check, throttle, faults, stats) and
//! the `/mock/*` control endpoints.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::exec::{self, Outcome};
use super::faults::{BodyFault, FaultSpec, Faults, ResponseFault};
use super::ratelimit::RateLimiter;
use super::responses;
use super::schema::{MockSchema, RequestState};
use super::MockStats;

pub struct MockState {
    pub token: String,
    pub latency: Duration,
    pub schema: MockSchema,
    pub limiter: RateLimiter,
    pub stats: Mutex<MockStats>,
    pub arrivals: Mutex<super::Arrivals>,
    pub faults: Mutex<Faults>,
    /// Where an injected redirect points.
    pub api_url: String,
}

impl MockState {
    pub fn stats(&self) -> MutexGuard<'_, MockStats> {
        self.stats.lock().expect("mock stats lock")
    }
    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().expect("mock faults lock")
    }
}

pub fn router(state: Arc<MockState>) -> Router {
    Router::new()
        .route("/api/v2/graphql", post(graphql))
        .route("/mock/stats", get(stats))
        .route("/mock/reset", post(reset))
        .route(
            "/mock/faults",
            get(get_faults).post(post_faults).delete(delete_faults),
        )
        .with_state(state)
}

async fn graphql(State(st): State<Arc<MockState>>, headers: HeaderMap, body: Bytes) -> Response {
    let parsed = serde_json::from_slice::<serde_json::Value>(&body);
    {
        let mut stats = st.stats();
        stats.graphql_requests += 1;
        let last_second = st
            .arrivals
            .lock()
            .expect("mock arrivals lock")
            .record(std::time::Instant::now());
        stats.peak_requests_per_second = stats.peak_requests_per_second.max(last_second);
        let fields = parsed.as_ref().ok();
        stats.last_query = fields
            .and_then(|v| v.get("query"))
            .and_then(|q| q.as_str())
            .map(str::to_owned);
        stats.last_variables = fields
            .and_then(|v| v.get("variables"))
            .filter(|v| !v.is_null())
            .cloned();
        stats.last_traceparent = headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
    }
    let (fault, extra_latency, expired, poison, timeout, poison_status, retry_after) = {
        let mut f = st.faults();
        let fault = f.take_response_fault().map(|r| (r, f.location.clone()));
        (
            fault,
            f.latency_ms,
            f.expired,
            f.poison.clone(),
            f.timeout.clone(),
            f.poison_status,
            f.retry_after,
        )
    };
    let latency = st.latency + Duration::from_millis(extra_latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some((fault, location)) = fault {
        return with_retry_after(fault_response(&st, fault, location), retry_after);
    }

    // rack-attack runs before the controller, and only throttles requests with a key.
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(key) = authorization {
        if let Err(t) = st.limiter.check(key) {
            st.stats().rate_limited += 1;
            return with_retry_after(responses::rate_limited(t.limit, t.reset), retry_after);
        }
    }
    let token_ok = authorization
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t.trim() == st.token);
    if !token_ok {
        return responses::invalid_token();
    }
    if expired {
        return responses::expired_token();
    }

    let request = match parsed {
        Ok(v) => v,
        Err(e) => return responses::bad_request(&e.to_string()),
    };
    let variables = match variables(request.get("variables")) {
        Ok(v) => v,
        Err(VariablesError::NotAnObject(v)) => {
            return responses::bad_request(&format!("Unexpected parameter: {v}"))
        }
        Err(VariablesError::BadJson(e)) => return responses::graphql_parse_failed(&e.to_string()),
    };
    let query = request.get("query").and_then(|q| q.as_str()).unwrap_or("");
    let operation_name = request
        .get("operationName")
        .and_then(|n| n.as_str())
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let state = Arc::new(RequestState {
        poison,
        timeout,
        ..RequestState::default()
    });
    let outcome = exec::execute(&st.schema, query, variables, operation_name, state.clone()).await;
    st.stats().dossier_lookups += state
        .dossier_lookups
        .load(std::sync::atomic::Ordering::Relaxed);
    match outcome {
        Outcome::Ok(body) => body.into_response(StatusCode::OK),
        Outcome::Poisoned if poison_status == Some(200) => responses::invalid_null(),
        Outcome::Poisoned => responses::internal_error(),
    }
}

fn with_retry_after(mut resp: Response, secs: Option<u64>) -> Response {
    if let Some(secs) = secs.filter(|_| resp.status() == StatusCode::TOO_MANY_REQUESTS) {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    }
    resp
}

enum VariablesError {
    NotAnObject(serde_json::Value),
    BadJson(serde_json::Error),
}

/// DS takes `variables` as an object or as a JSON string (graphql_controller#ensure_hash).
fn variables(raw: Option<&serde_json::Value>) -> Result<serde_json::Value, VariablesError> {
    use serde_json::Value as J;
    let empty = || J::Object(Default::default());
    match raw {
        None | Some(J::Null) => Ok(empty()),
        Some(v @ J::Object(_)) => Ok(v.clone()),
        Some(J::String(s)) if s.trim().is_empty() => Ok(empty()),
        Some(J::String(s)) => match serde_json::from_str::<J>(s) {
            Ok(J::Null) => Ok(empty()),
            Ok(v @ J::Object(_)) => Ok(v),
            Ok(other) => Err(VariablesError::NotAnObject(other)),
            Err(e) => Err(VariablesError::BadJson(e)),
        },
        Some(other) => Err(VariablesError::NotAnObject(other.clone())),
    }
}

fn fault_response(st: &MockState, fault: ResponseFault, location: Option<String>) -> Response {
    let status = fault
        .status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    match fault.body {
        Some(BodyFault::Html) => return responses::html_page(status),
        Some(BodyFault::Malformed) => return responses::malformed(status),
        Some(BodyFault::Unexpected) => return responses::unexpected(status),
        None => {}
    }
    match status.as_u16() {
        500 => responses::internal_error(),
        503 => responses::maintenance(),
        401 => responses::expired_token(),
        403 => responses::invalid_token(),
        400 => responses::bad_request("unexpected token at ''"),
        429 => {
            st.stats().rate_limited += 1;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let limit = match st.limiter.limit() {
                0 => 400,
                n => n,
            };
            responses::rate_limited(limit, (now / 60 + 1) * 60)
        }
        301 | 302 | 307 | 308 => {
            responses::redirect(status, location.as_deref().unwrap_or(&st.api_url))
        }
        _ => responses::html_page(status),
    }
}

async fn stats(State(st): State<Arc<MockState>>) -> Json<MockStats> {
    Json(st.stats().clone())
}

async fn reset(State(st): State<Arc<MockState>>) -> StatusCode {
    *st.stats() = MockStats::default();
    *st.arrivals.lock().expect("mock arrivals lock") = Default::default();
    *st.faults() = Faults::default();
    st.limiter.reset();
    StatusCode::NO_CONTENT
}

async fn get_faults(State(st): State<Arc<MockState>>) -> Json<Faults> {
    Json(st.faults().clone())
}

async fn post_faults(State(st): State<Arc<MockState>>, body: Bytes) -> Response {
    match serde_json::from_slice::<FaultSpec>(&body) {
        Ok(spec) => {
            let mut f = st.faults();
            f.apply(spec);
            Json(f.clone()).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": e.to_string() })),
        )
            .into_response(),
    }
}

async fn delete_faults(State(st): State<Arc<MockState>>) -> StatusCode {
    *st.faults() = Faults::default();
    StatusCode::NO_CONTENT
}
