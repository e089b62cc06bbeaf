//! Logs and traces. JSON logs to stdout filtered by `RUST_LOG`; OTLP trace export only when an
//! endpoint is configured; W3C trace context carried across service hops.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{
    EnvFilter, Layer as _, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};

/// Telemetry settings shared by every service binary.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TelemetryConfig {
    /// OTLP/gRPC endpoint for traces (e.g. http://127.0.0.1:4317); traces are not exported when unset.
    #[arg(long, env = "ARAS_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Log lines as JSON (for collectors) or as text (for people at a terminal; `make up`).
    #[arg(long, env = "ARAS_LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Json,
    Text,
}

/// The log filter when `RUST_LOG` is unset: `info`, without what a user would have to learn to
/// skip. The embedded Qdrant engine warns that its feature flags and mmap check were not
/// initialised (Qdrant's own `main` does that; 0.7.2 gives no way to, and the defaults are the
/// ones we want), and every process that migrates would log refinery's progress and Postgres's
/// NOTICEs; the recommender logs what the migrations applied.
const DEFAULT_FILTER: &str = "info,qdrant_edge=error,refinery_core=warn,tokio_postgres=warn";

/// Text lines that begin with the service's name (`[gateway] …`), so services started side by
/// side write to one terminal without a relabelling pipe per service (`make up`).
struct Labelled<F> {
    service: &'static str,
    format: F,
}

impl<S, N, F> FormatEvent<S, N> for Labelled<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "[{}] ", self.service)?;
        self.format.format_event(context, writer, event)
    }
}

/// Flushes pending spans when dropped at the end of `main`.
#[must_use = "dropping the guard at once would stop trace export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("flushing traces failed: {err}");
        }
    }
}

/// Installs the global subscriber: JSON logs (default level `info`) and, with an endpoint, the
/// OTLP exporter. Call once, from `main`, inside the Tokio runtime.
pub fn init(service: &'static str, config: &TelemetryConfig) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let logs = match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .event_format(Labelled {
                service,
                format: tracing_subscriber::fmt::format()
                    .compact()
                    .with_ansi(false)
                    .with_target(false),
            })
            .boxed(),
    };
    let provider = match &config.otlp_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .build()?;
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(
                        opentelemetry_sdk::Resource::builder()
                            .with_service_name(service)
                            .build(),
                    )
                    .build(),
            )
        }
        None => None,
    };
    let traces = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service)));
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(traces)
        .try_init()?;
    Ok(TelemetryGuard { provider })
}

/// Writes the current span's trace context (`traceparent`) into outgoing gRPC metadata.
pub fn inject_trace_context(metadata: &mut tonic::metadata::MetadataMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&context, &mut HeaderInjector(metadata.as_mut()));
    });
}

/// Makes `span` a child of the trace context found in incoming HTTP/2 headers, if any.
pub fn set_parent_from_headers(span: &tracing::Span, headers: &http::HeaderMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let parent =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
    // Without an installed OpenTelemetry layer there is nothing to attach to; that is fine.
    let _ = span.set_parent(parent);
}

/// The current span's trace context as header pairs (`traceparent`, `tracestate`), for carriers
/// other than gRPC metadata: AMQP headers, a job's row.
pub fn current_trace_context() -> std::collections::HashMap<String, String> {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let context = tracing::Span::current().context();
    let mut carrier = std::collections::HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&context, &mut carrier));
    carrier
}

/// Makes `span` a child of the trace context in `carrier` (as [`current_trace_context`] wrote it).
pub fn set_parent_from_map<S: std::hash::BuildHasher>(
    span: &tracing::Span,
    carrier: &std::collections::HashMap<String, String, S>,
) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(carrier));
    let _ = span.set_parent(parent);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trace context arriving in HTTP headers leaves in gRPC metadata as the same trace: the
    /// incoming span becomes the parent of the call's span.
    #[test]
    fn the_trace_context_crosses_a_hop() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            format!("00-{trace_id}-00f067aa0ba902b7-01")
                .parse()
                .unwrap(),
        );
        let mut metadata = tonic::metadata::MetadataMap::new();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("incoming");
            set_parent_from_headers(&span, &headers);
            span.in_scope(|| inject_trace_context(&mut metadata));
        });
        let sent = metadata
            .get("traceparent")
            .expect("the call carries a trace context")
            .to_str()
            .unwrap();
        assert!(sent.starts_with(&format!("00-{trace_id}-")), "{sent}");
        assert!(
            !sent.contains("00f067aa0ba902b7"),
            "a span of its own: {sent}"
        );
    }
}
