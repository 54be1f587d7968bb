//! Federation: `Dossier` is an entity keyed by `number` and by DS's `id`.
//!
//! async-graphql's built-in `_entities` fails the whole list when one representation fails
//! (`try_join_all`), and reports a missing entity as an error for every position. A router
//! needs the opposite: `null` plus an error at that position only. So `_entities` and
//! `_service` are ordinary fields of our Query, and the `@key` directives, which async-graphql
//! only derives from its own entity resolvers, are added to the exported SDL here.
use async_graphql::{Union, Value};
use base64::{engine::general_purpose::STANDARD, Engine};

use super::{check_number, Dossier};
use crate::error::Error;

pub const KEYS: &[&str] = &["number", "id"];

/// The `_Entity` union of the federation spec.
#[derive(Union)]
#[graphql(name = "_Entity")]
pub enum Entity {
    Dossier(Dossier),
}

/// The `_Service` type of the federation spec.
#[derive(async_graphql::SimpleObject)]
#[graphql(name = "_Service")]
pub struct Service {
    pub sdl: String,
}

pub fn with_keys(sdl: &str) -> String {
    let keys: String = KEYS
        .iter()
        .map(|k| format!(" @key(fields: \"{k}\")"))
        .collect();
    let out = sdl.replacen("type Dossier {", &format!("type Dossier{keys} {{"), 1);
    assert_ne!(
        out, sdl,
        "the exported SDL has no `type Dossier {{` to annotate"
    );
    out
}

/// The dossier number a representation points at, by `number` or by `id`.
pub fn representation_number(rep: &Value) -> Result<i32, Error> {
    let bad = |why: &str| Error::BadUserInput(format!("Invalid Dossier representation: {why}"));
    let Value::Object(obj) = rep else {
        return Err(bad("not an object"));
    };
    match obj.get("__typename") {
        Some(Value::String(t)) if t == "Dossier" => {}
        _ => return Err(bad("__typename must be \"Dossier\"")),
    }
    if let Some(number) = obj.get("number") {
        return match number {
            Value::Number(n) => match n.as_i64() {
                Some(n) => check_number(n),
                None => Err(bad("number must be an integer")),
            },
            _ => Err(bad("number must be an Int")),
        };
    }
    match obj.get("id") {
        Some(Value::String(id)) => {
            number_from_id(id).ok_or_else(|| bad("id is not a DS Dossier id"))
        }
        Some(_) => Err(bad("id must be a string")),
        None => Err(bad("a key field (number or id) is missing")),
    }
}

/// DS ids are base64 of `Dossier-<number>`; decoding needs no upstream call.
pub fn number_from_id(id: &str) -> Option<i32> {
    let raw = STANDARD.decode(id.trim()).ok()?;
    let text = std::str::from_utf8(&raw).ok()?;
    let digits = text.strip_prefix("Dossier-")?;
    // Canonical digits only, so the id we hand back is the id we were given.
    let canonical = !digits.is_empty() && !digits.starts_with('0');
    if !canonical || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i32>().ok().filter(|n| *n >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_decode_to_numbers() {
        assert_eq!(number_from_id("RG9zc2llci0xMjM="), Some(123));
        assert_eq!(number_from_id("RG9zc2llci0w"), None); // Dossier-0
        assert_eq!(number_from_id("UHJvY2VkdXJlLTE="), None); // Procedure-1
        assert_eq!(number_from_id("not base64!"), None);
        assert_eq!(number_from_id(&STANDARD.encode("Dossier-007")), None);
        assert_eq!(number_from_id(&STANDARD.encode("Dossier--7")), None);
        assert_eq!(number_from_id(&STANDARD.encode("Dossier-2147483648")), None);
        assert_eq!(
            number_from_id(&STANDARD.encode("Dossier-2147483647")),
            Some(i32::MAX)
        );
    }

    #[test]
    fn representations_are_checked() {
        let rep = |v: serde_json::Value| Value::from_json(v).unwrap();
        let ok = rep(serde_json::json!({"__typename": "Dossier", "number": 7}));
        assert_eq!(representation_number(&ok), Ok(7));
        for bad in [
            serde_json::json!({"__typename": "Demande", "number": 7}),
            serde_json::json!({"__typename": "Dossier", "number": "7"}),
            serde_json::json!({"__typename": "Dossier", "number": 7.5}),
            serde_json::json!({"__typename": "Dossier", "number": 2147483648u64}),
            serde_json::json!({"__typename": "Dossier"}),
        ] {
            assert!(matches!(
                representation_number(&rep(bad)),
                Err(Error::BadUserInput(_))
            ));
        }
    }
}
