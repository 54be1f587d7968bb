//! A DS-compatible upstream, like stripe-mock is for Stripe: DS API v2's `POST /api/v2/graphql`
//! with DS's token check, throttle, error shapes and non-null `dossier` semantics, over built-in
//! sample dossiers and recorded fixtures, plus `/mock/*` endpoints for stats and fault injection
//! (see [`faults`]). Used by the integration tests, local development and the demo mode.

mod data;
mod exec;
pub mod faults;
mod http;
mod ratelimit;
mod responses;
mod schema;
mod validate;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use self::data::Dataset;
use self::http::MockState;
use self::ratelimit::RateLimiter;

#[derive(Debug, Clone, clap::Args)]
pub struct MockArgs {
    /// Address to listen on
    #[arg(long, env = "MOCK_LISTEN", default_value = "127.0.0.1:4010")]
    pub listen: SocketAddr,
    /// The API token the mock accepts (Authorization: Bearer <token>)
    #[arg(long, env = "MOCK_TOKEN", default_value = "demo-token")]
    pub token: String,
    /// Directory of *.json recorded DS responses ({"data":{"dossier":{...}}}) to serve in addition to the built-in samples
    #[arg(long, env = "MOCK_FIXTURES")]
    pub fixtures: Option<PathBuf>,
    /// Latency added to every GraphQL response, in milliseconds
    #[arg(long, env = "MOCK_LATENCY_MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// DS's rate limit: requests per 60 s fixed window per token (0 = off), answered with DS's 429
    #[arg(long, env = "MOCK_RATE_LIMIT", default_value_t = 0)]
    pub rate_limit: u32,
}

/// What the mock has seen since it started (or since `POST /mock/reset`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Default, PartialEq)]
pub struct MockStats {
    /// Every `POST /api/v2/graphql`, rejected ones included.
    pub graphql_requests: u64,
    /// `dossier` fields resolved, failed ones included.
    pub dossier_lookups: u64,
    /// Requests answered 429 (throttle or injected fault).
    pub rate_limited: u64,
    pub last_query: Option<String>,
    pub last_variables: Option<serde_json::Value>,
    /// The W3C `traceparent` header of the last request, to check trace propagation.
    pub last_traceparent: Option<String>,
    /// Most GraphQL requests received within any one second: what a client's rate looks like
    /// from DS's side.
    pub peak_requests_per_second: u64,
}

/// Arrival times of the last second of GraphQL requests, for `peak_requests_per_second`.
#[derive(Debug, Default)]
struct Arrivals(std::collections::VecDeque<std::time::Instant>);

impl Arrivals {
    /// Records one arrival; returns how many arrived within the last second.
    fn record(&mut self, now: std::time::Instant) -> u64 {
        let window = Duration::from_secs(1);
        while self
            .0
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.0.pop_front();
        }
        self.0.push_back(now);
        self.0.len() as u64
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MockError {
    #[error("mock: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("mock: bad fixture {}: {source}", path.display())]
    Fixture {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("mock: server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// A running mock, serving in a background task until [`MockServer::shutdown`] or drop.
pub struct MockServer {
    addr: SocketAddr,
    state: Arc<MockState>,
    visible: Vec<i32>,
    hidden: Vec<i32>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), std::io::Error>>>,
}

impl MockServer {
    /// Binds `args.listen` (port 0 allowed), loads samples + fixtures, serves in a background
    /// tokio task.
    pub async fn start(args: MockArgs) -> Result<MockServer, MockError> {
        let data = Arc::new(Dataset::load(args.fixtures.as_deref())?);
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|source| MockError::Bind {
                addr: args.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| MockError::Bind {
            addr: args.listen,
            source,
        })?;
        let state = Arc::new(MockState {
            token: args.token,
            latency: Duration::from_millis(args.latency_ms),
            schema: schema::build(data.clone()),
            limiter: RateLimiter::new(args.rate_limit),
            stats: Mutex::default(),
            arrivals: Mutex::default(),
            faults: Mutex::default(),
            api_url: format!("http://{addr}/api/v2/graphql"),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let app = http::router(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(MockServer {
            addr,
            state,
            visible: data.visible_numbers(),
            hidden: data.hidden_numbers(),
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>/api/v2/graphql`
    pub fn api_url(&self) -> String {
        format!("{}/api/v2/graphql", self.base_url())
    }

    /// `http://<addr>`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> MockStats {
        self.state.stats().clone()
    }

    /// Numbers of the dossiers that resolve fine with the token, ascending.
    pub fn visible_numbers(&self) -> Vec<i32> {
        self.visible.clone()
    }

    /// Numbers of dossiers the token may not see: DS answers `unauthorized` for them.
    pub fn forbidden_numbers(&self) -> Vec<i32> {
        self.hidden.clone()
    }

    /// Stops accepting, lets in-flight requests finish, then returns.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts the mock and serves until Ctrl-C or SIGTERM (the `ds-subgraph mock` command).
pub async fn run(args: MockArgs) -> Result<(), MockError> {
    let mut server = MockServer::start(args).await?;
    // On stdout, one stable line: with `--listen 127.0.0.1:0` this is how a script learns the port.
    println!("ds-mock listening on {}", server.base_url());
    tracing::info!(
        api_url = %server.api_url(),
        visible_numbers = ?server.visible_numbers(),
        "DS mock listening"
    );
    let mut task = server.task.take().expect("start sets the task");
    tokio::select! {
        () = crate::signal::shutdown_signal() => {}
        result = &mut task => return flatten(result),
    }
    tracing::info!("DS mock shutting down");
    if let Some(stop) = server.stop.take() {
        let _ = stop.send(());
    }
    flatten(task.await)
}

fn flatten(
    result: Result<Result<(), std::io::Error>, tokio::task::JoinError>,
) -> Result<(), MockError> {
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(MockError::Serve(e)),
        Err(join) => Err(MockError::Serve(std::io::Error::other(join))),
    }
}
