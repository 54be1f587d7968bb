//! Operations surface over real sockets: `/metrics`, `/readyz`, `Cache-Control`, request ids.
mod common;

use common::{mock_args, spawn, spawn_with, TestEnv};
use prometheus_parse::{Scrape, Value as Metric};
use serde_json::json;

fn base(env: &TestEnv) -> String {
    env.url.trim_end_matches("/graphql").to_owned()
}

async fn get(env: &TestEnv, path: &str) -> (u16, String) {
    let resp = env
        .http
        .get(format!("{}{path}", base(env)))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn scrape(env: &TestEnv) -> Scrape {
    let (status, text) = get(env, "/metrics").await;
    assert_eq!(status, 200);
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text format")
}

/// A counter's value, or a histogram's observation count (its `+Inf` bucket).
fn value(scrape: &Scrape, metric: &str, label: Option<(&str, &str)>) -> f64 {
    find(scrape, metric, label).unwrap_or_else(|| panic!("{metric} {label:?} not in /metrics"))
}

fn find(scrape: &Scrape, metric: &str, label: Option<(&str, &str)>) -> Option<f64> {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))?;
    Some(match &sample.value {
        Metric::Counter(v) | Metric::Gauge(v) | Metric::Untyped(v) => *v,
        Metric::Histogram(buckets) => buckets
            .iter()
            .find(|b| b.less_than.is_infinite())
            .map_or(0.0, |b| b.count),
        Metric::Summary(_) => panic!("{metric} is a summary"),
    })
}

#[tokio::test]
async fn metrics_are_scraped_and_count_requests() {
    let env = spawn().await;
    let before = scrape(&env).await;
    // Declared up front: series exist at start, even those this build never moves.
    for name in [
        "ds_subgraph_cache_hits_total",
        "ds_subgraph_cache_misses_total",
        "ds_subgraph_cache_stale_served_total",
        "ds_subgraph_limiter_waits_total",
        "ds_subgraph_upstream_retries_total",
    ] {
        assert!(value(&before, name, None) >= 0.0);
    }
    let n = env.mock.visible_numbers();
    let body = env
        .query(
            "query($n: [Int!]!) { dossiers(numbers: $n) { number } }",
            json!({ "n": [n[0], n[1], n[2]] }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let after = scrape(&env).await;
    let ok = Some(("outcome", "ok"));
    // A histogram appears at its first observation, which may be this test's.
    let delta =
        |name: &str, label| value(&after, name, label) - find(&before, name, label).unwrap_or(0.0);
    assert!(delta("ds_subgraph_client_requests_total", ok) >= 1.0);
    assert!(delta("ds_subgraph_upstream_requests_total", ok) >= 1.0);
    assert!(delta("ds_subgraph_upstream_request_duration_seconds", ok) >= 1.0);
    assert!(delta("ds_subgraph_upstream_batch_keys", None) >= 1.0);
    assert!(delta("ds_subgraph_upstream_batch_keys_sum", None) >= 3.0);
}

#[tokio::test]
async fn upstream_failures_are_counted_by_outcome() {
    // No retry, so that the one injected 503 is what the client sees.
    let env = spawn_with(mock_args(), &["--ds-max-retries", "0"]).await;
    let label = Some(("outcome", "unavailable"));
    let before = value(
        &scrape(&env).await,
        "ds_subgraph_upstream_requests_total",
        label,
    );
    env.fault(json!({"status": 503, "times": 1})).await;
    let n = env.mock.visible_numbers()[0];
    let body = env
        .query(
            "query($n: Int!) { dossier(number: $n) { number } }",
            json!({ "n": n }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "UPSTREAM_UNAVAILABLE"
    );
    let after = value(
        &scrape(&env).await,
        "ds_subgraph_upstream_requests_total",
        label,
    );
    assert!(after - before >= 1.0);
}

async fn ask_one(env: &TestEnv) -> serde_json::Value {
    let n = env.mock.visible_numbers()[0];
    env.query(
        "query($n: Int!) { dossier(number: $n) { number } }",
        json!({ "n": n }),
    )
    .await
}

#[tokio::test]
async fn readiness_flips_when_ds_rejects_the_token_and_back() {
    let env = spawn().await;
    assert_eq!(get(&env, "/readyz").await.0, 200);
    env.fault(json!({"status": 403})).await;
    let body = ask_one(&env).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UPSTREAM_AUTH");
    let (status, text) = get(&env, "/readyz").await;
    assert_eq!(status, 503);
    assert!(text.contains("token"), "{text}");
    assert!(!text.contains(common::TOKEN));
    // Alive all the same: restarting would not fix a token.
    assert_eq!(get(&env, "/healthz").await.0, 200);

    // Probes never call DS.
    env.reset_stats().await;
    for _ in 0..3 {
        assert_eq!(get(&env, "/readyz").await.0, 503);
    }
    assert_eq!(env.upstream_requests().await, 0);

    let body = ask_one(&env).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(get(&env, "/readyz").await.0, 200);
}

#[tokio::test]
async fn readiness_waits_for_the_threshold_when_ds_is_down() {
    let patient = spawn().await;
    patient.fault(json!({"status": 503})).await;
    ask_one(&patient).await;
    // Default threshold (60 s): one failure is not an outage yet.
    assert_eq!(get(&patient, "/readyz").await.0, 200);

    let strict = spawn_with(mock_args(), &["--ready-upstream-down-secs", "0"]).await;
    strict.fault(json!({"status": 503})).await;
    ask_one(&strict).await;
    let (status, text) = get(&strict, "/readyz").await;
    assert_eq!(status, 503);
    assert!(text.contains("unreachable"), "{text}");
    strict.reset_stats().await;
    ask_one(&strict).await;
    assert_eq!(get(&strict, "/readyz").await.0, 200);
}

async fn cache_control(env: &TestEnv, number: i64) -> String {
    let resp = env
        .http
        .post(&env.url)
        .json(&json!({
            "query": "query($n: Int!) { dossier(number: $n) { number } }",
            "variables": { "n": number }
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.headers()["cache-control"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn responses_forbid_shared_caches() {
    let env = spawn().await;
    let n = env.mock.visible_numbers()[0].into();
    assert_eq!(cache_control(&env, n).await, "no-store");

    let private = spawn_with(mock_args(), &["--http-cache-control", "private"]).await;
    let value = cache_control(&private, n).await;
    assert!(value.starts_with("private, max-age="), "{value}");
    // An error may be transient: never kept.
    assert_eq!(cache_control(&private, 999_999_999).await, "no-store");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let env = spawn().await;
    let resp = env
        .http
        .get(format!("{}/healthz", base(&env)))
        .send()
        .await
        .unwrap();
    let generated = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let resp = env
        .http
        .get(format!("{}/healthz", base(&env)))
        .header("x-request-id", "router-req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "router-req-42");
}
