//! The real `ds-subgraph` binary as an operator runs it: signals, exit codes, logs, trace
//! propagation, the `dossier` and `healthcheck` commands, configuration refusals.
mod common;

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{mock_args, SECRET, TOKEN};
use ds_subgraph::mock::MockServer;
use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::mpsc,
};

const BIN: &str = env!("CARGO_BIN_EXE_ds-subgraph");
/// Only a bound on a hung start, never a measurement.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The binary with a clean environment: only what a test gives it.
fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LOG_FORMAT", "json")
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// A running `serve`, killed on drop whatever happens to the test.
struct Served {
    child: Child,
    addr: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Served {
    async fn start(mock: &MockServer, extra_env: &[(&str, &str)]) -> Served {
        let api_url = mock.api_url();
        let mut env = vec![
            ("LISTEN_ADDR", "127.0.0.1:0"),
            ("DS_API_URL", api_url.as_str()),
            ("DS_API_TOKEN", TOKEN),
            ("SUBGRAPH_SHARED_SECRETS", SECRET),
        ];
        env.extend_from_slice(extra_env);
        let mut child = command(&["serve"], &env).spawn().expect("binary starts");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = logs.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let addr = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = rx.recv().await {
                let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if let Some(addr) = v["fields"]["addr"].as_str() {
                    return addr.to_owned();
                }
            }
            panic!("the service exited before listening");
        })
        .await
        .expect("the service starts listening");
        Served { child, addr, logs }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-s", name, &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }
}

async fn start_mock() -> MockServer {
    MockServer::start(mock_args()).await.expect("mock starts")
}

async fn set_fault(mock: &MockServer, fault: Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/mock/faults", mock.base_url()))
        .json(&fault)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
}

fn query_one(n: i32) -> Value {
    json!({"query": "query($n: Int!) { dossier(number: $n) { number state } }", "variables": {"n": n}})
}

/// Waits until the mock has received `count` GraphQL requests, i.e. ours is in flight at DS.
async fn until_upstream_requests(mock: &MockServer, count: u64) {
    tokio::time::timeout(START_TIMEOUT, async {
        while mock.stats().graphql_requests < count {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the request reaches DS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_in_flight_request_then_exits_0() {
    let mock = start_mock().await;
    let mut served = Served::start(&mock, &[]).await;
    set_fault(&mock, json!({"latency_ms": 1000})).await;
    let n = mock.visible_numbers()[0];
    let request = tokio::spawn(
        reqwest::Client::new()
            .post(served.url("/graphql"))
            .bearer_auth(SECRET)
            .json(&query_one(n))
            .send(),
    );
    until_upstream_requests(&mock, 1).await;
    served.signal("TERM");

    let resp = request
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["dossier"]["number"], n, "{body}");
    let status = served.child.wait().await.unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(served.logs().iter().any(|l| l.contains("shutting down")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_grace_period_in_flight_requests_are_dropped_and_exit_is_0() {
    let mock = start_mock().await;
    let mut served = Served::start(&mock, &[("SHUTDOWN_GRACE_SECS", "0")]).await;
    set_fault(&mock, json!({"latency_ms": 20_000})).await;
    let request = tokio::spawn(
        reqwest::Client::new()
            .post(served.url("/graphql"))
            .bearer_auth(SECRET)
            .json(&query_one(mock.visible_numbers()[0]))
            .send(),
    );
    until_upstream_requests(&mock, 1).await;
    served.signal("INT");
    let status = served.child.wait().await.unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(request.await.unwrap().is_err(), "dropped, not answered");
    assert!(served
        .logs()
        .iter()
        .any(|l| l.contains("grace period over")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_trace_reaches_ds_and_logs_carry_the_request_id() {
    let mock = start_mock().await;
    let served = Served::start(&mock, &[]).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let resp = reqwest::Client::new()
        .post(served.url("/graphql"))
        .bearer_auth(SECRET)
        .header("traceparent", &parent)
        .header("x-request-id", "router-req-7")
        .json(&query_one(mock.visible_numbers()[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "router-req-7");

    let sent = mock.stats().last_traceparent.expect("DS got a traceparent");
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts.len(), 4, "{sent}");
    assert_eq!(parts[1], trace_id, "same trace as the router's");
    assert_ne!(
        parts[2], "00f067aa0ba902b7",
        "a span of ours, child of the router's"
    );

    // The request's log lines are JSON and name its request id.
    let logged = served.logs();
    let line = logged
        .iter()
        .find(|l| l.contains("router-req-7"))
        .expect("a log line with the request id");
    let v: Value = serde_json::from_str(line).expect("JSON log line");
    assert_eq!(v["span"]["request_id"], "router-req-7", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_command_probes_the_running_service() {
    let mock = start_mock().await;
    let served = Served::start(&mock, &[]).await;
    let ok = command(&["healthcheck"], &[("LISTEN_ADDR", &served.addr)])
        .status()
        .await
        .unwrap();
    assert_eq!(ok.code(), Some(0));
    let ready = command(&["healthcheck", "--ready", "--listen", &served.addr], &[])
        .status()
        .await
        .unwrap();
    assert_eq!(ready.code(), Some(0));

    // Nothing listens on the mock's port at /healthz: a 404 is not healthy.
    let wrong = command(&["healthcheck", "--listen", &mock.addr().to_string()], &[])
        .output()
        .await
        .unwrap();
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("404"));
}

async fn lookup(mock: &MockServer, args: &[&str], token: &str) -> (Option<i32>, String, String) {
    let api_url = mock.api_url();
    let mut argv = vec!["dossier", "--ds-api-url", &api_url, "--ds-api-token", token];
    argv.extend_from_slice(args);
    let out = command(&argv, &[("DS_WEB_BASE_URL", "https://ds.example.test")])
        .output()
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dossier_command_prints_dossiers_and_errors() {
    let mock = start_mock().await;
    let visible = mock.visible_numbers();
    let (a, b) = (visible[0].to_string(), visible[1].to_string());
    let hidden = mock.forbidden_numbers()[0].to_string();

    let (code, stdout, stderr) = lookup(&mock, &["--json", &a, "999999", &hidden], TOKEN).await;
    assert_eq!(code, Some(1), "{stderr}");
    let entries: Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    assert_eq!(
        mock.stats().graphql_requests,
        2,
        "one batch, then the survivor again"
    );
    let upstream = mock_dossier_state(&mock, visible[0]).await;
    assert_eq!(entries[0]["number"], visible[0]);
    assert_eq!(entries[0]["dossier"]["state"], upstream);
    assert_eq!(
        entries[0]["dossier"]["webUrl"],
        format!("https://ds.example.test/dossiers/{a}")
    );
    assert_eq!(entries[1]["error"]["code"], "NOT_FOUND");
    assert_eq!(entries[2]["error"]["code"], "FORBIDDEN");

    let (code, stdout, stderr) = lookup(&mock, &[&a, &b], TOKEN).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains(&format!("Dossier {a}:")) && stdout.contains(&format!("Dossier {b}:")));
    assert!(
        stdout.contains(&format!("https://ds.example.test/dossiers/{b}")),
        "{stdout}"
    );

    let (code, stdout, _) = lookup(&mock, &["--json", &a], "wrong-token").await;
    assert_eq!(code, Some(1));
    assert!(!stdout.contains("wrong-token"));
    let entries: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(entries[0]["error"]["code"], "UPSTREAM_AUTH");

    let (code, _, stderr) = lookup(&mock, &["0"], TOKEN).await;
    assert_eq!(code, Some(2));
    assert!(stderr.contains("not a valid dossier number"), "{stderr}");
}

async fn mock_dossier_state(mock: &MockServer, n: i32) -> Value {
    let body: Value = reqwest::Client::new()
        .post(mock.api_url())
        .bearer_auth(TOKEN)
        .json(&json!({"query": "query($n: Int!) { dossier(number: $n) { state } }", "variables": {"n": n}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"]["dossier"]["state"].clone()
}

#[tokio::test]
async fn unknown_and_conflicting_settings_are_refused_at_start() {
    let typo = command(&["serve"], &[("DS_API_TOKNE", "x")])
        .output()
        .await
        .unwrap();
    assert_eq!(typo.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&typo.stderr);
    assert!(
        stderr.contains("DS_API_TOKNE") && stderr.contains("DS_API_TOKEN"),
        "{stderr}"
    );

    let conflict = command(&["serve", "--demo"], &[("DS_API_TOKEN", "x")])
        .output()
        .await
        .unwrap();
    assert_eq!(conflict.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&conflict.stderr).contains("--demo"));

    let level = command(&["schema"], &[("LOG_LEVEL", "ds_subgraph=loud")])
        .output()
        .await
        .unwrap();
    assert_eq!(level.status.code(), Some(2));
}

/// `.env.example` and `--help` list the same variables.
#[tokio::test]
async fn env_example_matches_the_help_of_the_commands() {
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example"))
        .expect(".env.example at the repository root");
    let documented: Vec<&str> = example
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    let mut help = String::new();
    for sub in ["serve", "dossier", "healthcheck", "mock"] {
        let out = command(&[sub, "--help"], &[]).output().await.unwrap();
        assert_eq!(out.status.code(), Some(0));
        help.push_str(&String::from_utf8(out.stdout).unwrap());
    }
    let in_help: Vec<&str> = help
        .split("[env: ")
        .skip(1)
        .filter_map(|s| s.split(['=', ']']).next())
        .collect();
    for name in &in_help {
        assert!(
            documented.contains(name),
            "{name} is missing from .env.example"
        );
    }
    for name in &documented {
        assert!(
            in_help.contains(name),
            "{name} is in .env.example but no --help lists it"
        );
    }
}

/// A stand-in OTLP/HTTP collector: keeps every `POST /v1/traces` body.
async fn start_collector() -> (String, Arc<Mutex<Vec<axum::body::Bytes>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| async move {
            sink.lock().unwrap().push(body);
            (
                [("content-type", "application/x-protobuf")],
                Vec::<u8>::new(),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_otlp_in_the_router_trace() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    let (collector, received) = start_collector().await;
    let mock = start_mock().await;
    let mut served = Served::start(&mock, &[("OTEL_EXPORTER_OTLP_ENDPOINT", &collector)]).await;
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let resp = reqwest::Client::new()
        .post(served.url("/graphql"))
        .bearer_auth(SECRET)
        .header("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01"))
        .json(&query_one(mock.visible_numbers()[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Exit flushes the batch exporter.
    served.signal("TERM");
    assert_eq!(served.child.wait().await.unwrap().code(), Some(0));

    let spans: Vec<_> = received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|body| {
            ExportTraceServiceRequest::decode(body.as_ref())
                .expect("OTLP protobuf")
                .resource_spans
        })
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .filter(|s| hex(&s.trace_id) == trace_id)
        .collect();
    let server = spans
        .iter()
        .find(|s| s.name == "POST /graphql")
        .unwrap_or_else(|| panic!("no server span in {spans:?}"));
    assert_eq!(
        hex(&server.parent_span_id),
        "b7ad6b7169203331",
        "child of the router's span"
    );
    let upstream = spans
        .iter()
        .find(|s| s.name == "ds.request")
        .expect("a span per DS call");
    let attribute = |key: &str| {
        let a = upstream.attributes.iter().find(|a| a.key == key);
        format!(
            "{:?}",
            a.unwrap_or_else(|| panic!("no {key} in {upstream:?}"))
                .value
        )
    };
    assert!(attribute("keys").contains("IntValue(1)"), "batch size");
    assert!(attribute("status").contains("IntValue(200)"), "HTTP status");
    assert!(attribute("duration_ms").contains("IntValue("), "duration");
}
