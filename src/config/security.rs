//! Who may call the subgraph, and how much one request may ask for (see SECURITY.md).
use std::{collections::BTreeSet, num::NonZeroU32};

use axum::http::HeaderName;
use secrecy::SecretString;

use super::{check_range, ConfigError, Redacted};

/// Shorter shared secrets are guessable; a router's generated secret is far longer.
pub const MIN_SECRET_LEN: usize = 16;

/// Flags and environment variables of caller authentication, query limits and data access.
#[derive(Debug, Clone, clap::Args)]
pub struct SecurityArgs {
    /// Secrets a caller must send (`Authorization: Bearer <secret>`); comma-separated, so that
    /// a new secret can be added before the old one is removed.
    #[arg(
        long,
        env = "SUBGRAPH_SHARED_SECRETS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub shared_secrets: Vec<Redacted>,

    /// Header that carries the shared secret (`Bearer <secret>`; a bare secret is accepted in a
    /// header other than `authorization`).
    #[arg(long, env = "SUBGRAPH_AUTH_HEADER", default_value = "authorization")]
    pub auth_header: String,

    /// Serve without SUBGRAPH_SHARED_SECRETS: anyone who reaches the port reads the dossiers.
    /// For local use only; a warning is logged at start.
    #[arg(long)]
    pub allow_unauthenticated: bool,

    /// Largest request body, in bytes (checked on the stream, not only on Content-Length).
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 262_144)]
    pub max_body_bytes: usize,

    /// Deepest selection nesting of an operation.
    #[arg(long, env = "MAX_QUERY_DEPTH", default_value_t = 15)]
    pub max_query_depth: usize,

    /// Most fields an operation may select (fragments expanded).
    #[arg(long, env = "MAX_QUERY_COMPLEXITY", default_value_t = 1000)]
    pub max_query_complexity: usize,

    /// Most dossier lookups of one operation: `dossier` fields (aliases included), the items of
    /// `dossiers(numbers:)` and of `_entities(representations:)`, `dossierForUsager` fields.
    #[arg(long, env = "MAX_DOSSIERS_PER_OPERATION", default_value_t = 100)]
    pub max_dossiers_per_operation: usize,

    /// Most operations in one batched HTTP request (a JSON array).
    #[arg(long, env = "MAX_BATCHED_OPERATIONS", default_value_t = 10)]
    pub max_batched_operations: usize,

    /// Most `_entities` representations in one HTTP request (all its operations together).
    #[arg(long, env = "MAX_ENTITIES_REPRESENTATIONS", default_value_t = 100)]
    pub max_entities_representations: usize,

    /// Allow schema introspection (`__schema`, `__type`). Default: on with --demo, off otherwise.
    /// `_service { sdl }` answers either way, for composition.
    #[arg(long, env = "INTROSPECTION")]
    pub introspection: Option<bool>,

    /// Démarche numbers whose dossiers may be returned (comma-separated); empty: all the token
    /// sees. Any other dossier is answered exactly like an unknown number.
    #[arg(long, env = "DS_ALLOWED_DEMARCHES", value_delimiter = ',')]
    pub ds_allowed_demarches: Vec<String>,

    /// `dossierForUsager` attempts allowed per caller and per minute.
    #[arg(long, env = "USAGER_LOOKUP_RATE", default_value_t = 10)]
    pub usager_lookup_rate: u32,

    /// Header that names the caller for the `dossierForUsager` attempt limit (set by your
    /// router, e.g. `x-caller-id`); unset or absent: the client IP address.
    #[arg(long, env = "CALLER_ID_HEADER")]
    pub caller_id_header: Option<String>,
}

/// Validated security settings. `Debug` never shows a secret.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// `None`: unauthenticated mode, explicitly allowed.
    pub auth: Option<AuthConfig>,
    pub limits: Limits,
    pub introspection: bool,
    /// `None`: every démarche the token sees.
    pub allowed_demarches: Option<BTreeSet<i32>>,
    pub usager_lookup_per_minute: NonZeroU32,
    pub caller_id_header: Option<HeaderName>,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub header: HeaderName,
    pub secrets: Vec<SecretString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_dossiers: usize,
    pub max_batch: usize,
    pub max_entities: usize,
}

impl SecurityArgs {
    pub fn validate(&self, demo: bool) -> Result<SecurityConfig, ConfigError> {
        let secrets: Vec<&str> = self
            .shared_secrets
            .iter()
            .map(|s| s.0.trim())
            .filter(|s| !s.is_empty())
            .collect();
        if secrets.iter().any(|s| s.len() < MIN_SECRET_LEN) {
            return Err(ConfigError::WeakSharedSecret);
        }
        let auth = if secrets.is_empty() {
            if !self.allow_unauthenticated {
                return Err(ConfigError::MissingSharedSecret);
            }
            None
        } else {
            Some(AuthConfig {
                header: header_name("SUBGRAPH_AUTH_HEADER", &self.auth_header)?,
                secrets: secrets.into_iter().map(SecretString::from).collect(),
            })
        };
        let limits = Limits {
            max_body_bytes: self.max_body_bytes,
            max_depth: self.max_query_depth,
            max_complexity: self.max_query_complexity,
            max_dossiers: self.max_dossiers_per_operation,
            max_batch: self.max_batched_operations,
            max_entities: self.max_entities_representations,
        };
        check_range(
            "MAX_BODY_BYTES",
            limits.max_body_bytes as u64,
            1024,
            16 << 20,
        )?;
        check_range("MAX_QUERY_DEPTH", limits.max_depth as u64, 1, 64)?;
        check_range(
            "MAX_QUERY_COMPLEXITY",
            limits.max_complexity as u64,
            1,
            100_000,
        )?;
        check_range(
            "MAX_DOSSIERS_PER_OPERATION",
            limits.max_dossiers as u64,
            1,
            10_000,
        )?;
        check_range("MAX_BATCHED_OPERATIONS", limits.max_batch as u64, 1, 100)?;
        check_range(
            "MAX_ENTITIES_REPRESENTATIONS",
            limits.max_entities as u64,
            1,
            10_000,
        )?;
        check_range(
            "USAGER_LOOKUP_RATE",
            self.usager_lookup_rate.into(),
            1,
            10_000,
        )?;
        // Parsed here rather than by clap, so that an empty variable (an `--env-file` line
        // left blank) means "all".
        let allowed: BTreeSet<i32> = self
            .ds_allowed_demarches
            .iter()
            .map(|n| n.trim())
            .filter(|n| !n.is_empty())
            .map(|n| {
                n.parse::<i32>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| ConfigError::InvalidDemarche(n.to_owned()))
            })
            .collect::<Result<_, _>>()?;
        let allowed_demarches = (!allowed.is_empty()).then_some(allowed);
        let caller_id_header = self
            .caller_id_header
            .as_deref()
            .filter(|h| !h.trim().is_empty())
            .map(|h| header_name("CALLER_ID_HEADER", h))
            .transpose()?;
        Ok(SecurityConfig {
            auth,
            limits,
            introspection: self.introspection.unwrap_or(demo),
            allowed_demarches,
            usager_lookup_per_minute: NonZeroU32::new(self.usager_lookup_rate)
                .expect("checked above"),
            caller_id_header,
        })
    }
}

fn header_name(name: &'static str, value: &str) -> Result<HeaderName, ConfigError> {
    HeaderName::from_bytes(value.trim().as_bytes()).map_err(|_| ConfigError::InvalidHeader {
        name,
        value: value.to_owned(),
    })
}
