//! Builds the aliased batch document sent to DS. Numbers travel as variables, never as text
//! spliced into the query.
use serde_json::{Map, Value};

/// The fields asked for each dossier (the whole simplified `Dossier` of this subgraph).
const DOSSIER_FRAGMENT: &str = "fragment DossierFields on Dossier { id number state \
dateDerniereModification dateDepot datePassageEnConstruction datePassageEnInstruction \
dateTraitement dateExpiration dateSuppressionParUsager usager { email } \
demarche { id number title } messages { id email body createdAt } }";

#[derive(Debug, Clone, PartialEq)]
pub struct BatchDocument {
    pub query: String,
    pub variables: Map<String, Value>,
    /// The alias of each number, in request order: `d<i>` answers `numbers[i]`.
    pub aliases: Vec<(String, i32)>,
}

impl BatchDocument {
    pub fn new(numbers: &[i32]) -> Self {
        let mut params = Vec::with_capacity(numbers.len());
        let mut fields = Vec::with_capacity(numbers.len());
        let mut variables = Map::new();
        let mut aliases = Vec::with_capacity(numbers.len());
        for (i, &number) in numbers.iter().enumerate() {
            params.push(format!("$n{i}: Int!"));
            fields.push(format!(
                "d{i}: dossier(number: $n{i}) {{ ...DossierFields }}"
            ));
            variables.insert(format!("n{i}"), Value::from(number));
            aliases.push((format!("d{i}"), number));
        }
        let query = format!(
            "query DsSubgraphDossiers({}) {{ {} }} {DOSSIER_FRAGMENT}",
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
        let doc = BatchDocument::new(&[101, 999]);
        assert!(doc.query.contains("d0: dossier(number: $n0)"));
        assert!(doc.query.contains("d1: dossier(number: $n1)"));
        assert!(!doc.query.contains("101") && !doc.query.contains("999"));
        assert_eq!(doc.variables["n1"], 999);
        assert_eq!(doc.aliases[1], ("d1".to_owned(), 999));
    }
}
