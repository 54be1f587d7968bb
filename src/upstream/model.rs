//! The subset of DS's `Dossier` this service reads, as DS serialises it.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DsDossier {
    pub id: String,
    pub number: i32,
    /// Kept as DS's raw string so that a state added by a newer DS does not fail parsing.
    pub state: String,
    pub date_derniere_modification: String,
    pub date_depot: String,
    pub date_passage_en_construction: String,
    #[serde(default)]
    pub date_passage_en_instruction: Option<String>,
    #[serde(default)]
    pub date_traitement: Option<String>,
    #[serde(default)]
    pub date_expiration: Option<String>,
    #[serde(default)]
    pub date_suppression_par_usager: Option<String>,
    /// The groups below are absent when the document did not ask for them (see `FieldSet`).
    #[serde(default)]
    pub usager: Option<DsProfile>,
    #[serde(default)]
    pub demarche: Option<DsDemarche>,
    #[serde(default)]
    pub messages: Option<Vec<DsMessage>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DsProfile {
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DsDemarche {
    pub id: String,
    pub number: i32,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DsMessage {
    pub id: String,
    pub email: String,
    pub body: String,
    pub created_at: String,
}
