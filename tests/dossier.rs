//! `dossier` / `dossiers` over real sockets: field mapping, batching, per-key errors.
mod common;

use common::*;
use serde_json::{json, Value};

/// The subgraph's view of a dossier must be DS's, field by field.
fn assert_mapped(ours: &Value, ds: &Value) {
    for field in [
        "id",
        "number",
        "state",
        "dateDerniereModification",
        "dateDepot",
        "datePassageEnConstruction",
        "datePassageEnInstruction",
        "dateTraitement",
        "dateExpiration",
        "dateSuppressionParUsager",
        "usager",
        "demarche",
        "messages",
    ] {
        assert_eq!(ours[field], ds[field], "field {field} differs");
    }
    assert_eq!(
        ours["lastMessage"]["id"],
        ds["messages"]
            .as_array()
            .unwrap()
            .last()
            .map_or(Value::Null, |m| m["id"].clone())
    );
}

#[tokio::test]
async fn one_dossier_maps_every_field_and_builds_web_url() {
    let env = spawn().await;
    let number = env.mock.visible_numbers()[0];
    let body = env
        .query(
            &format!("query($n: Int!) {{ dossier(number: $n) {{ {ALL_FIELDS} }} }}"),
            json!({"n": number}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let ours = &body["data"]["dossier"];
    assert_mapped(ours, &env.upstream_dossier(number).await);
    assert_eq!(
        ours["webUrl"],
        format!("https://ds.example.test/dossiers/{number}")
    );
    assert!(ours["stateLabel"].as_str().is_some_and(|l| !l.is_empty()));
}

#[tokio::test]
async fn every_sample_is_mapped_and_nullable_dates_can_be_null() {
    let env = spawn().await;
    let numbers = env.mock.visible_numbers();
    let body = env
        .query(
            &format!("query($n: [Int!]!) {{ dossiers(numbers: $n) {{ {ALL_FIELDS} }} }}"),
            json!({"n": numbers}),
        )
        .await;
    let got = body["data"]["dossiers"].as_array().unwrap();
    assert_eq!(got.len(), numbers.len());
    let mut null_dates = 0;
    let mut labels = std::collections::BTreeSet::new();
    for (ours, number) in got.iter().zip(&numbers) {
        assert_mapped(ours, &env.upstream_dossier(*number).await);
        null_dates += [
            "datePassageEnInstruction",
            "dateTraitement",
            "dateExpiration",
            "dateSuppressionParUsager",
        ]
        .iter()
        .filter(|f| ours[**f].is_null())
        .count();
        labels.insert(ours["stateLabel"].as_str().unwrap().to_owned());
        if ours["messages"].as_array().unwrap().is_empty() {
            assert!(ours["lastMessage"].is_null());
        }
    }
    assert!(null_dates > 0, "the samples must exercise null dates");
    for label in [
        "En construction",
        "En instruction",
        "Accepté",
        "Refusé",
        "Classé sans suite",
    ] {
        assert!(labels.contains(label), "no sample in state {label}");
    }
}

#[tokio::test]
async fn ten_numbers_make_one_upstream_request() {
    let env = spawn().await;
    let numbers: Vec<i32> = env.mock.visible_numbers().into_iter().take(10).collect();
    assert_eq!(numbers.len(), 10);
    env.reset_stats().await;
    let body = env
        .query(
            "query($n: [Int!]!) { dossiers(numbers: $n) { number webUrl } }",
            json!({"n": numbers}),
        )
        .await;
    let got: Vec<i64> = body["data"]["dossiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["number"].as_i64().unwrap())
        .collect();
    assert_eq!(
        got,
        numbers.iter().map(|n| i64::from(*n)).collect::<Vec<_>>()
    );
    let stats = env.stats().await;
    println!(
        "10 dossiers → {} upstream request(s), {} lookups",
        stats["graphql_requests"], stats["dossier_lookups"]
    );
    assert_eq!(stats["graphql_requests"], 1);
    assert_eq!(stats["dossier_lookups"], 10);
}

#[tokio::test]
async fn aliases_of_one_request_are_batched_and_duplicates_fetched_once() {
    let env = spawn().await;
    let v = env.mock.visible_numbers();
    env.reset_stats().await;
    let body = env
        .query(
            "query($a: Int!, $b: Int!) { x: dossier(number: $a) { number } y: dossier(number: $b) { number } z: dossiers(numbers: [$a, $a, $b]) { number } }",
            json!({"a": v[0], "b": v[1]}),
        )
        .await;
    assert_eq!(body["data"]["x"]["number"], v[0]);
    assert_eq!(body["data"]["y"]["number"], v[1]);
    assert_eq!(
        body["data"]["z"],
        json!([{"number": v[0]}, {"number": v[0]}, {"number": v[1]}])
    );
    let stats = env.stats().await;
    assert_eq!(stats["graphql_requests"], 1);
    assert_eq!(stats["dossier_lookups"], 2);
}

#[tokio::test]
async fn more_keys_than_the_batch_size_make_several_requests() {
    let env = spawn_with(mock_args(), &["--ds-max-batch-size", "4"]).await;
    let numbers: Vec<i32> = env.mock.visible_numbers().into_iter().take(10).collect();
    env.reset_stats().await;
    let body = env
        .query(
            "query($n: [Int!]!) { dossiers(numbers: $n) { number } }",
            json!({"n": numbers}),
        )
        .await;
    assert_eq!(body["data"]["dossiers"].as_array().unwrap().len(), 10);
    assert!(body.get("errors").is_none());
    assert_eq!(env.upstream_requests().await, 3); // 4 + 4 + 2
}

#[tokio::test]
async fn a_failed_dossier_is_present_as_null() {
    let env = spawn().await;
    let v = env.mock.visible_numbers();
    let raw = env
        .http
        .post(&env.url)
        .json(&json!({"query": format!("{{ missing: dossier(number: 2100000000) {{ number }} ok: dossier(number: {}) {{ number }} }}", v[0])}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The raw text, not a parsed value: a missing key and a null read the same once parsed.
    assert!(raw.contains(r#""missing":null"#), "{raw}");
    let body: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(body["data"]["ok"]["number"], v[0]);
    assert_eq!(
        error_codes(&body),
        vec![("NOT_FOUND".to_owned(), json!(["missing"]))]
    );
}

/// Five numbers, one of which DS refuses: only that one is null, with `code` at its path, and
/// the other four come back within two upstream requests.
async fn assert_fails_alone(bad: impl Fn(&TestEnv) -> i32, at: usize, code: &str) {
    let env = spawn().await;
    let mut numbers: Vec<i32> = env.mock.visible_numbers().into_iter().take(4).collect();
    numbers.insert(at, bad(&env));
    env.reset_stats().await;
    let body = env
        .query(
            "query($n: [Int!]!) { dossiers(numbers: $n) { number } }",
            json!({"n": numbers}),
        )
        .await;
    let got = body["data"]["dossiers"].as_array().unwrap();
    for (i, n) in numbers.iter().enumerate() {
        if i == at {
            assert!(got[i].is_null(), "{body}");
        } else {
            assert_eq!(got[i]["number"], *n, "{body}");
        }
    }
    assert_eq!(
        error_codes(&body),
        vec![(code.to_owned(), json!(["dossiers", at]))]
    );
    let requests = env.upstream_requests().await;
    println!("1 {code} among 5 → {requests} upstream requests");
    assert!(requests <= 2);
}

#[tokio::test]
async fn one_unknown_among_five_loses_no_other_dossier() {
    assert_fails_alone(|_| 2_099_999_999, 2, "NOT_FOUND").await;
}

#[tokio::test]
async fn one_forbidden_among_five_is_forbidden_only() {
    assert_fails_alone(|env| env.mock.forbidden_numbers()[0], 0, "FORBIDDEN").await;
}

#[tokio::test]
async fn out_of_range_numbers_are_bad_user_input_without_upstream_call() {
    let env = spawn().await;
    env.reset_stats().await;
    for (query, vars) in [
        ("{ dossier(number: 2147483648) { number } }", json!({})),
        (
            "query($n: Int!) { dossier(number: $n) { number } }",
            json!({"n": 2147483648u64}),
        ),
        ("{ dossier(number: -1) { number } }", json!({})),
        ("{ dossier(number: 0) { number } }", json!({})),
        (
            "query($n: [Int!]!) { dossiers(numbers: $n) { number } }",
            json!({"n": [-1]}),
        ),
    ] {
        let body = env.query(query, vars).await;
        let codes = error_codes(&body);
        assert!(!codes.is_empty(), "{query}: {body}");
        assert!(
            codes.iter().all(|(c, _)| c == "BAD_USER_INPUT"),
            "{query}: {body}"
        );
        assert!(
            body["data"].is_null()
                || body["data"]
                    .as_object()
                    .unwrap()
                    .values()
                    .all(|v| v.is_null() || v == &json!([null])),
            "{body}"
        );
    }
    assert_eq!(env.upstream_requests().await, 0);
}

#[tokio::test]
async fn a_dossier_in_a_state_newer_than_us_does_not_break_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut recorded = env_free_fixture(4242);
    recorded["data"]["dossier"]["state"] = json!("en_attente_de_signature");
    std::fs::write(dir.path().join("4242.json"), recorded.to_string()).unwrap();
    let mut args = mock_args();
    args.fixtures = Some(dir.path().to_owned());
    let env = spawn_with(args, &[]).await;
    let other = *env.mock.visible_numbers().last().unwrap();
    let body = env
        .query(
            "query($n: [Int!]!) { dossiers(numbers: $n) { number state stateLabel } }",
            json!({"n": [4242, other]}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["dossiers"][0],
        json!({"number": 4242, "state": "inconnu", "stateLabel": "en_attente_de_signature"})
    );
    assert_eq!(body["data"]["dossiers"][1]["number"], other);
}

/// A recorded-style DS response (with fields this service does not read).
pub fn env_free_fixture(number: i32) -> Value {
    use base64::Engine;
    let id = base64::engine::general_purpose::STANDARD.encode(format!("Dossier-{number}"));
    json!({"data": {"dossier": {
        "__typename": "Dossier",
        "id": id,
        "number": number,
        "archived": false,
        "state": "en_instruction",
        "dateDepot": "2025-02-03T09:15:00+01:00",
        "dateDerniereModification": "2025-06-30T17:45:12+02:00",
        "datePassageEnConstruction": "2025-02-03T09:15:00+01:00",
        "datePassageEnInstruction": "2025-04-01T10:00:00+02:00",
        "dateTraitement": null,
        "dateExpiration": "2026-04-01T10:00:00+02:00",
        "dateSuppressionParUsager": null,
        "dateSuppressionParAdministration": null,
        "motivation": null,
        "usager": {"id": "VXNlci00Mg==", "email": "camille.fixture@example.org"},
        "demarche": {"id": "UHJvY2VkdXJlLTc3", "number": 77, "title": "Démarche enregistrée", "state": "publiee"},
        "champs": [{"id": "Q2hhbXAtMQ==", "label": "Nom", "stringValue": "Fixture"}],
        "messages": [
            {"id": "Q29tbWVudGFpcmUtMQ==", "email": "camille.fixture@example.org", "body": "Bonjour,\nvoici ma demande 🙂", "createdAt": "2025-02-03T09:16:00+01:00", "attachments": []},
            {"id": "Q29tbWVudGFpcmUtMg==", "email": "instructeur@example.gouv.fr", "body": "<p>Merci,<br>c'est reçu.</p>", "createdAt": "2025-04-01T10:01:00+02:00", "attachments": []}
        ]
    }}})
}

#[tokio::test]
async fn recorded_fixtures_are_served_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures: Vec<Value> = [5001, 5002].iter().map(|n| env_free_fixture(*n)).collect();
    for f in &fixtures {
        std::fs::write(
            dir.path()
                .join(format!("{}.json", f["data"]["dossier"]["number"])),
            f.to_string(),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("README.txt"), "not a fixture").unwrap();
    let mut args = mock_args();
    args.fixtures = Some(dir.path().to_owned());
    let env = spawn_with(args, &[]).await;
    let body = env
        .query(
            &format!("query($n: [Int!]!) {{ dossiers(numbers: $n) {{ {ALL_FIELDS} }} }}"),
            json!({"n": [5001, 5002]}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    for (ours, recorded) in body["data"]["dossiers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&fixtures)
    {
        let ds = &recorded["data"]["dossier"];
        for field in [
            "id",
            "number",
            "state",
            "dateDepot",
            "dateDerniereModification",
            "datePassageEnConstruction",
            "datePassageEnInstruction",
            "dateTraitement",
            "dateExpiration",
            "dateSuppressionParUsager",
        ] {
            assert_eq!(ours[field], ds[field], "{field}");
        }
        assert_eq!(ours["usager"]["email"], ds["usager"]["email"]);
        assert_eq!(
            ours["demarche"],
            json!({"id": ds["demarche"]["id"], "number": ds["demarche"]["number"], "title": ds["demarche"]["title"]})
        );
        let msgs: Vec<Value> = ds["messages"].as_array().unwrap().iter().map(|m| json!({"id": m["id"], "email": m["email"], "body": m["body"], "createdAt": m["createdAt"]})).collect();
        assert_eq!(ours["messages"], json!(msgs));
        assert_eq!(ours["lastMessage"]["body"], "<p>Merci,<br>c'est reçu.</p>");
    }
}
