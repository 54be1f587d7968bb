//! The dataloader: every key loaded in one tick becomes one upstream document.
use std::{collections::HashMap, convert::Infallible, sync::Arc};

use async_graphql::dataloader::Loader;

use super::{client::DsClient, model::DsDossier};
use crate::error::Error;

/// The outcome for one dossier number, kept per key so errors never cross keys.
pub type Lookup = Result<Arc<DsDossier>, Error>;

pub struct DossierLoader {
    client: Arc<DsClient>,
}

impl DossierLoader {
    pub fn new(client: Arc<DsClient>) -> Self {
        Self { client }
    }
}

impl Loader<i32> for DossierLoader {
    type Value = Lookup;
    type Error = Infallible;

    async fn load(&self, keys: &[i32]) -> Result<HashMap<i32, Lookup>, Infallible> {
        let results = self.client.fetch_dossiers(keys).await;
        Ok(results
            .into_iter()
            .map(|(k, r)| (k, r.map(Arc::new)))
            .collect())
    }
}
