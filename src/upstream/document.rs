//! Builds the aliased batch document sent to DS. Numbers travel as variables, never as text
//! spliced into the query; each alias asks only the field groups its callers selected.
use serde_json::{Map, Value};

/// Groups of DS fields, so that a query that does not show messages does not make DS load them.
/// The core group (id, number, state, dates) is always asked: it is cheap and every answer needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FieldSet(u8);

impl FieldSet {
    pub const CORE: FieldSet = FieldSet(0);
    pub const USAGER: FieldSet = FieldSet(1);
    pub const DEMARCHE: FieldSet = FieldSet(2);
    pub const MESSAGES: FieldSet = FieldSet(4);
    pub const ALL: FieldSet = FieldSet(7);

    pub fn union(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 | other.0)
    }

    pub fn contains(self, other: FieldSet) -> bool {
        self.0 & other.0 == other.0
    }

    /// The group a field of our `Dossier` type needs (CORE for the cheap ones).
    pub fn for_field(name: &str) -> FieldSet {
        match name {
            "usager" => Self::USAGER,
            "demarche" => Self::DEMARCHE,
            "messages" | "lastMessage" => Self::MESSAGES,
            _ => Self::CORE,
        }
    }

    fn selection(self) -> String {
        let mut s = String::from(
            "id number state dateDerniereModification dateDepot datePassageEnConstruction \
             datePassageEnInstruction dateTraitement dateExpiration dateSuppressionParUsager",
        );
        if self.contains(Self::USAGER) {
            s.push_str(" usager { email }");
        }
        if self.contains(Self::DEMARCHE) {
            s.push_str(" demarche { id number title }");
        }
        if self.contains(Self::MESSAGES) {
            s.push_str(" messages { id email body createdAt }");
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchDocument {
    pub query: String,
    pub variables: Map<String, Value>,
    /// The alias of each number, in request order: `d<i>` answers `items[i]`.
    pub aliases: Vec<(String, i32)>,
}

impl BatchDocument {
    pub fn new(items: &[(i32, FieldSet)]) -> Self {
        let mut params = Vec::with_capacity(items.len());
        let mut fields = Vec::with_capacity(items.len());
        let mut variables = Map::new();
        let mut aliases = Vec::with_capacity(items.len());
        for (i, &(number, set)) in items.iter().enumerate() {
            params.push(format!("$n{i}: Int!"));
            fields.push(format!(
                "d{i}: dossier(number: $n{i}) {{ {} }}",
                set.selection()
            ));
            variables.insert(format!("n{i}"), Value::from(number));
            aliases.push((format!("d{i}"), number));
        }
        let query = format!(
            "query DsSubgraphDossiers({}) {{ {} }}",
            params.join(", "),
            fields.join(" ")
        );
        Self {
            query,
            variables,
            aliases,
        }
    }

    pub fn body(&self) -> Value {
        serde_json::json!({
            "query": self.query,
            "variables": self.variables,
            "operationName": "DsSubgraphDossiers",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_variables_and_aliases_are_positional() {
        let doc = BatchDocument::new(&[(101, FieldSet::ALL), (999, FieldSet::CORE)]);
        assert!(doc.query.contains("d0: dossier(number: $n0)"));
        assert!(doc.query.contains("d1: dossier(number: $n1)"));
        assert!(!doc.query.contains("101") && !doc.query.contains("999"));
        assert_eq!(doc.variables["n1"], 999);
        assert_eq!(doc.aliases[1], ("d1".to_owned(), 999));
    }

    #[test]
    fn each_alias_asks_only_its_groups() {
        let doc = BatchDocument::new(&[(1, FieldSet::CORE), (2, FieldSet::MESSAGES)]);
        let (first, second) = doc.query.split_once("d1:").unwrap();
        assert!(!first.contains("messages") && !first.contains("usager"));
        assert!(second.contains("messages { id email body createdAt }"));
        assert!(!second.contains("demarche"));
        assert!(FieldSet::ALL.contains(FieldSet::USAGER.union(FieldSet::MESSAGES)));
        assert!(!FieldSet::USAGER.contains(FieldSet::DEMARCHE));
    }
}
