//! The schema this subgraph exposes: types, the Query root, federation entities.
mod entities;
mod query;
mod stale;
mod types;

use std::sync::LazyLock;

use async_graphql::{
    dataloader::DataLoader, EmptyMutation, EmptySubscription, SDLExportOptions, Schema,
};
use url::Url;

use crate::{
    config::SecurityConfig,
    error::Error,
    security::Access,
    upstream::{DossierKey, DossierLoader, FieldSet, Lookup},
};
pub use query::Query;
pub use stale::{StaleDossiers, StaleReport};
pub use types::{Dossier, DossierState};

/// The loader enforces the deadline itself (limiter waits, retries, attempt timeouts); this
/// margin lets it report its own, more precise error before the request gives up on it.
const GRACE: std::time::Duration = std::time::Duration::from_millis(500);

pub type DsSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// What resolvers share: the (process-wide) loader and how to build web links.
pub struct AppContext {
    loader: DataLoader<DossierLoader>,
    web_base_url: Url,
    /// Overall deadline of one client request's lookups.
    deadline: std::time::Duration,
    access: Access,
}

impl AppContext {
    pub fn new(
        loader: DataLoader<DossierLoader>,
        web_base_url: Url,
        deadline: std::time::Duration,
    ) -> Self {
        Self {
            loader,
            web_base_url,
            deadline,
            access: Access::default(),
        }
    }

    /// The démarche allowlist and the `dossierForUsager` attempt limit.
    pub fn with_access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    pub fn web_url(&self, number: i32) -> String {
        format!(
            "{}/dossiers/{number}",
            self.web_base_url.as_str().trim_end_matches('/')
        )
    }

    /// Looks dossiers up; the result has one entry per distinct number. Cache hits are
    /// answered here, so they never wait for a batch that also holds a miss; the misses go
    /// through the loader. Past the request deadline, a number still waiting gets its stale
    /// copy or a timeout.
    pub async fn lookup_many(
        &self,
        numbers: &[i32],
        fields: FieldSet,
    ) -> std::collections::HashMap<i32, Lookup> {
        let loader = self.loader.loader();
        let mut found = std::collections::HashMap::with_capacity(numbers.len());
        let mut misses = Vec::new();
        for &number in numbers {
            if found.contains_key(&number) {
                continue; // a duplicate already answered from the cache
            }
            match loader.cached(number, fields) {
                Some(hit) => {
                    found.insert(number, hit);
                }
                None => misses.push(DossierKey { number, fields }),
            }
        }
        if !misses.is_empty() {
            let load = self.loader.load_many(misses);
            if let Ok(Ok(loaded)) = tokio::time::timeout(self.deadline + GRACE, load).await {
                found.extend(loaded.into_iter().map(|(k, v)| (k.number, v)));
            }
        }
        for n in numbers {
            found.entry(*n).or_insert_with(|| {
                self.loader
                    .loader()
                    .on_error(*n, fields, Error::UpstreamTimeout)
            });
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

/// The schema with the query limits of `security` (async-graphql's own checks back up the
/// pre-execution ones of [`crate::security::limits`]).
pub fn build_schema(app: AppContext, security: &SecurityConfig) -> DsSchema {
    let builder = Schema::build(Query, EmptyMutation, EmptySubscription)
        .data(app)
        .extension(StaleReport)
        .limit_depth(security.limits.max_depth)
        .limit_complexity(security.limits.max_complexity);
    if security.introspection {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    }
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
