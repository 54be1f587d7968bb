//! Batch logic: aliased documents, survivors asked again, poisoned documents split in halves.
//! Every number gets its own result: one failing dossier never takes the others down.
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use serde::Deserialize;

use super::{
    document::{BatchDocument, FieldSet},
    model::DsDossier,
    transport::{GraphQlResponse, Transport},
};
use crate::{config::UpstreamConfig, error::Error};

/// DS nulls the whole `data` when one aliased dossier fails; each round drops the failing
/// aliases and asks again for the survivors. Two rounds suffice against DS; the third only
/// guards against an upstream that keeps changing its answer.
const MAX_ROUNDS: usize = 3;

/// How long a number isolated as poisoned is answered with its error without asking DS: a
/// dossier DS raises on usually stays so until its data is fixed, and re-isolating it costs a
/// whole bisection.
const POISON_MEMORY: Duration = Duration::from_secs(30);

pub type BatchResult = HashMap<i32, Result<DsDossier, Error>>;
type Item = (i32, FieldSet);

pub struct DsClient {
    transport: Transport,
    poisoned: moka::sync::Cache<i32, Error>,
}

/// What one document (and its survivor rounds) left undone.
struct Attempt {
    results: BatchResult,
    /// Items of a document that failed as a whole (HTTP 500, or an error naming no alias):
    /// one of them may be poisoned.
    failed_whole: Option<(Vec<Item>, Error)>,
}

impl DsClient {
    pub fn new(config: UpstreamConfig) -> Result<Self, reqwest::Error> {
        Ok(Self {
            transport: Transport::new(config)?,
            poisoned: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(POISON_MEMORY)
                .build(),
        })
    }

    /// What this client has learnt of DS's state, for `/readyz`.
    pub fn health(&self) -> std::sync::Arc<crate::health::Health> {
        self.transport.health()
    }

    pub fn max_batch_size(&self) -> usize {
        self.transport.config().max_batch_size
    }

    /// Fetches dossiers (each with the field groups it needs), one upstream document per
    /// `max_batch_size` items, all within `deadline`.
    pub async fn fetch_dossiers(&self, items: &[Item], deadline: Instant) -> BatchResult {
        let mut known = BatchResult::new();
        let items: Vec<Item> = items
            .iter()
            .filter(|(n, _)| match self.poisoned.get(n) {
                Some(e) => {
                    known.insert(*n, Err(e));
                    false
                }
                None => true,
            })
            .copied()
            .collect();
        let chunks = items.chunks(self.max_batch_size().max(1));
        let results = futures::future::join_all(chunks.map(|c| async move {
            let attempt = self.attempt(c, deadline, true).await;
            let mut results = attempt.results;
            if let Some((items, error)) = attempt.failed_whole {
                results.extend(self.isolate(items, error, deadline).await);
            }
            results
        }))
        .await;
        known.extend(results.into_iter().flatten());
        known
    }

    /// Bisects a failed document until the poisoned number is alone, so that the others are
    /// served. Each level costs two documents, so one poisoned number among `n` costs at most
    /// `2 * ceil(log2 n)` extra calls. When both halves fail, DS is failing everything (or
    /// several numbers are poisoned): stop there rather than hammer it.
    fn isolate(
        &self,
        items: Vec<Item>,
        error: Error,
        deadline: Instant,
    ) -> BoxFuture<'_, BatchResult> {
        Box::pin(async move {
            if items.len() <= 1 {
                return failed(&items, &error);
            }
            let (left, right) = items.split_at(items.len() / 2);
            let (a, b) = futures::join!(
                self.attempt(left, deadline, false),
                self.attempt(right, deadline, false)
            );
            let mut results = a.results;
            results.extend(b.results);
            match (a.failed_whole, b.failed_whole) {
                (Some((l, e)), Some((r, _))) => {
                    tracing::warn!(
                        keys = l.len() + r.len(),
                        "both halves of a failed DS document failed: not splitting further"
                    );
                    results.extend(failed(&l, &e));
                    results.extend(failed(&r, &e));
                }
                (Some((rest, e)), None) | (None, Some((rest, e))) => {
                    if let [(number, _)] = rest[..] {
                        tracing::warn!(number, "DS fails every document asking for this dossier");
                        self.poisoned.insert(number, e.clone());
                    }
                    results.extend(self.isolate(rest, e, deadline).await);
                }
                (None, None) => {}
            }
            results
        })
    }

    /// One document, then its survivors again while DS names failing aliases.
    async fn attempt(&self, items: &[Item], deadline: Instant, first: bool) -> Attempt {
        let mut results = BatchResult::with_capacity(items.len());
        let mut pending: Vec<Item> = items.to_vec();
        for _ in 0..MAX_ROUNDS {
            if pending.is_empty() {
                break;
            }
            let doc = BatchDocument::new(&pending);
            // A lone number is not split, so retrying is its only second chance.
            let retry_500 = first && pending.len() == 1;
            match self.transport.send(&doc, deadline, retry_500).await {
                Err(f) if f.internal_error && splittable(first, &pending) => {
                    return Attempt {
                        results,
                        failed_whole: Some((pending, f.error)),
                    };
                }
                Err(f) => {
                    results.extend(failed(&pending, &f.error));
                    pending.clear();
                }
                Ok(resp) => match split_response(&doc, resp, &mut results) {
                    Split::Survivors(numbers) => {
                        pending.retain(|(n, _)| numbers.contains(n));
                    }
                    Split::Whole(error) if splittable(first, &pending) => {
                        return Attempt {
                            results,
                            failed_whole: Some((pending, error)),
                        };
                    }
                    Split::Whole(error) => {
                        results.extend(failed(&pending, &error));
                        pending.clear();
                    }
                },
            }
        }
        results.extend(failed(&pending, &Error::UpstreamBadResponse));
        Attempt {
            results,
            failed_whole: None,
        }
    }
}

/// Whether a whole-document failure goes to `isolate`: any batch, and the lone halves that
/// `isolate` itself sends (so that it learns which number is poisoned). A lone number asked
/// for its own sake is not split: it simply failed.
fn splittable(first: bool, pending: &[Item]) -> bool {
    pending.len() > 1 || !first
}

fn failed(items: &[Item], error: &Error) -> BatchResult {
    items
        .iter()
        .map(|(n, _)| (*n, Err(error.clone())))
        .collect()
}

enum Split {
    /// The numbers to ask again (none when every alias got its answer).
    Survivors(Vec<i32>),
    /// No error names one of our aliases: the document failed as a whole.
    Whole(Error),
}

/// Maps the body of one 200 answer of DS to per-number results, and returns the numbers to
/// ask again; a document that failed as a whole gives every number its error. Pure, so that
/// property tests can feed it anything.
pub fn parse_answer(doc: &BatchDocument, body: &[u8]) -> (BatchResult, Vec<i32>) {
    let mut results = BatchResult::with_capacity(doc.aliases.len());
    let whole = |results: &mut BatchResult, error: Error| {
        results.extend(doc.aliases.iter().map(|(_, n)| (*n, Err(error.clone()))));
    };
    match serde_json::from_slice::<GraphQlResponse>(body) {
        Ok(resp) => match split_response(doc, resp, &mut results) {
            Split::Survivors(retry) => return (results, retry),
            Split::Whole(error) => whole(&mut results, error),
        },
        Err(_) => whole(&mut results, Error::UpstreamBadResponse),
    }
    (results, Vec::new())
}

/// Records the result of every alias that has one.
fn split_response(doc: &BatchDocument, resp: GraphQlResponse, results: &mut BatchResult) -> Split {
    if let Some(data) = resp.data {
        for (alias, number) in &doc.aliases {
            let result = match data.get(alias) {
                Some(v) if !v.is_null() => DsDossier::deserialize(v).map_err(|e| {
                    tracing::warn!(number, error = %e, "DS dossier does not match the expected shape");
                    Error::UpstreamBadResponse
                }),
                _ => Err(resp
                    .errors
                    .iter()
                    .find(|e| e.alias() == Some(alias))
                    .map_or(Error::UpstreamBadResponse, |e| e.to_error())),
            };
            results.insert(*number, result);
        }
        return Split::Survivors(Vec::new());
    }
    let keyed: HashMap<&str, Error> = resp
        .errors
        .iter()
        .filter_map(|e| e.alias().map(|a| (a, e.to_error())))
        .collect();
    let known_alias = doc
        .aliases
        .iter()
        .any(|(a, _)| keyed.contains_key(a.as_str()));
    if !known_alias {
        let messages: Vec<&str> = resp.errors.iter().map(|e| e.message.as_str()).collect();
        tracing::warn!(?messages, "DS failed the whole document");
        return Split::Whole(if resp.errors.iter().any(|e| e.code() == Some("timeout")) {
            Error::UpstreamTimeout
        } else {
            Error::UpstreamBadResponse
        });
    }
    let mut survivors = Vec::new();
    for (alias, number) in &doc.aliases {
        match keyed.get(alias.as_str()) {
            Some(err) => {
                results.insert(*number, Err(err.clone()));
            }
            None => survivors.push(*number),
        }
    }
    Split::Survivors(survivors)
}
