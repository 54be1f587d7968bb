//! `_entities` and `_service` as a router calls them, over real sockets.
mod common;

use base64::Engine;
use common::*;
use serde_json::{json, Value};

const ENTITIES: &str = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Dossier { number state webUrl } } }";

fn numbers_of(body: &Value) -> Vec<Value> {
    body["data"]["_entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["number"].clone())
        .collect()
}

#[tokio::test]
async fn ten_representations_make_one_upstream_request_in_order() {
    let env = spawn().await;
    let mut numbers: Vec<i32> = env.mock.visible_numbers().into_iter().take(10).collect();
    numbers.reverse();
    let reps: Vec<Value> = numbers
        .iter()
        .map(|n| json!({"__typename": "Dossier", "number": n}))
        .collect();
    env.reset_stats().await;
    let body = env.query(ENTITIES, json!({"r": reps})).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        numbers_of(&body),
        numbers.iter().map(|n| json!(n)).collect::<Vec<_>>()
    );
    let requests = env.upstream_requests().await;
    println!("_entities × 10 → {requests} upstream request(s)");
    assert_eq!(requests, 1);
}

#[tokio::test]
async fn entities_resolve_by_id_key_too() {
    let env = spawn().await;
    let n = env.mock.visible_numbers()[3];
    let id = base64::engine::general_purpose::STANDARD.encode(format!("Dossier-{n}"));
    let body = env
        .query(
            ENTITIES,
            json!({"r": [{"__typename": "Dossier", "id": id}]}),
        )
        .await;
    assert_eq!(numbers_of(&body), vec![json!(n)]);
}

fn id_of(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn a_bad_or_missing_id_key_fails_alone_without_upstream_calls_for_bad_ids() {
    let env = spawn().await;
    let v = env.mock.visible_numbers();
    let missing = 2_099_999_998;
    let reps = json!([
        {"__typename": "Dossier", "id": id_of(&format!("Dossier-{}", v[0]))},
        {"__typename": "Dossier", "id": id_of("Dossier-0")},
        {"__typename": "Dossier", "id": id_of(&format!("Procedure-{}", v[1]))},
        {"__typename": "Dossier", "id": id_of("Dossier-2147483648")},
        {"__typename": "Dossier", "id": id_of("Dossier-abc")},
        {"__typename": "Dossier", "id": 123},
        {"__typename": "Dossier", "id": id_of(&format!("Dossier-{missing}"))},
        {"__typename": "Dossier", "id": id_of(&format!("Dossier-{}", v[2]))},
    ]);
    env.reset_stats().await;
    let body = env.query(ENTITIES, json!({"r": reps})).await;
    let got = body["data"]["_entities"].as_array().unwrap();
    assert_eq!(got.len(), 8, "{body}");
    assert_eq!(got[0]["number"], v[0]);
    assert_eq!(got[7]["number"], v[2]);
    assert!(got[1..7].iter().all(Value::is_null), "{body}");
    let mut codes = error_codes(&body);
    codes.sort_by_key(|(_, p)| p.to_string());
    let mut expected: Vec<(String, Value)> = (1..=5)
        .map(|i| ("BAD_USER_INPUT".to_owned(), json!(["_entities", i])))
        .collect();
    expected.push(("NOT_FOUND".to_owned(), json!(["_entities", 6])));
    assert_eq!(codes, expected);
    // The bad ids never reach DS: one document for the three decodable numbers, then (DS
    // answered `data: null` for it because one is missing) one for the two survivors.
    let stats = env.stats().await;
    assert_eq!(stats["dossier_lookups"], 3 + 2, "{stats}");
    assert_eq!(stats["graphql_requests"], 2, "{stats}");
}

#[tokio::test]
async fn a_bad_representation_fails_alone() {
    let env = spawn().await;
    let v = env.mock.visible_numbers();
    let reps = json!([
        {"__typename": "Dossier", "number": v[0]},
        {"__typename": "Demande", "number": v[1]},
        {"__typename": "Dossier", "number": "123"},
        {"__typename": "Dossier", "number": 123.5},
        {"__typename": "Dossier"},
        {"__typename": "Dossier", "id": "bm9wZQ=="},
        {"__typename": "Dossier", "number": 2_099_999_998},
        {"__typename": "Dossier", "number": v[2]},
    ]);
    env.reset_stats().await;
    let body = env.query(ENTITIES, json!({"r": reps})).await;
    let got = body["data"]["_entities"].as_array().unwrap();
    assert_eq!(got.len(), 8);
    assert_eq!(got[0]["number"], v[0]);
    assert_eq!(got[7]["number"], v[2]);
    for item in &got[1..7] {
        assert!(item.is_null(), "{body}");
    }
    let mut expected: Vec<(String, Value)> = (1..=5)
        .map(|i| ("BAD_USER_INPUT".to_owned(), json!(["_entities", i])))
        .collect();
    expected.push(("NOT_FOUND".to_owned(), json!(["_entities", 6])));
    let mut codes = error_codes(&body);
    codes.sort_by_key(|(_, p)| p.to_string());
    assert_eq!(codes, expected);
    assert!(env.upstream_requests().await <= 2);
}

#[tokio::test]
async fn service_sdl_is_the_committed_schema_with_both_keys() {
    let env = spawn().await;
    let body = env.query("{ _service { sdl } }", json!({})).await;
    let sdl = body["data"]["_service"]["sdl"].as_str().unwrap();
    assert!(
        sdl.contains(r#"type Dossier @key(fields: "number") @key(fields: "id") {"#),
        "{sdl}"
    );
    assert!(sdl.contains("@link"));
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert_eq!(
        sdl, committed,
        "schema.graphql drifted: run `cargo run -- schema > schema.graphql`"
    );
}

#[tokio::test]
async fn content_type_follows_accept() {
    let env = spawn().await;
    for (accept, expected) in [
        (Some("application/json"), "application/json"),
        (
            Some("application/graphql-response+json, application/json;q=0.9"),
            "application/graphql-response+json",
        ),
        (Some("*/*"), "application/json"),
        (None, "application/json"),
    ] {
        let mut req = env
            .http
            .post(&env.url)
            .json(&json!({"query": "{ __typename }"}));
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(
            resp.headers()["content-type"],
            expected,
            "Accept: {accept:?}"
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["data"]["__typename"], "Query");
    }
}
