//! Start-up: wires config → DS client → loader → schema → HTTP server (zero-to-production style).
use std::{future::Future, net::SocketAddr, sync::Arc};

use async_graphql::dataloader::DataLoader;
use tokio::net::TcpListener;

use crate::{
    config::Config,
    graphql::{self, AppContext},
    server::{self, AppState},
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
}

impl App {
    /// Binds the listen address (port 0 picks a free one) and builds the whole service.
    pub async fn build(config: Config) -> Result<App, StartError> {
        let client = Arc::new(DsClient::new(config.upstream.clone())?);
        // One loader for the process: keys that concurrent requests load in the same tick share
        // one upstream document. Results stay per key, so nothing leaks between requests.
        let loader = DataLoader::new(DossierLoader::new(client), tokio::spawn)
            .max_batch_size(config.upstream.max_batch_size);
        let schema = graphql::build_schema(AppContext::new(loader, config.web_base_url.clone()));
        let router = server::router(AppState { schema });
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen,
                    source,
                })?;
        Ok(App { listener, router })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
