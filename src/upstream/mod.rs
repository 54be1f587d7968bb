//! The DS API v2 client: document building, transport (limiter, retries), batch logic, and
//! the dataloader.
pub mod client;
pub mod document;
pub mod limiter;
pub mod loader;
pub mod model;
pub mod transport;

pub use client::DsClient;
pub use document::FieldSet;
pub use loader::{DossierKey, DossierLoader, Found, Lookup};
pub use model::DsDossier;
