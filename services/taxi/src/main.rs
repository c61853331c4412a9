//! `taxi`: the one binary every container runs.
//!
//! - `taxi serve --role all` serves every role in one process (or one role each, for
//!   scaling out), with a private `redis-server` when no `TAXI_REDIS_URL` is given.
//! - `taxi demo` runs every service and a simulated city, prints progress and a summary,
//!   and draws a map and a chart.
//! - `taxi sim --scenario S` runs a named, seeded scenario: `normal`, `rush`, `scarcity`,
//!   `hospital`, `rain` on a fast clock with the matching report, or `caring-guarantee`
//!   (fewer taxis than recurring trips at 7–8 am, a stepped clock: the share assigned by T−15).
//! - `taxi bench` measures ingest, dispatch latency, the screen pop and offer fan-out.
//! - `taxi admin audit verify` checks the operators' audit log's hash chain;
//!   `taxi admin create-operator` and `create-service-key` make the first credentials.
//! - `taxi health` asks a running server for its gRPC health (the containers' probes).
//!
//! Configuration comes from flags and `TAXI_*` environment variables and is checked
//! before any port is bound: bad configuration is a clear message and exit code 2.

mod admin;
mod bench;
mod config;
mod demo;
mod demo_recurring;
mod health;
mod otlp;
mod principals;
mod sim;

use anyhow::Context;
use clap::{Parser, Subcommand};
use taxi_redis_process::{Options, RedisProcess};
use taxi_store::Store;
use tokio_util::sync::CancellationToken;

/// A taxi call-dispatch backend for 95128 hotlines and one-key rides for older people.
#[derive(Debug, Parser)]
#[command(name = "taxi", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve gRPC for one role, several, or all.
    Serve(Box<config::ServeArgs>),
    /// Run every service and a simulated city (central Chongqing) for a while.
    Demo(demo::DemoArgs),
    /// The load benchmark (use a release build): ingest, dispatch latency, screen pop, fan-out.
    Bench(bench::BenchArgs),
    /// A named, seeded scenario: `--scenario normal|rush|scarcity|hospital|rain` (the matching
    /// report, on a fast clock) or `caring-guarantee` (issue 14, on a stepped clock).
    Sim(sim::SimArgs),
    /// Operators' tools on the city's Redis: `audit verify`, `create-operator`, `create-service-key`.
    Admin(admin::AdminArgs),
    /// One gRPC health check of a running server (container probes): exit 0 when SERVING.
    Health(health::HealthArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The demo's screen is its progress table and summary, the simulator's its report:
    // their logs go to files.
    let log_file = match &cli.command {
        Command::Demo(args) => Some(demo::log_path(args)),
        Command::Sim(args) => Some(sim::log_path(args)),
        _ => None,
    };
    // Only `taxi serve` exports spans (not the probes' `taxi health`, run with the same
    // environment every few seconds).
    let otlp = match &cli.command {
        Command::Serve(args) => match otlp::check_endpoint(args.otlp_endpoint.as_deref()) {
            Ok(endpoint) => endpoint.map(|e| (e, args.role.clone())),
            Err(e) => {
                eprintln!("taxi: bad configuration: {e:#}");
                return std::process::ExitCode::from(2);
            }
        },
        _ => None,
    };
    // Dropped last (after the runtimes): flushes the spans still queued.
    let _exporter = match init_logging(log_file.as_deref(), otlp.as_ref()) {
        Ok(exporter) => exporter,
        Err(e) => {
            eprintln!("taxi: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    otlp::announce(otlp.as_ref().map(|(endpoint, _)| endpoint.as_str()));
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Sim(args) => sim::run_sim(args),
        Command::Admin(args) => return admin::run(args),
        Command::Health(args) => return health::run(args),
        Command::Serve(args) => match args.check() {
            Ok(cfg) => run_serve(cfg),
            Err(e) => {
                eprintln!("taxi: bad configuration: {e:#}");
                return std::process::ExitCode::from(2);
            }
        },
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("taxi: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs at `TAXI_LOG` (default `info`) to standard output, or to `file` (made afresh), as
/// text or, with `TAXI_LOG_FORMAT=json`, one JSON object a line (with the fields of the
/// spans it is in: an RPC's `trace_id` from its caller's `traceparent`). With `otlp`
/// (endpoint and role) and the `otlp` feature, spans are exported too (src/otlp.rs).
fn init_logging(
    file: Option<&std::path::Path>,
    otlp: Option<&(String, String)>,
) -> anyhow::Result<Option<otlp::Exporter>> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("TAXI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = match std::env::var("TAXI_LOG_FORMAT").as_deref() {
        Err(_) | Ok("") | Ok("text") => false,
        Ok("json") => true,
        Ok(other) => anyhow::bail!("TAXI_LOG_FORMAT: {other:?} is neither text nor json"),
    };
    let (writer, ansi) = match file {
        None => (BoxMakeWriter::new(std::io::stdout), true),
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let f = std::fs::File::create(path)
                .with_context(|| format!("creating the log file {}", path.display()))?;
            (BoxMakeWriter::new(std::sync::Mutex::new(f)), false)
        }
    };
    let (traces, exporter) = match otlp {
        Some((endpoint, role)) => otlp::layer(Some(endpoint), role)?,
        None => otlp::layer(None, "")?,
    };
    let logs = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_writer(writer);
    let logs = if json {
        logs.json()
            .with_current_span(true)
            .with_span_list(true)
            .boxed()
    } else {
        logs.with_ansi(ansi).boxed()
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(traces)
        .with(logs)
        .try_init()
        .context("installing the log subscriber")?;
    Ok(exporter)
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Starts the embedded Redis when no URL was given; the returned guard stops it on drop.
pub(crate) fn redis_for(cfg: &config::Checked) -> anyhow::Result<(String, Option<RedisProcess>)> {
    match &cfg.redis_url {
        Some(url) => Ok((url.clone(), None)),
        None => {
            let dir = cfg.data_dir.join("redis");
            let options = Options {
                fsync: cfg.redis_fsync,
                ..Options::default()
            };
            let redis = RedisProcess::start_with_dir_with(&dir, options).context(
                "starting the embedded redis-server (set TAXI_REDIS_URL to use your own)",
            )?;
            tracing::info!(
                url = %taxi_store::redact(&redis.url()),
                dir = %dir.display(),
                appendfsync = %cfg.redis_fsync,
                "embedded redis-server started (AOF on)"
            );
            Ok((redis.url(), Some(redis)))
        }
    }
}

fn run_serve(cfg: config::Checked) -> anyhow::Result<()> {
    use taxi_server::metrics::MetricsEndpoint;
    let rt = runtime()?;
    let (url, redis) = redis_for(&cfg)?;
    let result = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .with_context(|| format!("binding TAXI_LISTEN={}", cfg.listen))?;
        let mut server = cfg.server.clone();
        // Bound here, like the gRPC port, so a taken port is refused naming its variable.
        if let Some(MetricsEndpoint::Addr(addr)) = server.metrics {
            let (endpoint, _) = MetricsEndpoint::bind_now(addr).with_context(|| {
                format!("binding TAXI_METRICS_ADDR={addr} (another process has it? set --metrics-addr, or off)")
            })?;
            server.metrics = Some(endpoint);
        }
        let store = Store::connect(taxi_store::StoreConfig::new(
            url,
            cfg.server.settings.city.code.clone(),
        ))?;
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        taxi_server::run(listener, store, server, shutdown).await?;
        anyhow::Ok(())
    });
    tracing::info!("stopping the embedded redis-server");
    drop(redis);
    tracing::info!("embedded redis-server stopped");
    drop(rt);
    tracing::info!("runtime stopped");
    result
}

/// Cancels `token` on SIGINT or SIGTERM.
pub(crate) async fn cancel_on_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    token.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("signal received");
    token.cancel();
}

/// The Redis a one-shot command (the demo, the simulator) runs on: the one at `url`, or a
/// private `redis-server` on a free loopback port, stopped when the returned process drops.
pub(crate) fn redis_or_private(
    url: Option<&str>,
) -> anyhow::Result<(Option<taxi_redis_process::RedisProcess>, String)> {
    match url {
        Some(url) => Ok((None, url.to_string())),
        None => {
            let redis = taxi_redis_process::RedisProcess::start_temporary()
                .context("starting a private redis-server")?;
            let url = redis.url();
            Ok((Some(redis), url))
        }
    }
}
