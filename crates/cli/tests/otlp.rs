//! Trace export (`otlp_endpoint`): OTLP over HTTP with protobuf (OTLP
//! specification, "OTLP/HTTP") to `{otlp_endpoint}/v1/traces`, off unless
//! configured. A collector in the test records what the server sends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use common::{free_port, proofkey, serve_on, terminate, wait_serving};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

/// One request the collector received.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    content_type: Option<String>,
    body: Vec<u8>,
}

type Log = Arc<Mutex<Vec<Received>>>;

/// An OTLP/HTTP collector on a free port, recording every request (any
/// method, any path) and answering 200 with an empty
/// `ExportTraceServiceResponse`.
fn collector() -> (u16, Log) {
    let log: Log = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let recorded = Arc::clone(&log);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().fallback(
                move |method: axum::http::Method,
                      uri: axum::http::Uri,
                      headers: axum::http::HeaderMap,
                      body: axum::body::Bytes| {
                    let recorded = Arc::clone(&recorded);
                    async move {
                        recorded.lock().unwrap().push(Received {
                            method: method.to_string(),
                            path: uri.path().to_owned(),
                            content_type: headers
                                .get("content-type")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned),
                            body: body.to_vec(),
                        });
                        (
                            [("content-type", "application/x-protobuf")],
                            Vec::<u8>::new(),
                        )
                    }
                },
            );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (port, log)
}

/// `proofkey serve` on a free port with its database in `dir`, stderr to
/// `dir/stderr.log`; no proxy (the export goes to loopback) and no
/// OpenTelemetry variables inherited, unless `env` sets some.
fn serve(dir: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    let port = free_port();
    let db = format!("sqlite://{}", dir.join("server.db").display());
    let mut command = serve_on(port, &db);
    for (k, _) in std::env::vars() {
        if k.starts_with("OTEL_") || k.to_ascii_lowercase().ends_with("_proxy") {
            command.env_remove(k);
        }
    }
    let child = command
        .args(["--metrics-listen", "off"])
        .args(extra)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    wait_serving(port);
    (child, format!("http://127.0.0.1:{port}"))
}

/// A secret that must never leave the server in a span.
const SECRET: &str = "NEVER-IN-SPANS-6f1d0c2e";

/// A failed client authentication at /token (a request span, and the
/// client lookup's store call inside it), then /readyz.
fn make_requests(base: &str) {
    let http = reqwest::blocking::Client::new();
    let token = http
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "no-such-client"),
            ("client_secret", SECRET),
        ])
        .send()
        .unwrap();
    assert_eq!(token.status(), 401);
    // Answered (ready or not: the probe may not have answered yet); the
    // span is what matters here.
    let ready = http.get(format!("{base}/readyz")).send().unwrap();
    assert!([200, 503].contains(&ready.status().as_u16()));
}

fn string(value: Option<&AnyValue>) -> Option<&str> {
    match value?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

#[test]
fn exports_the_request_and_store_call_spans_to_v1_traces() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (rport, received) = collector();
    let endpoint = format!("http://127.0.0.1:{rport}");
    let (mut child, base) = serve(
        dir.path(),
        &["--otlp-endpoint", &endpoint, "--registration", "open"],
        &[],
    );
    make_requests(&base);
    // A request that logs a line from inside its span.
    let registered = reqwest::blocking::Client::new()
        .post(format!("{base}/register"))
        .json(&serde_json::json!({
            "redirect_uris": ["http://127.0.0.1/cb"],
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .unwrap();
    assert_eq!(registered.status(), 201);
    // The batch is sent at shutdown, before the process exits.
    let status = terminate(&mut child);
    assert!(status.success(), "{status:?}");

    let received = received.lock().unwrap().clone();
    assert!(!received.is_empty(), "nothing was exported");
    for r in &received {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/traces"));
        assert_eq!(r.content_type.as_deref(), Some("application/x-protobuf"));
        // Nothing of the request's form: the secret is in no byte sent.
        assert!(
            !r.body.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "the client_secret was exported"
        );
    }

    let requests: Vec<ExportTraceServiceRequest> = received
        .iter()
        .map(|r| ExportTraceServiceRequest::decode(r.body.as_slice()).unwrap())
        .collect();
    let mut spans: Vec<&Span> = Vec::new();
    for resource_spans in requests.iter().flat_map(|r| &r.resource_spans) {
        let resource = &resource_spans.resource.as_ref().unwrap().attributes;
        assert_eq!(
            string(attribute(resource, "service.name")),
            Some("proofkey")
        );
        assert_eq!(
            string(attribute(resource, "service.version")),
            Some(env!("CARGO_PKG_VERSION"))
        );
        spans.extend(resource_spans.scope_spans.iter().flat_map(|s| &s.spans));
    }
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();

    // The request span is named by its otel.name: method and route.
    let token = spans
        .iter()
        .find(|s| s.name == "POST /token")
        .unwrap_or_else(|| panic!("no POST /token span in {names:?}"));
    assert_eq!(
        string(attribute(&token.attributes, "http.route")),
        Some("/token")
    );
    let status =
        attribute(&token.attributes, "http.response.status_code").and_then(|v| v.value.as_ref());
    assert!(
        matches!(status, Some(any_value::Value::IntValue(401))),
        "{status:?}"
    );
    // Spans only: no log event rides along (the security log's lines
    // name users and addresses; they stay in the logs).
    assert!(
        spans.iter().all(|s| s.events.is_empty()),
        "span events were exported"
    );
    // The client lookup's store call, inside the request's span.
    let store_call = spans
        .iter()
        .find(|s| s.name == "store call" && s.parent_span_id == token.span_id)
        .unwrap_or_else(|| panic!("no store call under POST /token in {names:?}"));
    assert_eq!(store_call.trace_id, token.trace_id);
    assert_eq!(
        string(attribute(&store_call.attributes, "db.system")),
        Some("sqlite")
    );
    assert!(names.contains(&"GET /readyz"), "{names:?}");

    assert!(names.contains(&"POST /register"), "{names:?}");

    // The log lines are what they are without export: the line logged
    // inside the request's span is there, without the span (a DEBUG span
    // is not the log's), and the secret is nowhere.
    let logs = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(logs.contains("exporting traces"), "{logs}");
    let line = logs
        .lines()
        .find(|l| l.contains("a client registered itself"))
        .unwrap_or_else(|| panic!("no registration line in {logs}"));
    assert!(
        line.contains(" INFO proofkey::security: a client registered itself"),
        "{line}"
    );
    for absent in ["HTTP request", "store call", "POST /", "otel.name", SECRET] {
        assert!(!logs.contains(absent), "{absent:?} in the logs: {logs}");
    }
    eprintln!("export test took {:?}", started.elapsed());
}

#[test]
fn a_path_prefix_in_the_endpoint_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (rport, received) = collector();
    let endpoint = format!("http://127.0.0.1:{rport}/collector/");
    let (mut child, base) = serve(dir.path(), &["--otlp-endpoint", &endpoint], &[]);
    make_requests(&base);
    assert!(terminate(&mut child).success());
    let received = received.lock().unwrap().clone();
    assert!(!received.is_empty(), "nothing was exported");
    for r in &received {
        assert_eq!(r.path, "/collector/v1/traces");
    }
}

#[test]
fn nothing_is_exported_without_otlp_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (rport, received) = collector();
    let endpoint = format!("http://127.0.0.1:{rport}");
    // The standard OpenTelemetry variables alone do not turn export on.
    let (mut child, base) = serve(
        dir.path(),
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                &format!("{endpoint}/v1/traces"),
            ),
        ],
    );
    make_requests(&base);
    assert!(terminate(&mut child).success());
    assert!(
        received.lock().unwrap().is_empty(),
        "exported without otlp_endpoint"
    );
    let logs = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(!logs.contains("exporting traces"), "{logs}");
}

/// A server that does not start: exit code 2 and stderr.
fn refused(extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("server.db").display());
    let out = proofkey()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--database",
            &db,
            "--metrics-listen",
            "off",
        ])
        .args(extra)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
    stderr
}

#[test]
fn an_endpoint_that_is_not_an_http_url_is_refused_at_start() {
    for bad in ["not-a-url", "ftp://collector:4318"] {
        let stderr = refused(&["--otlp-endpoint", bad]);
        assert!(stderr.contains("otlp_endpoint"), "{bad}: {stderr}");
    }
}

#[test]
fn an_exporter_that_cannot_be_made_is_refused_at_start() {
    // Its HTTP client cannot be made: the roots it is to trust are missing.
    let stderr = refused(&[
        "--otlp-endpoint",
        "https://127.0.0.1:1",
        "--outbound-ca-file",
        "/nonexistent/ca.pem",
    ]);
    assert!(stderr.contains("outbound_ca_file"), "{stderr}");
}
