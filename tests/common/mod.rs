//! Test harness: a DS mock and a subgraph, each on its own free loopback port, per test.
#![allow(dead_code)]

use clap::Parser;
use ds_subgraph::{app::App, config::ServeArgs, mock};
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub const TOKEN: &str = "test-token-5f2b9c";
/// The shared secret the harness configures, and that `env.http` sends by default.
pub const SECRET: &str = "test-shared-secret-9d41a7e3";

#[derive(Parser)]
#[command(args_override_self = true)]
struct Cli {
    #[command(flatten)]
    args: ServeArgs,
}

pub struct TestEnv {
    pub mock: mock::MockServer,
    pub url: String,
    /// Sends `Authorization: Bearer SECRET` unless a request sets its own.
    pub http: reqwest::Client,
    /// Sends no secret.
    pub anon: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

pub fn mock_args() -> mock::MockArgs {
    mock::MockArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        token: TOKEN.into(),
        fixtures: None,
        latency_ms: 0,
        rate_limit: 0,
    }
}

/// Subgraph with its defaults against a fresh mock.
pub async fn spawn() -> TestEnv {
    spawn_with(mock_args(), &[]).await
}

/// `flags` are extra `serve` flags, e.g. `["--ds-max-batch-size", "50"]`.
pub async fn spawn_with(mock_args: mock::MockArgs, flags: &[&str]) -> TestEnv {
    let mock = mock::MockServer::start(mock_args)
        .await
        .expect("mock starts");
    let api_url = mock.api_url();
    let mut argv = vec![
        "ds-subgraph",
        "--listen",
        "127.0.0.1:0",
        "--ds-api-url",
        &api_url,
        "--ds-web-base-url",
        "https://ds.example.test",
        "--ds-api-token",
        TOKEN,
        "--shared-secrets",
        SECRET,
    ];
    argv.extend_from_slice(flags); // later flags override the defaults above
    let config = Cli::try_parse_from(argv).unwrap().args.validate().unwrap();
    let app = App::build(config).await.expect("app builds");
    let url = format!("http://{}/graphql", app.local_addr());
    let (stop, stopped) = oneshot::channel();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {SECRET}").parse().unwrap(),
    );
    TestEnv {
        mock,
        url,
        http: reqwest::Client::builder()
            .default_headers(auth)
            .build()
            .unwrap(),
        anon: reqwest::Client::new(),
        stop: Some(stop),
    }
}

impl TestEnv {
    /// POSTs a GraphQL request to the subgraph; returns the status and the raw JSON body.
    pub async fn post(&self, body: Value) -> (u16, Value) {
        let resp = self.http.post(&self.url).json(&body).send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert!(
            !text.contains(TOKEN) && !text.contains(SECRET),
            "a secret leaked into a response: {text}"
        );
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
        )
    }

    pub async fn query(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self
            .post(json!({"query": query, "variables": variables}))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The mock's counters, read over HTTP like a benchmark or an operator would.
    pub async fn stats(&self) -> Value {
        let url = format!("{}/mock/stats", self.mock.base_url());
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn upstream_requests(&self) -> u64 {
        self.stats().await["graphql_requests"].as_u64().unwrap()
    }

    pub async fn reset_stats(&self) {
        let url = format!("{}/mock/reset", self.mock.base_url());
        let status = self.http.post(url).send().await.unwrap().status();
        assert!(status.is_success());
    }

    pub async fn fault(&self, fault: Value) {
        let url = format!("{}/mock/faults", self.mock.base_url());
        let status = self
            .http
            .post(url)
            .json(&fault)
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "fault not accepted: {status}");
    }

    /// Asks the mock directly, as DS, for one dossier with every field the subgraph maps.
    pub async fn upstream_dossier(&self, number: i32) -> Value {
        let query = "query($n: Int!) { dossier(number: $n) { id number state dateDerniereModification \
            dateDepot datePassageEnConstruction datePassageEnInstruction dateTraitement dateExpiration \
            dateSuppressionParUsager usager { email } demarche { id number title } \
            messages { id email body createdAt } } }";
        let body: Value = self
            .http
            .post(self.mock.api_url())
            .bearer_auth(TOKEN)
            .json(&json!({"query": query, "variables": {"n": number}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["data"]["dossier"].clone()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The selection of every field of the subgraph's `Dossier`.
pub const ALL_FIELDS: &str = "id number state stateLabel dateDerniereModification dateDepot \
    datePassageEnConstruction datePassageEnInstruction dateTraitement dateExpiration \
    dateSuppressionParUsager usager { email } demarche { id number title } \
    messages { id email body createdAt } lastMessage { id body } webUrl";

/// The codes of a response's errors, with their paths.
pub fn error_codes(body: &Value) -> Vec<(String, Value)> {
    body["errors"]
        .as_array()
        .map(|errs| {
            errs.iter()
                .map(|e| {
                    (
                        e["extensions"]["code"]
                            .as_str()
                            .unwrap_or("<none>")
                            .to_owned(),
                        e.get("path").cloned().unwrap_or(Value::Null),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

impl TestEnv {
    /// `host:port` of the subgraph.
    pub fn authority(&self) -> String {
        self.url
            .trim_start_matches("http://")
            .trim_end_matches("/graphql")
            .to_owned()
    }

    /// POSTs `body` to /graphql over a bare TCP connection, in chunks of `chunk` bytes with
    /// `Transfer-Encoding: chunked` (no Content-Length). Returns the status and the body.
    pub async fn post_chunked(&self, body: &[u8], chunk: usize) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.authority())
            .await
            .unwrap();
        let head = format!(
            "POST /graphql HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
             authorization: Bearer {SECRET}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
            self.authority()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        for part in body.chunks(chunk) {
            let framed = [format!("{:x}\r\n", part.len()).as_bytes(), part, b"\r\n"].concat();
            // The server may answer 413 and close before the whole body is sent.
            if stream.write_all(&framed).await.is_err() {
                break;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        let text = String::from_utf8_lossy(&answer).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
        (status, text)
    }
}
