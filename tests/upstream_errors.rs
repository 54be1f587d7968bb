//! Whole-request DS failures map to stable codes, and never leak the token or DS's body.
mod common;

use common::*;
use serde_json::json;

async fn codes_for_fault(env: &TestEnv, fault: serde_json::Value) -> Vec<String> {
    env.fault(fault).await;
    let n = env.mock.visible_numbers()[0];
    let body = env
        .query(
            "query($n: [Int!]!) { dossiers(numbers: $n) { number } }",
            json!({"n": [n, n, env.mock.visible_numbers()[1]]}),
        )
        .await;
    let text = body.to_string();
    for secret in [
        TOKEN,
        "cowboy",
        "maintenance",
        "Internal Server Error",
        "<html",
        "127.0.0.1",
    ] {
        assert!(!text.contains(secret), "{secret:?} leaked: {text}");
    }
    assert_eq!(
        body["data"]["dossiers"],
        json!([null, null, null]),
        "{body}"
    );
    error_codes(&body).into_iter().map(|(c, _)| c).collect()
}

#[tokio::test]
async fn whole_request_failures_have_typed_codes() {
    let env = spawn().await;
    for (fault, code) in [
        (json!({"expired": true}), "UPSTREAM_AUTH"),
        (json!({"status": 500}), "UPSTREAM_UNAVAILABLE"),
        (json!({"status": 502}), "UPSTREAM_UNAVAILABLE"),
        (json!({"status": 503}), "UPSTREAM_UNAVAILABLE"),
        (json!({"body": "html"}), "UPSTREAM_BAD_RESPONSE"),
        (json!({"body": "malformed"}), "UPSTREAM_BAD_RESPONSE"),
        (json!({"body": "unexpected"}), "UPSTREAM_BAD_RESPONSE"),
        // Last: a 429 pauses every upstream call until DS's reset, so later faults would not run.
        (json!({"status": 429}), "UPSTREAM_RATE_LIMITED"),
    ] {
        env.http
            .delete(format!("{}/mock/faults", env.mock.base_url()))
            .send()
            .await
            .unwrap();
        let codes = codes_for_fault(&env, fault.clone()).await;
        // One error per position, the duplicate included.
        assert_eq!(codes, vec![code; 3], "fault {fault}");
    }
}

#[tokio::test]
async fn an_invalid_token_is_upstream_auth() {
    let env = spawn_with(mock_args(), &["--ds-api-token", "not-the-right-token"]).await;
    let body = env
        .query("{ dossier(number: 1) { number } }", json!({}))
        .await;
    assert_eq!(
        error_codes(&body),
        vec![("UPSTREAM_AUTH".to_owned(), json!(["dossier"]))]
    );
    assert!(!body.to_string().contains("not-the-right-token"));
    assert!(
        !body.to_string().contains("persisted"),
        "DS's message must not reach the client"
    );
}

#[tokio::test]
async fn a_slow_ds_is_upstream_timeout() {
    let env = spawn_with(mock_args(), &["--ds-timeout-secs", "1"]).await;
    env.fault(json!({"latency_ms": 1500})).await;
    let n = env.mock.visible_numbers()[0];
    let body = env
        .query(
            "query($n: Int!) { dossier(number: $n) { number } }",
            json!({"n": n}),
        )
        .await;
    assert_eq!(
        error_codes(&body),
        vec![("UPSTREAM_TIMEOUT".to_owned(), json!(["dossier"]))]
    );
    // A timeout is retried, twice by default.
    assert_eq!(env.upstream_requests().await, 3);
}

#[tokio::test]
async fn ds_own_timeout_error_is_upstream_timeout_for_that_key_only() {
    let env = spawn().await;
    let v = env.mock.visible_numbers();
    env.fault(json!({"timeout": [v[1]]})).await;
    let body = env
        .query(
            "query($n: [Int!]!) { dossiers(numbers: $n) { number } }",
            json!({"n": [v[0], v[1], v[2]]}),
        )
        .await;
    assert_eq!(body["data"]["dossiers"][0]["number"], v[0]);
    assert!(body["data"]["dossiers"][1].is_null());
    assert_eq!(body["data"]["dossiers"][2]["number"], v[2]);
    assert_eq!(
        error_codes(&body),
        vec![("UPSTREAM_TIMEOUT".to_owned(), json!(["dossiers", 1]))]
    );
}

#[tokio::test]
async fn an_unreachable_ds_is_upstream_unavailable() {
    // A port that is surely closed: bind it, read it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let closed = format!("http://127.0.0.1:{port}/api/v2/graphql");
    let env = spawn_with(mock_args(), &["--ds-api-url", &closed]).await;
    let body = env
        .query("{ dossier(number: 1) { number } }", json!({}))
        .await;
    assert_eq!(
        error_codes(&body),
        vec![("UPSTREAM_UNAVAILABLE".to_owned(), json!(["dossier"]))]
    );
    assert!(
        !body.to_string().contains(&port.to_string()),
        "the upstream address leaked: {body}"
    );
}
