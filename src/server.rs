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

use crate::{error, graphql::DsSchema};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

#[derive(Clone)]
pub struct AppState {
    pub schema: DsSchema,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
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
            return reply(
                StatusCode::BAD_REQUEST,
                content_type,
                &BatchResponse::Single(resp),
            );
        }
    };
    let mut resp = state.schema.execute_batch(batch).await;
    match &mut resp {
        BatchResponse::Single(r) => error::normalize_response(r),
        BatchResponse::Batch(rs) => rs.iter_mut().for_each(error::normalize_response),
    }
    // With the GraphQL-over-HTTP media type, a request that failed before execution is a 400.
    let failed_before_execution = matches!(&resp, BatchResponse::Single(r) if r.data == async_graphql::Value::Null && !r.errors.is_empty());
    let status = if content_type == GRAPHQL_RESPONSE_JSON && failed_before_execution {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    reply(status, content_type, &resp)
}

fn reply(status: StatusCode, content_type: &'static str, body: &BatchResponse) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
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
