//! Trace export to an OpenTelemetry collector over OTLP/gRPC: the `otlp` cargo feature, off
//! by default, and `--otlp-endpoint` / `TAXI_OTLP_ENDPOINT` on `taxi serve`.
//!
//! With the feature, every span the log filter lets through (each RPC's `rpc` span and the
//! spans under it) is exported by a batch span processor on a small Tokio runtime of its
//! own, with the resource `service.name=taxi` and `taxi.role` (the `--role` value). An RPC
//! whose `traceparent` is valid becomes a child of the caller's span (through
//! [`taxi_server::trace::set_remote_parent_hook`]). [`Exporter`]'s drop flushes and shuts
//! the provider down, so the spans of the last calls are not lost on exit.
//!
//! Without the feature a set endpoint is not ignored silently: `taxi serve` starts and
//! warns that this build exports no traces (see [`announce`]).

use tracing_subscriber::Layer;

/// The OTLP layer of `taxi serve`'s subscriber, when an endpoint is set.
pub(crate) type BoxedLayer<S> = Box<dyn Layer<S> + Send + Sync + 'static>;

/// Checks `--otlp-endpoint`: an `http://host:port` URL (the collector's OTLP/gRPC port,
/// usually 4317), or empty for none.
pub(crate) fn check_endpoint(endpoint: Option<&str>) -> anyhow::Result<Option<String>> {
    let Some(endpoint) = endpoint.map(str::trim).filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let rest = endpoint.strip_prefix("http://").ok_or_else(|| {
        anyhow::anyhow!(
            "--otlp-endpoint / {}: `{endpoint}` is not an http:// URL (TLS to the collector \
             is not supported: run a collector beside the server)",
            crate::config::ENV_OTLP_ENDPOINT
        )
    })?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || !authority.contains(':') {
        anyhow::bail!(
            "--otlp-endpoint / {}: `{endpoint}` has no host:port",
            crate::config::ENV_OTLP_ENDPOINT
        );
    }
    Ok(Some(endpoint.to_string()))
}

#[cfg(feature = "otlp")]
pub(crate) use enabled::{Exporter, layer};

#[cfg(not(feature = "otlp"))]
pub(crate) use disabled::{Exporter, layer};

/// Logs, once the subscriber is up, whether spans are exported: where to with the feature,
/// a warning that they are not without it.
pub(crate) fn announce(endpoint: Option<&str>) {
    let Some(endpoint) = endpoint else { return };
    if cfg!(feature = "otlp") {
        tracing::info!(endpoint, "exporting spans over OTLP/gRPC");
    } else {
        tracing::warn!(
            endpoint,
            "{} is set but this build has no OTLP export: no traces are exported \
             (build with `--features otlp`)",
            crate::config::ENV_OTLP_ENDPOINT
        );
    }
}

#[cfg(feature = "otlp")]
mod enabled {
    use super::BoxedLayer;
    use anyhow::Context as _;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider,
    };
    use opentelemetry_otlp::WithExportConfig;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
    use std::time::Duration;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::Layer;
    use tracing_subscriber::registry::LookupSpan;

    /// The exporter's provider and runtime: dropping it flushes the spans still queued and
    /// shuts both down.
    #[derive(Debug)]
    pub(crate) struct Exporter {
        provider: SdkTracerProvider,
        runtime: Option<tokio::runtime::Runtime>,
    }

    impl Drop for Exporter {
        fn drop(&mut self) {
            // Shutting down exports what is queued (the batch processor's last batch).
            if let Err(e) = self.provider.shutdown() {
                eprintln!("taxi: flushing the OTLP exporter: {e}");
            }
            if let Some(rt) = self.runtime.take() {
                rt.shutdown_timeout(Duration::from_secs(2));
            }
        }
    }

    /// Spans of the exporter's own transport are never exported: exporting them would make
    /// more of them (at `TAXI_LOG=debug` or `trace`).
    fn not_the_transport(target: &str) -> bool {
        const OWN: [&str; 6] = ["h2", "hyper", "tonic", "tower", "opentelemetry", "reqwest"];
        !OWN.iter().any(|own| {
            target
                .strip_prefix(own)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['_', ':']))
        })
    }

    /// Makes the RPC's span a child of the caller's (remote) span.
    fn remote_parent(span: &tracing::Span, parent: &taxi_server::trace::TraceParent<'_>) {
        let (Ok(trace_id), Ok(span_id)) = (
            TraceId::from_hex(parent.trace_id),
            SpanId::from_hex(parent.parent_id),
        ) else {
            return;
        };
        let flags = if parent.sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::NOT_SAMPLED
        };
        let remote = SpanContext::new(trace_id, span_id, flags, true, TraceState::default());
        let cx = opentelemetry::Context::new().with_remote_span_context(remote);
        if let Err(e) = span.set_parent(cx) {
            tracing::debug!(error = %e, "the RPC's span keeps no remote parent");
        }
    }

    /// The OTLP layer exporting to `endpoint` (checked by [`super::check_endpoint`]), with
    /// `role` as the resource's `taxi.role`; `None` when no endpoint is set.
    pub(crate) fn layer<S>(
        endpoint: Option<&str>,
        role: &str,
    ) -> anyhow::Result<(Option<BoxedLayer<S>>, Option<Exporter>)>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let Some(endpoint) = endpoint else {
            return Ok((None, None));
        };
        // Its own runtime, so the last spans are exported after the server's has stopped.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("taxi-otlp")
            .enable_all()
            .build()
            .context("starting the OTLP exporter's runtime")?;
        let provider = {
            // The channel and the batch processor's task are spawned on that runtime.
            let _entered = runtime.enter();
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()
                .with_context(|| format!("the OTLP exporter for {endpoint}"))?;
            let processor =
                BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
            let resource = opentelemetry_sdk::Resource::builder()
                .with_service_name("taxi")
                .with_attribute(opentelemetry::KeyValue::new("taxi.role", role.to_string()))
                .build();
            SdkTracerProvider::builder()
                .with_span_processor(processor)
                .with_resource(resource)
                .build()
        };
        let tracer = provider.tracer("taxi");
        taxi_server::trace::set_remote_parent_hook(remote_parent);
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                not_the_transport(meta.target())
            }))
            .boxed();
        Ok((
            Some(layer),
            Some(Exporter {
                provider,
                runtime: Some(runtime),
            }),
        ))
    }

    #[cfg(test)]
    mod tests {
        use super::not_the_transport;

        #[test]
        fn the_transports_spans_are_not_exported() {
            for own in [
                "h2::proto",
                "hyper_util::client",
                "tonic",
                "opentelemetry_sdk",
            ] {
                assert!(!not_the_transport(own), "{own}");
            }
            for ours in ["taxi_server::trace", "towers", "taxi"] {
                assert!(not_the_transport(ours), "{ours}");
            }
        }
    }
}

#[cfg(not(feature = "otlp"))]
mod disabled {
    use super::BoxedLayer;
    use tracing_subscriber::registry::LookupSpan;

    /// Nothing to flush: this build exports no spans.
    #[derive(Debug)]
    pub(crate) struct Exporter;

    /// No layer: this build has no OTLP export ([`super::announce`] warns when an endpoint
    /// is set).
    #[allow(clippy::type_complexity)]
    pub(crate) fn layer<S>(
        _endpoint: Option<&str>,
        _role: &str,
    ) -> anyhow::Result<(Option<BoxedLayer<S>>, Option<Exporter>)>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        Ok((None, None))
    }
}

#[cfg(test)]
mod tests {
    use super::check_endpoint;

    #[test]
    fn endpoints_are_http_urls_with_a_port() {
        assert_eq!(check_endpoint(None).unwrap(), None);
        assert_eq!(check_endpoint(Some(" ")).unwrap(), None);
        assert_eq!(
            check_endpoint(Some("http://127.0.0.1:4317"))
                .unwrap()
                .as_deref(),
            Some("http://127.0.0.1:4317")
        );
        for bad in [
            "127.0.0.1:4317",
            "https://collector:4317",
            "http://",
            "http://collector",
        ] {
            let err = check_endpoint(Some(bad)).unwrap_err().to_string();
            assert!(err.contains("TAXI_OTLP_ENDPOINT"), "{bad}: {err}");
        }
    }
}
