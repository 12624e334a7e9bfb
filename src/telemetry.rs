//! Logs and optional trace export. Logs go to stderr, as JSON lines when
//! `KETAMINE_CDS_LOG_FORMAT=json`, at the level of `RUST_LOG`. With `[telemetry] otlp_endpoint`
//! set, the same spans (one `hook_call` per call, with its counts and latency — never PHI) are
//! also exported to an OpenTelemetry collector over OTLP/HTTP. The exporter is in the binary only
//! when built with the `otlp` cargo feature (the container image is); otherwise setting the
//! endpoint is refused at start-up rather than silently ignored.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::TelemetryConfig;

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Keeps the trace exporter running; dropping it flushes the spans not yet sent. Drop it outside
/// the async runtime (the exporter's HTTP client blocks).
#[must_use]
pub struct Guard {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider.take() {
            if let Err(e) = provider.shutdown() {
                eprintln!("ketamine-cds: flushing traces at exit failed: {e}");
            }
        }
    }
}

/// Installs the global subscriber: logs, and the trace exporter if configured.
pub fn init(telemetry: &TelemetryConfig) -> Result<Guard, String> {
    // sqlx's own lines are off by default: a failing store would repeat them several times a
    // second; the service says a store fault itself (store::health), once, then once a minute.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=off"));
    // Colour only on a terminal: logs written to a file or a collector carry no escape codes.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(colour);
    let fmt: BoxedLayer = if std::env::var("KETAMINE_CDS_LOG_FORMAT").is_ok_and(|f| f == "json") {
        Box::new(fmt.json().flatten_event(true).with_current_span(true))
    } else {
        Box::new(fmt)
    };
    let (export, guard) = exporter(telemetry)?;
    let layers: Vec<BoxedLayer> = std::iter::once(fmt).chain(export).collect();
    tracing_subscriber::registry().with(layers).with(filter).init();
    Ok(guard)
}

#[cfg(not(feature = "otlp"))]
fn exporter(telemetry: &TelemetryConfig) -> Result<(Option<BoxedLayer>, Guard), String> {
    match &telemetry.otlp_endpoint {
        Some(_) => Err("[telemetry] otlp_endpoint is set, but this build has no OTLP exporter \
                        (build with `--features otlp`, as the container image is)"
            .into()),
        None => Ok((None, Guard {})),
    }
}

#[cfg(feature = "otlp")]
fn exporter(telemetry: &TelemetryConfig) -> Result<(Option<BoxedLayer>, Guard), String> {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{SpanExporter, WithExportConfig};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::SdkTracerProvider;

    let Some(endpoint) = &telemetry.otlp_endpoint else {
        return Ok((None, Guard { provider: None }));
    };
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint.as_str())
        .build()
        .map_err(|e| format!("[telemetry] otlp_endpoint {endpoint}: {e}"))?;
    let resource = Resource::builder()
        .with_service_name(telemetry.service_name.clone())
        .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build();
    let layer: BoxedLayer = Box::new(tracing_opentelemetry::layer().with_tracer(provider.tracer("ketamine-cds")));
    Ok((Some(layer), Guard { provider: Some(provider) }))
}
