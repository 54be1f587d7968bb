//! Property tests of the upstream document builder and of the DS answer parser.
use std::collections::HashSet;

use async_graphql::parser::{
    parse_query,
    types::{DocumentOperations, Selection},
};
use ds_subgraph::upstream::{client::parse_answer, document::BatchDocument, FieldSet};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Distinct dossier numbers, each with the field groups asked for it.
fn items() -> impl Strategy<Value = Vec<(i32, FieldSet)>> {
    let groups = [FieldSet::USAGER, FieldSet::DEMARCHE, FieldSet::MESSAGES];
    let set = prop::collection::vec(any::<bool>(), 3).prop_map(move |bits| {
        bits.iter()
            .zip(groups)
            .filter(|(on, _)| **on)
            .fold(FieldSet::CORE, |s, (_, g)| s.union(g))
    });
    prop::collection::hash_set(1..=i32::MAX, 1..40).prop_flat_map(move |numbers| {
        let n = numbers.len();
        (Just(numbers), prop::collection::vec(set.clone(), n))
            .prop_map(|(numbers, sets)| numbers.into_iter().zip(sets).collect())
    })
}

fn numbers_of(items: &[(i32, FieldSet)]) -> Vec<i32> {
    items.iter().map(|(n, _)| *n).collect()
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::from),
            prop::collection::hash_map("[a-z0-9]{0,6}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Answers shaped like DS's, whose parts are sometimes right and sometimes garbage.
fn ds_like_answer(aliases: Vec<String>) -> impl Strategy<Value = Value> {
    let n = aliases.len();
    let dossier = (1..=i32::MAX).prop_map(|number| {
        json!({"id": "x", "number": number, "state": "accepte", "dateDerniereModification": "d",
               "dateDepot": "d", "datePassageEnConstruction": "d",
               "usager": {"email": "e"}, "demarche": {"id": "p", "number": 1, "title": "t"}})
    });
    let value = prop_oneof![Just(Value::Null), dossier, any_json()];
    let code = prop_oneof![
        Just(json!("not_found")),
        Just(json!("unauthorized")),
        Just(json!("timeout")),
        any_json()
    ];
    let alias_aliases = aliases.clone();
    let error = (0..n + 2, code, any::<bool>()).prop_map(move |(i, code, with_path)| {
        let path = alias_aliases
            .get(i)
            .map_or(json!("elsewhere"), |a| json!(a));
        if with_path {
            json!({"message": "m", "path": [path], "extensions": {"code": code}})
        } else {
            json!({"message": "m", "extensions": {"code": code}})
        }
    });
    (
        any::<bool>(),
        prop::collection::vec(value, n),
        prop::collection::vec(error, 0..n + 2),
    )
        .prop_map(move |(data_null, values, errors)| {
            let data = if data_null {
                Value::Null
            } else {
                Value::Object(aliases.iter().cloned().zip(values).collect())
            };
            json!({"data": data, "errors": errors})
        })
}

proptest! {
    #[test]
    fn batch_documents_parse_and_carry_numbers_only_as_variables(items in items()) {
        let numbers = numbers_of(&items);
        let doc = BatchDocument::new(&items);
        let parsed = parse_query(&doc.query).expect("the document parses");
        let DocumentOperations::Multiple(ops) = &parsed.operations else {
            panic!("one named operation expected");
        };
        prop_assert_eq!(ops.len(), 1);
        let op = ops.values().next().unwrap();
        let mut seen = HashSet::new();
        for item in &op.node.selection_set.node.items {
            let Selection::Field(field) = &item.node else { panic!("fields only") };
            let alias = field.node.alias.as_ref().expect("every field is aliased");
            prop_assert!(seen.insert(alias.node.to_string()), "duplicate alias");
            let arg = field.node.get_argument("number").expect("a number argument");
            let text = arg.node.to_string();
            prop_assert!(text.starts_with('$'), "the number {} is spliced in", text);
            let var = doc.variables.get(&text[1..]).expect("the variable is sent");
            let i = doc.aliases.iter().position(|(a, _)| a == alias.node.as_str()).unwrap();
            prop_assert_eq!(var, &json!(numbers[i]));
        }
        prop_assert_eq!(seen.len(), numbers.len());
        prop_assert_eq!(doc.variables.len(), numbers.len());
    }

    #[test]
    fn arbitrary_answers_never_panic_and_answer_every_key_once(
        items in items(),
        body in any_json(),
        bytes in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let numbers = numbers_of(&items);
        let doc = BatchDocument::new(&items);
        for raw in [serde_json::to_vec(&body).unwrap(), bytes] {
            let (results, retry) = parse_answer(&doc, &raw);
            assert_partition(&numbers, &results, &retry)?;
        }
    }

    #[test]
    fn ds_like_answers_answer_every_key_once(
        (items, body) in items().prop_flat_map(|items| {
            let aliases = BatchDocument::new(&items).aliases.into_iter().map(|(a, _)| a).collect();
            (Just(items), ds_like_answer(aliases))
        })
    ) {
        let numbers = numbers_of(&items);
        let doc = BatchDocument::new(&items);
        let (results, retry) = parse_answer(&doc, &serde_json::to_vec(&body).unwrap());
        assert_partition(&numbers, &results, &retry)?;
    }
}

/// Every number is either answered or to be asked again, never both, never neither.
fn assert_partition<T>(
    numbers: &[i32],
    results: &std::collections::HashMap<i32, T>,
    retry: &[i32],
) -> Result<(), TestCaseError> {
    let retry_set: HashSet<i32> = retry.iter().copied().collect();
    prop_assert_eq!(retry_set.len(), retry.len(), "a number asked again twice");
    prop_assert_eq!(results.len() + retry.len(), numbers.len());
    for n in numbers {
        prop_assert!(
            results.contains_key(n) != retry_set.contains(n),
            "number {}",
            n
        );
    }
    Ok(())
}

/// GraphQL-ish text: real tokens in any order, so that some of it parses.
fn graphql_soup() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("{"),
        Just("}"),
        Just("("),
        Just(")"),
        Just("["),
        Just("]"),
        Just("...F"),
        Just("...G"),
        Just("fragment F on Query"),
        Just("fragment G on Query"),
        Just("... on Query"),
        Just("query Q"),
        Just("dossier(number: 1)"),
        Just("dossiers(numbers: $n)"),
        Just("_entities(representations: $r)"),
        Just("number"),
        Just("__schema"),
        Just("a: dossier"),
        Just("\"{\""),
        Just("# {\n"),
    ];
    prop::collection::vec(token, 0..60).prop_map(|t| t.join(" "))
}

proptest! {
    #[test]
    fn query_limits_never_panic_on_any_document(query in graphql_soup(), n in 0usize..300) {
        let limits = ds_subgraph::config::Limits {
            max_body_bytes: 1 << 20,
            max_depth: 15,
            max_complexity: 1000,
            max_dossiers: 100,
            max_batch: 10,
            max_entities: 100,
        };
        let variables = async_graphql::Variables::from_json(json!({"n": vec![1; n], "r": vec![json!({}); n]}));
        let mut batch = async_graphql::BatchRequest::Single(
            async_graphql::Request::new(query).variables(variables),
        );
        let result = ds_subgraph::security::limits::check_batch(&mut batch, &limits, false);
        if let Err(e) = result {
            prop_assert!(matches!(e.code(), "QUERY_TOO_COMPLEX" | "BAD_USER_INPUT"));
        }
    }
}
