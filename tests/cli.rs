//! The binary: schema export (kept in sync with `schema.graphql`), config errors, demo mode.
#[test]
fn committed_schema_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql exists at the repository root");
    let current = ds_subgraph::graphql::federation_sdl();
    if committed != current {
        panic!(
            "schema.graphql drifted from the code; regenerate it with `cargo run -- schema > schema.graphql`.\n--- current ---\n{current}"
        );
    }
}

#[test]
fn binary_prints_the_same_schema() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ds-subgraph"))
        .arg("schema")
        .output()
        .expect("the binary runs");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        ds_subgraph::graphql::federation_sdl()
    );
}

#[test]
fn missing_token_is_a_clear_config_error_with_exit_code_2() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ds-subgraph"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("DS_API_TOKEN")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DS_API_TOKEN"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn malformed_url_is_a_clear_config_error_with_exit_code_2() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ds-subgraph"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--ds-api-url",
            "not a url",
        ])
        .env("DS_API_TOKEN", "t")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DS_API_URL"));
}

/// The README's first command: `serve --demo` prints a URL and an example query that works.
#[tokio::test]
async fn demo_mode_answers_its_own_example_query() {
    use std::io::{BufRead, BufReader};

    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    let mut child = Kill(
        std::process::Command::new(env!("CARGO_BIN_EXE_ds-subgraph"))
            .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
            // --demo refuses an explicit DS endpoint or token from the caller's shell.
            .env_remove("DS_API_TOKEN")
            .env_remove("DS_API_URL")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the binary runs"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut printed = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            printed.push_str(&line);
            printed.push('\n');
            if line.contains("dossier(number: ") {
                break;
            }
        }
        printed
    });
    let printed = tokio::time::timeout(std::time::Duration::from_secs(30), lines)
        .await
        .expect("demo mode prints its banner")
        .unwrap();
    let url = printed
        .split_whitespace()
        .find(|w| w.starts_with("http://") && w.ends_with("/graphql"))
        .unwrap_or_else(|| panic!("no URL in: {printed}"));
    // Send the printed example body exactly as a newcomer would paste it.
    let example = printed
        .split("-d '")
        .nth(1)
        .and_then(|rest| rest.rsplit_once('\''))
        .map(|(body, _)| body.to_owned())
        .unwrap_or_else(|| panic!("no example query in: {printed}"));
    let number: i32 = example
        .split("dossier(number: ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no example number in: {printed}"));
    let body: serde_json::Value = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(example)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["dossier"]["number"], number, "{body}");
    assert!(body["data"]["dossier"]["webUrl"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/dossiers/{number}")));
}
