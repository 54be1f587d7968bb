//! `ds-subgraph`: thin entry point. Parses the CLI, checks the environment, starts telemetry,
//! runs the subcommand. Exit codes: 0 success, 1 runtime failure (or, for `dossier`, some
//! dossier not returned), 2 invalid configuration or usage.
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use ds_subgraph::{
    app,
    cli::{self, CliError},
    config::{self, ServeArgs},
    graphql, mock, signal, telemetry,
};

#[derive(Parser)]
#[command(
    name = "ds-subgraph",
    version,
    about = "Apollo Federation v2 subgraph for the démarches simplifiées (DS) API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    telemetry: telemetry::TelemetryArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the subgraph (`--demo`: against the built-in DS mock).
    Serve(ServeArgs),
    /// Print dossiers from DS, through the same client, limits and error codes as the API.
    Dossier(cli::DossierArgs),
    /// Exit 0 when the service at LISTEN_ADDR answers /healthz (the container HEALTHCHECK).
    Healthcheck(cli::HealthcheckArgs),
    /// Run the built-in DS mock: a DS-compatible API v2 with sample dossiers and fault injection.
    Mock(mock::MockArgs),
    /// Print the federated SDL of the subgraph.
    Schema,
}

enum Failure {
    Config(String),
    Runtime(String),
    /// Already reported on stderr/stdout.
    Silent,
}

impl From<CliError> for Failure {
    fn from(e: CliError) -> Self {
        match e {
            CliError::Usage(m) => Failure::Config(m),
            CliError::Runtime(m) => Failure::Runtime(m),
            CliError::Incomplete(_) => Failure::Silent,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = config::check_env_names(
        &Cli::command(),
        std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()),
    )
    .map_err(|e| Failure::Config(e.to_string()))
    .and_then(|()| telemetry::init(&cli.telemetry).map_err(|e| Failure::Config(e.to_string())))
    .and_then(|telemetry| {
        let runtime =
            tokio::runtime::Runtime::new().map_err(|e| Failure::Runtime(e.to_string()))?;
        let result = runtime.block_on(run(cli.command));
        // The runtime goes first: the span exporter flushes from outside async code.
        drop(runtime);
        drop(telemetry);
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(msg)) => {
            eprintln!("ds-subgraph: configuration error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(msg)) => {
            eprintln!("ds-subgraph: {msg}");
            ExitCode::FAILURE
        }
        Err(Failure::Silent) => ExitCode::FAILURE,
    }
}

async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Dossier(mut args) => {
            let _demo = start_demo(&mut args.serve).await?;
            Ok(cli::dossier(args).await?)
        }
        Command::Healthcheck(args) => Ok(cli::healthcheck(args).await?),
        Command::Mock(args) => mock::run(args)
            .await
            .map_err(|e| Failure::Runtime(e.to_string())),
        Command::Schema => {
            print!("{}", graphql::federation_sdl());
            Ok(())
        }
    }
}

/// With `--demo`, starts the built-in mock and points `args` at it.
async fn start_demo(args: &mut ServeArgs) -> Result<Option<mock::MockServer>, Failure> {
    args.check_demo()
        .map_err(|e| Failure::Config(e.to_string()))?;
    if !args.demo {
        return Ok(None);
    }
    let mock_args = mock::MockArgs {
        listen: "127.0.0.1:0".parse().expect("a literal address"),
        token: "demo-token".into(),
        fixtures: None,
        latency_ms: 0,
        rate_limit: 0,
    };
    let server = mock::MockServer::start(mock_args)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    args.ds_api_url = server.api_url();
    args.ds_api_token = Some("demo-token".into());
    // The demo answers sample data only: it runs without a secret (with the start-up warning)
    // unless one is given, and with introspection for GraphiQL.
    args.security.allow_unauthenticated = true;
    Ok(Some(server))
}

async fn serve(mut args: ServeArgs) -> Result<(), Failure> {
    let demo = start_demo(&mut args).await?;
    let config = args
        .validate()
        .map_err(|e| Failure::Config(e.to_string()))?;
    let app = app::App::build(config)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let addr = app.local_addr();
    tracing::info!(%addr, "ds-subgraph listening");
    // On stdout, one stable line: with `--listen 127.0.0.1:0` this is how a script learns the port.
    println!("ds-subgraph listening on http://{addr}/graphql");
    if let Some(mock) = &demo {
        let n = mock.visible_numbers().first().copied().unwrap_or(1);
        println!("ds-subgraph demo: GraphQL at http://{addr}/graphql (GraphiQL in a browser), DS mock at {}", mock.base_url());
        println!("Try:\n  curl -s http://{addr}/graphql -H 'content-type: application/json' \\\n    -d '{{\"query\":\"{{ dossier(number: {n}) {{ number state stateLabel webUrl demarche {{ title }} lastMessage {{ body }} }} }}\"}}'");
    }
    app.run_until(signal::shutdown_signal())
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))
}
