//! Test harness: a DS mock and a subgraph, each on its own free loopback port, per test.
#![allow(dead_code)]

use clap::Parser;
use ds_subgraph::{app::App, config::ServeArgs, mock};
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub const TOKEN: &str = "test-token-5f2b9c";

#[derive(Parser)]
#[command(args_override_self = true)]
struct Cli {
    #[command(flatten)]
    args: ServeArgs,
}

pub struct TestEnv {
    pub mock: mock::MockServer,
    pub url: String,
    pub http: reqwest::Client,
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
    ];
    argv.extend_from_slice(flags); // later flags override the defaults above
    let config = Cli::try_parse_from(argv).unwrap().args.validate().unwrap();
    let app = App::build(config).await.expect("app builds");
    let url = format!("http://{}/graphql", app.local_addr());
    let (stop, stopped) = oneshot::channel();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestEnv {
        mock,
        url,
        http: reqwest::Client::new(),
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
            !text.contains(TOKEN),
            "the DS token leaked into a response: {text}"
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
