//! `mock` and `serve` with `--listen 127.0.0.1:0` print the address they bound on stdout, one
//! stable line each: the federation e2e suite (examples/supergraph) starts them that way.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const SECRET: &str = "listen-test-shared-secret";

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and returns it with what follows `prefix` on its first stdout line.
fn start(args: &[&str], prefix: &str) -> (Kill, String) {
    let mut child = Kill(
        Command::new(env!("CARGO_BIN_EXE_ds-subgraph"))
            .args(args)
            .env("DS_API_TOKEN", "listen-test-token")
            .env("SUBGRAPH_SHARED_SECRETS", SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary runs"),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let rest = line
        .trim_end()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("expected {prefix:?}..., got {line:?}"))
        .to_owned();
    (child, rest)
}

#[tokio::test]
async fn mock_and_serve_print_the_address_they_bound() {
    let (_mock, mock_url) = start(
        &[
            "mock",
            "--listen",
            "127.0.0.1:0",
            "--token",
            "listen-test-token",
        ],
        "ds-mock listening on ",
    );
    assert!(mock_url.starts_with("http://127.0.0.1:"), "{mock_url}");
    assert!(!mock_url.ends_with(":0"), "{mock_url}");
    let api_url = format!("{mock_url}/api/v2/graphql");
    let (_serve, url) = start(
        &["serve", "--listen", "127.0.0.1:0", "--ds-api-url", &api_url],
        "ds-subgraph listening on ",
    );
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/graphql"));

    let http = reqwest::Client::new();
    let stats: serde_json::Value = http
        .get(format!("{mock_url}/mock/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["graphql_requests"], 0, "{stats}");
    let body: serde_json::Value = http
        .post(&url)
        .bearer_auth(SECRET)
        .json(&serde_json::json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
}
