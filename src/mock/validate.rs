//! The checks graphql-ruby runs before execution that async-graphql does differently: the
//! depth limit (DS's wording, with the depth) and `Int` variable coercion (async-graphql only
//! fails the field at execution time; DS rejects the document, with no `data`).

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{ErrorExtensionValues, Name, PathSegment, Pos, ServerError, Value};

const MAX_DEPTH: usize = 15;

/// Errors to answer instead of executing `doc`, if any.
pub fn check(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &serde_json::Value,
) -> Vec<ServerError> {
    let Some(op) = selected_operation(doc, operation_name) else {
        // Unknown or ambiguous operation: async-graphql reports it.
        return Vec::new();
    };
    let depth = selection_depth(doc, &op.selection_set.node, 0);
    if depth > MAX_DEPTH {
        let message = format!("Query has depth of {depth}, which exceeds max depth of {MAX_DEPTH}");
        return vec![ServerError::new(message, None)];
    }
    let mut errors = int_literal_errors(op, operation_name);
    errors.extend(int_variable_errors(op, variables));
    errors
}

fn selected_operation<'a>(
    doc: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a OperationDefinition> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| &op.node)
        }
        _ => None,
    }
}

/// Field nesting depth, fragments expanded, counted like graphql-ruby's `max_depth`.
fn selection_depth(doc: &ExecutableDocument, set: &SelectionSet, fragments_seen: usize) -> usize {
    // A fragment cycle is a validation error; the bound only keeps us from looping on it.
    if fragments_seen > 64 {
        return 0;
    }
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(f) => {
                1 + selection_depth(doc, &f.node.selection_set.node, fragments_seen)
            }
            Selection::InlineFragment(f) => {
                selection_depth(doc, &f.node.selection_set.node, fragments_seen)
            }
            Selection::FragmentSpread(s) => doc
                .fragments
                .get(&s.node.fragment_name.node)
                .map_or(0, |f| {
                    selection_depth(doc, &f.node.selection_set.node, fragments_seen + 1)
                }),
        })
        .max()
        .unwrap_or(0)
}

/// Out-of-range `Int` literals in root-field arguments (the only `Int` arguments we have).
fn int_literal_errors(op: &OperationDefinition, operation_name: Option<&str>) -> Vec<ServerError> {
    let op_path = match operation_name {
        Some(name) => format!("query {name}"),
        None => "query".to_owned(),
    };
    let mut errors = Vec::new();
    for item in &op.selection_set.node.items {
        let Selection::Field(field) = &item.node else {
            continue;
        };
        for (arg, value) in &field.node.arguments {
            let Some(Value::Number(n)) = value.node.clone().into_const() else {
                continue;
            };
            if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) || n.is_f64() {
                continue;
            }
            let (field_name, arg_name) = (field.node.name.node.as_str(), arg.node.as_str());
            let mut e = ServerError::new(
                format!(
                    "Argument '{arg_name}' on Field '{field_name}' has an invalid value ({n}). Expected type 'Int!'."
                ),
                Some(field.pos),
            );
            e.path = [op_path.as_str(), field_name, arg_name]
                .into_iter()
                .map(|s| PathSegment::Field(s.to_owned()))
                .collect();
            let mut ext = ErrorExtensionValues::default();
            ext.set("code", "argumentLiteralsIncompatible");
            ext.set("typeName", "Field");
            ext.set("argumentName", arg_name);
            e.extensions = Some(ext);
            errors.push(e);
        }
    }
    errors
}

fn int_variable_errors(
    op: &OperationDefinition,
    variables: &serde_json::Value,
) -> Vec<ServerError> {
    let mut errors = Vec::new();
    for def in &op.variable_definitions {
        let def_node = &def.node;
        let ty = &def_node.var_type.node;
        if !matches!(&ty.base, BaseType::Named(n) if n.as_str() == "Int") {
            continue;
        }
        let name = def_node.name.node.as_str();
        let given = variables.get(name);
        let explanation = match given {
            None | Some(serde_json::Value::Null) => {
                if ty.nullable || def_node.default_value.is_some() {
                    continue;
                }
                "Expected value to not be null".to_owned()
            }
            Some(serde_json::Value::Number(n))
                if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) =>
            {
                continue
            }
            Some(serde_json::Value::String(s)) => format!("Could not coerce value \"{s}\" to Int"),
            Some(other) => format!("Could not coerce value {other} to Int"),
        };
        errors.push(invalid_variable(
            name,
            &ty.to_string(),
            def.pos,
            given.cloned().unwrap_or_default(),
            explanation,
        ));
    }
    errors
}

fn invalid_variable(
    name: &str,
    ty: &str,
    pos: Pos,
    value: serde_json::Value,
    explanation: String,
) -> ServerError {
    let mut e = ServerError::new(
        format!("Variable ${name} of type {ty} was provided invalid value"),
        Some(pos),
    );
    let mut problem = IndexMap::new();
    problem.insert(Name::new("path"), Value::List(Vec::new()));
    problem.insert(Name::new("explanation"), Value::String(explanation));
    let mut ext = ErrorExtensionValues::default();
    ext.set("value", Value::from_json(value).unwrap_or(Value::Null));
    ext.set("problems", Value::List(vec![Value::Object(problem)]));
    e.extensions = Some(ext);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(q: &str, vars: serde_json::Value) -> Vec<String> {
        let doc = async_graphql::parser::parse_query(q).unwrap();
        check(&doc, None, &vars)
            .into_iter()
            .map(|e| e.message)
            .collect()
    }

    #[test]
    fn depth_counts_fields_through_fragments() {
        let doc = async_graphql::parser::parse_query(
            "{ dossier(number: 1) { ...F } } fragment F on Dossier { usager { email } }",
        )
        .unwrap();
        let op = selected_operation(&doc, None).unwrap();
        assert_eq!(selection_depth(&doc, &op.selection_set.node, 0), 3);
    }

    #[test]
    fn int_variables_are_coerced_like_ds() {
        let q = "query($n: Int!, $m: Int) { dossier(number: $n) { id } }";
        assert!(run(q, json!({ "n": 1 })).is_empty());
        let bad = vec!["Variable $n of type Int! was provided invalid value".to_owned()];
        assert_eq!(run(q, json!({ "n": 3000000000u64 })), bad);
        assert_eq!(run(q, json!({ "n": "abc" })), bad);
        assert_eq!(run(q, json!({})), bad);
        assert_eq!(
            run("{ dossier(number: 3000000000) { id } }", json!({})),
            vec!["Argument 'number' on Field 'dossier' has an invalid value (3000000000). Expected type 'Int!'.".to_owned()]
        );
    }
}
