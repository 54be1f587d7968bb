//! Caller authentication: a shared secret in a header, compared in constant time.
use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::Response,
    Router,
};
use secrecy::ExposeSecret;

use super::constant_time_eq;
use crate::{config::AuthConfig, error::Error};

/// Puts every route of `router` behind the shared secret (`None`: unauthenticated mode).
/// Routes merged in afterwards (`/healthz`, `/readyz`) stay open.
pub fn protect<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    auth: Option<AuthConfig>,
) -> Router<S> {
    match auth {
        Some(auth) => router.route_layer(middleware::from_fn_with_state(auth, require_secret)),
        None => router,
    }
}

async fn require_secret(State(auth): State<AuthConfig>, req: Request, next: Next) -> Response {
    if is_authenticated(&auth, req.headers()) {
        return next.run(req).await;
    }
    let mut resp = Error::Unauthenticated.http_response(StatusCode::UNAUTHORIZED);
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

pub fn is_authenticated(auth: &AuthConfig, headers: &HeaderMap) -> bool {
    let Some(presented) = headers.get(&auth.header).map(HeaderValue::as_bytes) else {
        return false;
    };
    let secret = match strip_bearer(presented) {
        Some(s) => s,
        // Routers forwarding the secret in a header of their own often send it bare.
        None if auth.header != header::AUTHORIZATION => presented,
        None => return false,
    };
    // Every configured secret is compared, matched or not: the time does not tell which one.
    auth.secrets.iter().fold(false, |ok, s| {
        ok | constant_time_eq(secret, s.expose_secret().as_bytes())
    })
}

fn strip_bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderName;
    use secrecy::SecretString;

    fn auth(header: &str) -> AuthConfig {
        AuthConfig {
            header: HeaderName::from_bytes(header.as_bytes()).unwrap(),
            secrets: vec![
                SecretString::from("old-secret-0123456789"),
                SecretString::from("new-secret-0123456789"),
            ],
        }
    }

    fn headers(name: &str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        h
    }

    #[test]
    fn any_configured_secret_is_accepted_as_bearer() {
        let a = auth("authorization");
        assert!(is_authenticated(
            &a,
            &headers("authorization", "Bearer old-secret-0123456789")
        ));
        assert!(is_authenticated(
            &a,
            &headers("authorization", "bearer new-secret-0123456789")
        ));
        for wrong in [
            "Bearer nope",
            "new-secret-0123456789",
            "Basic new-secret-0123456789",
            "Bearer new-secret-012345678",
            "Bearer ",
        ] {
            assert!(
                !is_authenticated(&a, &headers("authorization", wrong)),
                "{wrong}"
            );
        }
        assert!(!is_authenticated(&a, &HeaderMap::new()));
    }

    #[test]
    fn a_custom_header_takes_a_bare_secret_too() {
        let a = auth("x-subgraph-secret");
        assert!(is_authenticated(
            &a,
            &headers("x-subgraph-secret", "new-secret-0123456789")
        ));
        assert!(is_authenticated(
            &a,
            &headers("x-subgraph-secret", "Bearer new-secret-0123456789")
        ));
        assert!(!is_authenticated(
            &a,
            &headers("authorization", "Bearer new-secret-0123456789")
        ));
    }
}
