//! `ds-subgraph`: thin entry point. Parses the CLI, loads config, starts logging, runs.
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ds_subgraph::{app, config::ServeArgs, graphql, mock};

#[derive(Parser)]
#[command(
    name = "ds-subgraph",
    version,
    about = "Apollo Federation v2 subgraph for the démarches simplifiées (DS) API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the subgraph (`--demo`: against the built-in DS mock).
    Serve(ServeArgs),
    /// Run the built-in DS mock: a DS-compatible API v2 with sample dossiers and fault injection.
    Mock(mock::MockArgs),
    /// Print the federated SDL of the subgraph.
    Schema,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Mock(args) => mock::run(args)
            .await
            .map_err(|e| Failure::Runtime(e.to_string())),
        Command::Schema => {
            print!("{}", graphql::federation_sdl());
            Ok(())
        }
    };
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
    }
}

enum Failure {
    Config(String),
    Runtime(String),
}

async fn serve(mut args: ServeArgs) -> Result<(), Failure> {
    let demo = if args.demo {
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
        Some(server)
    } else {
        None
    };
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
    app.run_until(app::shutdown_signal())
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOG_LEVEL")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.init();
    }
}
