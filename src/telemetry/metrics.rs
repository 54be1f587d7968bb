//! Prometheus metrics: every name is declared here, described and set to zero at start, so that
//! a dashboard sees each series from the first scrape. Other modules only call the functions.
use std::{sync::OnceLock, time::Duration};

use metrics::{counter, describe_counter, describe_histogram, histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::error::Error;

pub const CLIENT_REQUESTS: &str = "ds_subgraph_client_requests_total";
pub const UPSTREAM_REQUESTS: &str = "ds_subgraph_upstream_requests_total";
pub const UPSTREAM_DURATION: &str = "ds_subgraph_upstream_request_duration_seconds";
pub const UPSTREAM_BATCH_KEYS: &str = "ds_subgraph_upstream_batch_keys";
pub const CACHE_HITS: &str = "ds_subgraph_cache_hits_total";
pub const CACHE_MISSES: &str = "ds_subgraph_cache_misses_total";
pub const CACHE_STALE_SERVED: &str = "ds_subgraph_cache_stale_served_total";
pub const LIMITER_WAITS: &str = "ds_subgraph_limiter_waits_total";
pub const LIMITER_WAIT_DURATION: &str = "ds_subgraph_limiter_wait_seconds";
pub const UPSTREAM_RETRIES: &str = "ds_subgraph_upstream_retries_total";

/// Outcomes of a client request: all data, data with some errors, only errors, or a body that
/// is not a GraphQL request at all.
pub const CLIENT_OUTCOMES: [&str; 4] = ["ok", "partial", "error", "rejected"];
pub const UPSTREAM_OUTCOMES: [&str; 6] = [
    "ok",
    "auth",
    "rate_limited",
    "timeout",
    "unavailable",
    "bad_response",
];

const DURATION_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
const KEYS_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0];

/// Installs the process-wide recorder once (tests build several apps in one process) and
/// returns the handle `/metrics` renders.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(UPSTREAM_DURATION.into()), DURATION_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(LIMITER_WAIT_DURATION.into()),
                        DURATION_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(UPSTREAM_BATCH_KEYS.into()),
                        KEYS_BUCKETS,
                    )
                })
                .expect("bucket lists are literals and not empty")
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder)
                .expect("no other metrics recorder is installed in this process");
            describe_all();
            // Histograms keep raw samples until upkeep folds them; do it off the request path.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                })
                .expect("a thread can be spawned at start");
            handle
        })
        .clone()
}

fn describe_all() {
    describe_counter!(CLIENT_REQUESTS, "GraphQL requests received, by outcome");
    describe_counter!(UPSTREAM_REQUESTS, "HTTP requests sent to DS, by outcome");
    describe_histogram!(UPSTREAM_DURATION, Unit::Seconds, "Duration of DS requests");
    describe_histogram!(UPSTREAM_BATCH_KEYS, "Dossiers asked in one DS request");
    describe_counter!(CACHE_HITS, "Dossiers served fresh from the cache");
    describe_counter!(CACHE_MISSES, "Dossiers not in the cache (or expired)");
    describe_counter!(
        CACHE_STALE_SERVED,
        "Stale dossiers served because DS failed"
    );
    describe_counter!(
        LIMITER_WAITS,
        "DS requests that waited for the rate limiter"
    );
    describe_histogram!(
        LIMITER_WAIT_DURATION,
        Unit::Seconds,
        "Time spent waiting for the rate limiter"
    );
    describe_counter!(UPSTREAM_RETRIES, "DS requests retried");
    for outcome in CLIENT_OUTCOMES {
        counter!(CLIENT_REQUESTS, "outcome" => outcome).absolute(0);
    }
    for outcome in UPSTREAM_OUTCOMES {
        counter!(UPSTREAM_REQUESTS, "outcome" => outcome).absolute(0);
    }
    for name in [
        CACHE_HITS,
        CACHE_MISSES,
        CACHE_STALE_SERVED,
        LIMITER_WAITS,
        UPSTREAM_RETRIES,
    ] {
        counter!(name).absolute(0);
    }
}

pub fn client_request(outcome: &'static str) {
    counter!(CLIENT_REQUESTS, "outcome" => outcome).increment(1);
}

/// One DS request: its outcome, how long it took, how many dossiers it asked.
pub fn upstream_request(result: Result<(), &Error>, keys: usize, elapsed: Duration) {
    let outcome = upstream_outcome(result);
    counter!(UPSTREAM_REQUESTS, "outcome" => outcome).increment(1);
    histogram!(UPSTREAM_DURATION, "outcome" => outcome).record(elapsed.as_secs_f64());
    histogram!(UPSTREAM_BATCH_KEYS).record(keys as f64);
}

pub fn upstream_outcome(result: Result<(), &Error>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(Error::UpstreamAuth) => "auth",
        Err(Error::UpstreamRateLimited { .. }) => "rate_limited",
        Err(Error::UpstreamTimeout) => "timeout",
        Err(Error::UpstreamUnavailable) => "unavailable",
        Err(_) => "bad_response",
    }
}

pub fn cache_hits(n: u64) {
    counter!(CACHE_HITS).increment(n);
}

pub fn cache_misses(n: u64) {
    counter!(CACHE_MISSES).increment(n);
}

pub fn cache_stale_served(n: u64) {
    counter!(CACHE_STALE_SERVED).increment(n);
}

pub fn limiter_wait(waited: Duration) {
    counter!(LIMITER_WAITS).increment(1);
    histogram!(LIMITER_WAIT_DURATION).record(waited.as_secs_f64());
}

pub fn upstream_retry() {
    counter!(UPSTREAM_RETRIES).increment(1);
}
