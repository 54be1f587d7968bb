//! Logs, traces and metrics. Logs go to stderr as text or JSON; spans are also OpenTelemetry
//! spans, exported over OTLP when an endpoint is configured, and their W3C `traceparent` is
//! taken from callers and passed on to DS, so that one trace shows router → subgraph → DS.
pub mod metrics;

use opentelemetry::{global, trace::TracerProvider as _};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{propagation::TraceContextPropagator, trace::SdkTracerProvider, Resource};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{
    filter::Targets, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer,
};
use url::Url;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Logging and tracing settings, common to every subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct TelemetryArgs {
    /// Log format on stderr: `text` or `json` (one JSON object per line).
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,

    /// Log filter, `tracing` syntax: `info`, `ds_subgraph=debug,tower_http=info`, ...
    #[arg(long, env = "LOG_LEVEL", default_value = "info", global = true)]
    pub log_level: String,

    /// OTLP/HTTP (protobuf) collector base URL, e.g. `http://otel-collector:4318`; spans go to
    /// `<url>/v1/traces`. Unset: no export (trace context is still propagated to DS).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("LOG_LEVEL is not a valid filter: {0}")]
    Filter(String),
    #[error("OTEL_EXPORTER_OTLP_ENDPOINT is not a valid http(s) URL: {0:?}")]
    Endpoint(String),
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
}

/// Flushes and stops the span exporter when dropped. Drop it outside the async runtime: the
/// OTLP exporter's blocking HTTP client must not be shut down from async code.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// Installs the global subscriber (stderr logs + OpenTelemetry layer) and the W3C propagator.
pub fn init(args: &TelemetryArgs) -> Result<Telemetry, TelemetryError> {
    let filter =
        EnvFilter::try_new(&args.log_level).map_err(|e| TelemetryError::Filter(e.to_string()))?;
    global::set_text_map_propagator(TraceContextPropagator::new());

    let mut provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name("ds-subgraph").build());
    if let Some(endpoint) = &args.otlp_endpoint {
        let url = Url::parse(endpoint.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| TelemetryError::Endpoint(endpoint.clone()))?;
        let traces = format!("{}/v1/traces", url.as_str().trim_end_matches('/'));
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(traces)
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        provider = provider.with_batch_exporter(exporter);
    }
    let provider = provider.build();
    global::set_tracer_provider(provider.clone());

    // Our own spans feed OpenTelemetry whatever LOG_LEVEL says: a quieter log must not break
    // the trace chain to DS.
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("ds-subgraph"))
        .with_filter(Targets::new().with_target("ds_subgraph", tracing::Level::INFO));
    // Colour codes only for a person at a terminal, not in files or log collectors.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let fmt = match args.log_format {
        LogFormat::Json => fmt.json().with_filter(filter).boxed(),
        LogFormat::Text => fmt.with_filter(filter).boxed(),
    };
    // A subscriber set earlier (by a test harness) wins; ours is then simply not installed.
    let _ = tracing_subscriber::registry()
        .with(otel)
        .with(fmt)
        .try_init();
    Ok(Telemetry { provider })
}

/// Makes `span` a child of the trace context carried by an incoming request's headers.
pub fn set_remote_parent(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    let parent = global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
    let _ = span.set_parent(parent);
}

/// Headers (`traceparent`, `tracestate`) that carry the current span's trace to a callee.
pub fn trace_headers() -> axum::http::HeaderMap {
    let mut headers = axum::http::HeaderMap::new();
    let cx = tracing::Span::current().context();
    global::get_text_map_propagator(|p| p.inject_context(&cx, &mut HeaderInjector(&mut headers)));
    headers
}
