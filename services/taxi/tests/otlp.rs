//! OTLP trace export (the `otlp` feature) against a real exporter: a tiny collector serving
//! OpenTelemetry's `TraceService` on loopback, the real `taxi serve` exporting to it, and
//! a health check carrying a W3C `traceparent`. The call's span must arrive with the
//! caller's trace id, as a child of the caller's span, with `taxi`'s resource: while the
//! server runs, and (the exporter's last batch) when it stops.
//!
//! `cargo test -p taxi --features otlp --test otlp`; scripts/test.sh's plain tier runs it as
//! `cargo test --workspace --locked --features taxi/otlp --test otlp` (the workspace's
//! features: no second build of the dependencies).
#![cfg(feature = "otlp")]

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
mod common;
use common::{Child, free_port};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// Every export request the collector received.
#[derive(Debug, Clone, Default)]
struct Collector(Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// A received span: its name, parent span id and its resource's string attributes.
#[derive(Debug)]
struct Received {
    name: String,
    parent_span_id: Vec<u8>,
    resource: Vec<(String, String)>,
}

impl Collector {
    /// Starts serving on a free loopback port; returns `http://127.0.0.1:PORT`.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
                .unwrap();
        });
        format!("http://{addr}")
    }

    /// The spans received so far of trace `trace_id`.
    fn spans_of(&self, trace_id: &[u8]) -> Vec<Received> {
        let mut found = Vec::new();
        for request in self.0.lock().unwrap().iter() {
            for rs in &request.resource_spans {
                let resource = rs
                    .resource
                    .iter()
                    .flat_map(|r| &r.attributes)
                    .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
                        any_value::Value::StringValue(s) => Some((kv.key.clone(), s.clone())),
                        _ => None,
                    })
                    .collect::<Vec<_>>();
                for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                    if span.trace_id == trace_id {
                        found.push(Received {
                            name: span.name.clone(),
                            parent_span_id: span.parent_span_id.clone(),
                            resource: resource.clone(),
                        });
                    }
                }
            }
        }
        found
    }

    /// Waits (polling, at most `limit`) for the `rpc` span of trace `trace_id`.
    async fn wait_rpc_span(&self, trace_id: &[u8], limit: Duration) -> Received {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(span) = self
                .spans_of(trace_id)
                .into_iter()
                .find(|s| s.name == "rpc")
            {
                return span;
            }
            assert!(
                Instant::now() < deadline,
                "no rpc span of the trace reached the collector in {limit:?}; received: {:?}",
                self.0.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// `taxi serve --role hotline` exporting to `collector`, with the batch processor's
/// `OTEL_BSP_SCHEDULE_DELAY` (ms); its gRPC address.
fn serve(data: &std::path::Path, collector: &str, schedule_delay_ms: u64) -> (Child, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut c = Command::new(env!("CARGO_BIN_EXE_taxi"));
    for (k, _) in std::env::vars() {
        if k.starts_with("TAXI_") || k.starts_with("OTEL_") {
            c.env_remove(k);
        }
    }
    let child = c
        .args(["serve", "--role", "hotline", "--drain-secs", "1"])
        .env("TAXI_METRICS_ADDR", "off")
        .env("TAXI_LISTEN", &addr)
        .env("TAXI_DATA_DIR", data)
        .env("TAXI_OTLP_ENDPOINT", collector)
        .env("OTEL_BSP_SCHEDULE_DELAY", schedule_delay_ms.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (Child(child), format!("http://{addr}"))
}

/// Health checks carrying `traceparent` until one is answered (the server is starting).
async fn traced_health_check(addr: &str, traceparent: &str) {
    let endpoint = tonic::transport::Endpoint::from_shared(addr.to_string()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(channel) = endpoint.connect().await {
            let mut request = tonic::Request::new(HealthCheckRequest {
                service: String::new(),
            });
            request
                .metadata_mut()
                .insert("traceparent", traceparent.parse().unwrap());
            if HealthClient::new(channel).check(request).await.is_ok() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "taxi serve never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn check_span(span: &Received, parent_id: &str) {
    assert_eq!(
        span.parent_span_id,
        hex(parent_id),
        "the caller's span is the parent"
    );
    let has = |k: &str, v: &str| span.resource.iter().any(|(rk, rv)| rk == k && rv == v);
    assert!(has("service.name", "taxi"), "{:?}", span.resource);
    assert!(has("taxi.role", "hotline"), "{:?}", span.resource);
}

/// SIGTERM, then waits (at most 10 s) for the server to exit, successfully.
async fn stop(server: &mut Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = server.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "taxi did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traced_rpcs_span_reaches_the_collector() {
    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT: &str = "00f067aa0ba902b7";
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let data = tempfile::tempdir().unwrap();
    let (mut server, addr) = serve(data.path(), &endpoint, 100);

    traced_health_check(&addr, &format!("00-{TRACE}-{PARENT}-01")).await;
    // Exported while the server runs (a batch every 100 ms here).
    let span = collector
        .wait_rpc_span(&hex(TRACE), Duration::from_secs(10))
        .await;
    check_span(&span, PARENT);
    stop(&mut server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_spans_are_flushed_on_exit() {
    const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
    const PARENT: &str = "b7ad6b7169203331";
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let data = tempfile::tempdir().unwrap();
    // A batch every ten minutes: only the flush at exit can send this call's span.
    let (mut server, addr) = serve(data.path(), &endpoint, 600_000);

    traced_health_check(&addr, &format!("00-{TRACE}-{PARENT}-01")).await;
    assert!(collector.spans_of(&hex(TRACE)).is_empty());
    stop(&mut server).await;
    let span = collector
        .wait_rpc_span(&hex(TRACE), Duration::from_secs(2))
        .await;
    check_span(&span, PARENT);
}
