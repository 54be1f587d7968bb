//! The dataloader, shared by every client request: keys loaded in one tick become one upstream
//! document; the cache answers first; a number already being fetched for another request is
//! awaited, not fetched twice. Results stay per key, so errors never cross keys.
use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_graphql::dataloader::Loader;
use futures::future::{BoxFuture, FutureExt, Shared};
use tokio::sync::oneshot;

use super::{client::DsClient, document::FieldSet, model::DsDossier};
use crate::{
    cache::{stale_may_replace, DossierCache},
    error::Error,
    telemetry::metrics,
};

/// A dossier number and the field groups the caller's selection needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DossierKey {
    pub number: i32,
    pub fields: FieldSet,
}

/// A dossier as served: `stale_age` is set when DS failed and the cache answered instead.
#[derive(Debug, Clone)]
pub struct Found {
    pub dossier: Arc<DsDossier>,
    pub stale_age: Option<Duration>,
}

/// The outcome for one dossier number, kept per key so errors never cross keys.
pub type Lookup = Result<Found, Error>;

type SharedLookup = Shared<BoxFuture<'static, Lookup>>;

pub struct DossierLoader {
    client: Arc<DsClient>,
    cache: Arc<DossierCache>,
    deadline: Duration,
    in_flight: Arc<Mutex<HashMap<i32, (FieldSet, SharedLookup)>>>,
}

impl DossierLoader {
    pub fn new(client: Arc<DsClient>, cache: Arc<DossierCache>, deadline: Duration) -> Self {
        Self {
            client,
            cache,
            deadline,
            in_flight: Arc::default(),
        }
    }

    /// A fresh cached dossier, or a remembered "not found": DS is spared either way.
    pub fn cached(&self, number: i32, fields: FieldSet) -> Option<Lookup> {
        let hit = match self.cache.fresh(number, fields) {
            Some(dossier) => Ok(Found {
                dossier,
                stale_age: None,
            }),
            None => Err(self.cache.negative(number)?),
        };
        metrics::cache_hits(1);
        Some(hit)
    }

    /// What DS failing for `number` turns into: the cached dossier if recent enough.
    pub fn on_error(&self, number: i32, fields: FieldSet, error: Error) -> Lookup {
        if stale_may_replace(&error) {
            if let Some((dossier, age)) = self.cache.stale(number, fields) {
                tracing::info!(number, age_secs = age.as_secs(), error = %error, "DS failed: serving the cached dossier");
                metrics::cache_stale_served(1);
                return Ok(Found {
                    dossier,
                    stale_age: Some(age),
                });
            }
        }
        Err(error)
    }

    fn record(&self, number: i32, fields: FieldSet, result: Result<DsDossier, Error>) -> Lookup {
        match result {
            Ok(d) => {
                let dossier = Arc::new(d);
                self.cache.insert(number, dossier.clone(), fields);
                Ok(Found {
                    dossier,
                    stale_age: None,
                })
            }
            Err(e) => {
                self.cache.insert_negative(number, &e);
                self.on_error(number, fields, e)
            }
        }
    }
}

/// Removes the in-flight marks of a batch even if its future is dropped half-way, so that a
/// later request never waits on a fetch that no longer exists.
struct InFlightGuard {
    map: Arc<Mutex<HashMap<i32, (FieldSet, SharedLookup)>>>,
    senders: HashMap<i32, oneshot::Sender<Lookup>>,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut map = self.map.lock().expect("in-flight lock");
        for n in self.senders.keys() {
            map.remove(n);
        }
    }
}

impl Loader<DossierKey> for DossierLoader {
    type Value = Lookup;
    type Error = Infallible;

    async fn load(&self, keys: &[DossierKey]) -> Result<HashMap<DossierKey, Lookup>, Infallible> {
        let deadline = Instant::now() + self.deadline;
        let mut wanted: HashMap<i32, FieldSet> = HashMap::new();
        for k in keys {
            let f = wanted.entry(k.number).or_default();
            *f = f.union(k.fields);
        }
        let mut done: HashMap<i32, Lookup> = HashMap::new();
        let mut waiting: Vec<(i32, SharedLookup)> = Vec::new();
        let mut to_fetch: Vec<(i32, FieldSet)> = Vec::new();
        let mut guard = InFlightGuard {
            map: self.in_flight.clone(),
            senders: HashMap::new(),
        };
        {
            let mut in_flight = self.in_flight.lock().expect("in-flight lock");
            for (&number, &fields) in &wanted {
                // Asked again although the caller looked: a batch that landed during the
                // window may have filled the cache since.
                if let Some(hit) = self.cached(number, fields) {
                    done.insert(number, hit);
                } else if let Some((_, shared)) =
                    in_flight.get(&number).filter(|(f, _)| f.contains(fields))
                {
                    waiting.push((number, shared.clone()));
                } else {
                    let fetch = fields.union(self.cache.fresh_fields(number));
                    let (tx, rx) = oneshot::channel();
                    let shared = rx
                        .map(|r| r.unwrap_or(Err(Error::UpstreamUnavailable)))
                        .boxed()
                        .shared();
                    in_flight.insert(number, (fetch, shared));
                    guard.senders.insert(number, tx);
                    to_fetch.push((number, fetch));
                }
            }
        }
        metrics::cache_misses((to_fetch.len() + waiting.len()) as u64);
        if !to_fetch.is_empty() {
            let fetched = self.client.fetch_dossiers(&to_fetch, deadline).await;
            for (number, fields) in &to_fetch {
                let result = fetched
                    .get(number)
                    .cloned()
                    .unwrap_or(Err(Error::UpstreamBadResponse));
                let lookup = self.record(*number, *fields, result);
                if let Some(tx) = guard.senders.remove(number) {
                    self.in_flight
                        .lock()
                        .expect("in-flight lock")
                        .remove(number);
                    let _ = tx.send(lookup.clone());
                }
                done.insert(*number, lookup);
            }
        }
        for (number, shared) in waiting {
            done.insert(number, shared.await);
        }
        drop(guard);
        Ok(keys
            .iter()
            .map(|k| {
                let lookup = done
                    .get(&k.number)
                    .cloned()
                    .unwrap_or(Err(Error::UpstreamBadResponse));
                (*k, lookup)
            })
            .collect())
    }
}
