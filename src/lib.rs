//! ds-subgraph: an Apollo Federation v2 subgraph over the démarches simplifiées (DS) API v2.
pub mod mock;
