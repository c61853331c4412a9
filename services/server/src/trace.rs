//! The outermost layer of every call: one `rpc` span carrying the caller's W3C trace
//! context (`traceparent`), so every log line of the call names the trace it belongs to,
//! and a debug line per call with its gRPC code and duration.
//!
//! A `traceparent` that does not follow the W3C format is ignored (the call is served,
//! with no trace id), as the Trace Context recommendation asks of a receiver.
//!
//! A binary that exports spans (the `taxi` binary's `otlp` feature) registers a
//! [`RemoteParentHook`]: it is given each call's span and valid `traceparent` before the span
//! is entered, and makes the span a child of the caller's. This crate stays free of any
//! OpenTelemetry dependency.
//!
//! The same layer counts and times every call (`taxi_rpc_requests_total`,
//! `taxi_rpc_duration_seconds`) by method and code. The method label is a path of the
//! policy table, an open service's prefix, `console`, or `other`: never a path a caller
//! made up, so the label's values stay bounded.

use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::Instrument;

/// A W3C trace context: the trace and the caller's span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent<'a> {
    /// 32 lowercase hex digits, not all zero.
    pub trace_id: &'a str,
    /// 16 lowercase hex digits, not all zero: the caller's span.
    pub parent_id: &'a str,
    /// Whether the caller sampled the trace.
    pub sampled: bool,
}

/// Given an RPC's span and its caller's valid trace context before the span is entered.
pub type RemoteParentHook = fn(&tracing::Span, &TraceParent<'_>);

static REMOTE_PARENT: OnceLock<RemoteParentHook> = OnceLock::new();

/// Registers the process's [`RemoteParentHook`] (once: false if one was registered already).
pub fn set_remote_parent_hook(hook: RemoteParentHook) -> bool {
    REMOTE_PARENT.set(hook).is_ok()
}

fn is_hex_id(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && s.bytes().any(|b| b != b'0')
}

/// Reads a `traceparent` value (`version-traceid-parentid-flags`): version `00` exactly as
/// specified; a later version by its first four fields (as the recommendation says);
/// version `ff`, uppercase hex and all-zero ids are invalid.
pub fn parse_traceparent(value: &str) -> Option<TraceParent<'_>> {
    let mut parts = value.trim().split('-');
    let (version, trace_id, parent_id, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if !is_hex_id(version, 2) && version != "00" || version == "ff" {
        return None;
    }
    if version == "00" && parts.next().is_some() {
        return None;
    }
    if !is_hex_id(trace_id, 32) || !is_hex_id(parent_id, 16) {
        return None;
    }
    if flags.len() != 2 || !flags.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some(TraceParent {
        trace_id,
        parent_id,
        sampled: flags & 1 == 1,
    })
}

/// Wraps services in [`RpcSpan`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RpcSpanLayer;

impl<S> tower::Layer<S> for RpcSpanLayer {
    type Service = RpcSpan<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RpcSpan { inner }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct RpcSpan<S> {
    inner: S,
}

impl<S, B, RB> tower::Service<http::Request<B>> for RpcSpan<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let parent = request
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_traceparent);
        let span = tracing::info_span!(
            "rpc",
            method = %request.uri().path(),
            trace_id = parent.map(|p| p.trace_id).unwrap_or(""),
            parent_span_id = parent.map(|p| p.parent_id).unwrap_or(""),
        );
        if let (Some(parent), Some(hook)) = (&parent, REMOTE_PARENT.get()) {
            hook(&span, parent);
        }
        let method = method_label(request.uri().path());
        let started = Instant::now();
        let call = self.inner.call(request).instrument(span.clone());
        Box::pin(async move {
            let answer = call.await;
            let elapsed = started.elapsed();
            let label = match &answer {
                Ok(response) if method == CONSOLE => http_code_label(response.status().as_u16()),
                Ok(response) => code_label(
                    response
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("0"),
                ),
                Err(_) => "UNKNOWN",
            };
            use taxi_metrics::label::{CODE, METHOD};
            ::metrics::counter!(taxi_metrics::RPC_REQUESTS, METHOD => method, CODE => label)
                .increment(1);
            ::metrics::histogram!(taxi_metrics::RPC_DURATION, METHOD => method, CODE => label)
                .record(elapsed.as_secs_f64());
            if let Ok(response) = &answer {
                // A failed call answers with its status in the headers; a successful one
                // (or a stream) in the trailers, after this point: reported as OK here.
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("0")
                    .to_string();
                span.in_scope(|| {
                    tracing::debug!(
                        grpc_status = %code,
                        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                        "rpc answered"
                    )
                });
            }
            answer
        })
    }
}

/// The method label of the operators' console's paths.
pub const CONSOLE: &str = "console";
/// The method label of any path the server does not serve.
pub const OTHER: &str = "other";

/// A request path as a bounded label: an RPC of the policy table (itself), an open
/// service (its prefix: health, reflection), the console, or [`OTHER`].
pub fn method_label(path: &str) -> &'static str {
    use taxi_auth::policy;
    if let Some(rule) = policy::rule_for(path) {
        rule.path
    } else if let Some(open) = policy::OPEN_SERVICES.iter().find(|p| path.starts_with(*p)) {
        open
    } else if policy::is_console_path(path) {
        CONSOLE
    } else {
        OTHER
    }
}

/// The gRPC status codes' names, by number.
const CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// A `grpc-status` header value as its code's name (`UNKNOWN` for anything else).
pub fn code_label(status: &str) -> &'static str {
    status
        .parse::<usize>()
        .ok()
        .and_then(|n| CODES.get(n))
        .copied()
        .unwrap_or("UNKNOWN")
}

/// A console response's HTTP status as a label: its class (`2xx`, `4xx`, ...).
fn http_code_label(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    #[test]
    fn method_labels_are_bounded() {
        assert_eq!(
            method_label("/taxi.v1.HotlineService/CreateBooking"),
            "/taxi.v1.HotlineService/CreateBooking"
        );
        assert_eq!(
            method_label("/grpc.health.v1.Health/Check"),
            "/grpc.health.v1.Health/"
        );
        assert_eq!(method_label("/console/api/orders/O123"), CONSOLE);
        assert_eq!(method_label("/taxi.v1.HotlineService/O123"), OTHER);
        assert_eq!(method_label("/anything/a-caller-made-up"), OTHER);
    }

    #[test]
    fn codes_have_their_names() {
        assert_eq!(code_label("0"), "OK");
        assert_eq!(code_label("5"), "NOT_FOUND");
        assert_eq!(code_label("16"), "UNAUTHENTICATED");
        for bad in ["17", "-1", "x", ""] {
            assert_eq!(code_label(bad), "UNKNOWN", "{bad:?}");
        }
        assert_eq!(http_code_label(404), "4xx");
    }

    #[test]
    fn the_specifications_example_parses() {
        let sampled = format!("00-{TRACE}-{SPAN}-01");
        let p = parse_traceparent(&sampled).unwrap();
        assert_eq!((p.trace_id, p.parent_id, p.sampled), (TRACE, SPAN, true));
        let not_sampled = format!("00-{TRACE}-{SPAN}-00");
        assert!(!parse_traceparent(&not_sampled).unwrap().sampled);
    }

    #[test]
    fn a_later_version_is_read_by_its_first_four_fields() {
        let later = format!("01-{TRACE}-{SPAN}-01-whatever");
        assert_eq!(parse_traceparent(&later).unwrap().trace_id, TRACE);
    }

    #[test]
    fn malformed_values_are_ignored() {
        let zeros32 = "0".repeat(32);
        let zeros16 = "0".repeat(16);
        for bad in [
            String::new(),
            "garbage".to_string(),
            format!("ff-{TRACE}-{SPAN}-01"),
            format!("00-{TRACE}-{SPAN}-01-extra"),
            format!("00-{}-{SPAN}-01", TRACE.to_uppercase()),
            format!("00-{zeros32}-{SPAN}-01"),
            format!("00-{TRACE}-{zeros16}-01"),
            format!("00-{}-{SPAN}-01", &TRACE[1..]),
            format!("00-{TRACE}-{SPAN}-1"),
            format!("00-{TRACE}-{SPAN}-zz"),
            format!("0-{TRACE}-{SPAN}-01"),
            format!("00-{TRACE}-{SPAN}"),
        ] {
            assert_eq!(parse_traceparent(&bad), None, "{bad:?}");
        }
    }
}
