//! HTTP transport: the axum router around the GraphQL schema.
use async_graphql::{http::GraphiQLSource, BatchRequest, BatchResponse};
use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Response},
    routing::get,
    Router,
};

use std::{sync::Arc, time::Duration};

use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

use crate::{
    error,
    graphql::DsSchema,
    health::{Health, Readiness},
    telemetry::{self, metrics},
};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

#[derive(Clone)]
pub struct AppState {
    pub schema: DsSchema,
    pub health: Arc<Health>,
    pub ready_upstream_down: Duration,
    /// `Cache-Control` of responses without errors.
    pub cache_control: HeaderValue,
    pub metrics: PrometheusHandle,
}

pub fn router(state: AppState) -> Router {
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(state)
        // Outermost first: the id exists before the span that names it, and goes back out.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// One span per client request, named by its request id (the caller's `x-request-id`, or a
/// fresh UUID) and a child of the caller's W3C trace when it sent a `traceparent`.
fn request_span<B>(req: &axum::http::Request<B>) -> tracing::Span {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("");
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{} {}", req.method(), req.uri().path()),
        otel.kind = "server",
        method = %req.method(),
        path = req.uri().path(),
        request_id,
    );
    telemetry::set_remote_parent(&span, req.headers());
    span
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.health.readiness(state.ready_upstream_down) {
        Readiness::Ready => "ready".into_response(),
        Readiness::TokenRejected => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: DS rejects the API token (DS_API_TOKEN)",
        )
            .into_response(),
        Readiness::UpstreamDown(down) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: DS unreachable for {} s", down.as_secs()),
        )
            .into_response(),
    }
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

async fn graphql(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = negotiate(&headers);
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(_) => {
            let err = error::Error::BadUserInput(
                "The request body is not a GraphQL request in JSON".into(),
            );
            let resp = async_graphql::Response::from_errors(vec![err.into_server_error()]);
            metrics::client_request("rejected");
            return reply(
                StatusCode::BAD_REQUEST,
                content_type,
                NO_STORE,
                &BatchResponse::Single(resp),
            );
        }
    };
    let mut resp = state.schema.execute_batch(batch).await;
    match &mut resp {
        BatchResponse::Single(r) => error::normalize_response(r),
        BatchResponse::Batch(rs) => rs.iter_mut().for_each(error::normalize_response),
    }
    let outcome = outcome(&resp);
    metrics::client_request(outcome);
    // An error may be transient (DS down): never let a cache keep it.
    let cache_control = if outcome == "ok" {
        state.cache_control.clone()
    } else {
        NO_STORE
    };
    // With the GraphQL-over-HTTP media type, a request that failed before execution is a 400.
    let failed_before_execution = matches!(&resp, BatchResponse::Single(r) if r.data == async_graphql::Value::Null && !r.errors.is_empty());
    let status = if content_type == GRAPHQL_RESPONSE_JSON && failed_before_execution {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    reply(status, content_type, cache_control, &resp)
}

const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

/// `ok`: no error anywhere; `partial`: some data and some errors; `error`: no data.
fn outcome(resp: &BatchResponse) -> &'static str {
    let responses: &[async_graphql::Response] = match resp {
        BatchResponse::Single(r) => std::slice::from_ref(r),
        BatchResponse::Batch(rs) => rs,
    };
    if responses.iter().all(|r| r.errors.is_empty()) {
        "ok"
    } else if responses
        .iter()
        .any(|r| r.data != async_graphql::Value::Null)
    {
        "partial"
    } else {
        "error"
    }
}

fn reply(
    status: StatusCode,
    content_type: &'static str,
    cache_control: HeaderValue,
    body: &BatchResponse,
) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CACHE_CONTROL, cache_control),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Picks the response media type from `Accept`: the first of `application/json` and
/// `application/graphql-response+json` the client lists, `application/json` otherwise.
fn negotiate(headers: &HeaderMap) -> &'static str {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|part| {
            part.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    for media in accept {
        match media.as_str() {
            GRAPHQL_RESPONSE_JSON => return GRAPHQL_RESPONSE_JSON,
            JSON => return JSON,
            _ => {}
        }
    }
    JSON
}
