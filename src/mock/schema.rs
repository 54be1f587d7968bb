//! The subset of DS's GraphQL schema the subgraph uses, with DS's type and field names.
//!
//! `Dossier.state` is served as a `String` (DS: `DossierState!`) so that a fixture holding a
//! state we do not know yet goes through verbatim, as it would from a newer DS.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use async_graphql::{
    Context, EmptyMutation, EmptySubscription, Error, ErrorExtensions, InputValueError,
    InputValueResult, Object, Scalar, ScalarType, Schema, SimpleObject, Value, ID,
};

use super::data::{Dataset, DemarcheRecord, DossierRecord, Lookup};

pub type MockSchema = Schema<Query, EmptyMutation, EmptySubscription>;

pub fn build(data: Arc<Dataset>) -> MockSchema {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .data(data)
        .finish()
}

/// Per-request state: the faults that act inside resolvers, and what the request did.
#[derive(Debug, Default)]
pub struct RequestState {
    pub poison: BTreeSet<i32>,
    pub timeout: BTreeSet<i32>,
    pub poisoned: AtomicBool,
    pub dossier_lookups: AtomicU64,
}

/// DS's `ISO8601DateTime`, kept as the string DS sends (with its Paris offset).
pub struct Iso8601DateTime(pub String);

#[Scalar(
    name = "ISO8601DateTime",
    specified_by_url = "https://tools.ietf.org/html/rfc3339"
)]
impl ScalarType for Iso8601DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => Ok(Iso8601DateTime(s)),
            other => Err(InputValueError::expected_type(other)),
        }
    }
    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

fn date(s: &str) -> Iso8601DateTime {
    Iso8601DateTime(s.to_owned())
}

fn opt_date(s: &Option<String>) -> Option<Iso8601DateTime> {
    s.as_deref().map(date)
}

fn coded(message: &str, code: &'static str) -> Error {
    Error::new(message).extend_with(|_, e| e.set("code", code))
}

pub struct Query;

#[Object]
impl Query {
    /// Informations concernant un dossier.
    async fn dossier(&self, ctx: &Context<'_>, number: i32) -> async_graphql::Result<Dossier> {
        let req = ctx.data::<Arc<RequestState>>()?;
        req.dossier_lookups.fetch_add(1, Ordering::Relaxed);
        if req.poison.contains(&number) {
            req.poisoned.store(true, Ordering::Relaxed);
        }
        if req.timeout.contains(&number) {
            return Err(coded("Timeout on Query.dossier", "timeout"));
        }
        match ctx.data::<Arc<Dataset>>()?.dossier(number) {
            Lookup::Found(d) => Ok(Dossier(d.clone())),
            Lookup::Hidden => Err(coded(
                "An object of type Dossier was hidden due to permissions",
                "unauthorized",
            )),
            Lookup::NotFound => Err(coded("Dossier not found", "not_found")),
        }
    }

    /// Informations concernant une démarche.
    async fn demarche(&self, ctx: &Context<'_>, number: i32) -> async_graphql::Result<Demarche> {
        match ctx.data::<Arc<Dataset>>()?.demarche(number) {
            Lookup::Found(d) => Ok(Demarche::from(d)),
            Lookup::Hidden => Err(coded(
                "An object of type Demarche was hidden due to permissions",
                "unauthorized",
            )),
            Lookup::NotFound => Err(coded("Demarche not found", "not_found")),
        }
    }
}

pub struct Dossier(DossierRecord);

#[Object]
impl Dossier {
    async fn id(&self) -> ID {
        ID(self.0.id())
    }
    async fn number(&self) -> i32 {
        self.0.number
    }
    async fn state(&self) -> &str {
        self.0.state()
    }
    async fn archived(&self) -> bool {
        self.0.archived.unwrap_or(false)
    }
    async fn date_depot(&self) -> Iso8601DateTime {
        date(self.0.date_depot())
    }
    async fn date_passage_en_construction(&self) -> Iso8601DateTime {
        date(self.0.date_passage_en_construction())
    }
    async fn date_derniere_modification(&self) -> Iso8601DateTime {
        date(self.0.date_derniere_modification())
    }
    async fn date_passage_en_instruction(&self) -> Option<Iso8601DateTime> {
        opt_date(&self.0.date_passage_en_instruction)
    }
    async fn date_traitement(&self) -> Option<Iso8601DateTime> {
        opt_date(&self.0.date_traitement)
    }
    async fn date_expiration(&self) -> Option<Iso8601DateTime> {
        opt_date(&self.0.date_expiration)
    }
    async fn date_suppression_par_usager(&self) -> Option<Iso8601DateTime> {
        opt_date(&self.0.date_suppression_par_usager)
    }
    async fn date_suppression_par_administration(&self) -> Option<Iso8601DateTime> {
        opt_date(&self.0.date_suppression_par_administration)
    }
    async fn motivation(&self) -> Option<&str> {
        self.0.motivation.as_deref()
    }
    async fn usager(&self) -> Profile {
        let p = self.0.usager.clone().unwrap_or_default();
        Profile {
            id: ID(p.id),
            email: p.email,
        }
    }
    async fn demarche(&self) -> DemarcheDescriptor {
        let d = self.0.demarche();
        DemarcheDescriptor {
            id: ID(d.id()),
            number: d.number,
            title: d.title,
        }
    }
    /// Oldest first, as DS sends them; `id` filters on one message.
    async fn messages(&self, id: Option<ID>) -> Vec<Message> {
        self.0
            .messages
            .iter()
            .filter(|m| id.as_ref().is_none_or(|id| id.0 == m.id))
            .map(|m| Message {
                id: ID(m.id.clone()),
                email: m.email.clone(),
                body: m.body.clone(),
                created_at: date(&m.created_at),
            })
            .collect()
    }
}

#[derive(SimpleObject)]
pub struct Profile {
    id: ID,
    email: String,
}

#[derive(SimpleObject)]
pub struct DemarcheDescriptor {
    id: ID,
    number: i32,
    title: String,
}

#[derive(SimpleObject)]
pub struct Demarche {
    id: ID,
    number: i32,
    title: String,
}

impl From<&DemarcheRecord> for Demarche {
    fn from(d: &DemarcheRecord) -> Demarche {
        Demarche {
            id: ID(d.id()),
            number: d.number,
            title: d.title.clone(),
        }
    }
}

#[derive(SimpleObject)]
pub struct Message {
    id: ID,
    email: String,
    body: String,
    created_at: Iso8601DateTime,
}
