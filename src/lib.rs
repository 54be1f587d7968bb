//! ds-subgraph: an Apollo Federation v2 subgraph over the démarches simplifiées (DS) API v2.
//!
//! Data flows one way: HTTP ([`server`]) → GraphQL ([`graphql`]) → dataloader → DS client
//! ([`upstream`]) → DS. The [`mock`] is a DS-compatible upstream wired in only by the CLI and tests.
pub mod app;
pub mod cache;
pub mod cli;
pub mod config;
pub mod error;
pub mod graphql;
pub mod health;
pub mod mock;
pub mod security;
pub mod server;
pub mod signal;
pub mod telemetry;
pub mod upstream;

pub use app::App;
pub use config::Config;
pub use error::Error;
