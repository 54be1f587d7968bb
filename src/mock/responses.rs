//! DS's exact HTTP answers (see shared/reference/ds-error-responses.json).
//!
//! Bodies are serialized from structs, not `serde_json::Value`, to keep DS's key order
//! ("errors" before "data", "message" before "extensions").

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

use async_graphql::{ErrorExtensionValues, ServerError, Value};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub const RATE_LIMITED_TEXT: &str = "Calme toi, cowboy ! T'enchaines un peu trop les requêtes. Respire un peu réessaie dans un petit moment.\nCalm down, cowboy! You're making too many requests. Take a breather and try again soon.\n";

const MAINTENANCE_MESSAGE: &str =
    "Le site est actuellement en maintenance. Il sera à nouveau disponible dans un court instant.";

/// A GraphQL-shaped DS body. `data: Some(Value::Null)` prints `"data":null`; `None` omits it.
#[derive(Debug, Serialize)]
pub struct DsBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ServerError>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl DsBody {
    pub fn errors(errors: Vec<ServerError>, data: Option<Value>) -> DsBody {
        DsBody {
            errors: Some(errors),
            data,
        }
    }
    pub fn data(data: Value) -> DsBody {
        DsBody {
            errors: None,
            data: Some(data),
        }
    }
    pub fn into_response(self, status: StatusCode) -> Response {
        let body = serde_json::to_vec(&self).expect("a DS body always serializes");
        json_bytes(status, body)
    }
}

pub fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// An error as DS's controllers build them: message + extensions, no locations/path.
pub fn error(message: impl Into<String>, extensions: &[(&str, &str)]) -> ServerError {
    let mut e = ServerError::new(message, None);
    if !extensions.is_empty() {
        let mut ext = ErrorExtensionValues::default();
        for (k, v) in extensions {
            ext.set(*k, *v);
        }
        e.extensions = Some(ext);
    }
    e
}

fn controller_error(status: StatusCode, message: &str, code: &str) -> Response {
    DsBody::errors(vec![error(message, &[("code", code)])], Some(Value::Null)).into_response(status)
}

/// Missing, invalid or revoked token.
pub fn invalid_token() -> Response {
    controller_error(
        StatusCode::FORBIDDEN,
        "Without a token, only persisted queries are allowed",
        "forbidden",
    )
}

pub fn expired_token() -> Response {
    controller_error(StatusCode::UNAUTHORIZED, "Token expired", "unauthorized")
}

pub fn bad_request(message: &str) -> Response {
    controller_error(StatusCode::BAD_REQUEST, message, "bad_request")
}

pub fn graphql_parse_failed(message: &str) -> Response {
    controller_error(StatusCode::BAD_REQUEST, message, "graphql_parse_failed")
}

pub fn internal_error() -> Response {
    let id = exception_id();
    DsBody::errors(
        vec![error(
            "Internal Server Error",
            &[("code", "internal_server_error"), ("exception_id", &id)],
        )],
        Some(Value::Null),
    )
    .into_response(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A bug in DS's own resolvers (graphql-ruby `type_error`): an error without a path, HTTP 200.
pub fn invalid_null() -> Response {
    DsBody::errors(
        vec![error(
            "Cannot return null for non-nullable field PersonneMorale.siegeSocial",
            &[("code", "invalid_null")],
        )],
        Some(Value::Null),
    )
    .into_response(StatusCode::OK)
}

pub fn maintenance() -> Response {
    #[derive(Serialize)]
    struct Maintenance {
        error: &'static str,
    }
    let body = serde_json::to_vec(&Maintenance {
        error: MAINTENANCE_MESSAGE,
    })
    .expect("serializes");
    json_bytes(StatusCode::SERVICE_UNAVAILABLE, body)
}

/// rack-attack's throttled answer: plain text, `RateLimit-*` headers, no `Retry-After`.
pub fn rate_limited(limit: u32, reset_epoch_secs: u64) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (header::CONTENT_TYPE, "text/plain".to_owned()),
            (
                header::HeaderName::from_static("ratelimit-limit"),
                limit.to_string(),
            ),
            (
                header::HeaderName::from_static("ratelimit-remaining"),
                "0".to_owned(),
            ),
            (
                header::HeaderName::from_static("ratelimit-reset"),
                reset_epoch_secs.to_string(),
            ),
        ],
        RATE_LIMITED_TEXT,
    )
        .into_response()
}

/// What a proxy in front of DS shows when things go wrong.
pub fn html_page(status: StatusCode) -> Response {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"fr\">\n<head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n<p>démarches simplifiées est momentanément indisponible.</p>\n<hr><center>nginx</center>\n</body>\n</html>\n"
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

pub fn malformed(status: StatusCode) -> Response {
    json_bytes(
        status,
        br#"{"data":{"d0":{"id":"RG9zc2llci0xMDAwMDAx","number":1000001,"sta"#.to_vec(),
    )
}

pub fn unexpected(status: StatusCode) -> Response {
    json_bytes(status, br#"{"foo":1}"#.to_vec())
}

pub fn redirect(status: StatusCode, location: &str) -> Response {
    (status, [(header::LOCATION, location.to_owned())]).into_response()
}

/// A fresh uuid-looking id (v4 layout); uniqueness, not randomness quality, is what matters.
fn exception_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let s = RandomState::new();
    let a = s.hash_one(n);
    let b = s.hash_one(a ^ n.rotate_left(17));
    let hex = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_ids_look_like_uuids_and_differ() {
        let (a, b) = (exception_id(), exception_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }

    #[test]
    fn bodies_keep_ds_key_order() {
        let body = DsBody::errors(
            vec![error("Token expired", &[("code", "unauthorized")])],
            Some(Value::Null),
        );
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"errors":[{"message":"Token expired","extensions":{"code":"unauthorized"}}],"data":null}"#
        );
    }
}
