//! HTTP transport: the axum router around the GraphQL schema.
use async_graphql::{http::GraphiQLSource, BatchRequest, BatchResponse};
use axum::{
    extract::{ConnectInfo, DefaultBodyLimit, Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    middleware,
    response::{Html, IntoResponse, Response},
    routing::get,
    Router,
};
use tower_http::limit::RequestBodyLimitLayer;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

use crate::{
    config::SecurityConfig,
    error,
    graphql::DsSchema,
    health::{Health, Readiness},
    security::{self, CallerId},
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
    pub security: Arc<SecurityConfig>,
}

/// `/graphql` is behind the CSRF guard (outermost), then the shared secret, then the body
/// limit; `/metrics` is behind the shared secret; `/healthz` and `/readyz` are open.
pub fn router(state: AppState) -> Router {
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    let max_body = state.security.limits.max_body_bytes;
    let auth = state.security.auth.clone();
    let graphql_routes = Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(middleware::map_response(typed_413));
    let graphql_routes = security::auth::protect(graphql_routes, auth.clone())
        .route_layer(middleware::from_fn(security::csrf::guard));
    let metrics_routes =
        security::auth::protect(Router::new().route("/metrics", get(metrics_text)), auth);
    Router::new()
        .merge(graphql_routes)
        .merge(metrics_routes)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
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

/// The body limit layer answers a too large Content-Length in plain text; clients get the
/// same typed JSON error as for a too large streamed body.
async fn typed_413(resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/"));
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return body_too_large();
    }
    resp
}

fn body_too_large() -> Response {
    metrics::client_request("rejected");
    error::Error::QueryTooComplex("The request body is too large (MAX_BODY_BYTES)".into())
        .http_response(StatusCode::PAYLOAD_TOO_LARGE)
}

async fn graphiql(req: Request) -> Response {
    if req.uri().query().is_some() {
        // Operations are POSTed; a GET never runs one.
        return error::Error::BadUserInput("GraphQL operations must be sent with POST".into())
            .http_response(StatusCode::METHOD_NOT_ALLOWED);
    }
    Html(GraphiQLSource::build().endpoint("/graphql").finish()).into_response()
}

async fn graphql(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let headers = &parts.headers;
    let content_type = negotiate(headers);
    let limits = &state.security.limits;
    // The body limit layer already cut the stream; this bound is only a second belt.
    let body = match axum::body::to_bytes(body, limits.max_body_bytes).await {
        Ok(body) => body,
        Err(_) => return body_too_large(),
    };
    let mut batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(_) => {
            let err = error::Error::BadUserInput(
                "The request body is not a GraphQL request in JSON".into(),
            );
            return refuse(err, StatusCode::BAD_REQUEST, content_type);
        }
    };
    if let Err(err) =
        security::limits::check_batch(&mut batch, limits, state.security.introspection)
    {
        return refuse(err, request_error_status(content_type), content_type);
    }
    let caller = caller_id(&state.security, headers, &parts.extensions);
    let mut resp = state.schema.execute_batch(batch.data(caller)).await;
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
    let failed_before_execution = matches!(&resp, BatchResponse::Single(r) if r.data == async_graphql::Value::Null && !r.errors.is_empty());
    let status = if failed_before_execution {
        request_error_status(content_type)
    } else {
        StatusCode::OK
    };
    reply(status, content_type, cache_control, &resp)
}

/// A request refused before execution: one error, counted as rejected, never cached.
fn refuse(err: error::Error, status: StatusCode, content_type: &'static str) -> Response {
    metrics::client_request("rejected");
    let resp = async_graphql::Response::from_errors(vec![err.into_server_error()]);
    reply(status, content_type, NO_STORE, &BatchResponse::Single(resp))
}

/// With the GraphQL-over-HTTP media type, a request that failed before execution is a 400;
/// plain `application/json` keeps the historical 200.
fn request_error_status(content_type: &str) -> StatusCode {
    if content_type == GRAPHQL_RESPONSE_JSON {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}

/// The caller, for per-caller limits: the configured header when the router sets it, else the
/// client's IP address.
fn caller_id(
    security: &SecurityConfig,
    headers: &HeaderMap,
    extensions: &axum::http::Extensions,
) -> CallerId {
    let forwarded = security
        .caller_id_header
        .as_ref()
        .and_then(|h| headers.get(h))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 256);
    if let Some(id) = forwarded {
        return CallerId(format!("id:{id}"));
    }
    match extensions.get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(addr)) => CallerId(format!("ip:{}", addr.ip())),
        None => CallerId("unknown".into()),
    }
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
