//! The Prometheus endpoint: `GET /metrics` on a listener of its own (never the gRPC port),
//! the process's one recorder behind it, and the sampler that keeps the city-wide gauges
//! current.
//!
//! # One recorder per process
//! `metrics` has one global recorder. [`handle`] installs the Prometheus one the first time
//! any server of the process asks for it; every later server (tests run many in one
//! process) serves the same registry. So counters are per process, and a test reads how a
//! number moved, not its value.
//!
//! # Gauges
//! Open driver streams follow the streams exactly (`taxi-driver`'s hub). Waiting orders
//! by priority and taxis by state are city-wide facts read from the store every
//! [`SAMPLE_INTERVAL`] by each process that serves metrics: every process reports the same
//! value, so a dashboard takes `max` over them, not `sum`.
//!
//! Metric names live in `taxi-metrics`, the one list.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use taxi_store::Store;
use tokio_util::sync::CancellationToken;

/// The metrics' path.
pub const PATH: &str = "/metrics";
/// How often the city-wide gauges are read from the store.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);
/// How often the recorder's histograms are compacted.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);
/// Waiting orders whose priority the sampler reads at most (one pipelined round trip);
/// past that the rest count as others.
pub const SAMPLE_WAITING_MOST: usize = 5_000;

/// Where `/metrics` is served.
#[derive(Debug, Clone)]
pub enum MetricsEndpoint {
    /// Bind this address when serving starts.
    Addr(SocketAddr),
    /// A listener bound already (tests bind port 0 and read the port before serving).
    Bound(Arc<Mutex<Option<std::net::TcpListener>>>),
}

impl MetricsEndpoint {
    /// Binds `addr` now; returns the endpoint and the bound address (port 0 picks one).
    pub fn bind_now(addr: SocketAddr) -> std::io::Result<(Self, SocketAddr)> {
        let listener = std::net::TcpListener::bind(addr)?;
        let bound = listener.local_addr()?;
        Ok((Self::Bound(Arc::new(Mutex::new(Some(listener)))), bound))
    }

    async fn listener(&self) -> std::io::Result<tokio::net::TcpListener> {
        match self {
            Self::Addr(addr) => tokio::net::TcpListener::bind(addr).await,
            Self::Bound(slot) => {
                let taken = slot.lock().map_err(|_| poisoned())?.take();
                let listener = taken.ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::AddrInUse,
                        "the metrics listener was already served",
                    )
                })?;
                listener.set_nonblocking(true)?;
                tokio::net::TcpListener::from_std(listener)
            }
        }
    }
}

fn poisoned() -> std::io::Error {
    std::io::Error::other("metrics listener lock poisoned")
}

/// Latency buckets (seconds) for RPCs and Redis scripts: 0.5 ms to 5 s.
const FAST_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Buckets (seconds) for the times passengers wait: 5 s to 1 h.
const WAIT_BUCKETS: &[f64] = &[
    5.0, 10.0, 15.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
];

/// The process's Prometheus recorder, installed on first use (with the help texts and the
/// build's info gauge); an error if another recorder was installed first.
pub fn handle() -> Result<PrometheusHandle, String> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(taxi_metrics::TIME_TO_ASSIGN.into()),
                    WAIT_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(taxi_metrics::TIME_TO_PICKUP.into()),
                        WAIT_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(taxi_metrics::CALLCENTRE_SPEED_OF_ANSWER.into()),
                        WAIT_BUCKETS,
                    )
                })
                .and_then(|b| b.set_buckets(FAST_BUCKETS))
                .map_err(|e| e.to_string())?;
            let handle = builder.install_recorder().map_err(|e| e.to_string())?;
            taxi_metrics::describe();
            ::metrics::gauge!(
                taxi_metrics::BUILD_INFO,
                taxi_metrics::label::VERSION => env!("CARGO_PKG_VERSION"),
                taxi_metrics::label::GIT_SHA => GIT_SHA,
            )
            .set(1.0);
            Ok(handle)
        })
        .clone()
}

/// The commit the binary was built from: `TAXI_GIT_SHA` at build time (the Dockerfile and
/// CI pass it), `unknown` otherwise. No build script, so nothing generated is committed.
pub const GIT_SHA: &str = match option_env!("TAXI_GIT_SHA") {
    Some(sha) => sha,
    None => "unknown",
};

/// Serves `/metrics` on `endpoint` until `shutdown`, with the recorder's upkeep and the
/// gauges' sampler. Returns once the listener is bound (the serving runs in tasks).
pub(crate) async fn start(
    endpoint: &MetricsEndpoint,
    store: Store,
    shutdown: CancellationToken,
) -> Result<Vec<tokio::task::JoinHandle<()>>, crate::ServeError> {
    let handle = handle().map_err(crate::ServeError::Metrics)?;
    let listener = endpoint.listener().await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "metrics at http://{addr}{PATH}");
    let app = axum::Router::new().route(
        PATH,
        axum::routing::get({
            let handle = handle.clone();
            move || std::future::ready(handle.render())
        }),
    );
    let serve = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
            {
                tracing::warn!(error = %e, "metrics endpoint stopped");
            }
        })
    };
    let upkeep = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
            loop {
                tokio::select! {
                    _ = tick.tick() => handle.run_upkeep(),
                    () = shutdown.cancelled() => return,
                }
            }
        })
    };
    let sampler = tokio::spawn(sample(store, shutdown));
    Ok(vec![serve, upkeep, sampler])
}

/// Keeps the city-wide gauges current: waiting orders by priority, taxis by state.
async fn sample(store: Store, shutdown: CancellationToken) {
    use taxi_metrics::label;
    let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        match store.waiting_by_priority(SAMPLE_WAITING_MOST).await {
            Ok((older, others)) => {
                ::metrics::gauge!(taxi_metrics::ORDERS_WAITING, label::PRIORITY => "older")
                    .set(older as f64);
                ::metrics::gauge!(taxi_metrics::ORDERS_WAITING, label::PRIORITY => "others")
                    .set(others as f64);
            }
            Err(e) => tracing::debug!(error = %e, "waiting orders not sampled"),
        }
        match store.taxi_state_counts().await {
            Ok(counts) => {
                for (state, n) in counts {
                    ::metrics::gauge!(taxi_metrics::TAXIS, label::STATE => state.code())
                        .set(n as f64);
                }
            }
            Err(e) => tracing::debug!(error = %e, "taxi states not sampled"),
        }
    }
}
