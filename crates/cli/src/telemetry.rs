//! Trace export (`otlp_endpoint`): the server's spans as OpenTelemetry
//! traces, sent by OTLP over HTTP with protobuf (OTLP specification,
//! "OTLP/HTTP") to `{otlp_endpoint}/v1/traces`.
//!
//! Off unless configured. The spans exported are the DEBUG spans of
//! `proofkey_server` (one per request) and `proofkey_store` (one per store
//! call) and any other span at INFO; no log events. The filter is this
//! layer's own, so the log lines on stderr are the same with export on or
//! off.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::FilterExt as _;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// How long one export may take (the OTLP default of
/// `OTEL_EXPORTER_OTLP_TIMEOUT`): a collector that hangs costs a batch,
/// never a request, as export runs on the processor's own thread.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for the last batch to be sent.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The OTLP/HTTP path of traces, appended to the configured base URL.
const TRACES_PATH: &str = "v1/traces";

/// The running exporter. Dropping it sends the spans still queued and
/// stops the export thread.
#[derive(Debug)]
pub(crate) struct Telemetry {
    provider: SdkTracerProvider,
    /// Where the spans go, for the log line (password redacted).
    url: url::Url,
}

impl Telemetry {
    /// Builds the exporter for the collector at `endpoint` (a base URL,
    /// such as `http://collector:4318`); `outbound_ca_file`'s roots are
    /// trusted besides the public ones, as for the server's other https
    /// requests. The batch processor exports from a thread of its own
    /// with a blocking HTTP client, so no async runtime needs to exist yet.
    pub(crate) fn start(
        endpoint: &url::Url,
        outbound_ca_file: Option<&std::path::Path>,
    ) -> Result<Telemetry, String> {
        let url = traces_url(endpoint);
        let mut client = reqwest::blocking::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            // Spans go to the collector configured, never where it points.
            .redirect(reqwest::redirect::Policy::none());
        for root in proofkey_server::outbound_roots(outbound_ca_file)? {
            client = client.add_root_certificate(root);
        }
        let client = client
            .build()
            .map_err(|e| format!("otlp_endpoint: cannot make the HTTP client: {e}"))?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url.as_str())
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| format!("otlp_endpoint: cannot make the trace exporter: {e}"))?;
        let resource = Resource::builder()
            .with_service_name("proofkey")
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                env!("CARGO_PKG_VERSION"),
            ))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        Ok(Telemetry {
            provider,
            url: redacted(&url),
        })
    }

    /// The URL spans are posted to, password redacted.
    pub(crate) fn url(&self) -> &url::Url {
        &self.url
    }

    /// The layer turning spans into OpenTelemetry spans. Its filter is its
    /// own (a per-layer filter): spans only, DEBUG for the request and
    /// store-call spans, INFO for the rest, whatever `RUST_LOG` says for
    /// the log lines.
    pub(crate) fn layer<S>(&self) -> impl Layer<S> + Send + Sync
    where
        S: tracing::Subscriber + Send + Sync + for<'span> LookupSpan<'span>,
    {
        // Spans only: log events (the security log's usernames and
        // addresses among them) stay in the logs, never in the traces.
        let filter = Targets::new()
            .with_default(LevelFilter::INFO)
            .with_target("proofkey_server", LevelFilter::DEBUG)
            .with_target("proofkey_store", LevelFilter::DEBUG)
            .and(tracing_subscriber::filter::filter_fn(|m| m.is_span()));
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("proofkey"))
            .with_filter(filter)
    }
}

impl Drop for Telemetry {
    /// Sends the spans still queued (the last requests' before a SIGTERM)
    /// and stops the export thread. A collector that is down is not a
    /// reason to fail the shutdown: the error is logged, nothing more.
    fn drop(&mut self) {
        if let Err(e) = self.provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
            tracing::warn!(error = %e, "the last traces could not be exported");
        }
    }
}

/// `{base}/v1/traces`, the base's path kept as a prefix, with or without
/// its trailing slash (`http://c:4318`, `http://c:4318/`,
/// `http://gw/otlp/` → `http://gw/otlp/v1/traces`).
fn traces_url(base: &url::Url) -> url::Url {
    let mut url = base.clone();
    let path = format!("{}/{TRACES_PATH}", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_fragment(None);
    url
}

/// The URL without its password, for the log.
fn redacted(url: &url::Url) -> url::Url {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("REDACTED"));
    }
    url
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn joined(base: &str) -> String {
        traces_url(&url::Url::parse(base).unwrap()).to_string()
    }

    #[test]
    fn appends_the_traces_path_to_a_bare_host() {
        assert_eq!(joined("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(joined("http://c:4318/"), "http://c:4318/v1/traces");
    }

    #[test]
    fn keeps_a_path_prefix_with_or_without_its_trailing_slash() {
        assert_eq!(joined("https://gw/otlp"), "https://gw/otlp/v1/traces");
        assert_eq!(joined("https://gw/otlp/"), "https://gw/otlp/v1/traces");
        assert_eq!(joined("https://gw/a/b//"), "https://gw/a/b/v1/traces");
    }

    #[test]
    fn keeps_the_query_and_drops_the_fragment() {
        assert_eq!(
            joined("http://c:4318/p?tenant=x#f"),
            "http://c:4318/p/v1/traces?tenant=x"
        );
    }

    #[test]
    fn the_logged_url_has_no_password() {
        let url = url::Url::parse("http://u:secret@c:4318/v1/traces").unwrap();
        assert!(!redacted(&url).as_str().contains("secret"));
    }
}
