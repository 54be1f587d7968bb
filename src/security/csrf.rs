//! CSRF guard, as Apollo Router and Apollo Server do it: an operation is executed only when a
//! browser would have had to send a CORS preflight for it, so that a page on another site
//! cannot make a visitor's browser (or a browser inside the network) run it.
use axum::{
    extract::Request,
    http::{header, HeaderMap, Method, StatusCode},
    middleware::Next,
    response::Response,
};

use crate::error::Error;

/// Headers a browser never sends cross-site without a preflight; either one lets a request in.
pub const PREFLIGHT_HEADERS: [&str; 2] = ["x-apollo-operation-name", "apollo-require-preflight"];

/// Content types a browser may send cross-site without a preflight (the CORS "simple" ones).
const SIMPLE_CONTENT_TYPES: [&str; 3] = [
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "text/plain",
];

pub const MESSAGE: &str = "This request has been blocked as a potential cross-site request \
forgery (CSRF): send it with a `content-type` other than application/x-www-form-urlencoded, \
multipart/form-data or text/plain (e.g. application/json), or with an \
`x-apollo-operation-name` or `apollo-require-preflight` header";

pub async fn guard(req: Request, next: Next) -> Response {
    if carries_no_operation(&req) || is_preflighted(req.headers()) {
        next.run(req).await
    } else {
        Error::BadUserInput(MESSAGE.into()).http_response(StatusCode::BAD_REQUEST)
    }
}

/// The GraphiQL page: a GET without a query string runs nothing.
fn carries_no_operation(req: &Request) -> bool {
    matches!(*req.method(), Method::GET | Method::HEAD) && req.uri().query().is_none()
}

pub fn is_preflighted(headers: &HeaderMap) -> bool {
    let non_simple_type = headers.get_all(header::CONTENT_TYPE).iter().any(|v| {
        let essence = v
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        !SIMPLE_CONTENT_TYPES.contains(&essence.as_str())
    });
    non_simple_type || PREFLIGHT_HEADERS.iter().any(|h| headers.contains_key(*h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn simple_requests_are_not_preflighted() {
        for ct in [
            "text/plain",
            "text/plain; charset=utf-8",
            "Multipart/Form-Data; boundary=x",
            "application/x-www-form-urlencoded",
        ] {
            assert!(!is_preflighted(&with(&[("content-type", ct)])), "{ct}");
        }
        assert!(!is_preflighted(&HeaderMap::new()));
    }

    #[test]
    fn json_or_a_preflight_header_is_preflighted() {
        assert!(is_preflighted(&with(&[(
            "content-type",
            "application/json; charset=utf-8"
        )])));
        assert!(is_preflighted(&with(&[
            ("content-type", "text/plain"),
            ("apollo-require-preflight", "true")
        ])));
        assert!(is_preflighted(&with(&[("x-apollo-operation-name", "Q")])));
    }
}
