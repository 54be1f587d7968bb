//! Query limits checked on the whole HTTP request before anything runs: batch size, nesting,
//! expanded size, dossier lookups and `_entities` representations.
//!
//! The walk memoizes fragments, so a "fragment bomb" (each fragment spreading the next one
//! twice) costs one visit per fragment here, and is refused before async-graphql's own
//! checks, which expand spreads one by one, get to see it.
use std::collections::HashMap;

use async_graphql::{
    parser::types::{ExecutableDocument, Selection, SelectionSet},
    BatchRequest, Name, Request, Value,
};

use crate::{config::Limits, error::Error};

/// Brackets nested deeper than this are refused before parsing: the parser recurses on them.
pub const MAX_NESTING: usize = 64;

/// What one operation asks for, fragments expanded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    pub fields: usize,
    pub depth: usize,
    pub dossiers: usize,
    pub entities: usize,
    /// `__schema` or `__type` at the root.
    pub introspection: bool,
}

impl Cost {
    fn add(self, o: Cost) -> Cost {
        Cost {
            fields: self.fields.saturating_add(o.fields),
            depth: self.depth.max(o.depth),
            dossiers: self.dossiers.saturating_add(o.dossiers),
            entities: self.entities.saturating_add(o.entities),
            introspection: self.introspection | o.introspection,
        }
    }

    fn max(self, o: Cost) -> Cost {
        Cost {
            fields: self.fields.max(o.fields),
            depth: self.depth.max(o.depth),
            dossiers: self.dossiers.max(o.dossiers),
            entities: self.entities.max(o.entities),
            introspection: self.introspection | o.introspection,
        }
    }
}

fn too_complex(what: String) -> Error {
    Error::QueryTooComplex(what)
}

/// Checks a whole HTTP request; parses each query once (async-graphql reuses the parse).
/// Without `introspection`, async-graphql would answer `__schema` with a silent null: this
/// says why instead.
pub fn check_batch(
    batch: &mut BatchRequest,
    limits: &Limits,
    introspection: bool,
) -> Result<(), Error> {
    let count = batch.iter().count();
    if count > limits.max_batch {
        return Err(too_complex(format!(
            "At most {} operations per batched request",
            limits.max_batch
        )));
    }
    let mut entities = 0usize;
    for request in batch.iter_mut() {
        let cost = check_request(request, limits)?;
        if cost.introspection && !introspection {
            return Err(Error::BadUserInput(
                "Introspection is disabled on this subgraph (INTROSPECTION=true enables it); \
                 `_service { sdl }` gives the schema"
                    .into(),
            ));
        }
        entities = entities.saturating_add(cost.entities);
    }
    if entities > limits.max_entities {
        return Err(too_complex(format!(
            "At most {} _entities representations per request",
            limits.max_entities
        )));
    }
    Ok(())
}

fn check_request(request: &mut Request, limits: &Limits) -> Result<Cost, Error> {
    if nesting(&request.query) > MAX_NESTING {
        return Err(too_complex("Query is nested too deep".into()));
    }
    let variables = request.variables.clone();
    // A query that does not parse is left to async-graphql, which reports why.
    let Ok(doc) = request.parsed_query() else {
        return Ok(Cost::default());
    };
    let cost = document_cost(doc, &variables)?;
    if cost.depth > limits.max_depth {
        return Err(too_complex("Query is nested too deep".into()));
    }
    if cost.fields > limits.max_complexity {
        return Err(too_complex("Query is too complex".into()));
    }
    if cost.dossiers > limits.max_dossiers {
        return Err(too_complex(format!(
            "At most {} dossier lookups per operation",
            limits.max_dossiers
        )));
    }
    Ok(cost)
}

/// The deepest bracket nesting of a GraphQL text, strings and comments skipped.
pub fn nesting(query: &str) -> usize {
    let bytes = query.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// The cost of the most expensive operation of a document (only one of them runs).
pub fn document_cost(
    doc: &ExecutableDocument,
    variables: &async_graphql::Variables,
) -> Result<Cost, Error> {
    let mut walk = Walk {
        doc,
        variables,
        fragments: HashMap::new(),
    };
    let mut cost = Cost::default();
    for (_, op) in doc.operations.iter() {
        cost = cost.max(walk.selection_set(&op.node.selection_set.node, true)?);
    }
    Ok(cost)
}

enum FragmentState {
    InProgress,
    Done(Cost),
}

struct Walk<'a> {
    doc: &'a ExecutableDocument,
    variables: &'a async_graphql::Variables,
    fragments: HashMap<&'a str, FragmentState>,
}

impl<'a> Walk<'a> {
    /// `root`: the selection is on `Query`, where dossier lookups are.
    fn selection_set(&mut self, set: &'a SelectionSet, root: bool) -> Result<Cost, Error> {
        let mut cost = Cost::default();
        for item in &set.items {
            let item_cost = match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let inner = self.selection_set(&field.selection_set.node, false)?;
                    let mut own = Cost {
                        fields: 1,
                        depth: 1,
                        ..Cost::default()
                    };
                    if root {
                        let variables = self.variables;
                        // The argument with its variables replaced by their values.
                        let arg = |name: &str| {
                            field.get_argument(name).map(|v| {
                                v.node
                                    .clone()
                                    .into_const_with(|var| {
                                        Ok::<_, std::convert::Infallible>(
                                            variables.get(&var).cloned().unwrap_or(Value::Null),
                                        )
                                    })
                                    .unwrap_or(Value::Null)
                            })
                        };
                        match field.name.node.as_str() {
                            "dossier" | "dossierForUsager" => own.dossiers = 1,
                            "__schema" | "__type" => own.introspection = true,
                            "dossiers" => own.dossiers = list_len(arg("numbers")),
                            "_entities" => {
                                own.entities = list_len(arg("representations"));
                                own.dossiers = own.entities;
                            }
                            _ => {}
                        }
                    }
                    Cost {
                        depth: inner.depth.saturating_add(1),
                        ..own.add(Cost { depth: 0, ..inner })
                    }
                }
                Selection::InlineFragment(f) => {
                    self.selection_set(&f.node.selection_set.node, root)?
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str(), root)?
                }
            };
            cost = cost.add(item_cost);
        }
        Ok(cost)
    }

    fn fragment(&mut self, name: &'a str, root: bool) -> Result<Cost, Error> {
        match self.fragments.get(name) {
            Some(FragmentState::Done(cost)) => return Ok(*cost),
            Some(FragmentState::InProgress) => {
                return Err(Error::BadUserInput(format!(
                    "Fragment \"{name}\" spreads itself"
                )))
            }
            None => {}
        }
        let Some(def) = self.doc.fragments.get(&Name::new(name)) else {
            // Unknown fragment: async-graphql's validation reports it.
            return Ok(Cost::default());
        };
        self.fragments.insert(name, FragmentState::InProgress);
        let cost = self.selection_set(&def.node.selection_set.node, root)?;
        self.fragments.insert(name, FragmentState::Done(cost));
        Ok(cost)
    }
}

/// Items of a list argument; anything else counts as one.
fn list_len(value: Option<Value>) -> usize {
    match value {
        Some(Value::List(items)) => items.len(),
        Some(Value::Null) | None => 0,
        Some(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{parser::parse_query, Variables};

    fn cost(query: &str, variables: serde_json::Value) -> Result<Cost, Error> {
        let doc = parse_query(query).unwrap();
        document_cost(&doc, &Variables::from_json(variables))
    }

    #[test]
    fn lookups_count_aliases_lists_and_representations() {
        let c = cost(
            "query($n: [Int!]!, $r: [_Any!]!) { a: dossier(number: 1) { number } \
             b: dossier(number: 2) { number } dossiers(numbers: $n) { number } \
             x: dossiers(numbers: [1, 2, 3]) { number } _entities(representations: $r) { __typename } }",
            serde_json::json!({"n": [1, 2, 3, 4], "r": [{}, {}]}),
        )
        .unwrap();
        assert_eq!(c.dossiers, 2 + 4 + 3 + 2);
        assert_eq!(c.entities, 2);
    }

    #[test]
    fn fragments_at_the_root_count_once_per_spread() {
        let c = cost(
            "{ ...F ...F } fragment F on Query { dossier(number: 1) { number } }",
            serde_json::json!({}),
        )
        .unwrap();
        assert_eq!(c.dossiers, 2);
        assert_eq!(c.depth, 2);
    }

    #[test]
    fn fragment_bombs_are_measured_without_expanding_them() {
        let mut q = String::from("{ ...F0 }");
        for i in 0..60 {
            q.push_str(&format!(
                " fragment F{i} on Query {{ ...F{} ...F{} }}",
                i + 1,
                i + 1
            ));
        }
        q.push_str(" fragment F60 on Query { __typename }");
        let c = cost(&q, serde_json::json!({})).unwrap();
        assert_eq!(c.fields, 1 << 60);
    }

    #[test]
    fn fragment_cycles_are_refused() {
        let err = cost(
            "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
            serde_json::json!({}),
        )
        .unwrap_err();
        assert!(matches!(err, Error::BadUserInput(_)));
    }

    #[test]
    fn nesting_skips_strings_and_comments() {
        assert_eq!(nesting("{ a { b } }"), 2);
        assert_eq!(
            nesting(
                r#"{ a(s: "{{{{") # {{{{
        }"#
            ),
            2
        );
        assert_eq!(nesting(r#"{ a(s: """ {{{ \""" {{ """) }"#), 2);
        assert_eq!(nesting(&"{a".repeat(1000)), 1000);
    }
}
