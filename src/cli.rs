//! Operator commands beside `serve`: look dossiers up from a shell, probe a running service.
use std::{net::SocketAddr, time::Duration};

use serde_json::{json, Value};

use crate::{app, config::ServeArgs, graphql};

/// Every field of the subgraph's `Dossier`: the CLI shows what a client of the API would get.
const QUERY: &str = "query($numbers: [Int!]!) { dossiers(numbers: $numbers) { id number state \
    stateLabel dateDepot datePassageEnConstruction datePassageEnInstruction dateTraitement \
    dateDerniereModification dateExpiration dateSuppressionParUsager usager { email } \
    demarche { id number title } messages { id email body createdAt } webUrl } }";

/// `ds-subgraph dossier`: the same settings as `serve` (those of the HTTP server are unused).
#[derive(Debug, Clone, clap::Args)]
pub struct DossierArgs {
    #[command(flatten)]
    pub serve: ServeArgs,

    /// Print one JSON array (`[{"number", "dossier"} | {"number", "error": {"code", "message"}}]`)
    /// instead of text.
    #[arg(long)]
    pub json: bool,

    /// Dossier numbers to look up.
    #[arg(required = true, value_name = "NUMBER")]
    pub numbers: Vec<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Runtime(String),
    /// Some dossiers could not be returned; each is already reported.
    #[error("{0} dossier(s) could not be returned")]
    Incomplete(usize),
}

/// Looks the dossiers up through the subgraph's own schema, so that batching, limits and error
/// codes are exactly those of the API; prints them in the order given.
pub async fn dossier(args: DossierArgs) -> Result<(), CliError> {
    let numbers = args
        .numbers
        .iter()
        .map(|n| graphql::check_number(*n).map_err(|e| CliError::Usage(e.to_string())))
        .collect::<Result<Vec<i32>, _>>()?;
    // No HTTP server here: the shared secret, which guards it, is not needed.
    let mut serve = args.serve.clone();
    serve.security.allow_unauthenticated = true;
    let config = serve
        .validate()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let (schema, _) = app::build_schema(&config).map_err(|e| CliError::Runtime(e.to_string()))?;
    let request = async_graphql::Request::new(QUERY).variables(
        async_graphql::Variables::from_json(json!({ "numbers": numbers })),
    );
    let resp = schema.execute(request).await;
    let body = serde_json::to_value(&resp).map_err(|e| CliError::Runtime(e.to_string()))?;
    let entries = entries(&numbers, &body);
    let failed = entries.iter().filter(|e| e.get("error").is_some()).count();
    if args.json {
        println!("{}", Value::Array(entries));
    } else {
        for entry in &entries {
            print_text(entry);
        }
    }
    match failed {
        0 => Ok(()),
        n => Err(CliError::Incomplete(n)),
    }
}

/// One entry per number asked: the dossier, or the error at its index in the response.
fn entries(numbers: &[i32], body: &Value) -> Vec<Value> {
    let dossiers = body["data"]["dossiers"].as_array();
    let errors = body["errors"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let error_at = |i: usize| {
        errors
            .iter()
            .find(|e| e["path"].get(1).and_then(Value::as_u64) == Some(i as u64))
            .or_else(|| errors.iter().find(|e| e["path"].get(1).is_none()))
    };
    numbers
        .iter()
        .enumerate()
        .map(|(i, n)| match dossiers.and_then(|d| d.get(i)) {
            Some(d) if !d.is_null() => json!({ "number": n, "dossier": d }),
            _ => {
                let (code, message) = error_at(i).map_or(("UPSTREAM_BAD_RESPONSE", ""), |e| {
                    (
                        e["extensions"]["code"]
                            .as_str()
                            .unwrap_or("UPSTREAM_BAD_RESPONSE"),
                        e["message"].as_str().unwrap_or(""),
                    )
                });
                json!({ "number": n, "error": { "code": code, "message": message } })
            }
        })
        .collect()
}

fn print_text(entry: &Value) {
    let number = &entry["number"];
    if let Some(err) = entry.get("error") {
        eprintln!(
            "dossier {number}: {} ({})",
            err["code"].as_str().unwrap_or(""),
            err["message"].as_str().unwrap_or("")
        );
        return;
    }
    let d = &entry["dossier"];
    let s = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    println!(
        "Dossier {number}: {} ({})",
        s(&d["stateLabel"]),
        s(&d["state"])
    );
    let demarche = format!("{} {}", d["demarche"]["number"], s(&d["demarche"]["title"]));
    let messages = d["messages"].as_array().map_or(0, Vec::len);
    let last = d["messages"]
        .as_array()
        .and_then(|m| m.last())
        .map_or(String::new(), |m| {
            format!(", last {} by {}", s(&m["createdAt"]), s(&m["email"]))
        });
    let rows = [
        ("Démarche", demarche),
        ("Applicant", s(&d["usager"]["email"])),
        ("Submitted", s(&d["dateDepot"])),
        ("In review since", s(&d["datePassageEnInstruction"])),
        ("Decided", s(&d["dateTraitement"])),
        ("Last modified", s(&d["dateDerniereModification"])),
        ("Messages", format!("{messages}{last}")),
        ("Link", s(&d["webUrl"])),
    ];
    for (label, value) in rows {
        println!("  {label:<16} {value}");
    }
}

/// `ds-subgraph healthcheck`: the container's HEALTHCHECK, without curl in the image.
#[derive(Debug, Clone, clap::Args)]
pub struct HealthcheckArgs {
    /// Address the service listens on (an unspecified address such as 0.0.0.0 is probed on
    /// loopback).
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:4000")]
    pub listen: SocketAddr,

    /// Probe `/readyz` (DS usable) instead of `/healthz` (process alive).
    #[arg(long)]
    pub ready: bool,
}

/// GETs `/healthz` (or `/readyz`); Ok on 2xx.
pub async fn healthcheck(args: HealthcheckArgs) -> Result<(), CliError> {
    let mut addr = args.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let path = if args.ready { "readyz" } else { "healthz" };
    let url = format!("http://{addr}/{path}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let resp = http
        .get(&url)
        .send()
        .await
        .map_err(|e| CliError::Runtime(format!("{url}: {e}")))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        Err(CliError::Runtime(format!("{url}: {status} {body}")))
    }
}
