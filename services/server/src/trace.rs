//! The outermost layer of every call: one `rpc` span carrying the caller's W3C trace
//! context (`traceparent`), so every log line of the call names the trace it belongs to,
//! and a debug line per call with its gRPC code and duration.
//!
//! A `traceparent` that does not follow the W3C format is ignored (the call is served,
//! with no trace id), as the Trace Context recommendation asks of a receiver.

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
        let started = Instant::now();
        let call = self.inner.call(request).instrument(span.clone());
        Box::pin(async move {
            let answer = call.await;
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

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

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
