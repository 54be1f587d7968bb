//! The one error type of the service, and its single mapping to the GraphQL wire format.
//!
//! Messages are deliberately short and generic: no token, upstream body, URL or internal detail
//! ever reaches a client. Operators get the detail from the logs, emitted where the error is made.
use std::time::Duration;

use async_graphql::{ErrorExtensions, PathSegment, ServerError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("Dossier not found")]
    NotFound,
    #[error("Access to this dossier is forbidden")]
    Forbidden,
    #[error("{0}")]
    BadUserInput(String),
    #[error("The DS API rejected this service's credentials")]
    UpstreamAuth,
    #[error("The DS API rate limit is reached, retry later")]
    UpstreamRateLimited { retry_after: Option<Duration> },
    #[error("The DS API did not answer in time")]
    UpstreamTimeout,
    #[error("The DS API is unavailable")]
    UpstreamUnavailable,
    #[error("The DS API returned an unexpected response")]
    UpstreamBadResponse,
    #[error("Authentication required")]
    Unauthenticated,
    #[error("{0}")]
    QueryTooComplex(String),
    /// Too many `dossierForUsager` attempts from one caller.
    #[error("Too many attempts, retry later")]
    RateLimited { retry_after: Option<Duration> },
}

impl Error {
    /// The stable `extensions.code` clients can rely on.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound => "NOT_FOUND",
            Error::Forbidden => "FORBIDDEN",
            Error::BadUserInput(_) => "BAD_USER_INPUT",
            Error::UpstreamAuth => "UPSTREAM_AUTH",
            Error::UpstreamRateLimited { .. } => "UPSTREAM_RATE_LIMITED",
            Error::UpstreamTimeout => "UPSTREAM_TIMEOUT",
            Error::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            Error::UpstreamBadResponse => "UPSTREAM_BAD_RESPONSE",
            Error::Unauthenticated => "UNAUTHENTICATED",
            Error::QueryTooComplex(_) => "QUERY_TOO_COMPLEX",
            Error::RateLimited { .. } => "RATE_LIMITED",
        }
    }

    /// A field error located at the current resolver's path (plus `index` for list items).
    pub fn at(&self, ctx: &async_graphql::Context<'_>, index: Option<usize>) -> ServerError {
        let mut err = ctx.set_error_path(self.extend().into_server_error(ctx.item.pos));
        if let Some(i) = index {
            err.path.push(PathSegment::Index(i));
        }
        err
    }

    /// A whole HTTP answer (`{"errors": [...]}` in JSON), for requests refused before GraphQL.
    pub fn http_response(self, status: axum::http::StatusCode) -> axum::response::Response {
        use axum::response::IntoResponse;
        let body = async_graphql::Response::from_errors(vec![self.into_server_error()]);
        (status, axum::Json(body)).into_response()
    }

    /// A request-level error (no path), for errors raised before execution.
    pub fn into_server_error(self) -> ServerError {
        let mut err = ServerError::new(self.to_string(), None);
        let ext = self.extend();
        err.extensions = ext.extensions;
        err
    }
}

impl ErrorExtensions for Error {
    fn extend(&self) -> async_graphql::Error {
        async_graphql::Error::new(self.to_string()).extend_with(|_, e| {
            e.set("code", self.code());
            if let Error::UpstreamRateLimited {
                retry_after: Some(d),
            }
            | Error::RateLimited {
                retry_after: Some(d),
            } = self
            {
                e.set("retryAfterSeconds", d.as_secs());
            }
        })
    }
}

/// Messages of async-graphql's own limit checks (depth, complexity, parser recursion).
const LIMIT_MESSAGES: [&str; 4] = [
    "Query is too complex.",
    "Query is nested too deep.",
    "The recursion depth of the query cannot be greater than",
    "recursion limit exceeded",
];

/// Gives every error that async-graphql produced on its own (parse, validation, variable
/// coercion, limits) a stable code, so that no client ever sees an error without
/// `extensions.code`.
pub fn normalize_response(resp: &mut async_graphql::Response) {
    for err in &mut resp.errors {
        let has_code = err
            .extensions
            .as_ref()
            .is_some_and(|ext| ext.get("code").is_some());
        if !has_code {
            let code = if LIMIT_MESSAGES.iter().any(|m| err.message.contains(m)) {
                "QUERY_TOO_COMPLEX"
            } else {
                "BAD_USER_INPUT"
            };
            err.extensions
                .get_or_insert_with(Default::default)
                .set("code", code);
        }
    }
}
