//! Dossiers already fetched: served fresh for `ttl`, and up to `stale_if_error` old when DS
//! fails. Each entry remembers which field groups it holds, so a richer selection refetches.
//! "Not found" and "forbidden" answers are remembered briefly, apart.
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use moka::sync::Cache;

use crate::{config::CacheConfig, error::Error, upstream::document::FieldSet, upstream::DsDossier};

#[derive(Clone)]
struct Entry {
    dossier: Arc<DsDossier>,
    fields: FieldSet,
    fetched_at: Instant,
}

pub struct DossierCache {
    entries: Option<Cache<i32, Entry>>,
    negative: Option<Cache<i32, Error>>,
    ttl: Duration,
    stale_if_error: Duration,
}

impl DossierCache {
    pub fn new(config: &CacheConfig) -> Self {
        // Entries live as long as the longer of the two windows; freshness is checked on read.
        let keep = config.ttl.max(config.stale_if_error);
        let entries = (!keep.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(config.max_entries)
                .time_to_live(keep)
                .build()
        });
        let negative = (!config.ttl.is_zero() && !config.negative_ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(config.max_entries)
                .time_to_live(config.negative_ttl)
                .build()
        });
        Self {
            entries,
            negative,
            ttl: config.ttl,
            stale_if_error: config.stale_if_error,
        }
    }

    fn entry(&self, number: i32) -> Option<Entry> {
        self.entries.as_ref()?.get(&number)
    }

    /// A fresh dossier holding at least `fields`.
    pub fn fresh(&self, number: i32, fields: FieldSet) -> Option<Arc<DsDossier>> {
        self.entry(number)
            .filter(|e| e.fields.contains(fields) && e.fetched_at.elapsed() < self.ttl)
            .map(|e| e.dossier)
    }

    /// The groups a fresh entry already holds, to be asked again with a richer selection so
    /// that the refreshed entry serves both.
    pub fn fresh_fields(&self, number: i32) -> FieldSet {
        self.entry(number)
            .filter(|e| e.fetched_at.elapsed() < self.ttl)
            .map_or(FieldSet::CORE, |e| e.fields)
    }

    /// A dossier holding `fields`, at most `stale_if_error` old, with its age.
    pub fn stale(&self, number: i32, fields: FieldSet) -> Option<(Arc<DsDossier>, Duration)> {
        self.entry(number)
            .map(|e| (e.fields, e.dossier, e.fetched_at.elapsed()))
            .filter(|(f, _, age)| f.contains(fields) && *age <= self.stale_if_error)
            .map(|(_, d, age)| (d, age))
    }

    pub fn insert(&self, number: i32, dossier: Arc<DsDossier>, fields: FieldSet) {
        if let Some(c) = &self.negative {
            c.invalidate(&number);
        }
        if let Some(c) = &self.entries {
            let fetched_at = Instant::now();
            c.insert(
                number,
                Entry {
                    dossier,
                    fields,
                    fetched_at,
                },
            );
        }
    }

    /// Remembers answers that will not change in the next seconds: not found, forbidden.
    pub fn insert_negative(&self, number: i32, error: &Error) {
        if let (Some(c), Error::NotFound | Error::Forbidden) = (&self.negative, error) {
            c.insert(number, error.clone());
        }
    }

    pub fn negative(&self, number: i32) -> Option<Error> {
        self.negative.as_ref()?.get(&number)
    }
}

/// Errors where an older answer beats no answer: DS is down, slow, throttling us or garbled.
pub fn stale_may_replace(error: &Error) -> bool {
    matches!(
        error,
        Error::UpstreamUnavailable
            | Error::UpstreamTimeout
            | Error::UpstreamRateLimited { .. }
            | Error::UpstreamBadResponse
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::model::DsDossier;

    fn dossier(number: i32) -> Arc<DsDossier> {
        let json = serde_json::json!({
            "id": "x", "number": number, "state": "accepte",
            "dateDerniereModification": "d", "dateDepot": "d", "datePassageEnConstruction": "d",
        });
        Arc::new(serde_json::from_value(json).unwrap())
    }

    fn cache(ttl: u64, stale: u64) -> DossierCache {
        DossierCache::new(&CacheConfig {
            ttl: Duration::from_secs(ttl),
            stale_if_error: Duration::from_secs(stale),
            negative_ttl: Duration::from_secs(5),
            max_entries: 100,
        })
    }

    #[test]
    fn an_entry_serves_only_the_groups_it_holds() {
        let c = cache(30, 600);
        c.insert(1, dossier(1), FieldSet::USAGER);
        assert!(c.fresh(1, FieldSet::CORE).is_some());
        assert!(c.fresh(1, FieldSet::USAGER).is_some());
        assert!(c.fresh(1, FieldSet::MESSAGES).is_none());
        assert_eq!(c.fresh_fields(1), FieldSet::USAGER);
        assert!(c.stale(1, FieldSet::MESSAGES).is_none());
        assert!(c.fresh(2, FieldSet::CORE).is_none());
    }

    #[test]
    fn ttl_zero_never_serves_fresh_but_keeps_the_stale_copy() {
        let c = cache(0, 600);
        c.insert(1, dossier(1), FieldSet::ALL);
        assert!(c.fresh(1, FieldSet::CORE).is_none());
        let (_, age) = c.stale(1, FieldSet::ALL).unwrap();
        assert!(age < Duration::from_secs(1));
        c.insert_negative(2, &Error::NotFound);
        assert_eq!(
            c.negative(2),
            None,
            "no negative caching with the cache off"
        );
        assert!(cache(0, 0).stale(1, FieldSet::CORE).is_none());
    }

    #[test]
    fn only_stable_answers_are_remembered_as_negative() {
        let c = cache(30, 600);
        c.insert_negative(1, &Error::NotFound);
        c.insert_negative(2, &Error::Forbidden);
        c.insert_negative(3, &Error::UpstreamUnavailable);
        assert_eq!(c.negative(1), Some(Error::NotFound));
        assert_eq!(c.negative(2), Some(Error::Forbidden));
        assert_eq!(c.negative(3), None);
        c.insert(1, dossier(1), FieldSet::CORE);
        assert_eq!(c.negative(1), None, "a dossier found since wins");
        assert!(stale_may_replace(&Error::UpstreamTimeout));
        assert!(!stale_may_replace(&Error::NotFound));
        assert!(!stale_may_replace(&Error::UpstreamAuth));
    }
}
