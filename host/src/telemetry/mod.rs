//! weir's own telemetry: log lines on stderr (pretty or JSON), and, when an
//! OTLP endpoint is given, the same spans exported as OpenTelemetry traces
//! over OTLP/HTTP, carrying the W3C trace context a client sent.

mod one_line;
pub mod trace_context;

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Where traces go, once [`init`] set it up; flush it with [`Telemetry::shutdown`].
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

/// Logs to stderr (JSON lines if `json`), filtered by `WEIR_LOG`, and exports
/// spans to `otlp_endpoint` (a collector's base URL, such as
/// `http://127.0.0.1:4318`) if one is given. Call before any async runtime
/// starts: the exporter's HTTP client is a blocking one, on its own thread.
pub fn init(json: bool, otlp_endpoint: Option<&str>) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_env("WEIR_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,fjall=warn,lsm_tree=warn"));
    let pretty = (!json).then(|| {
        // Colours for a person at a terminal, not escape codes in a journal.
        tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .fmt_fields(one_line::fields())
            .with_writer(std::io::stderr)
    });
    let json = json.then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
    });
    let traces = otlp_endpoint.map(tracer_provider).transpose()?;
    let otel = traces
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("weir")));
    tracing_subscriber::registry()
        .with(filter)
        .with(pretty)
        .with(json)
        .with(otel)
        .init();
    if let Some(endpoint) = otlp_endpoint {
        tracing::info!(endpoint, "exporting traces over OTLP/HTTP");
    }
    Ok(Telemetry { traces })
}

fn tracer_provider(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(url.clone())
        .build()
        .map_err(|error| anyhow::anyhow!("cannot export traces to {url}: {error}"))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("weir").build())
        .build())
}

impl Telemetry {
    /// Sends the spans still buffered. Call after the async runtime ended.
    pub fn shutdown(self) {
        if let Some(traces) = self.traces
            && let Err(error) = traces.shutdown()
        {
            eprintln!("weir: cannot send the last traces: {error}");
        }
    }
}
