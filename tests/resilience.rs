//! Resilience toward DS, against the mock with fault injection: cache and stale-if-error, our
//! rate limiter and DS's 429, retries, poisoned batches, projection, redirects, and sharing of
//! the loader across concurrent client requests.
mod common;

use common::*;
use serde_json::{json, Value};

const ONE: &str = "query($n: Int!) { dossier(number: $n) { number state } }";
const MANY: &str = "query($n: [Int!]!) { dossiers(numbers: $n) { number } }";

fn codes(body: &Value) -> Vec<String> {
    error_codes(body).into_iter().map(|(c, _)| c).collect()
}

#[tokio::test]
async fn a_cache_hit_makes_no_upstream_request() {
    let env = spawn().await;
    let n = env.mock.visible_numbers()[0];
    let first = env.query(ONE, json!({"n": n})).await;
    env.reset_stats().await;
    let second = env.query(ONE, json!({"n": n})).await;
    assert_eq!(first, second);
    assert_eq!(second["data"]["dossier"]["number"], n);
    assert_eq!(env.upstream_requests().await, 0);
}

#[tokio::test]
async fn a_cache_hit_never_waits_for_a_slow_miss_of_another_request() {
    // A wide batch window, so that the two requests below surely meet in one loader batch.
    let env = spawn_with(mock_args(), &["--ds-batch-window-ms", "300"]).await;
    let v = env.mock.visible_numbers();
    env.query(ONE, json!({"n": v[0]})).await; // now cached
    env.reset_stats().await; // (also clears faults: set the latency after)
    env.fault(json!({"latency_ms": 1500})).await;
    // Sent together, the hit and the miss would share one loader batch; the hit must not wait
    // for DS's answer to the miss. An ordering, not a timing: the slow DS answers in 1.5 s.
    let miss = env.query(ONE, json!({"n": v[1]}));
    let hit = env.query(ONE, json!({"n": v[0]}));
    tokio::pin!(miss, hit);
    let first = tokio::select! {
        body = &mut hit => ("hit", body),
        body = &mut miss => ("miss", body),
    };
    assert_eq!(
        first.0, "hit",
        "the cache hit waited for the miss: {}",
        first.1
    );
    assert_eq!(first.1["data"]["dossier"]["number"], v[0]);
    assert_eq!(miss.await["data"]["dossier"]["number"], v[1]);
    assert_eq!(env.stats().await["dossier_lookups"], 1);
}

#[tokio::test]
async fn not_found_is_remembered_briefly() {
    let env = spawn().await;
    for _ in 0..3 {
        let body = env.query(ONE, json!({"n": 2_000_000_001})).await;
        assert_eq!(codes(&body), ["NOT_FOUND"]);
    }
    assert_eq!(env.upstream_requests().await, 1);
}

#[tokio::test]
async fn ds_down_serves_the_stale_dossier_with_its_age_then_errors_past_the_window() {
    // TTL 0: every lookup asks DS, so only the stale-if-error path can answer while DS is down.
    let flags = [
        "--ds-cache-ttl",
        "0",
        "--ds-stale-if-error",
        "2",
        "--ds-max-retries",
        "0",
    ];
    let env = spawn_with(mock_args(), &flags).await;
    let v = env.mock.visible_numbers();
    let fresh = env.query(MANY, json!({"n": [v[0]]})).await;
    assert!(fresh.get("extensions").is_none(), "{fresh}");
    env.fault(json!({"status": 503})).await;
    let stale = env.query(MANY, json!({"n": [v[0], v[1]]})).await;
    assert_eq!(stale["data"]["dossiers"][0]["number"], v[0]);
    assert!(stale["data"]["dossiers"][1].is_null(), "never cached");
    assert_eq!(
        error_codes(&stale),
        [("UPSTREAM_UNAVAILABLE".to_owned(), json!(["dossiers", 1]))]
    );
    let flagged = &stale["extensions"]["staleDossiers"];
    assert_eq!(flagged.as_array().unwrap().len(), 1, "{stale}");
    assert_eq!(flagged[0]["number"], v[0]);
    assert!(flagged[0]["ageSeconds"].as_u64().unwrap() <= 1, "{stale}");
    // Past the 2 s window the cached copy is too old to serve.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let expired = env.query(MANY, json!({"n": [v[0]]})).await;
    assert!(expired["data"]["dossiers"][0].is_null());
    assert_eq!(codes(&expired), ["UPSTREAM_UNAVAILABLE"]);
    assert!(expired.get("extensions").is_none(), "{expired}");
}

#[tokio::test]
async fn a_burst_of_1000_lookups_stays_under_the_configured_rate() {
    // 4 requests/s with a burst of 1: any one second sees at most 1 + 4 upstream requests.
    let flags = [
        "--ds-rate-limit-per-min",
        "240",
        "--ds-rate-limit-burst",
        "1",
        "--ds-max-batch-size",
        "100",
    ];
    let env = spawn_with(mock_args(), &flags).await;
    let started = std::time::Instant::now();
    let requests = (0..10).map(|r| {
        let numbers: Vec<i32> = (0..100).map(|i| 2_000_000_000 + r * 100 + i).collect();
        let env = &env;
        async move { env.query(MANY, json!({"n": numbers})).await }
    });
    let bodies = futures::future::join_all(requests).await;
    let elapsed = started.elapsed();
    for body in &bodies {
        assert_eq!(codes(body), vec!["NOT_FOUND"; 100], "{body}");
    }
    let stats = env.stats().await;
    let (upstream, peak) = (
        stats["graphql_requests"].as_u64().unwrap(),
        stats["peak_requests_per_second"].as_u64().unwrap(),
    );
    println!(
        "1000 lookups → {upstream} upstream requests in {:.2} s, at most {peak} in one second (limit 240/min, burst 1)",
        elapsed.as_secs_f64()
    );
    assert!(upstream >= 10, "100 numbers per document at most");
    // Some slack: the mock timestamps arrivals, not the limiter's grants, and a loaded machine
    // can bunch arrivals up. Without the limiter all 10 arrive within the same second.
    assert!(peak <= 1 + 4 + 2, "{peak} requests in one second");
    assert_eq!(stats["rate_limited"], 0);
}

#[tokio::test]
async fn an_empty_limiter_fails_fast_past_the_deadline() {
    let flags = [
        "--ds-rate-limit-per-min",
        "1",
        "--ds-rate-limit-burst",
        "1",
        "--ds-deadline-secs",
        "2",
    ];
    let env = spawn_with(mock_args(), &flags).await;
    let v = env.mock.visible_numbers();
    let first = env.query(ONE, json!({"n": v[0]})).await;
    assert_eq!(first["data"]["dossier"]["number"], v[0]);
    // The next token is a minute away, past the 2 s deadline: no wait, no DS call.
    let second = env.query(ONE, json!({"n": v[1]})).await;
    assert_eq!(codes(&second), ["UPSTREAM_RATE_LIMITED"]);
    let wait = second["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .unwrap();
    assert!((50..=60).contains(&wait), "{wait}");
    assert_eq!(env.upstream_requests().await, 1);
}

#[tokio::test]
async fn a_429_pauses_every_upstream_call_until_ds_says() {
    let env = spawn().await;
    let v = env.mock.visible_numbers();
    env.query(ONE, json!({"n": v[0]})).await; // cached before the 429
    env.reset_stats().await;
    env.fault(json!({"status": 429, "times": 1, "retry_after": 30}))
        .await;
    let limited = env.query(ONE, json!({"n": v[1]})).await;
    assert_eq!(codes(&limited), ["UPSTREAM_RATE_LIMITED"]);
    assert_eq!(limited["errors"][0]["extensions"]["retryAfterSeconds"], 30);
    // DS would answer now (the fault is spent), but the pause outlasts the request deadline
    // (15 s): fail at once, without calling DS.
    let paused = env.query(ONE, json!({"n": v[2]})).await;
    assert_eq!(codes(&paused), ["UPSTREAM_RATE_LIMITED"]);
    let wait = paused["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    // The cache still answers.
    let cached = env.query(ONE, json!({"n": v[0]})).await;
    assert_eq!(cached["data"]["dossier"]["number"], v[0]);
    assert_eq!(env.upstream_requests().await, 1, "only the 429 reached DS");
}

#[tokio::test]
async fn retries_stop_at_the_bound_and_skip_4xx() {
    let env = spawn_with(
        mock_args(),
        &["--ds-max-retries", "2", "--ds-cache-ttl", "0"],
    )
    .await;
    let n = env.mock.visible_numbers()[0];
    for (fault, code, calls) in [
        (json!({"status": 503}), "UPSTREAM_UNAVAILABLE", 3),
        (json!({"status": 502}), "UPSTREAM_UNAVAILABLE", 3),
        (json!({"status": 403}), "UPSTREAM_AUTH", 1),
        (json!({"expired": true}), "UPSTREAM_AUTH", 1),
        (json!({"status": 400}), "UPSTREAM_BAD_RESPONSE", 1),
        (json!({"status": 308}), "UPSTREAM_UNAVAILABLE", 1),
    ] {
        env.reset_stats().await;
        env.fault(fault.clone()).await;
        let body = env.query(ONE, json!({"n": n})).await;
        assert_eq!(codes(&body), [code], "{fault}");
        assert_eq!(env.upstream_requests().await, calls, "{fault}");
    }
    // A passing failure is absorbed by one retry.
    env.reset_stats().await;
    env.fault(json!({"status": 503, "times": 1})).await;
    let body = env.query(ONE, json!({"n": n})).await;
    assert_eq!(body["data"]["dossier"]["number"], n, "{body}");
    assert_eq!(env.upstream_requests().await, 2);
}

#[tokio::test]
async fn the_retry_budget_caps_retries_across_requests() {
    let flags = ["--ds-max-retries", "3", "--ds-retry-budget-per-min", "2"];
    let env = spawn_with(mock_args(), &flags).await;
    env.fault(json!({"status": 503})).await;
    for n in env.mock.visible_numbers().into_iter().take(3) {
        let body = env.query(ONE, json!({"n": n})).await;
        assert_eq!(codes(&body), ["UPSTREAM_UNAVAILABLE"]);
    }
    let calls = env.upstream_requests().await;
    println!("3 lookups during an outage → {calls} upstream requests (budget: 2 retries/min)");
    assert_eq!(calls, 3 + 2);
}

async fn poisoned_batch(poison_status: u16) {
    let env = spawn().await;
    let mut numbers = env.mock.visible_numbers();
    let poisoned = 2_000_000_777;
    numbers.insert(7, poisoned);
    numbers.truncate(20);
    assert_eq!(numbers.len(), 20);
    env.fault(json!({"poison": [poisoned], "poison_status": poison_status}))
        .await;
    let body = env.query(MANY, json!({"n": numbers})).await;
    for (i, n) in numbers.iter().enumerate() {
        if *n == poisoned {
            assert!(body["data"]["dossiers"][i].is_null());
        } else {
            assert_eq!(body["data"]["dossiers"][i]["number"], *n, "{body}");
        }
    }
    assert_eq!(error_codes(&body).len(), 1, "{body}");
    assert_eq!(error_codes(&body)[0].1, json!(["dossiers", 7]));
    let calls = env.upstream_requests().await;
    // The whole document, then two halves per level down to the poisoned number.
    let bound = 1 + 2 * 20f64.log2().ceil() as u64;
    println!("poisoned ({poison_status}) 1 of 20 → 19 served with {calls} upstream requests (bound {bound})");
    assert!(calls <= bound, "{calls} > {bound}");
    // The isolated number is remembered: the next batch does not split again.
    env.reset_stats().await;
    let again = env
        .query(
            "query($n: [Int!]!) { dossiers(numbers: $n) { number usager { email } } }",
            json!({"n": numbers}),
        )
        .await;
    assert_eq!(codes(&again), [codes(&body)[0].clone()]);
    assert_eq!(env.upstream_requests().await, 1);
}

#[tokio::test]
async fn a_poisoned_number_answered_500_is_isolated_within_the_bound() {
    poisoned_batch(500).await;
}

#[tokio::test]
async fn a_poisoned_number_answered_with_an_error_without_path_is_isolated_too() {
    poisoned_batch(200).await;
}

#[tokio::test]
async fn a_ds_failing_everything_is_not_split_further() {
    let env = spawn_with(mock_args(), &["--ds-max-retries", "0"]).await;
    let numbers: Vec<i32> = env.mock.visible_numbers().into_iter().take(16).collect();
    env.fault(json!({"status": 500})).await;
    let body = env.query(MANY, json!({"n": numbers})).await;
    assert_eq!(codes(&body), vec!["UPSTREAM_UNAVAILABLE"; 16]);
    // The document, then its two halves: both fail, so no deeper split.
    assert_eq!(env.upstream_requests().await, 3);
}

#[tokio::test]
async fn ds_is_asked_only_for_the_selected_field_groups() {
    let env = spawn().await;
    let n = env.mock.visible_numbers()[0];
    let last_query = |stats: &Value| stats["last_query"].as_str().unwrap().to_owned();
    env.query(ONE, json!({"n": n})).await;
    let q = last_query(&env.stats().await);
    for group in ["messages", "usager", "demarche"] {
        assert!(!q.contains(group), "{group} asked: {q}");
    }
    // A richer selection refetches, keeping what the entry held.
    env.reset_stats().await;
    let rich = "query($n: Int!) { dossier(number: $n) { lastMessage { body } usager { email } } }";
    let body = env.query(rich, json!({"n": n})).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(env.upstream_requests().await, 1);
    let q = last_query(&env.stats().await);
    assert!(q.contains("messages {") && q.contains("usager {") && !q.contains("demarche"));
    // Now the cache holds both groups.
    let both = "query($n: Int!) { dossier(number: $n) { state messages { id } } }";
    env.query(both, json!({"n": n})).await;
    assert_eq!(env.upstream_requests().await, 1);
    // `_entities` reads the selection inside `... on Dossier`.
    let m = env.mock.visible_numbers()[1];
    let entities = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Dossier { demarche { title } } } }";
    let body = env
        .query(
            entities,
            json!({"r": [{"__typename": "Dossier", "number": m}]}),
        )
        .await;
    assert!(body["data"]["_entities"][0]["demarche"]["title"].is_string());
    let q = last_query(&env.stats().await);
    assert!(q.contains("demarche {") && !q.contains("messages") && !q.contains("usager"));
}

#[tokio::test]
async fn a_redirect_is_never_followed() {
    let env = spawn().await;
    let v = env.mock.visible_numbers();
    // The mock redirects to its own API URL: a followed redirect would show as a second call.
    for (i, status) in [301, 302, 307, 308].into_iter().enumerate() {
        env.reset_stats().await;
        env.fault(json!({"status": status, "times": 1})).await;
        let body = env.query(ONE, json!({"n": v[i]})).await;
        assert_eq!(codes(&body), ["UPSTREAM_UNAVAILABLE"], "{status}");
        assert_eq!(env.upstream_requests().await, 1, "{status}");
    }
}

#[tokio::test]
async fn a_redirect_to_another_host_never_gets_the_token() {
    // "Another host": a listener that counts every connection it is offered.
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let location = format!("http://{}/api/v2/graphql", other.local_addr().unwrap());
    let offered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = offered.clone();
    let accept = tokio::spawn(async move {
        while other.accept().await.is_ok() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let env = spawn().await;
    env.fault(json!({"status": 307, "location": location}))
        .await;
    let body = env
        .query(ONE, json!({"n": env.mock.visible_numbers()[0]}))
        .await;
    accept.abort();
    assert_eq!(codes(&body), ["UPSTREAM_UNAVAILABLE"]);
    assert_eq!(offered.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(
        env.upstream_requests().await,
        1,
        "a redirect is not retried"
    );
}

#[tokio::test]
async fn the_request_deadline_bounds_a_slow_ds() {
    let flags = ["--ds-timeout-secs", "10", "--ds-deadline-secs", "1"];
    let env = spawn_with(mock_args(), &flags).await;
    env.fault(json!({"latency_ms": 3000})).await;
    let body = env
        .query(ONE, json!({"n": env.mock.visible_numbers()[0]}))
        .await;
    assert_eq!(codes(&body), ["UPSTREAM_TIMEOUT"]);
}

#[tokio::test]
async fn concurrent_requests_share_one_upstream_document_and_keep_their_own_errors() {
    let env = spawn_with(mock_args(), &["--ds-batch-window-ms", "250"]).await;
    let v = env.mock.visible_numbers();
    let forbidden = env.mock.forbidden_numbers()[0];
    let asks = [
        vec![v[0], 2_000_000_001],
        vec![v[1], forbidden],
        vec![v[2], v[3]],
    ];
    let bodies = futures::future::join_all(
        asks.iter()
            .map(|numbers| env.query(MANY, json!({"n": numbers}))),
    )
    .await;
    assert_eq!(
        error_codes(&bodies[0]),
        [("NOT_FOUND".to_owned(), json!(["dossiers", 1]))]
    );
    assert_eq!(
        error_codes(&bodies[1]),
        [("FORBIDDEN".to_owned(), json!(["dossiers", 1]))]
    );
    assert!(bodies[2].get("errors").is_none(), "{}", bodies[2]);
    for (numbers, body) in asks.iter().zip(&bodies) {
        assert_eq!(body["data"]["dossiers"][0]["number"], numbers[0]);
    }
    let stats = env.stats().await;
    // One document for the three requests, plus DS's usual second round for the survivors.
    println!(
        "3 concurrent requests, 6 numbers → {} upstream requests",
        stats["graphql_requests"]
    );
    assert_eq!(stats["graphql_requests"], 2);
    assert_eq!(stats["dossier_lookups"], 6 + 4);
}

#[tokio::test]
async fn concurrent_lookups_of_one_uncached_number_share_one_upstream_lookup() {
    let env = spawn().await;
    let n = env.mock.visible_numbers()[0];
    env.fault(json!({"latency_ms": 300})).await;
    let first = env.query(ONE, json!({"n": n}));
    let later = async {
        // Well after the first batch has left: a new batch, which must await the first.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        futures::future::join_all((0..5).map(|_| env.query(ONE, json!({"n": n})))).await
    };
    let (first, later) = futures::join!(first, later);
    for body in later.iter().chain([&first]) {
        assert_eq!(body["data"]["dossier"]["number"], n, "{body}");
    }
    let stats = env.stats().await;
    assert_eq!(stats["graphql_requests"], 1);
    assert_eq!(stats["dossier_lookups"], 1);
}
