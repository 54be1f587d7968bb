//! Typed configuration, read from flags and environment variables, validated once at start.
use std::{net::SocketAddr, time::Duration};

use secrecy::SecretString;
use url::Url;

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
    pub ds_api_token: Option<String>,

    /// Base URL of the DS web site, used to build `webUrl` (`<base>/dossiers/<number>`).
    #[arg(long, env = "DS_WEB_BASE_URL", default_value = DEFAULT_DS_WEB_BASE_URL)]
    pub ds_web_base_url: String,

    /// Most dossiers asked in one upstream DS request (aliased fields of one document).
    #[arg(long, env = "DS_MAX_BATCH_SIZE", default_value_t = 20)]
    pub ds_max_batch_size: usize,

    /// Timeout of one upstream DS request, in seconds (DS itself gives up at 30 s).
    #[arg(long, env = "DS_TIMEOUT_SECS", default_value_t = 10)]
    pub ds_timeout_secs: u64,

    /// Demo mode: start the built-in DS mock in-process and serve against it.
    #[arg(long)]
    pub demo: bool,
}

/// Validated configuration of the service.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub upstream: UpstreamConfig,
    pub web_base_url: Url,
}

/// What the DS client needs. `Debug` never shows the token (`SecretString` redacts it).
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub api_url: Url,
    pub token: SecretString,
    pub max_batch_size: usize,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("DS_API_TOKEN is required (or run with --demo to use the built-in DS mock)")]
    MissingToken,
    #[error("{name} is not a valid http(s) URL: {value:?}")]
    InvalidUrl { name: &'static str, value: String },
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
            .filter(|t| !t.trim().is_empty())
            .ok_or(ConfigError::MissingToken)?;
        let api_url = parse_http_url("DS_API_URL", &self.ds_api_url)?;
        let web_base_url = parse_http_url("DS_WEB_BASE_URL", &self.ds_web_base_url)?;
        check_range("DS_MAX_BATCH_SIZE", self.ds_max_batch_size as u64, 1, 100)?;
        check_range("DS_TIMEOUT_SECS", self.ds_timeout_secs, 1, 60)?;
        Ok(Config {
            listen: self.listen,
            web_base_url,
            upstream: UpstreamConfig {
                api_url,
                token: SecretString::from(token),
                max_batch_size: self.ds_max_batch_size,
                timeout: Duration::from_secs(self.ds_timeout_secs),
            },
        })
    }
}

fn parse_http_url(name: &'static str, value: &str) -> Result<Url, ConfigError> {
    let invalid = || ConfigError::InvalidUrl {
        name,
        value: value.to_owned(),
    };
    let url = Url::parse(value.trim()).map_err(|_| invalid())?;
    let credentials_in_url = !url.username().is_empty() || url.password().is_some();
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || credentials_in_url {
        return Err(invalid());
    }
    Ok(url)
}

fn check_range(name: &'static str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
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

    fn args(extra: &[&str]) -> ServeArgs {
        let mut argv = vec!["test"];
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
    }

    #[test]
    fn urls_and_ranges_are_checked() {
        let bad = args(&["--ds-api-token", "t", "--ds-api-url", "ftp://x"]);
        assert!(matches!(
            bad.validate(),
            Err(ConfigError::InvalidUrl { .. })
        ));
        let creds = args(&["--ds-api-token", "t", "--ds-web-base-url", "https://u:p@h"]);
        assert!(matches!(
            creds.validate(),
            Err(ConfigError::InvalidUrl { .. })
        ));
        let big = args(&["--ds-api-token", "t", "--ds-max-batch-size", "0"]);
        assert!(matches!(
            big.validate(),
            Err(ConfigError::OutOfRange { .. })
        ));
    }
}
