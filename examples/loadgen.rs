//! Closed-loop GraphQL load generator of the benchmark (`bench/run.sh`).
//!
//! `--concurrency` clients each send their next query as soon as the previous one is answered,
//! for `--warmup-secs` (not counted) then `--duration-secs`. Dossier numbers are drawn from a
//! Zipf-like law over `--numbers` numbers from `--first` on (rank k has weight 1/k^s: a few
//! dossiers are looked up very often, most rarely, as in an SI's traffic). No load tool we could
//! install does Zipf bodies, `_entities` and per-response GraphQL checks, hence this one.
//!
//! Prints one JSON object: throughput, latency percentiles of successful responses, failures
//! by cause, and (with `--mock-stats`) what the DS mock saw during the measured window.
use std::{collections::BTreeMap, sync::Arc, time::Duration};

use clap::{Parser, ValueEnum};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::time::Instant;

#[derive(Parser)]
struct Args {
    /// GraphQL endpoint of the system under test.
    #[arg(long)]
    url: String,
    #[arg(long, value_enum)]
    workload: Workload,
    /// Query shape: our subgraph's API, or DS's own schema as a Mesh gateway exposes it.
    #[arg(long, value_enum, default_value = "subgraph")]
    dialect: Dialect,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    #[arg(long, default_value_t = 10.0)]
    duration_secs: f64,
    #[arg(long, default_value_t = 1.0)]
    warmup_secs: f64,
    /// Offered load in queries/s over all clients (0 = each client sends as soon as answered):
    /// latency below saturation, where a closed loop only shows latency at saturation.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    #[arg(long, default_value_t = 3_000_001)]
    first: i32,
    #[arg(long, default_value_t = 10_000)]
    numbers: usize,
    /// Exponent of the Zipf-like popularity (0 = uniform).
    #[arg(long, default_value_t = 1.0)]
    zipf_s: f64,
    /// Dossiers per query in the `batch` workload.
    #[arg(long, default_value_t = 20)]
    batch: usize,
    /// Representations per query in the `entities` workload.
    #[arg(long, default_value_t = 50)]
    entities: usize,
    /// `GET` URL of the mock's stats (`http://.../mock/stats`), read at both ends of the window.
    #[arg(long)]
    mock_stats: Option<String>,
    /// Process id of the system under test: its CPU time over the window is reported (Linux).
    #[arg(long)]
    sut_pid: Option<u32>,
    /// Sent as `Authorization: Bearer` (to query the DS mock directly, as a baseline).
    #[arg(long)]
    bearer: Option<String>,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// One `dossier(number:)` per query.
    Single,
    /// `--batch` dossiers per query.
    Batch,
    /// `_entities` with `--entities` representations, as a router sends.
    Entities,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Dialect {
    Subgraph,
    Mesh,
}

const FIELDS: &str = "number state dateDepot usager { email } demarche { number title }";

/// Cumulative weights of ranks 1..=n under 1/k^s; sampling is a binary search.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut acc = 0.0;
        let cdf = (1..=n)
            .map(|k| {
                acc += 1.0 / (k as f64).powf(s);
                acc
            })
            .collect();
        Zipf { cdf }
    }

    fn rank(&self, rng: &mut SmallRng) -> usize {
        let total = *self.cdf.last().expect("at least one number");
        let x = rng.random::<f64>() * total;
        self.cdf.partition_point(|&c| c < x).min(self.cdf.len() - 1)
    }
}

struct Plan {
    query: String,
    workload: Workload,
    dialect: Dialect,
    size: usize,
}

impl Plan {
    fn new(args: &Args) -> Result<Plan, String> {
        let size = match args.workload {
            Workload::Single => 1,
            Workload::Batch => args.batch,
            Workload::Entities => args.entities,
        };
        let query = match (args.workload, args.dialect) {
            (Workload::Single, _) => format!("query($n: Int!) {{ dossier(number: $n) {{ {FIELDS} }} }}"),
            (Workload::Batch, Dialect::Subgraph) => {
                format!("query($ns: [Int!]!) {{ dossiers(numbers: $ns) {{ {FIELDS} }} }}")
            }
            // DS has no list query: a client of DS's schema aliases `dossier` (as we do upstream).
            (Workload::Batch, Dialect::Mesh) => {
                let vars: Vec<String> = (0..size).map(|i| format!("$n{i}: Int!")).collect();
                let fields: Vec<String> = (0..size)
                    .map(|i| format!("d{i}: dossier(number: $n{i}) {{ {FIELDS} }}"))
                    .collect();
                format!("query({}) {{ {} }}", vars.join(", "), fields.join(" "))
            }
            (Workload::Entities, Dialect::Subgraph) => format!(
                "query($r: [_Any!]!) {{ _entities(representations: $r) {{ ... on Dossier {{ {FIELDS} }} }} }}"
            ),
            (Workload::Entities, Dialect::Mesh) => {
                return Err("a gateway does not expose `_entities` to clients".into())
            }
        };
        Ok(Plan {
            query,
            workload: args.workload,
            dialect: args.dialect,
            size,
        })
    }

    fn body(&self, numbers: &[i32]) -> Value {
        let variables = match (self.workload, self.dialect) {
            (Workload::Single, _) => json!({ "n": numbers[0] }),
            (Workload::Batch, Dialect::Subgraph) => json!({ "ns": numbers }),
            (Workload::Batch, Dialect::Mesh) => Value::Object(
                numbers
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (format!("n{i}"), json!(n)))
                    .collect(),
            ),
            (Workload::Entities, _) => json!({
                "r": numbers.iter().map(|n| json!({"__typename": "Dossier", "number": n})).collect::<Vec<_>>()
            }),
        };
        json!({ "query": self.query, "variables": variables })
    }
}

/// What one response was: the dossiers it served, or why it failed.
fn judge(status: reqwest::StatusCode, body: &[u8], expected: usize) -> (usize, Option<String>) {
    if !status.is_success() {
        return (0, Some(format!("http_{}", status.as_u16())));
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (0, Some("bad_json".into()));
    };
    let served = match v.get("data") {
        Some(Value::Object(fields)) => fields
            .values()
            .map(|f| match f {
                Value::Object(_) => 1,
                Value::Array(items) => items.iter().filter(|i| i.is_object()).count(),
                _ => 0,
            })
            .sum(),
        _ => 0,
    };
    let error = v
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
        .map(|e| {
            e.pointer("/extensions/code")
                .and_then(Value::as_str)
                .unwrap_or("GRAPHQL_ERROR")
                .to_owned()
        });
    match error {
        Some(code) => (served, Some(code)),
        None if served < expected => (served, Some("MISSING_DATA".into())),
        None => (served, None),
    }
}

#[derive(Default)]
struct Tally {
    ok_latencies_us: Vec<u32>,
    responses: u64,
    failed: u64,
    lookups: u64,
    causes: BTreeMap<String, u64>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.ok_latencies_us.extend(other.ok_latencies_us);
        self.responses += other.responses;
        self.failed += other.failed;
        self.lookups += other.lookups;
        for (k, v) in other.causes {
            *self.causes.entry(k).or_default() += v;
        }
    }
}

struct Client {
    index: usize,
    start: Instant,
    measure_from: Instant,
    until: Instant,
}

async fn client_loop(
    http: reqwest::Client,
    args: Arc<Args>,
    plan: Arc<Plan>,
    zipf: Arc<Zipf>,
    client: Client,
) -> Tally {
    let seed = args
        .seed
        .wrapping_mul(1_000_003)
        .wrapping_add(client.index as u64);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut tally = Tally::default();
    let (measure_from, until) = (client.measure_from, client.until);
    // With a rate, client i sends at (i / concurrency + k) * interval: evenly spread slots.
    let interval = (args.rate > 0.0).then(|| args.concurrency as f64 / args.rate);
    let mut sent = 0u64;
    while Instant::now() < until {
        if let Some(interval) = interval {
            let slot = (client.index as f64 / args.concurrency as f64 + sent as f64) * interval;
            tokio::time::sleep_until(client.start + Duration::from_secs_f64(slot)).await;
            if Instant::now() >= until {
                break;
            }
        }
        sent += 1;
        let numbers: Vec<i32> = (0..plan.size)
            .map(|_| args.first + zipf.rank(&mut rng) as i32)
            .collect();
        let started = Instant::now();
        let mut request = http.post(&args.url).json(&plan.body(&numbers));
        if let Some(token) = &args.bearer {
            request = request.bearer_auth(token);
        }
        let answer = request.send().await;
        let (served, failure) = match answer {
            Ok(resp) => {
                let status = resp.status();
                match resp.bytes().await {
                    Ok(body) => judge(status, &body, plan.size),
                    Err(_) => (0, Some("transport".into())),
                }
            }
            Err(e) if e.is_timeout() => (0, Some("timeout".into())),
            Err(_) => (0, Some("transport".into())),
        };
        if started < measure_from {
            continue;
        }
        tally.responses += 1;
        tally.lookups += served as u64;
        match failure {
            None => {
                let us = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
                tally.ok_latencies_us.push(us);
            }
            Some(cause) => {
                tally.failed += 1;
                *tally.causes.entry(cause).or_default() += 1;
            }
        }
    }
    tally
}

async fn mock_stats(http: &reqwest::Client, url: &Option<String>) -> Option<Value> {
    let resp = http.get(url.as_ref()?).send().await.ok()?;
    resp.json::<Value>().await.ok()
}

/// User + system CPU seconds of a process (`/proc/PID/stat` fields 14 and 15, in USER_HZ =
/// 100 ticks per second on Linux).
fn cpu_secs(pid: Option<u32>) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn delta(before: &Option<Value>, after: &Option<Value>, key: &str) -> Option<u64> {
    let get = |v: &Option<Value>| v.as_ref()?.get(key)?.as_u64();
    Some(get(after)?.saturating_sub(get(before)?))
}

fn percentile_ms(sorted_us: &[u32], p: f64) -> Option<f64> {
    if sorted_us.is_empty() {
        return None;
    }
    let idx = ((p * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len()) - 1;
    Some(f64::from(sorted_us[idx]) / 1000.0)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Arc::new(Args::parse());
    let plan = match Plan::new(&args) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("loadgen: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let zipf = Arc::new(Zipf::new(args.numbers.max(1), args.zipf_s));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(args.timeout_secs))
        .build()
        .expect("an HTTP client");

    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup_secs);
    let until = measure_from + Duration::from_secs_f64(args.duration_secs);
    let clients: Vec<_> = (0..args.concurrency)
        .map(|i| {
            let client = Client {
                index: i,
                start,
                measure_from,
                until,
            };
            tokio::spawn(client_loop(
                http.clone(),
                args.clone(),
                plan.clone(),
                zipf.clone(),
                client,
            ))
        })
        .collect();
    tokio::time::sleep_until(measure_from).await;
    let before = mock_stats(&http, &args.mock_stats).await;
    let cpu_before = cpu_secs(args.sut_pid);
    let mut tally = Tally::default();
    for c in clients {
        tally.merge(c.await.expect("a client task"));
    }
    // Requests still in flight at the deadline are counted: the window ends when they answer.
    let elapsed = measure_from.elapsed().as_secs_f64();
    let after = mock_stats(&http, &args.mock_stats).await;
    let sut_cpu_secs = cpu_secs(args.sut_pid).zip(cpu_before).map(|(a, b)| a - b);

    tally.ok_latencies_us.sort_unstable();
    let ok = tally.responses - tally.failed;
    let upstream_requests = delta(&before, &after, "graphql_requests");
    let report = json!({
        "concurrency": args.concurrency,
        "offered_rate": (args.rate > 0.0).then_some(args.rate),
        "seconds": elapsed,
        "responses": tally.responses,
        "ok": ok,
        "failed": tally.failed,
        "failure_causes": tally.causes,
        "rps": tally.responses as f64 / elapsed,
        "ok_rps": ok as f64 / elapsed,
        "lookups_served": tally.lookups,
        "p50_ms": percentile_ms(&tally.ok_latencies_us, 0.50),
        "p95_ms": percentile_ms(&tally.ok_latencies_us, 0.95),
        "p99_ms": percentile_ms(&tally.ok_latencies_us, 0.99),
        "max_ms": percentile_ms(&tally.ok_latencies_us, 1.0),
        "sut_cpu_secs": sut_cpu_secs,
        "upstream_requests": upstream_requests,
        "upstream_lookups": delta(&before, &after, "dossier_lookups"),
        "upstream_429": delta(&before, &after, "rate_limited"),
        "lookups_per_upstream_request": upstream_requests
            .filter(|&u| u > 0)
            .map(|u| tally.lookups as f64 / u as f64),
    });
    println!("{report}");
    std::process::ExitCode::SUCCESS
}
