//! The Query root.
use async_graphql::{Any, Context, Object};

use super::{
    check_number,
    entities::{representation_number, Entity, Service},
    federation_sdl, AppContext, Dossier, StaleDossiers,
};
use crate::{error::Error, security::CallerId, upstream::FieldSet};

pub struct Query;

/// Loads numbers (some already rejected) and reports each failure as a `null` item with an
/// error at that item's path (`list`: the field is a list, so the path ends with the index).
async fn resolve_list(
    ctx: &Context<'_>,
    keys: Vec<Result<i32, Error>>,
    list: bool,
) -> Vec<Option<Dossier>> {
    let app = ctx.data_unchecked::<AppContext>();
    let valid: Vec<i32> = keys
        .iter()
        .filter_map(|k| k.as_ref().ok().copied())
        .collect();
    let fields = selected_fields(ctx).union(app.access.required_fields());
    let found = app.lookup_many(&valid, fields).await;
    let stale = ctx.data_opt::<StaleDossiers>();
    keys.into_iter()
        .enumerate()
        .map(|(i, key)| {
            let result = key.and_then(|n| {
                app.access.filter(
                    found
                        .get(&n)
                        .cloned()
                        .unwrap_or(Err(Error::UpstreamBadResponse)),
                )
            });
            match result {
                Ok(found) => {
                    if let (Some(age), Some(stale)) = (found.stale_age, stale) {
                        stale.push(found.dossier.number, age.as_secs());
                    }
                    Some(Dossier(found.dossier))
                }
                Err(e) => {
                    ctx.add_error(e.at(ctx, list.then_some(i)));
                    None
                }
            }
        })
        .collect()
}

/// The DS field groups the client selected under this field.
fn selected_fields(ctx: &Context<'_>) -> FieldSet {
    ctx.field().selection_set().fold(FieldSet::CORE, |set, f| {
        set.union(FieldSet::for_field(f.name()))
    })
}

#[Object]
impl Query {
    /// One dossier by number; null with a typed error (`NOT_FOUND`, `FORBIDDEN`, ...) when it
    /// cannot be returned.
    async fn dossier(&self, ctx: &Context<'_>, number: i32) -> Option<Dossier> {
        resolve_list(ctx, vec![check_number(number.into())], false)
            .await
            .pop()
            .flatten()
    }

    /// Several dossiers, in the order (and with the duplicates) of `numbers`; each one that
    /// fails is null with an error at its index.
    async fn dossiers(&self, ctx: &Context<'_>, numbers: Vec<i32>) -> Vec<Option<Dossier>> {
        let keys = numbers
            .into_iter()
            .map(|n| check_number(n.into()))
            .collect();
        resolve_list(ctx, keys, true).await
    }

    /// One dossier for its usager (citizen): returned only when `email` is the usager's
    /// (trimmed, case-insensitive). A wrong email answers `NOT_FOUND`, exactly like an unknown
    /// number. Attempts are limited per caller (`RATE_LIMITED`).
    async fn dossier_for_usager(
        &self,
        ctx: &Context<'_>,
        number: i32,
        email: String,
    ) -> Option<Dossier> {
        let app = ctx.data_unchecked::<AppContext>();
        let unknown = CallerId("unknown".into());
        let caller = ctx.data_opt::<CallerId>().unwrap_or(&unknown);
        let result = match app.access.attempt(caller).and(check_number(number.into())) {
            Ok(n) => {
                // The email is needed to compare, whatever the client selected.
                let fields = selected_fields(ctx)
                    .union(app.access.required_fields())
                    .union(FieldSet::USAGER);
                let looked_up = app
                    .lookup_many(&[n], fields)
                    .await
                    .remove(&n)
                    .unwrap_or(Err(Error::UpstreamBadResponse));
                app.access.for_usager(looked_up, &email)
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(found) => Some(Dossier(found.dossier)),
            Err(e) => {
                ctx.add_error(e.at(ctx, None));
                None
            }
        }
    }

    #[graphql(name = "_entities")]
    async fn entities(&self, ctx: &Context<'_>, representations: Vec<Any>) -> Vec<Option<Entity>> {
        let keys = representations
            .iter()
            .map(|r| representation_number(&r.0))
            .collect();
        let dossiers = resolve_list(ctx, keys, true).await;
        dossiers
            .into_iter()
            .map(|d| d.map(Entity::Dossier))
            .collect()
    }

    #[graphql(name = "_service")]
    async fn service(&self) -> Service {
        Service {
            sdl: federation_sdl().to_owned(),
        }
    }
}
