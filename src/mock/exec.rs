//! Runs a GraphQL document against the mock schema and shapes the answer like DS
//! (graphql-ruby) does, where async-graphql differs.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_graphql::{ErrorExtensionValues, Request, ServerError, Value, Variables};

use super::responses::{error, DsBody};
use super::schema::{MockSchema, RequestState};
use super::validate;

pub enum Outcome {
    /// HTTP 200 with this body.
    Ok(DsBody),
    /// A poisoned document: DS fails it as a whole with HTTP 500.
    Poisoned,
}

pub async fn execute(
    schema: &MockSchema,
    query: &str,
    variables: serde_json::Value,
    operation_name: Option<String>,
    state: Arc<RequestState>,
) -> Outcome {
    if query.trim().is_empty() {
        return Outcome::Ok(DsBody::errors(
            vec![error("No query string was present", &[])],
            None,
        ));
    }
    // A syntax error is left to async-graphql to report.
    if let Ok(doc) = async_graphql::parser::parse_query(query) {
        let errors = validate::check(&doc, operation_name.as_deref(), &variables);
        if !errors.is_empty() {
            return Outcome::Ok(DsBody::errors(errors, None));
        }
    }
    let mut request = Request::new(query)
        .variables(Variables::from_json(variables))
        .data(state.clone());
    if let Some(name) = operation_name {
        request = request.operation_name(name);
    }
    let response = schema.execute(request).await;
    if state.poisoned.load(Ordering::Relaxed) {
        return Outcome::Poisoned;
    }
    if response.errors.is_empty() {
        return Outcome::Ok(DsBody::data(response.data));
    }
    // Only resolver errors have a path. Without one, nothing ran (parse or validation error)
    // and DS sends no data key. With one: every root field is non-null, so DS nulls the whole
    // document where async-graphql only drops the failed field.
    let executed = response.errors.iter().any(|e| !e.path.is_empty());
    let errors = response.errors.into_iter().map(ds_wording).collect();
    Outcome::Ok(DsBody::errors(errors, executed.then_some(Value::Null)))
}

/// graphql-ruby's messages for the pre-execution errors a client is likely to hit.
fn ds_wording(mut e: ServerError) -> ServerError {
    if let Some(rest) = e.message.strip_prefix("Unknown field \"") {
        // `Unknown field "nope" on type "Dossier".` (maybe followed by a suggestion)
        let mut parts = rest.split('"');
        if let (Some(field), Some(_), Some(ty)) = (parts.next(), parts.next(), parts.next()) {
            let mut ext = ErrorExtensionValues::default();
            ext.set("code", "undefinedField");
            ext.set("typeName", ty);
            ext.set("fieldName", field);
            e.message = format!("Field '{field}' doesn't exist on type '{ty}'");
            e.extensions = Some(ext);
        }
    } else if let Some(rest) = e.message.strip_prefix("Unknown operation named ") {
        e.message = format!("No operation named {rest}");
    } else if e.message == "Operation name required in request." {
        e.message = "An operation name is required".to_owned();
    }
    e
}
