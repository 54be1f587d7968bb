//! Typed configuration, read from flags and environment variables, validated once at start.
use std::{net::SocketAddr, time::Duration};

use axum::http::HeaderValue;
use secrecy::SecretString;
use url::Url;

mod security;
pub use security::{AuthConfig, Limits, SecurityArgs, SecurityConfig, MIN_SECRET_LEN};

pub const DEFAULT_DS_API_URL: &str = "https://www.demarches-simplifiees.fr/api/v2/graphql";
pub const DEFAULT_DS_WEB_BASE_URL: &str = "https://www.demarches-simplifiees.fr";

/// Flags and environment variables of `ds-subgraph serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address the subgraph listens on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:4000")]
    pub listen: SocketAddr,

    /// Full URL of the DS GraphQL endpoint.
    #[arg(long, env = "DS_API_URL", default_value = DEFAULT_DS_API_URL)]
    pub ds_api_url: String,

    /// DS API token (Bearer). Required outside demo mode.
    #[arg(long, env = "DS_API_TOKEN", hide_env_values = true)]
    pub ds_api_token: Option<Redacted>,

    /// Base URL of the DS web site, used to build `webUrl` (`<base>/dossiers/<number>`).
    #[arg(long, env = "DS_WEB_BASE_URL", default_value = DEFAULT_DS_WEB_BASE_URL)]
    pub ds_web_base_url: String,

    /// Most dossiers asked in one upstream DS request (aliased fields of one document).
    #[arg(long, env = "DS_MAX_BATCH_SIZE", default_value_t = 20)]
    pub ds_max_batch_size: usize,

    /// Timeout of one upstream DS request, in seconds (DS itself gives up at 30 s).
    #[arg(long, env = "DS_TIMEOUT_SECS", default_value_t = 10)]
    pub ds_timeout_secs: u64,

    /// How long the loader gathers keys (of every concurrent request) into one DS document, in ms.
    #[arg(long, env = "DS_BATCH_WINDOW_MS", default_value_t = 5)]
    pub ds_batch_window_ms: u64,

    /// Overall time budget of one lookup, in seconds: limiter wait, retries and all.
    #[arg(long, env = "DS_DEADLINE_SECS", default_value_t = 15)]
    pub ds_deadline_secs: u64,

    /// Seconds a fetched dossier is served from cache without asking DS (0 = always ask DS).
    #[arg(long, env = "DS_CACHE_TTL", default_value_t = 30)]
    pub ds_cache_ttl: u64,

    /// When DS fails, a cached dossier up to this many seconds old is served instead (0 = never).
    #[arg(long, env = "DS_STALE_IF_ERROR", default_value_t = 600)]
    pub ds_stale_if_error: u64,

    /// Seconds a "not found" or "forbidden" answer is remembered (0 = not at all).
    #[arg(long, env = "DS_NEGATIVE_CACHE_TTL", default_value_t = 5)]
    pub ds_negative_cache_ttl: u64,

    /// Most dossiers held in the cache.
    #[arg(long, env = "DS_CACHE_MAX_ENTRIES", default_value_t = 10_000)]
    pub ds_cache_max_entries: u64,

    /// Upstream requests per minute this service allows itself (DS allows 400 per token).
    #[arg(long, env = "DS_RATE_LIMIT_PER_MIN", default_value_t = 360)]
    pub ds_rate_limit_per_min: u32,

    /// Upstream requests that may start at once before the per-minute pace applies.
    #[arg(long, env = "DS_RATE_LIMIT_BURST", default_value_t = 20)]
    pub ds_rate_limit_burst: u32,

    /// Retries of one upstream request after a timeout, a connection error or a 5xx.
    #[arg(long, env = "DS_MAX_RETRIES", default_value_t = 2)]
    pub ds_max_retries: u32,

    /// Retries allowed per minute across all requests (0 = never retry).
    #[arg(long, env = "DS_RETRY_BUDGET_PER_MIN", default_value_t = 40)]
    pub ds_retry_budget_per_min: u32,

    /// Demo mode: start the built-in DS mock in-process and serve against it.
    #[arg(long)]
    pub demo: bool,

    /// `/readyz` answers 503 once DS has been unreachable (no answer, or 5xx) for this long, in
    /// seconds; 0: at the first failure. A rejected token makes it 503 at once.
    #[arg(long, env = "READY_UPSTREAM_DOWN_SECS", default_value_t = 60)]
    pub ready_upstream_down_secs: u64,

    /// On SIGTERM/SIGINT, how long in-flight requests may still run, in seconds.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 25)]
    pub shutdown_grace_secs: u64,

    /// `Cache-Control` of GraphQL responses: `no-store`, or `private` (`private, max-age=<cache
    /// TTL>`). Dossiers are personal data: shared caches are never allowed.
    #[arg(
        long,
        env = "HTTP_CACHE_CONTROL",
        value_enum,
        default_value = "no-store"
    )]
    pub http_cache_control: CacheControlMode,

    #[command(flatten)]
    pub security: SecurityArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CacheControlMode {
    NoStore,
    Private,
}

/// Validated configuration of the service.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub upstream: UpstreamConfig,
    pub cache: CacheConfig,
    pub web_base_url: Url,
    pub ready_upstream_down: Duration,
    pub shutdown_grace: Duration,
    /// The `Cache-Control` of successful GraphQL responses (errors are always `no-store`).
    pub cache_control: HeaderValue,
    pub security: SecurityConfig,
}

/// A secret given on the command line or in the environment: `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(pub String);

impl std::str::FromStr for Redacted {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl From<&str> for Redacted {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// The dossier cache (see `crate::cache`).
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Zero: never served without asking DS.
    pub ttl: Duration,
    pub stale_if_error: Duration,
    /// Zero: negative answers are not remembered.
    pub negative_ttl: Duration,
    pub max_entries: u64,
}

/// What the DS client needs. `Debug` never shows the token (`SecretString` redacts it).
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub api_url: Url,
    pub token: SecretString,
    pub max_batch_size: usize,
    pub batch_window: Duration,
    pub timeout: Duration,
    pub deadline: Duration,
    pub rate_limit_per_min: u32,
    pub rate_limit_burst: u32,
    pub max_retries: u32,
    /// Zero: never retry.
    pub retry_budget_per_min: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("DS_API_TOKEN is required (or run with --demo to use the built-in DS mock)")]
    MissingToken,
    #[error("{name} is not a valid http(s) URL: {value:?}")]
    InvalidUrl { name: &'static str, value: String },
    #[error("{0}")]
    Conflict(String),
    #[error("unknown environment variable {name} (a typo?); known: {known}")]
    UnknownEnv { name: String, known: String },
    #[error(
        "SUBGRAPH_SHARED_SECRETS is required: callers must authenticate \
         (pass --allow-unauthenticated explicitly to serve without it, for local use only)"
    )]
    MissingSharedSecret,
    #[error("each of SUBGRAPH_SHARED_SECRETS must be at least {MIN_SECRET_LEN} characters long")]
    WeakSharedSecret,
    #[error("{name} is not a valid HTTP header name: {value:?}")]
    InvalidHeader { name: &'static str, value: String },
    #[error("DS_ALLOWED_DEMARCHES must hold positive démarche numbers, got {0:?}")]
    InvalidDemarche(String),
    #[error("{name} must be between {min} and {max}, got {value}")]
    OutOfRange {
        name: &'static str,
        value: u64,
        min: u64,
        max: u64,
    },
}

impl ServeArgs {
    /// Checks every setting.
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let token = self
            .ds_api_token
            .clone()
            .map(|t| t.0)
            .filter(|t| !t.trim().is_empty())
            .ok_or(ConfigError::MissingToken)?;
        let api_url = parse_http_url("DS_API_URL", &self.ds_api_url)?;
        let web_base_url = parse_http_url("DS_WEB_BASE_URL", &self.ds_web_base_url)?;
        check_range("DS_MAX_BATCH_SIZE", self.ds_max_batch_size as u64, 1, 100)?;
        check_range("DS_TIMEOUT_SECS", self.ds_timeout_secs, 1, 60)?;
        check_range(
            "READY_UPSTREAM_DOWN_SECS",
            self.ready_upstream_down_secs,
            0,
            86_400,
        )?;
        check_range("SHUTDOWN_GRACE_SECS", self.shutdown_grace_secs, 0, 3_600)?;
        check_range("DS_BATCH_WINDOW_MS", self.ds_batch_window_ms, 0, 1_000)?;
        check_range("DS_DEADLINE_SECS", self.ds_deadline_secs, 1, 300)?;
        check_range("DS_CACHE_TTL", self.ds_cache_ttl, 0, 86_400)?;
        check_range("DS_STALE_IF_ERROR", self.ds_stale_if_error, 0, 7 * 86_400)?;
        check_range(
            "DS_NEGATIVE_CACHE_TTL",
            self.ds_negative_cache_ttl,
            0,
            3_600,
        )?;
        check_range(
            "DS_CACHE_MAX_ENTRIES",
            self.ds_cache_max_entries,
            1,
            10_000_000,
        )?;
        check_range(
            "DS_RATE_LIMIT_PER_MIN",
            self.ds_rate_limit_per_min.into(),
            1,
            100_000,
        )?;
        check_range(
            "DS_RATE_LIMIT_BURST",
            self.ds_rate_limit_burst.into(),
            1,
            10_000,
        )?;
        check_range("DS_MAX_RETRIES", self.ds_max_retries.into(), 0, 10)?;
        check_range(
            "DS_RETRY_BUDGET_PER_MIN",
            self.ds_retry_budget_per_min.into(),
            0,
            100_000,
        )?;
        let secs = Duration::from_secs;
        let security = self.security.validate(self.demo)?;
        Ok(Config {
            listen: self.listen,
            web_base_url,
            security,
            ready_upstream_down: Duration::from_secs(self.ready_upstream_down_secs),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            cache_control: self.cache_control(),
            cache: CacheConfig {
                ttl: secs(self.ds_cache_ttl),
                stale_if_error: secs(self.ds_stale_if_error),
                negative_ttl: secs(self.ds_negative_cache_ttl),
                max_entries: self.ds_cache_max_entries,
            },
            upstream: UpstreamConfig {
                api_url,
                token: SecretString::from(token),
                max_batch_size: self.ds_max_batch_size,
                batch_window: Duration::from_millis(self.ds_batch_window_ms),
                timeout: secs(self.ds_timeout_secs),
                deadline: secs(self.ds_deadline_secs),
                rate_limit_per_min: self.ds_rate_limit_per_min,
                rate_limit_burst: self.ds_rate_limit_burst,
                max_retries: self.ds_max_retries,
                retry_budget_per_min: self.ds_retry_budget_per_min,
            },
        })
    }
}

impl ServeArgs {
    /// `--demo` points the service at the built-in mock: an explicit DS endpoint or token too
    /// means the operator expects something else, so neither silently wins.
    pub fn check_demo(&self) -> Result<(), ConfigError> {
        if self.demo && (self.ds_api_token.is_some() || self.ds_api_url != DEFAULT_DS_API_URL) {
            return Err(ConfigError::Conflict(
                "--demo serves against the built-in DS mock: unset DS_API_URL and DS_API_TOKEN \
                 (or drop --demo to use the real DS)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// How long clients may keep a dossier: as long as our own cache would serve it.
    fn cache_control(&self) -> HeaderValue {
        match self.http_cache_control {
            CacheControlMode::NoStore => HeaderValue::from_static("no-store"),
            CacheControlMode::Private => {
                HeaderValue::from_str(&format!("private, max-age={}", self.cache_ttl().as_secs()))
                    .expect("digits are a valid header value")
            }
        }
    }

    /// How long a dossier may be served from our cache: a client may keep it as long.
    fn cache_ttl(&self) -> Duration {
        Duration::from_secs(self.ds_cache_ttl)
    }
}

/// Prefixes of our environment variables: one of them with a name we do not know is a typo
/// that would otherwise leave a setting silently at its default.
const ENV_PREFIXES: &[&str] = &["DS_", "SUBGRAPH_", "READY_", "SHUTDOWN_", "HTTP_CACHE"];
/// Left to tooling around the binary (e.g. `DS_SUBGRAPH_BIN` of the federation e2e suite).
const ENV_RESERVED_PREFIX: &str = "DS_SUBGRAPH_";

/// Refuses variables under our prefixes that no subcommand of `cli` reads.
pub fn check_env_names(
    cli: &clap::Command,
    vars: impl IntoIterator<Item = String>,
) -> Result<(), ConfigError> {
    let mut known = Vec::new();
    collect_env_names(cli, &mut known);
    for name in vars {
        let ours = ENV_PREFIXES.iter().any(|p| name.starts_with(p))
            && !name.starts_with(ENV_RESERVED_PREFIX);
        if ours && !known.contains(&name) {
            let mut listed: Vec<&str> = known
                .iter()
                .map(String::as_str)
                .filter(|k| ENV_PREFIXES.iter().any(|p| k.starts_with(p)))
                .collect();
            listed.sort_unstable();
            listed.dedup();
            return Err(ConfigError::UnknownEnv {
                name,
                known: listed.join(", "),
            });
        }
    }
    Ok(())
}

fn collect_env_names(cmd: &clap::Command, out: &mut Vec<String>) {
    out.extend(
        cmd.get_arguments()
            .filter_map(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned()),
    );
    for sub in cmd.get_subcommands() {
        collect_env_names(sub, out);
    }
}

fn parse_http_url(name: &'static str, value: &str) -> Result<Url, ConfigError> {
    let invalid = || ConfigError::InvalidUrl {
        name,
        value: value.to_owned(),
    };
    let url = Url::parse(value.trim()).map_err(|_| invalid())?;
    let credentials_in_url = !url.username().is_empty() || url.password().is_some();
    if credentials_in_url {
        // The message goes to logs: never echo a password.
        return Err(ConfigError::InvalidUrl {
            name,
            value: "<a URL with credentials>".into(),
        });
    }
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid());
    }
    Ok(url)
}

pub(crate) fn check_range(
    name: &'static str,
    value: u64,
    min: u64,
    max: u64,
) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            name,
            value,
            min,
            max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ServeArgs,
    }

    const SECRET: &str = "shared-secret-0123456789";

    fn args(extra: &[&str]) -> ServeArgs {
        let mut argv = vec!["test", "--shared-secrets", SECRET];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn token_is_required_and_redacted() {
        let a = args(&["--ds-api-token", ""]);
        assert_eq!(a.validate().unwrap_err(), ConfigError::MissingToken);
        let cfg = args(&["--ds-api-token", "s3cr3t-token"])
            .validate()
            .unwrap();
        assert!(!format!("{cfg:?}").contains("s3cr3t-token"));
        let a = args(&["--ds-api-token", "s3cr3t-token"]);
        assert!(!format!("{a:?}").contains("s3cr3t-token"));
    }

    #[test]
    fn shared_secrets_are_required_redacted_and_strong() {
        let cfg = args(&[
            "--ds-api-token",
            "t",
            "--shared-secrets",
            "second-secret-0123456789",
        ])
        .validate()
        .unwrap();
        assert_eq!(cfg.security.auth.as_ref().unwrap().secrets.len(), 2);
        assert!(!format!("{cfg:?}").contains(SECRET));
        let mut none = args(&["--ds-api-token", "t"]);
        none.security.shared_secrets.clear();
        assert_eq!(
            none.validate().unwrap_err(),
            ConfigError::MissingSharedSecret
        );
        none.security.allow_unauthenticated = true;
        assert!(none.validate().unwrap().security.auth.is_none());
        let weak = args(&["--ds-api-token", "t", "--shared-secrets", "short"]);
        assert_eq!(weak.validate().unwrap_err(), ConfigError::WeakSharedSecret);
    }

    #[test]
    fn security_settings_are_checked() {
        let ok = args(&["--ds-api-token", "t", "--ds-allowed-demarches", "12,34"])
            .validate()
            .unwrap();
        assert_eq!(
            ok.security.allowed_demarches,
            Some([12, 34].into_iter().collect())
        );
        assert!(!ok.security.introspection);
        let blank = args(&["--ds-api-token", "t", "--ds-allowed-demarches", ""]);
        assert_eq!(blank.validate().unwrap().security.allowed_demarches, None);
        for bad in [
            ["--ds-allowed-demarches", "0"],
            ["--ds-allowed-demarches", "12,x"],
            ["--max-batched-operations", "0"],
            ["--max-body-bytes", "10"],
            ["--usager-lookup-rate", "0"],
            ["--caller-id-header", "bad header"],
        ] {
            let mut argv = vec!["--ds-api-token", "t"];
            argv.extend(bad);
            assert!(args(&argv).validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn urls_and_ranges_are_checked() {
        let bad = args(&["--ds-api-token", "t", "--ds-api-url", "ftp://x"]);
        assert!(matches!(
            bad.validate(),
            Err(ConfigError::InvalidUrl { .. })
        ));
        let creds = args(&[
            "--ds-api-token",
            "t",
            "--ds-web-base-url",
            "https://u:p4ss@h",
        ]);
        let err = creds.validate().unwrap_err();
        assert!(matches!(err, ConfigError::InvalidUrl { .. }));
        assert!(!err.to_string().contains("p4ss"));
        let grace = args(&["--ds-api-token", "t", "--shutdown-grace-secs", "9999"]);
        assert!(matches!(
            grace.validate(),
            Err(ConfigError::OutOfRange { .. })
        ));
        for (flag, value) in [
            ("--ds-max-batch-size", "0"),
            ("--ds-deadline-secs", "0"),
            ("--ds-rate-limit-per-min", "0"),
            ("--ds-rate-limit-burst", "0"),
            ("--ds-max-retries", "11"),
            ("--ds-cache-max-entries", "0"),
        ] {
            let bad = args(&["--ds-api-token", "t", flag, value]);
            assert!(
                matches!(bad.validate(), Err(ConfigError::OutOfRange { .. })),
                "{flag} {value}"
            );
        }
    }

    #[test]
    fn demo_conflicts_with_an_explicit_upstream() {
        assert!(args(&["--demo"]).check_demo().is_ok());
        let both = args(&["--demo", "--ds-api-token", "t"]);
        assert!(matches!(both.check_demo(), Err(ConfigError::Conflict(_))));
        let url = args(&["--demo", "--ds-api-url", "https://x.test/api/v2/graphql"]);
        assert!(matches!(url.check_demo(), Err(ConfigError::Conflict(_))));
    }

    #[test]
    fn cache_control_never_allows_shared_caches() {
        let cfg = args(&["--ds-api-token", "t"]).validate().unwrap();
        assert_eq!(cfg.cache_control, "no-store");
        let private = args(&["--ds-api-token", "t", "--http-cache-control", "private"]);
        let value = private.validate().unwrap().cache_control;
        assert!(value.to_str().unwrap().starts_with("private, max-age="));
        let public = Cli::try_parse_from(["test", "--http-cache-control", "public"]);
        assert!(public.is_err());
    }

    #[test]
    fn unknown_env_names_under_our_prefixes_are_refused() {
        use clap::CommandFactory;
        let cmd = Cli::command();
        let ok = [
            "DS_API_TOKEN",
            "PATH",
            "LOG_FORMAT",
            "SHUTDOWN_GRACE_SECS",
            "DS_SUBGRAPH_BIN",
        ];
        assert!(check_env_names(&cmd, ok.map(String::from)).is_ok());
        let err = check_env_names(&cmd, ["DS_API_TOKNE".to_owned()]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("DS_API_TOKNE") && msg.contains("DS_API_TOKEN"),
            "{msg}"
        );
    }
}
