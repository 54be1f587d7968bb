//! Start-up: wires config → DS client → loader → schema → HTTP server (zero-to-production style).
use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use async_graphql::dataloader::DataLoader;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::{
    cache::DossierCache,
    config::Config,
    graphql::{self, AppContext, DsSchema},
    health::Health,
    security::Access,
    server::{self, AppState},
    telemetry,
    upstream::{DossierLoader, DsClient},
};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

pub struct App {
    listener: TcpListener,
    router: axum::Router,
    shutdown_grace: Duration,
}

/// The schema over a DS client, without any HTTP server (the `dossier` CLI uses it as is).
pub fn build_schema(config: &Config) -> Result<(DsSchema, Arc<Health>), StartError> {
    let client = Arc::new(DsClient::new(config.upstream.clone())?);
    let health = client.health();
    let cache = Arc::new(DossierCache::new(&config.cache));
    let deadline = config.upstream.deadline;
    // One loader for the process: keys that concurrent requests load in the same window share
    // one upstream document. Results stay per key, so nothing leaks between requests.
    // The load runs in the span of the request that triggered it, so its trace reaches DS.
    let loader = DataLoader::new(DossierLoader::new(client, cache, deadline), |fut| {
        tokio::spawn(fut.in_current_span())
    })
    .max_batch_size(config.upstream.max_batch_size)
    .delay(config.upstream.batch_window);
    let context = AppContext::new(loader, config.web_base_url.clone(), deadline)
        .with_access(Access::from_config(&config.security));
    let schema = graphql::build_schema(context, &config.security);
    Ok((schema, health))
}

impl App {
    /// Binds the listen address (port 0 picks a free one) and builds the whole service.
    pub async fn build(config: Config) -> Result<App, StartError> {
        let (schema, health) = build_schema(&config)?;
        if config.security.auth.is_none() {
            tracing::warn!(
                "serving WITHOUT caller authentication (--allow-unauthenticated): anyone who \
                 reaches this port reads the dossiers; set SUBGRAPH_SHARED_SECRETS"
            );
        }
        let router = server::router(AppState {
            schema,
            health,
            ready_upstream_down: config.ready_upstream_down,
            cache_control: config.cache_control.clone(),
            metrics: telemetry::metrics::handle(),
            security: Arc::new(config.security.clone()),
        });
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen,
                    source,
                })?;
        Ok(App {
            listener,
            router,
            shutdown_grace: config.shutdown_grace,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then stops accepting and lets in-flight requests
    /// finish for up to the grace period; those still running then are dropped.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (draining, drain_started) = tokio::sync::oneshot::channel::<()>();
        // The peer address keys the per-caller attempt limit when no caller header is set.
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let server = axum::serve(self.listener, service).with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = draining.send(());
        });
        let grace = self.shutdown_grace;
        let deadline = async move {
            if drain_started.await.is_err() {
                // The server ended on its own: nothing to bound.
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            result = server => {
                tracing::info!("shut down");
                result
            }
            () = deadline => {
                tracing::warn!(grace_secs = grace.as_secs(), "shutdown grace period over: dropping in-flight requests");
                Ok(())
            }
        }
    }
}
