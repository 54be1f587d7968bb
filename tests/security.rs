//! Caller authentication, CSRF guard, query limits, démarche allowlist and the citizen-safe
//! lookup, over real sockets.
mod common;

use common::*;
use serde_json::{json, Value};

const ONE: &str = "query($n: Int!) { dossier(number: $n) { number } }";
const FOR_USAGER: &str =
    "query($n: Int!, $e: String!) { dossierForUsager(number: $n, email: $e) { number state } }";

async fn raw(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert!(!text.contains(SECRET) && !text.contains(TOKEN), "{text}");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

fn first_code(body: &Value) -> String {
    error_codes(body)
        .first()
        .map(|(c, _)| c.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn graphql_requires_the_shared_secret_and_health_does_not() {
    let env = spawn().await;
    let n = env.mock.visible_numbers()[0];
    let body = json!({"query": ONE, "variables": {"n": n}});
    env.reset_stats().await;
    for auth in [
        None,
        Some("Bearer wrong-secret-0000000000"),
        Some(SECRET),
        Some("Basic dGVzdA=="),
        Some("Bearer "),
    ] {
        let mut req = env.anon.post(&env.url).json(&body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{auth:?}");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(first_code(&body), "UNAUTHENTICATED", "{body}");
    }
    assert_eq!(env.upstream_requests().await, 0);
    let at = |path: &str| env.url.replace("/graphql", path);
    for open in ["/healthz", "/readyz"] {
        assert_eq!(
            env.anon.get(at(open)).send().await.unwrap().status(),
            200,
            "{open}"
        );
    }
    let metrics = env.anon.get(at("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 401);
    let metrics = env.http.get(at("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let (status, ok) = raw(env.http.post(&env.url).json(&body)).await;
    assert_eq!(status, 200);
    assert_eq!(ok["data"]["dossier"]["number"], n);
}

#[tokio::test]
async fn secrets_rotate_and_the_header_is_configurable() {
    let (old, new) = ("old-shared-secret-1111", "new-shared-secret-2222");
    let env = spawn_with(
        mock_args(),
        &[
            "--shared-secrets",
            &format!("{old},{new}"),
            "--auth-header",
            "X-Subgraph-Secret",
        ],
    )
    .await;
    let body = json!({"query": "{ __typename }"});
    for (value, expected) in [
        (old.to_owned(), 200),
        (format!("Bearer {new}"), 200),
        ("Bearer not-a-configured-secret".to_owned(), 401),
    ] {
        let req = env
            .anon
            .post(&env.url)
            .header("x-subgraph-secret", value)
            .json(&body);
        assert_eq!(raw(req).await.0, expected);
    }
    // The secret in `authorization` does not count when another header is configured.
    let req = env.anon.post(&env.url).bearer_auth(new).json(&body);
    assert_eq!(raw(req).await.0, 401);
}

#[tokio::test]
async fn requests_a_browser_sends_without_preflight_are_refused() {
    let env = spawn().await;
    let n = env.mock.visible_numbers()[0];
    let body = json!({"query": ONE, "variables": {"n": n}}).to_string();
    env.reset_stats().await;
    for ct in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let mut req = env.http.post(&env.url).body(body.clone());
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let (status, resp) = raw(req).await;
        assert_eq!(status, 400, "{ct:?}: {resp}");
        assert_eq!(first_code(&resp), "BAD_USER_INPUT");
        assert!(resp["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("CSRF"));
    }
    let get = env
        .http
        .get(format!("{}?query={{__typename}}", env.url))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 400);
    assert_eq!(env.upstream_requests().await, 0);
    // A header a browser cannot send cross-site without a preflight lets it in.
    let req = env
        .http
        .post(&env.url)
        .header("content-type", "text/plain")
        .header("apollo-require-preflight", "true")
        .body(body);
    let (status, resp) = raw(req).await;
    assert_eq!(status, 200);
    assert_eq!(resp["data"]["dossier"]["number"], n);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_even_without_content_length() {
    let env = spawn_with(mock_args(), &["--max-body-bytes", "2048"]).await;
    let big = json!({"query": format!("{{ __typename }} # {}", "x".repeat(4096))});
    let (status, body) = raw(env.http.post(&env.url).json(&big)).await;
    assert_eq!(status, 413);
    assert_eq!(first_code(&body), "QUERY_TOO_COMPLEX", "{body}");
    // Streamed (chunked) body: the limit is enforced while reading.
    let (status, _) = env.post_chunked(big.to_string().as_bytes(), 512).await;
    assert_eq!(status, 413);
    let (status, text) = env.post_chunked(br#"{"query": "{ __typename }"}"#, 4).await;
    assert_eq!(status, 200, "{text}");
    let small = env.query("{ __typename }", json!({})).await;
    assert_eq!(small["data"]["__typename"], "Query");
}

#[tokio::test]
async fn limits_refuse_before_any_upstream_call() {
    let env = spawn_with(
        mock_args(),
        &[
            "--max-dossiers-per-operation",
            "5",
            "--max-batched-operations",
            "3",
            "--max-entities-representations",
            "4",
            "--max-query-depth",
            "2",
            "--max-query-complexity",
            "30",
        ],
    )
    .await;
    let v = env.mock.visible_numbers();
    let aliases: String = (0..6)
        .map(|i| format!("a{i}: dossier(number: {}) {{ number }} ", v[i]))
        .collect();
    let reps: Vec<Value> = v[..5]
        .iter()
        .map(|n| json!({"__typename": "Dossier", "number": n}))
        .collect();
    let cases = [
        json!({"query": format!("{{ {aliases} }}")}),
        json!({"query": "query($n: [Int!]!) { dossiers(numbers: $n) { number } }", "variables": {"n": &v[..6]}}),
        json!({"query": "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }", "variables": {"r": reps}}),
        json!([{"query": ONE, "variables": {"n": v[0]}}, {"query": ONE, "variables": {"n": v[1]}},
               {"query": ONE, "variables": {"n": v[2]}}, {"query": ONE, "variables": {"n": v[3]}}]),
        json!([
            {"query": "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }", "variables": {"r": &reps[..3]}},
            {"query": "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }", "variables": {"r": &reps[..3]}},
        ]),
        json!({"query": "{ dossier(number: 1) { ...D } } fragment D on Dossier { messages { id } }"}),
        json!({"query": format!("{{ dossier(number: {}) {{ {} }} }}", v[0], "number ".repeat(40))}),
    ];
    env.reset_stats().await;
    for case in cases {
        let (status, body) = env.post(case.clone()).await;
        assert_eq!(status, 200, "{case}");
        assert_eq!(first_code(&body), "QUERY_TOO_COMPLEX", "{case}: {body}");
    }
    assert_eq!(env.upstream_requests().await, 0);
    // Within the limits, the same shapes work.
    let ok = env
        .query(
            "query($n: [Int!]!) { dossiers(numbers: $n) { number state } }",
            json!({"n": &v[..5]}),
        )
        .await;
    assert!(ok.get("errors").is_none(), "{ok}");
}

#[tokio::test]
async fn introspection_is_off_by_default_but_service_sdl_answers() {
    let env = spawn().await;
    let body = env
        .query("{ __schema { types { name } } }", json!({}))
        .await;
    assert!(body["data"].is_null(), "{body}");
    assert_eq!(first_code(&body), "BAD_USER_INPUT");
    assert!(body.to_string().contains("Introspection is disabled"));
    let body = env.query("{ _service { sdl } }", json!({})).await;
    assert!(body["data"]["_service"]["sdl"]
        .as_str()
        .unwrap()
        .contains("dossierForUsager"));

    let open = spawn_with(mock_args(), &["--introspection", "true"]).await;
    let body = open
        .query("{ __schema { types { name } } }", json!({}))
        .await;
    assert!(body["data"]["__schema"]["types"].as_array().unwrap().len() > 5);
}

#[tokio::test]
async fn a_dossier_outside_the_allowlist_reads_like_an_unknown_number() {
    let probe = spawn().await;
    let v = probe.mock.visible_numbers();
    let allowed = probe.upstream_dossier(v[0]).await["demarche"]["number"].clone();
    let mut other = None;
    for n in &v {
        if probe.upstream_dossier(*n).await["demarche"]["number"] != allowed {
            other = Some(*n);
            break;
        }
    }
    let other = other.expect("the samples span several démarches");
    drop(probe);
    let env = spawn_with(
        mock_args(),
        &["--ds-allowed-demarches", &allowed.to_string()],
    )
    .await;
    let answer = |n: i32| {
        let env = &env;
        async move { env.query(ONE, json!({"n": n})).await }
    };
    let ok = answer(v[0]).await;
    assert_eq!(ok["data"]["dossier"]["number"], v[0]);
    let unknown = answer(2_099_999_999).await;
    assert_eq!(first_code(&unknown), "NOT_FOUND");
    for n in [other, env.mock.forbidden_numbers()[0]] {
        assert_eq!(answer(n).await, unknown, "dossier {n}");
    }
}

#[tokio::test]
async fn dossier_for_usager_needs_the_usagers_email() {
    // Cache off: the upstream work of each answer is counted.
    let env = spawn_with(
        mock_args(),
        &["--ds-cache-ttl", "0", "--ds-negative-cache-ttl", "0"],
    )
    .await;
    let v = env.mock.visible_numbers();
    let email = env.upstream_dossier(v[1]).await["usager"]["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let ask = |n: i32, e: String| {
        let env = &env;
        async move { env.query(FOR_USAGER, json!({"n": n, "e": e})).await }
    };
    let shouted = format!("  {}  ", email.to_uppercase());
    let ok = ask(v[1], shouted).await;
    assert!(ok.get("errors").is_none(), "{ok}");
    assert_eq!(ok["data"]["dossierForUsager"]["number"], v[1]);

    env.reset_stats().await;
    let unknown = ask(2_099_999_999, email.clone()).await;
    let after_unknown = env.upstream_requests().await;
    let wrong = ask(v[1], format!("x{email}")).await;
    let after_wrong = env.upstream_requests().await;
    let other = ask(v[0], email.clone()).await;
    let hidden = ask(env.mock.forbidden_numbers()[0], email.clone()).await;
    assert_eq!(first_code(&unknown), "NOT_FOUND");
    for answer in [&wrong, &other, &hidden] {
        assert_eq!(answer, &unknown);
    }
    // The same upstream work whatever the outcome: one lookup each.
    assert_eq!(after_unknown, 1);
    assert_eq!(after_wrong, 2);
}

#[tokio::test]
async fn dossier_for_usager_attempts_are_limited_per_caller() {
    let env = spawn_with(
        mock_args(),
        &[
            "--usager-lookup-rate",
            "3",
            "--caller-id-header",
            "x-caller-id",
        ],
    )
    .await;
    let n = env.mock.visible_numbers()[0];
    let email = env.upstream_dossier(n).await["usager"]["email"].clone();
    let ask = |caller: Option<&'static str>| {
        let env = &env;
        let email = email.clone();
        async move {
            let mut req = env
                .http
                .post(&env.url)
                .json(&json!({"query": FOR_USAGER, "variables": {"n": n, "e": email}}));
            if let Some(c) = caller {
                req = req.header("x-caller-id", c);
            }
            raw(req).await.1
        }
    };
    for _ in 0..3 {
        let wrong_then_right = ask(Some("citizen-a")).await;
        assert!(wrong_then_right.get("errors").is_none());
    }
    env.reset_stats().await;
    let limited = ask(Some("citizen-a")).await;
    assert_eq!(first_code(&limited), "RATE_LIMITED", "{limited}");
    assert!(limited["errors"][0]["extensions"]["retryAfterSeconds"].as_u64() >= Some(1));
    assert_eq!(env.upstream_requests().await, 0);
    // Another caller, and callers keyed by IP, have their own budget.
    let other = ask(Some("citizen-b")).await;
    assert_eq!(other["data"]["dossierForUsager"]["number"], n);
    let by_ip = ask(None).await;
    assert_eq!(by_ip["data"]["dossierForUsager"]["number"], n);
}
