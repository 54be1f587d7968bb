//! Hostile input: every case gets a clear 4xx or a typed GraphQL error, never a 5xx; nothing
//! reaches DS; the process stays up and an honest request sent meanwhile still gets its data.
mod common;

use common::*;
use serde_json::{json, Value};

const CODES: [&str; 11] = [
    "NOT_FOUND",
    "FORBIDDEN",
    "BAD_USER_INPUT",
    "UPSTREAM_AUTH",
    "UPSTREAM_RATE_LIMITED",
    "UPSTREAM_TIMEOUT",
    "UPSTREAM_UNAVAILABLE",
    "UPSTREAM_BAD_RESPONSE",
    "UNAUTHENTICATED",
    "QUERY_TOO_COMPLEX",
    "RATE_LIMITED",
];

enum Send {
    /// JSON body, with the secret.
    Json(Value),
    /// Raw bytes with this content type (or none), with the secret.
    Raw(Option<&'static str>, Vec<u8>),
    /// JSON body without the secret, or with this wrong one.
    Unauthenticated(Option<&'static str>),
    /// GET /graphql with this query string, with the secret.
    Get(&'static str),
    /// Chunked body with no Content-Length.
    Chunked(Vec<u8>),
}

struct Case {
    name: &'static str,
    send: Send,
    status: u16,
    /// The code of the (first) error; `None` when the answer is not a GraphQL error body.
    code: Option<&'static str>,
}

fn case(name: &'static str, send: Send, status: u16, code: &'static str) -> Case {
    Case {
        name,
        send,
        status,
        code: Some(code),
    }
}

fn q(query: impl Into<String>, variables: Value) -> Send {
    Send::Json(json!({"query": query.into(), "variables": variables}))
}

fn cases(v: &[i32]) -> Vec<Case> {
    const ONE: &str = "query($n: Int!) { dossier(number: $n) { number } }";
    const MANY: &str = "query($n: [Int!]!) { dossiers(numbers: $n) { number } }";
    let mut fragment_bomb = String::from("{ ...F0 }");
    for i in 0..40 {
        fragment_bomb.push_str(&format!(
            " fragment F{i} on Query {{ ...F{j} ...F{j} }}",
            j = i + 1
        ));
    }
    fragment_bomb.push_str(" fragment F40 on Query { __typename }");
    let reps: Vec<Value> = (0..5000)
        .map(|i| json!({"__typename": "Dossier", "number": v[i % v.len()]}))
        .collect();
    let aliases: String = (0..1000)
        .map(|i| format!("a{i}: dossier(number: {}) {{ number }} ", v[i % v.len()]))
        .collect();
    let typenames: String = (0..5_000).map(|i| format!("t{i}: __typename ")).collect();
    let mut deep_json = String::new();
    for _ in 0..10_000 {
        deep_json.push_str("{\"a\":");
    }
    let mut deep_variables = String::from(
        r#"{"query": "query($n: Int!) { dossier(number: $n) { number } }", "variables": {"n": "#,
    );
    deep_variables.push_str(&"[".repeat(5000));
    vec![
        case("malformed JSON", Send::Raw(Some("application/json"), br#"{"query": "{ __typename }""#.to_vec()), 400, "BAD_USER_INPUT"),
        case("invalid UTF-8", Send::Raw(Some("application/json"), b"{\"query\": \"{ dossier(number: 1) { number \xff\xfe } }\"}".to_vec()), 400, "BAD_USER_INPUT"),
        case("empty body", Send::Raw(Some("application/json"), Vec::new()), 400, "BAD_USER_INPUT"),
        case("JSON null", Send::Raw(Some("application/json"), b"null".to_vec()), 400, "BAD_USER_INPUT"),
        case("query is a number", Send::Json(json!({"query": 5})), 400, "BAD_USER_INPUT"),
        case("empty batch", Send::Json(json!([])), 200, "BAD_USER_INPUT"),
        case("batch of garbage", Send::Json(json!([1, "x", null])), 400, "BAD_USER_INPUT"),
        case("deeply nested JSON", Send::Raw(Some("application/json"), deep_json.into_bytes()), 400, "BAD_USER_INPUT"),
        case("deeply nested variables", Send::Raw(Some("application/json"), deep_variables.into_bytes()), 400, "BAD_USER_INPUT"),
        Case { name: "10 MB body", send: Send::Json(json!({"query": format!("{{ __typename }} #{}", "x".repeat(10 << 20))})), status: 413, code: None },
        Case { name: "10 MB chunked body", send: Send::Chunked(format!(r#"{{"query": "{{ __typename }} #{}"}}"#, "x".repeat(10 << 20)).into_bytes()), status: 413, code: None },
        case("selection depth bomb", q(format!("{}{}", "{ dossier(number: 1) ".repeat(5_000), "}".repeat(5_000)), json!({})), 200, "QUERY_TOO_COMPLEX"),
        case("list nesting bomb", q(format!("{{ dossiers(numbers: {}1{}) {{ number }} }}", "[".repeat(50_000), "]".repeat(50_000)), json!({})), 200, "QUERY_TOO_COMPLEX"),
        case("object nesting bomb", q(format!("query {{ _entities(representations: {}{}) {{ __typename }} }}", "{a: ".repeat(20_000), "}".repeat(20_000)), json!({})), 200, "QUERY_TOO_COMPLEX"),
        case("introspection depth", q(format!("{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}", "ofType { ".repeat(12), "} ".repeat(12)), json!({})), 200, "QUERY_TOO_COMPLEX"),
        case("alias bomb of dossiers", q(format!("{{ {aliases} }}"), json!({})), 200, "QUERY_TOO_COMPLEX"),
        case("alias bomb of __typename", q(format!("{{ {typenames} }}"), json!({})), 200, "QUERY_TOO_COMPLEX"),
        case("fragment cycle", q("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A __typename }", json!({})), 200, "BAD_USER_INPUT"),
        case("self-spreading fragment", q("{ ...A } fragment A on Query { ...A ...A }", json!({})), 200, "BAD_USER_INPUT"),
        case("fragment bomb", q(fragment_bomb, json!({})), 200, "QUERY_TOO_COMPLEX"),
        case("huge literal number", q("{ dossier(number: 99999999999999999999) { number } }", json!({})), 200, "BAD_USER_INPUT"),
        case("Int overflow in a variable", q(ONE, json!({"n": 2_147_483_648u64})), 200, "BAD_USER_INPUT"),
        case("negative number", q(ONE, json!({"n": -1})), 200, "BAD_USER_INPUT"),
        case("zero in a list", q(MANY, json!({"n": [0]})), 200, "BAD_USER_INPUT"),
        case("i64::MIN", q(ONE, json!({"n": i64::MIN})), 200, "BAD_USER_INPUT"),
        case("1e400 in variables", Send::Raw(Some("application/json"), br#"{"query": "query($n: Int!) { dossier(number: $n) { number } }", "variables": {"n": 1e400}}"#.to_vec()), 400, "BAD_USER_INPUT"),
        case("float for Int", q(ONE, json!({"n": 1.5})), 200, "BAD_USER_INPUT"),
        case("string for Int", q(ONE, json!({"n": "1000001"})), 200, "BAD_USER_INPUT"),
        case("list for Int", q(ONE, json!({"n": [1]})), 200, "BAD_USER_INPUT"),
        case("null for Int!", q(ONE, json!({"n": null})), 200, "BAD_USER_INPUT"),
        case("string for a list", q(MANY, json!({"n": "x"})), 200, "BAD_USER_INPUT"),
        case("variables not an object", Send::Json(json!({"query": ONE, "variables": [1]})), 400, "BAD_USER_INPUT"),
        case("unknown operation name", Send::Json(json!({"query": "query A { __typename }", "operationName": "Nope"})), 200, "BAD_USER_INPUT"),
        case("two anonymous operations", q("{ __typename } { __typename }", json!({})), 200, "BAD_USER_INPUT"),
        case("mutation", q("mutation { x }", json!({})), 200, "BAD_USER_INPUT"),
        case("subscription", q("subscription { x }", json!({})), 200, "BAD_USER_INPUT"),
        case("unknown field", q("{ dossier(number: 1) { password } }", json!({})), 200, "BAD_USER_INPUT"),
        case("_entities flood", q("query($r: [_Any!]!) { _entities(representations: $r) { __typename } }", json!({"r": reps})), 200, "QUERY_TOO_COMPLEX"),
        case("_entities garbage", q("query($r: [_Any!]!) { _entities(representations: $r) { __typename } }", json!({"r": [null, 1, "x", [], {"__typename": {"a": 1}}]})), 200, "BAD_USER_INPUT"),
        case("batch flood", Send::Json(Value::Array(vec![json!({"query": "{ __typename }"}); 500])), 200, "QUERY_TOO_COMPLEX"),
        case("CSRF: text/plain", Send::Raw(Some("text/plain"), json!({"query": ONE, "variables": {"n": v[0]}}).to_string().into_bytes()), 400, "BAD_USER_INPUT"),
        case("CSRF: form", Send::Raw(Some("application/x-www-form-urlencoded"), b"query=%7B__typename%7D".to_vec()), 400, "BAD_USER_INPUT"),
        case("CSRF: multipart", Send::Raw(Some("multipart/form-data; boundary=b"), b"--b\r\ncontent-disposition: form-data; name=\"operations\"\r\n\r\n{\"query\":\"{ __typename }\"}\r\n--b--\r\n".to_vec()), 400, "BAD_USER_INPUT"),
        case("CSRF: no content type", Send::Raw(None, br#"{"query": "{ __typename }"}"#.to_vec()), 400, "BAD_USER_INPUT"),
        case("CSRF: GET with a query", Send::Get("query=%7B__typename%7D"), 400, "BAD_USER_INPUT"),
        case("no secret", Send::Unauthenticated(None), 401, "UNAUTHENTICATED"),
        case("wrong secret", Send::Unauthenticated(Some("Bearer test-shared-secret-9d41a7e4")), 401, "UNAUTHENTICATED"),
        case("secret without Bearer", Send::Unauthenticated(Some(SECRET)), 401, "UNAUTHENTICATED"),
        case("header injection attempt", Send::Unauthenticated(Some("Bearer x, Bearer test-shared-secret-9d41a7e3")), 401, "UNAUTHENTICATED"),
    ]
}

/// Sends one case; checks its status and code; returns a line for the report on failure.
async fn run(env: &TestEnv, case: &Case) -> Result<(), String> {
    let post = || env.http.post(&env.url);
    let (status, text) = match &case.send {
        Send::Chunked(body) => env.post_chunked(body, 64 * 1024).await,
        other => {
            let req = match other {
                Send::Json(body) => post().json(body),
                Send::Raw(ct, body) => {
                    let req = post().body(body.clone());
                    match ct {
                        Some(ct) => req.header("content-type", *ct),
                        None => req,
                    }
                }
                Send::Unauthenticated(auth) => {
                    let req = env
                        .anon
                        .post(&env.url)
                        .json(&json!({"query": "{ __typename }"}));
                    match auth {
                        Some(a) => req.header("authorization", *a),
                        None => req,
                    }
                }
                Send::Get(qs) => env.http.get(format!("{}?{qs}", env.url)),
                Send::Chunked(_) => unreachable!(),
            };
            let resp = req
                .send()
                .await
                .map_err(|e| format!("{}: {e}", case.name))?;
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap_or_default())
        }
    };
    let short: String = text.chars().take(300).collect();
    if status >= 500 || status != case.status {
        return Err(format!(
            "{}: status {status}, expected {}: {short}",
            case.name, case.status
        ));
    }
    if text.contains(SECRET) || text.contains(TOKEN) {
        return Err(format!("{}: a secret leaked", case.name));
    }
    if let Some(expected) = case.code {
        let body_start = text.find("\r\n\r\n").map_or(0, |i| i + 4);
        let json_text = if matches!(case.send, Send::Chunked(_)) {
            &text[body_start..]
        } else {
            &text
        };
        let body: Value = serde_json::from_str(json_text)
            .map_err(|_| format!("{}: not JSON: {short}", case.name))?;
        let codes = error_codes(&body);
        if codes.is_empty() || codes.iter().any(|(c, _)| !CODES.contains(&c.as_str())) {
            return Err(format!("{}: untyped error: {short}", case.name));
        }
        if codes[0].0 != expected {
            return Err(format!(
                "{}: code {}, expected {expected}: {short}",
                case.name, codes[0].0
            ));
        }
    }
    Ok(())
}

#[tokio::test]
async fn every_hostile_request_gets_a_clear_4xx_or_typed_error_and_no_upstream_call() {
    let env = spawn().await;
    let v = env.mock.visible_numbers();
    env.reset_stats().await;
    let mut failures = Vec::new();
    for case in cases(&v) {
        if let Err(e) = run(&env, &case).await {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        env.upstream_requests().await,
        0,
        "a hostile request reached DS"
    );
    let after = env
        .query(
            "query($n: Int!) { dossier(number: $n) { number } }",
            json!({"n": v[0]}),
        )
        .await;
    assert_eq!(after["data"]["dossier"]["number"], v[0]);
}

#[tokio::test]
async fn honest_requests_get_their_data_while_hostile_ones_pour_in() {
    let env = spawn().await;
    let v = env.mock.visible_numbers();
    let all = cases(&v);
    let hostile = futures::future::join_all(all.iter().map(|c| run(&env, c)));
    let honest = futures::future::join_all(v.iter().take(5).map(|n| {
        env.query(
            "query($n: Int!) { dossier(number: $n) { number state } }",
            json!({"n": n}),
        )
    }));
    let (hostile, honest) = tokio::join!(hostile, honest);
    let failures: Vec<String> = hostile.into_iter().filter_map(Result::err).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for (body, n) in honest.iter().zip(&v) {
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["dossier"]["number"], *n);
    }
}
