//! The mock over a real socket, as its users see it.

use serde_json::{json, Value};

use super::{MockArgs, MockServer};

const TOKEN: &str = "test-token";

async fn start(rate_limit: u32) -> MockServer {
    MockServer::start(MockArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        token: TOKEN.to_owned(),
        fixtures: None,
        latency_ms: 0,
        rate_limit,
    })
    .await
    .expect("mock starts")
}

/// POSTs a GraphQL body; returns status, raw body text and headers.
async fn post(
    server: &MockServer,
    auth: Option<&str>,
    body: Value,
) -> (u16, String, reqwest::header::HeaderMap) {
    let mut req = reqwest::Client::new().post(server.api_url()).json(&body);
    if let Some(auth) = auth {
        req = req.header("Authorization", auth);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, resp.text().await.unwrap(), headers)
}

async fn gql(server: &MockServer, query: &str, variables: Value) -> (u16, String) {
    let (status, body, _) = post(
        server,
        Some(&format!("Bearer {TOKEN}")),
        json!({ "query": query, "variables": variables }),
    )
    .await;
    (status, body)
}

async fn control(server: &MockServer, method: reqwest::Method, path: &str, body: Option<Value>) {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", server.base_url()));
    if let Some(body) = body {
        req = req.json(&body);
    }
    assert!(req.send().await.unwrap().status().is_success());
}

#[tokio::test]
async fn behaves_like_ds() {
    let server = start(0).await;
    let visible = server.visible_numbers();
    assert!(visible.len() >= 17);
    assert!(!visible.contains(&1000019));

    // A good aliased batch.
    let (status, body) = gql(
        &server,
        "query($n0: Int!, $n1: Int!) { d0: dossier(number: $n0) { id number state usager { email } demarche { title } messages { id body createdAt } } d1: dossier(number: $n1) { id dateTraitement } }",
        json!({ "n0": 1000001, "n1": 1000006 }),
    )
    .await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v.get("errors").is_none(), "{body}");
    assert_eq!(v["data"]["d0"]["id"], "RG9zc2llci0xMDAwMDAx");
    assert_eq!(v["data"]["d0"]["state"], "en_construction");
    assert_eq!(v["data"]["d0"]["messages"].as_array().unwrap().len(), 2);
    assert_eq!(v["data"]["d1"]["dateTraitement"], Value::Null);
    assert!(
        body.starts_with(r#"{"data":{"d0":{"id":"#),
        "field order kept: {body}"
    );

    // One missing and one forbidden alias: the whole data is null, one error per alias.
    let (status, body) = gql(
        &server,
        "{ d0: dossier(number: 1000002) { id number } d999: dossier(number: 999) { id } d19: dossier(number: 1000019) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body.starts_with(
            r#"{"errors":[{"message":"Dossier not found","locations":[{"line":1,"column":"#
        ),
        "{body}"
    );
    assert!(body.ends_with(r#""data":null}"#), "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{body}");
    assert_eq!(errors[0]["path"], json!(["d999"]));
    assert_eq!(errors[0]["extensions"], json!({ "code": "not_found" }));
    assert_eq!(errors[1]["path"], json!(["d19"]));
    assert_eq!(
        errors[1]["message"],
        "An object of type Dossier was hidden due to permissions"
    );
    assert_eq!(errors[1]["extensions"], json!({ "code": "unauthorized" }));

    // Bad and missing tokens.
    let expected_403 = r#"{"errors":[{"message":"Without a token, only persisted queries are allowed","extensions":{"code":"forbidden"}}],"data":null}"#;
    for auth in [Some("Bearer nope"), None] {
        let (status, body, _) = post(
            &server,
            auth,
            json!({ "query": "{ dossier(number: 1000001) { id } }" }),
        )
        .await;
        assert_eq!((status, body.as_str()), (403, expected_403));
    }

    // Validation errors: no data key.
    let (status, body) = gql(&server, "{ dossier(number: 1000001) { nope } }", json!({})).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v.get("data").is_none(), "{body}");
    assert_eq!(
        v["errors"][0]["message"],
        "Field 'nope' doesn't exist on type 'Dossier'"
    );

    let stats = server.stats();
    assert_eq!(stats.graphql_requests, 5);
    assert_eq!(stats.dossier_lookups, 5);
    assert_eq!(
        stats.last_query.as_deref(),
        Some("{ dossier(number: 1000001) { nope } }")
    );
    let over_http: super::MockStats = reqwest::get(format!("{}/mock/stats", server.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http, stats);

    // An injected 500, once, then back to normal.
    control(
        &server,
        reqwest::Method::POST,
        "/mock/faults",
        Some(json!({ "status": 500, "times": 1 })),
    )
    .await;
    let (status, body) = gql(&server, "{ dossier(number: 1000001) { id } }", json!({})).await;
    assert_eq!(status, 500);
    assert!(body.starts_with(r#"{"errors":[{"message":"Internal Server Error","extensions":{"code":"internal_server_error","exception_id":""#), "{body}");
    let (status, body) = gql(&server, "{ dossier(number: 1000001) { id } }", json!({})).await;
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"data":{"dossier":{"id":"RG9zc2llci0xMDAwMDAx"}}}"#)
    );

    control(&server, reqwest::Method::POST, "/mock/reset", None).await;
    assert_eq!(server.stats(), super::MockStats::default());
    server.shutdown().await;
}

#[tokio::test]
async fn injected_faults_and_edge_cases() {
    let server = start(0).await;
    let q = "query($n0: Int!, $n1: Int!) { d0: dossier(number: $n0) { id } d1: dossier(number: $n1) { id } }";

    control(
        &server,
        reqwest::Method::POST,
        "/mock/faults",
        Some(json!({ "timeout": [1000002], "poison": [1000003] })),
    )
    .await;
    let (status, body) = gql(&server, q, json!({ "n0": 1000001, "n1": 1000002 })).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"], Value::Null);
    assert_eq!(v["errors"][0]["message"], "Timeout on Query.dossier");
    assert_eq!(v["errors"][0]["path"], json!(["d1"]));
    let (status, _) = gql(&server, q, json!({ "n0": 1000003, "n1": 1000001 })).await;
    assert_eq!(status, 500);

    control(
        &server,
        reqwest::Method::POST,
        "/mock/faults",
        Some(json!({ "expired": true })),
    )
    .await;
    let (status, body) = gql(&server, q, json!({ "n0": 1000001, "n1": 1000004 })).await;
    assert_eq!(
        (status, body.as_str()),
        (
            401,
            r#"{"errors":[{"message":"Token expired","extensions":{"code":"unauthorized"}}],"data":null}"#
        )
    );
    control(&server, reqwest::Method::DELETE, "/mock/faults", None).await;

    for (fault, status, content_type) in [
        (json!({ "status": 503 }), 503, "application/json"),
        (json!({ "body": "html" }), 200, "text/html"),
        (json!({ "body": "malformed" }), 200, "application/json"),
        (json!({ "status": 429 }), 429, "text/plain"),
    ] {
        control(&server, reqwest::Method::POST, "/mock/faults", Some(fault)).await;
        let (got, _, headers) = post(&server, Some("Bearer x"), json!({ "query": q })).await;
        assert_eq!(got, status);
        let ct = headers["content-type"].to_str().unwrap();
        assert!(ct.starts_with(content_type), "{ct}");
    }
    control(&server, reqwest::Method::DELETE, "/mock/faults", None).await;

    // Depth, out-of-range variable, malformed body.
    let deep = format!(
        "{{ dossier(number: 1) {}{}",
        "{ a ".repeat(16),
        "}".repeat(17)
    );
    let (_, body) = gql(&server, &deep, json!({})).await;
    assert_eq!(
        body,
        r#"{"errors":[{"message":"Query has depth of 17, which exceeds max depth of 15"}]}"#
    );
    let (status, body) = gql(&server, q, json!({ "n0": 3000000000u64, "n1": 1 })).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v.get("data").is_none(), "{body}");
    assert_eq!(
        v["errors"][0]["message"], "Variable $n0 of type Int! was provided invalid value",
        "{body}"
    );
    let resp = reqwest::Client::new()
        .post(server.api_url())
        .header("Authorization", format!("Bearer {TOKEN}"))
        .header("Content-Type", "application/json")
        .body("{\"query\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["errors"][0]["extensions"]["code"], "bad_request");
    server.shutdown().await;
}

#[tokio::test]
async fn throttles_like_rack_attack() {
    let server = start(2).await;
    for _ in 0..2 {
        let (status, _) = gql(&server, "{ dossier(number: 1000001) { id } }", json!({})).await;
        assert_eq!(status, 200);
    }
    let (status, body, headers) = post(
        &server,
        Some(&format!("Bearer {TOKEN}")),
        json!({ "query": "{ dossier(number: 1000001) { id } }" }),
    )
    .await;
    assert_eq!(status, 429);
    assert!(body.starts_with("Calme toi, cowboy !"));
    assert_eq!(headers["ratelimit-remaining"], "0");
    assert_eq!(headers["ratelimit-limit"], "2");
    let reset: u64 = headers["ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(reset % 60, 0);
    assert!(headers.get("retry-after").is_none());
    assert_eq!(server.stats().rate_limited, 1);
    server.shutdown().await;
}
