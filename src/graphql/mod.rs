//! The schema this subgraph exposes: types, the Query root, federation entities.
mod entities;
mod query;
mod types;

use std::sync::LazyLock;

use async_graphql::{
    dataloader::DataLoader, EmptyMutation, EmptySubscription, SDLExportOptions, Schema,
};
use url::Url;

use crate::{
    error::Error,
    upstream::{DossierLoader, Lookup},
};
pub use query::Query;
pub use types::{Dossier, DossierState};

pub type DsSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// What resolvers share: the (process-wide) loader and how to build web links.
pub struct AppContext {
    loader: DataLoader<DossierLoader>,
    web_base_url: Url,
}

impl AppContext {
    pub fn new(loader: DataLoader<DossierLoader>, web_base_url: Url) -> Self {
        Self {
            loader,
            web_base_url,
        }
    }

    pub fn web_url(&self, number: i32) -> String {
        format!(
            "{}/dossiers/{number}",
            self.web_base_url.as_str().trim_end_matches('/')
        )
    }

    /// Looks dossiers up through the loader; the result has one entry per distinct number.
    pub async fn lookup_many(&self, numbers: &[i32]) -> std::collections::HashMap<i32, Lookup> {
        let Ok(mut found) = self.loader.load_many(numbers.iter().copied()).await;
        // The client answers every key; a key missing here would be a bug upstream of us.
        for n in numbers {
            found.entry(*n).or_insert(Err(Error::UpstreamBadResponse));
        }
        found
    }
}

/// A dossier number as DS knows them: a positive 32-bit integer.
pub fn check_number(number: i64) -> Result<i32, Error> {
    i32::try_from(number)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            Error::BadUserInput(format!(
                "{number} is not a valid dossier number (1..=2147483647)"
            ))
        })
}

pub fn build_schema(app: AppContext) -> DsSchema {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .data(app)
        .finish()
}

/// The federated SDL (`_service { sdl }`, and `schema.graphql` at the repository root).
pub fn federation_sdl() -> &'static str {
    static SDL: LazyLock<String> = LazyLock::new(|| {
        let sdl = Schema::build(Query, EmptyMutation, EmptySubscription)
            .finish()
            .sdl_with_options(SDLExportOptions::new().federation());
        entities::with_keys(&sdl)
    });
    &SDL
}
