//! The dossiers the mock serves: built-in samples plus recorded fixtures.
//!
//! Both use DS's own response shape, `{"data":{"dossier":{...}}}` (a file may also hold a JSON
//! array of such bodies, as `samples.json` does), so a response recorded from the real API can be
//! dropped in a fixtures directory as is. Fields we do not model are ignored; missing optional
//! fields read as null/empty.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use super::MockError;

/// The built-in sample dossiers, in DS response shape (doubles as an example fixture).
const SAMPLES_JSON: &str = include_str!("samples.json");

/// Démarches whose dossiers the mock token may not see (answered with `unauthorized`).
pub const HIDDEN_DEMARCHES: &[i32] = &[9003];

/// Used for non-null dates a fixture did not record (its query did not ask for them).
const FALLBACK_DATE: &str = "1970-01-01T01:00:00+01:00";

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DossierRecord {
    #[serde(default)]
    pub id: Option<String>,
    pub number: i32,
    /// Kept as a string so a state unknown to us passes through verbatim.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub archived: Option<bool>,
    #[serde(default)]
    pub date_depot: Option<String>,
    #[serde(default)]
    pub date_passage_en_construction: Option<String>,
    #[serde(default)]
    pub date_derniere_modification: Option<String>,
    #[serde(default)]
    pub date_passage_en_instruction: Option<String>,
    #[serde(default)]
    pub date_traitement: Option<String>,
    #[serde(default)]
    pub date_expiration: Option<String>,
    #[serde(default)]
    pub date_suppression_par_usager: Option<String>,
    #[serde(default)]
    pub date_suppression_par_administration: Option<String>,
    #[serde(default)]
    pub motivation: Option<String>,
    #[serde(default)]
    pub usager: Option<ProfileRecord>,
    #[serde(default)]
    pub demarche: Option<DemarcheRecord>,
    #[serde(default)]
    pub messages: Vec<MessageRecord>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
pub struct ProfileRecord {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub email: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct DemarcheRecord {
    #[serde(default)]
    pub id: Option<String>,
    pub number: i32,
    #[serde(default)]
    pub title: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MessageRecord {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub created_at: String,
}

impl DossierRecord {
    pub fn id(&self) -> String {
        self.id
            .clone()
            .unwrap_or_else(|| global_id("Dossier", self.number))
    }
    pub fn state(&self) -> &str {
        self.state.as_deref().unwrap_or("en_construction")
    }
    pub fn date_depot(&self) -> &str {
        self.date_depot.as_deref().unwrap_or(FALLBACK_DATE)
    }
    pub fn date_passage_en_construction(&self) -> &str {
        self.date_passage_en_construction
            .as_deref()
            .unwrap_or_else(|| self.date_depot())
    }
    pub fn date_derniere_modification(&self) -> &str {
        self.date_derniere_modification
            .as_deref()
            .unwrap_or_else(|| self.date_depot())
    }
    pub fn demarche(&self) -> DemarcheRecord {
        self.demarche.clone().unwrap_or(DemarcheRecord {
            id: None,
            number: 0,
            title: String::new(),
        })
    }
    pub fn demarche_number(&self) -> i32 {
        self.demarche.as_ref().map_or(0, |d| d.number)
    }
}

impl DemarcheRecord {
    pub fn id(&self) -> String {
        self.id
            .clone()
            .unwrap_or_else(|| global_id("Procedure", self.number))
    }
}

/// DS's global ids: standard padded base64 of `<Type>-<number>` (123 → `RG9zc2llci0xMjM=`).
pub fn global_id(kind: &str, number: i32) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{kind}-{number}"))
}

/// What a lookup by number finds.
pub enum Lookup<'a, T> {
    Found(&'a T),
    Hidden,
    NotFound,
}

/// Every dossier the mock knows, by number.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    dossiers: BTreeMap<i32, DossierRecord>,
}

impl Dataset {
    /// The built-in samples, then every `*.json` of `fixtures` (by file name order), later
    /// entries overriding earlier ones with the same number.
    pub fn load(fixtures: Option<&Path>) -> Result<Dataset, MockError> {
        let mut set = Dataset::default();
        let samples = parse_bodies(SAMPLES_JSON, Path::new("src/mock/samples.json"))?;
        set.extend(samples);
        if let Some(dir) = fixtures {
            for path in fixture_files(dir)? {
                let text = std::fs::read_to_string(&path).map_err(|source| MockError::Fixture {
                    path: path.clone(),
                    source: Box::new(source),
                })?;
                set.extend(parse_bodies(&text, &path)?);
            }
        }
        Ok(set)
    }

    fn extend(&mut self, records: Vec<DossierRecord>) {
        for r in records {
            self.dossiers.insert(r.number, r);
        }
    }

    pub fn dossier(&self, number: i32) -> Lookup<'_, DossierRecord> {
        match self.dossiers.get(&number) {
            None => Lookup::NotFound,
            Some(d) if HIDDEN_DEMARCHES.contains(&d.demarche_number()) => Lookup::Hidden,
            Some(d) => Lookup::Found(d),
        }
    }

    /// Démarches are known through their dossiers.
    pub fn demarche(&self, number: i32) -> Lookup<'_, DemarcheRecord> {
        let found = self
            .dossiers
            .values()
            .filter_map(|d| d.demarche.as_ref())
            .find(|d| d.number == number);
        match found {
            None => Lookup::NotFound,
            Some(_) if HIDDEN_DEMARCHES.contains(&number) => Lookup::Hidden,
            Some(d) => Lookup::Found(d),
        }
    }

    /// Numbers that resolve without error, ascending.
    pub fn visible_numbers(&self) -> Vec<i32> {
        self.numbers_where(|hidden| !hidden)
    }

    /// Numbers of dossiers of a démarche the token may not see (`unauthorized`), ascending.
    pub fn hidden_numbers(&self) -> Vec<i32> {
        self.numbers_where(|hidden| hidden)
    }

    fn numbers_where(&self, keep: impl Fn(bool) -> bool) -> Vec<i32> {
        self.dossiers
            .values()
            .filter(|d| keep(HIDDEN_DEMARCHES.contains(&d.demarche_number())))
            .map(|d| d.number)
            .collect()
    }

    #[cfg(test)]
    pub fn all(&self) -> impl Iterator<Item = &DossierRecord> {
        self.dossiers.values()
    }
}

fn fixture_files(dir: &Path) -> Result<Vec<PathBuf>, MockError> {
    let io_err = |source: std::io::Error| MockError::Fixture {
        path: dir.to_path_buf(),
        source: Box::new(source),
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let path = entry.map_err(io_err)?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[derive(Deserialize)]
struct Body {
    data: BodyData,
}

#[derive(Deserialize)]
struct BodyData {
    dossier: DossierRecord,
}

/// One DS response body, or an array of them.
fn parse_bodies(text: &str, path: &Path) -> Result<Vec<DossierRecord>, MockError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| fixture_err(path, e))?;
    let bodies = if value.is_array() {
        serde_json::from_value::<Vec<Body>>(value)
    } else {
        serde_json::from_value::<Body>(value).map(|b| vec![b])
    }
    .map_err(|e| fixture_err(path, e))?;
    Ok(bodies.into_iter().map(|b| b.data.dossier).collect())
}

fn fixture_err(path: &Path, e: serde_json::Error) -> MockError {
    MockError::Fixture {
        path: path.to_path_buf(),
        source: Box::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Dataset {
        Dataset::load(None).expect("samples parse")
    }

    #[test]
    fn global_id_is_padded_base64() {
        assert_eq!(global_id("Dossier", 123), "RG9zc2llci0xMjM=");
    }

    #[test]
    fn samples_cover_what_tests_need() {
        let set = samples();
        let all: Vec<_> = set.all().collect();
        assert!(all.len() >= 20);
        for state in [
            "en_construction",
            "en_instruction",
            "accepte",
            "refuse",
            "sans_suite",
        ] {
            assert!(all.iter().any(|d| d.state() == state), "no {state}");
        }
        let demarches: std::collections::BTreeSet<_> =
            all.iter().map(|d| d.demarche_number()).collect();
        assert!(demarches.len() >= 3);
        assert!(all.iter().any(|d| d.messages.is_empty()));
        assert!(all.iter().any(|d| d.date_traitement.is_none()));
        assert!(all.iter().any(|d| d.date_traitement.is_some()));
        assert!(all
            .iter()
            .any(|d| d.usager.as_ref().unwrap().id == "<deleted>"));
        assert!(set.visible_numbers().len() < all.len());
    }

    #[test]
    fn sample_ids_match_numbers() {
        for d in samples().all() {
            assert_eq!(
                d.id.as_deref(),
                Some(global_id("Dossier", d.number).as_str())
            );
            let dem = d.demarche.as_ref().unwrap();
            assert_eq!(
                dem.id.as_deref(),
                Some(global_id("Procedure", dem.number).as_str())
            );
            assert!(d.date_depot.is_some() && d.date_derniere_modification.is_some());
            let times: Vec<_> = d.messages.iter().map(|m| &m.created_at[..19]).collect();
            assert!(
                times.windows(2).all(|w| w[0] <= w[1]),
                "messages oldest first"
            );
            for m in &d.messages {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(&m.id)
                    .unwrap();
                assert!(String::from_utf8(raw).unwrap().starts_with("Commentaire-"));
            }
        }
    }

    #[test]
    fn fixtures_override_samples_and_ignore_extra_fields() {
        let dir = std::env::temp_dir().join(format!("ds-mock-fixtures-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("a.json"),
            r#"{"data":{"dossier":{"number":1000001,"state":"en_attente_future","champs":[1],"demarche":{"number":9001}}}}"#,
        )
        .unwrap();
        let set = Dataset::load(Some(&dir)).unwrap();
        let Lookup::Found(d) = set.dossier(1000001) else {
            panic!("not found")
        };
        assert_eq!(d.state(), "en_attente_future");
        assert_eq!(d.id(), global_id("Dossier", 1000001));
        assert!(d.messages.is_empty());

        std::fs::write(dir.join("b.json"), r#"{"data":{}}"#).unwrap();
        let err = Dataset::load(Some(&dir)).unwrap_err().to_string();
        assert!(err.contains("b.json"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
