//! Logs, traces and metrics for a process.
//!
//! - Logs: human-readable lines by default, JSON on request; `RUST_LOG` filters. Every line inside
//!   a call carries the fields of its spans: the request id and trace id of the `grpc.server` span,
//!   the saga id of a saga's spans. No personal data is put in spans or metric labels: ids only.
//! - Traces: with an OTLP endpoint, spans are exported over OTLP/gRPC in batches; without one no
//!   OpenTelemetry layer is installed at all, so nothing is recorded or exported.
//! - Metrics: Prometheus text exposition on an HTTP port (`/metrics`), pulled by Prometheus.

use std::net::SocketAddr;

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event, for log shippers.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "unknown log format {other:?} (expected text or json)"
            )),
        }
    }
}

/// What [`init`] sets up.
#[derive(Debug, Clone, Default)]
pub struct TelemetryConfig {
    pub log_format: LogFormat,
    /// `service.name` of exported spans.
    pub service_name: String,
    /// An OTLP/gRPC collector (`http://host:4317`); none exports nothing.
    pub otlp_endpoint: Option<String>,
    /// Where Prometheus scrapes `/metrics`; none records no metrics.
    pub metrics_listen: Option<SocketAddr>,
}

/// Keeps the exporters alive; [`Telemetry::shutdown`] flushes the spans still buffered.
#[must_use = "dropping the guard without shutdown loses the last spans"]
#[derive(Debug)]
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    pub async fn shutdown(self) {
        if let Some(provider) = self.tracer_provider {
            // The batch processor's shutdown blocks; off the async threads it cannot stall them.
            let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(err)) = flushed {
                eprintln!("flushing spans: {err}");
            }
        }
    }
}

/// Installs the global subscriber, tracer and metrics recorder. Call once, from `main` (inside
/// the Tokio runtime).
pub fn init(config: &TelemetryConfig) -> anyhow::Result<Telemetry> {
    let tracer_provider = config
        .otlp_endpoint
        .as_deref()
        .map(|endpoint| otlp_provider(endpoint, &config.service_name))
        .transpose()?;
    init_subscriber(config.log_format, tracer_provider.as_ref());
    if let Some(addr) = config.metrics_listen {
        install_prometheus(Some(addr))?;
    }
    Ok(Telemetry { tracer_provider })
}

/// A tracer provider exporting to `endpoint` over OTLP/gRPC in batches.
pub fn otlp_provider(endpoint: &str, service_name: &str) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .with_context(|| format!("building the OTLP exporter for {endpoint}"))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service_name.to_owned())
                .build(),
        )
        .build())
}

fn init_subscriber(format: LogFormat, tracer_provider: Option<&SdkTracerProvider>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, never into files or pipes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let otel = tracer_provider
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("hrmesh")));
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    match format {
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_ansi(ansi))
            .init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(true),
            )
            .init(),
    }
}

/// Bucket bounds, in seconds, of every latency histogram: 1 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the global Prometheus recorder, serving `/metrics` on `listen` if given, and returns
/// a handle that renders the exposition text (what tests and benchmarks read).
pub fn install_prometheus(
    listen: Option<SocketAddr>,
) -> anyhow::Result<metrics_exporter_prometheus::PrometheusHandle> {
    let mut builder =
        metrics_exporter_prometheus::PrometheusBuilder::new().set_buckets(LATENCY_BUCKETS)?;
    if let Some(addr) = listen {
        builder = builder.with_http_listener(addr);
        let (recorder, exporter) = builder
            .build()
            .with_context(|| format!("serving metrics on {addr}"))?;
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).context("a metrics recorder is already set")?;
        tokio::spawn(async move {
            if let Err(err) = exporter.await {
                tracing::error!(error = ?err, "the metrics endpoint stopped");
            }
        });
        tracing::info!(%addr, "serving Prometheus metrics at /metrics");
        Ok(handle)
    } else {
        builder
            .install_recorder()
            .context("installing the metrics recorder")
    }
}
