//! The DS API v2 client: document building, transport, response parsing, and the dataloader.
pub mod client;
pub mod document;
pub mod loader;
pub mod model;

pub use client::DsClient;
pub use loader::{DossierLoader, Lookup};
pub use model::DsDossier;
