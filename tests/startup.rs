//! The real binary: it refuses to serve without a shared secret unless told so explicitly,
//! warns when it is, and keeps secrets and usager emails out of its logs.
mod common;

use std::{process::Stdio, time::Duration};

use common::{mock_args, SECRET, TOKEN};
use ds_subgraph::mock::MockServer;
use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
    process::{Child, ChildStderr, Command},
};

fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ds-subgraph"));
    cmd.env_clear()
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Starts `serve` and waits for its "listening" line; the child is killed when dropped.
async fn serve(args: &[&str]) -> (Child, String, Vec<String>, BufReader<ChildStderr>) {
    let mut child = binary()
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .spawn()
        .expect("the binary starts");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut lines = Vec::new();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).await.unwrap() == 0 {
                panic!("serve exited early: {lines:?}");
            }
            let parsed: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            lines.push(line);
            if let Some(addr) = parsed["fields"]["addr"].as_str() {
                return addr.to_owned();
            }
        }
    })
    .await
    .expect("serve says where it listens");
    (child, format!("http://{addr}/graphql"), lines, stderr)
}

#[tokio::test]
async fn serve_refuses_to_start_without_a_strong_secret() {
    for extra in [
        &[][..],
        &["--shared-secrets", ""][..],
        &["--shared-secrets", "short"][..],
    ] {
        let out = binary()
            .args(["serve", "--listen", "127.0.0.1:0", "--ds-api-token", TOKEN])
            .args(extra)
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("SUBGRAPH_SHARED_SECRETS"), "{stderr}");
    }
}

#[tokio::test]
async fn demo_serves_without_a_secret_and_warns() {
    let (mut child, url, lines, _stderr) = serve(&["--demo"]).await;
    let warned = lines
        .iter()
        .any(|l| l.contains("WARN") && l.contains("WITHOUT caller authentication"));
    assert!(warned, "{lines:?}");
    let body: Value = reqwest::Client::new()
        .post(&url)
        .json(&json!({"query": "{ dossier(number: 1000001) { number } __schema { queryType { name } } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["dossier"]["number"], 1000001, "{body}");
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn logs_hold_no_secret_and_no_usager_email() {
    let mock = MockServer::start(mock_args()).await.unwrap();
    let api_url = mock.api_url();
    let guess = "Bearer guessed-secret-5555555555";
    let (mut child, url, mut lines, mut stderr) = serve(&[
        "--ds-api-url",
        &api_url,
        "--ds-api-token",
        TOKEN,
        "--shared-secrets",
        SECRET,
    ])
    .await;
    let http = reqwest::Client::new();
    let n = mock.visible_numbers()[0];
    let query = "query($n: Int!, $e: String!) { dossierForUsager(number: $n, email: $e) { usager { email } } dossier(number: $n) { usager { email } messages { email } } }";
    let first: Value = http
        .post(&url)
        .bearer_auth(SECRET)
        .json(&json!({"query": query, "variables": {"n": n, "e": "nobody@example.net"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let email = first["data"]["dossier"]["usager"]["email"]
        .as_str()
        .expect("the dossier is read")
        .to_owned();
    let answers = [
        json!({"query": query, "variables": {"n": n, "e": email}}),
        json!({"query": "{ dossier(number: 2100000000) { number } }"}),
        json!({"query": "{ nope }"}),
    ];
    for body in &answers {
        http.post(&url)
            .bearer_auth(SECRET)
            .json(body)
            .send()
            .await
            .unwrap();
    }
    http.post(&url)
        .header("authorization", guess)
        .json(&answers[0])
        .send()
        .await
        .unwrap();
    // DS failing makes the client log its warnings too.
    let faults = format!("{}/mock/faults", mock.base_url());
    let set = http.post(faults).json(&json!({"status": 500})).send().await;
    assert!(set.unwrap().status().is_success());
    http.post(&url)
        .bearer_auth(SECRET)
        .json(&answers[0])
        .send()
        .await
        .unwrap();
    child.kill().await.unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).await.unwrap();
    lines.extend(rest.lines().map(str::to_owned));
    let logs = lines.join("\n");
    // Every request was logged at info level: that is what must hold no secret.
    assert!(
        logs.matches("finished processing request").count() >= 5,
        "{logs}"
    );
    for secret in [TOKEN, SECRET, guess, &email, "nobody@example.net"] {
        assert!(!logs.contains(secret), "{secret} is in the logs:\n{logs}");
    }
}
