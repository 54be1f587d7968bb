//! The simplified `Dossier` exposed to the graph.
use std::sync::Arc;

use async_graphql::{Context, Enum, Object, SimpleObject, ID};

use async_graphql::ErrorExtensions;

use super::AppContext;
use crate::{
    error::Error,
    upstream::{model::DsMessage, DsDossier},
};

/// The state of a dossier, with DS's own value names.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(rename_items = "snake_case")]
#[allow(non_camel_case_types)]
pub enum DossierState {
    en_construction,
    en_instruction,
    accepte,
    refuse,
    sans_suite,
    /// A state this version of the subgraph does not know yet (DS added one): see `stateLabel`.
    inconnu,
}

impl DossierState {
    pub fn from_ds(raw: &str) -> Self {
        match raw {
            "en_construction" => Self::en_construction,
            "en_instruction" => Self::en_instruction,
            "accepte" => Self::accepte,
            "refuse" => Self::refuse,
            "sans_suite" => Self::sans_suite,
            _ => Self::inconnu,
        }
    }

    /// The label DS shows for the state; `None` for a state we do not know.
    pub fn label(self) -> Option<&'static str> {
        Some(match self {
            Self::en_construction => "En construction",
            Self::en_instruction => "En instruction",
            Self::accepte => "Accepté",
            Self::refuse => "Refusé",
            Self::sans_suite => "Classé sans suite",
            Self::inconnu => return None,
        })
    }
}

/// A dossier (case file) on démarches simplifiées.
pub struct Dossier(pub Arc<DsDossier>);

#[Object]
impl Dossier {
    /// DS's global id (base64 of `Dossier-<number>`).
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The dossier number, as shown to the usager and the instructeurs.
    async fn number(&self) -> i32 {
        self.0.number
    }
    async fn state(&self) -> DossierState {
        DossierState::from_ds(&self.0.state)
    }
    /// The French label DS shows for the state (« En instruction »...); for a state newer than
    /// this subgraph, DS's raw value.
    async fn state_label(&self) -> String {
        DossierState::from_ds(&self.0.state)
            .label()
            .map_or_else(|| self.0.state.clone(), str::to_owned)
    }
    /// Date of the last modification (RFC 3339, with DS's offset).
    async fn date_derniere_modification(&self) -> &str {
        &self.0.date_derniere_modification
    }
    /// Date of submission (RFC 3339, with DS's offset).
    async fn date_depot(&self) -> &str {
        &self.0.date_depot
    }
    async fn date_passage_en_construction(&self) -> &str {
        &self.0.date_passage_en_construction
    }
    async fn date_passage_en_instruction(&self) -> Option<&str> {
        self.0.date_passage_en_instruction.as_deref()
    }
    async fn date_traitement(&self) -> Option<&str> {
        self.0.date_traitement.as_deref()
    }
    async fn date_expiration(&self) -> Option<&str> {
        self.0.date_expiration.as_deref()
    }
    async fn date_suppression_par_usager(&self) -> Option<&str> {
        self.0.date_suppression_par_usager.as_deref()
    }
    async fn usager(&self) -> async_graphql::Result<Usager> {
        let u = fetched(&self.0.usager)?;
        Ok(Usager {
            email: u.email.clone(),
        })
    }
    async fn demarche(&self) -> async_graphql::Result<Demarche> {
        let d = fetched(&self.0.demarche)?;
        Ok(Demarche {
            id: ID(d.id.clone()),
            number: d.number,
            title: d.title.clone(),
        })
    }
    /// Messages exchanged on the dossier, oldest first. Bodies may hold HTML.
    async fn messages(&self) -> async_graphql::Result<Vec<Message>> {
        Ok(fetched(&self.0.messages)?
            .iter()
            .cloned()
            .map(Message)
            .collect())
    }
    /// The newest message, or null when there is none.
    async fn last_message(&self) -> async_graphql::Result<Option<Message>> {
        Ok(fetched(&self.0.messages)?.last().cloned().map(Message))
    }
    /// Link to the dossier on the DS web site.
    async fn web_url(&self, ctx: &Context<'_>) -> String {
        ctx.data_unchecked::<AppContext>().web_url(self.0.number)
    }
}

/// A field group the upstream document did not ask for. Projection derives the groups from the
/// selection, so this only happens if DS leaves out a field it was asked for.
fn fetched<T>(group: &Option<T>) -> async_graphql::Result<&T> {
    group
        .as_ref()
        .ok_or_else(|| Error::UpstreamBadResponse.extend())
}

/// The usager (citizen) who filed the dossier.
#[derive(SimpleObject)]
pub struct Usager {
    /// For a deleted account, DS gives a placeholder address.
    pub email: String,
}

/// The démarche (procedure) the dossier belongs to.
#[derive(SimpleObject)]
pub struct Demarche {
    pub id: ID,
    pub number: i32,
    pub title: String,
}

/// A message exchanged between the usager and the administration.
pub struct Message(DsMessage);

#[Object]
impl Message {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Email of the author.
    async fn email(&self) -> &str {
        &self.0.email
    }
    /// Body as DS stores it: it may hold HTML.
    async fn body(&self) -> &str {
        &self.0.body
    }
    async fn created_at(&self) -> &str {
        &self.0.created_at
    }
}
