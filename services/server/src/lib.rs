//! One gRPC server for any set of roles: the services, health, reflection, background
//! upkeep (the stale-taxi janitor, the retention pass), and a graceful, bounded shutdown.
//!
//! `run` is what the `taxi` binary calls after reading its configuration, and what the
//! test harness calls on `127.0.0.1:0`: there is one way to serve.
//!
//! # Shutdown
//! One [`CancellationToken`] is the shutdown signal. When it fires: every service is set
//! NOT_SERVING, the server stops accepting, every stream handler (they all watch the same
//! token) ends its stream, and in-flight calls get `grace` to finish before the server is
//! dropped.
//!
//! # Transport
//! With [`ServerConfig::tls`] set, every connection is TLS (rustls), optionally verifying
//! client certificates against a client CA ([`tls`]); without it, plain TCP with a warning
//! (an error-level one on a non-loopback address).
//!
//! # Tracing
//! Every call runs in an `rpc` span with the caller's W3C trace context ([`trace`]).
//!
//! # Metrics
//! With [`ServerConfig::metrics`] set, `GET /metrics` (Prometheus) on a port of its own
//! ([`metrics`]); the same outermost layer counts and times every call by method and code.

pub mod metrics;
pub mod tls;
pub mod trace;

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use taxi_auth::layer::Gate;
use taxi_auth::{AuthLayer, AuthSettings, Tokens};
use taxi_domain::settings::Settings;
use taxi_proto::v1::{
    call_centre_service_server::CallCentreServiceServer,
    dispatch_service_server::DispatchServiceServer, driver_service_server::DriverServiceServer,
    fleet_service_server::FleetServiceServer, hotline_service_server::HotlineServiceServer,
    notification_service_server::NotificationServiceServer,
    one_key_service_server::OneKeyServiceServer,
};
use taxi_store::Store;
use taxi_store::liveness::Reachability;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::transport::Server;
use tonic_health::ServingStatus;

/// Largest request message a service decodes: a batch of 1,000 positions is about 60 KB.
pub const MAX_DECODING_MESSAGE_BYTES: usize = 1 << 20;

/// A part of the system a process can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// `taxi.v1.FleetService`.
    Fleet,
    /// `taxi.v1.DriverService`.
    Driver,
    /// `taxi.v1.HotlineService`.
    Hotline,
    /// `taxi.v1.OneKeyService`.
    OneKey,
    /// `taxi.v1.DispatchService` and the matching workers.
    Dispatch,
    /// `taxi.v1.CallCentreService`: the call queue (ACD).
    CallCentre,
    /// The operators' console (a web page on the same port; `taxi-console`).
    Console,
    /// `taxi.v1.NotificationService` (dead letters) and the notifications outbox's sender
    /// workers (`taxi-notify`).
    Notify,
    /// The in-car terminal gateway (JT/T 808 over TCP, `taxi-terminal`) on
    /// [`ServerConfig::terminal_listen`]. Named on its own (`terminal-gateway`): `all`
    /// does not open its port.
    TerminalGateway,
}

impl Role {
    /// Every role, what `all` means.
    pub const ALL: [Role; 8] = [
        Role::Fleet,
        Role::Driver,
        Role::Hotline,
        Role::OneKey,
        Role::Dispatch,
        Role::CallCentre,
        Role::Console,
        Role::Notify,
    ];

    /// The gRPC service name this role serves.
    pub fn service_name(self) -> &'static str {
        match self {
            Role::Fleet => <FleetServiceServer<taxi_fleet::Fleet> as NamedService>::NAME,
            Role::Driver => <DriverServiceServer<taxi_driver::Driver> as NamedService>::NAME,
            Role::Hotline => <HotlineServiceServer<taxi_hotline::Hotline> as NamedService>::NAME,
            Role::OneKey => <OneKeyServiceServer<taxi_onekey::OneKey> as NamedService>::NAME,
            Role::Dispatch => {
                <DispatchServiceServer<taxi_dispatch::Dispatch> as NamedService>::NAME
            }
            Role::CallCentre => {
                <CallCentreServiceServer<taxi_callcentre::CallCentre> as NamedService>::NAME
            }
            // Health only: the console is not a gRPC service.
            Role::Console => "taxi.console",
            Role::Notify => {
                <NotificationServiceServer<taxi_notify::Notifications> as NamedService>::NAME
            }
            // Health only: the gateway speaks JT/T 808 on a port of its own.
            Role::TerminalGateway => "taxi.terminal",
        }
    }
}

/// A `--role` value that is not one of ours.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown role `{0}`; expected all, fleet, driver, hotline, onekey, dispatch, callcentre, console, notify or terminal-gateway"
)]
pub struct UnknownRole(String);

/// Parses `all` or a comma-separated list of roles.
pub fn parse_roles(text: &str) -> Result<Vec<Role>, UnknownRole> {
    let mut roles = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let add: &[Role] = match part.to_ascii_lowercase().as_str() {
            "all" => &Role::ALL,
            "fleet" => &[Role::Fleet],
            "driver" => &[Role::Driver],
            "hotline" => &[Role::Hotline],
            "onekey" | "one-key" => &[Role::OneKey],
            "dispatch" => &[Role::Dispatch],
            "callcentre" | "call-centre" => &[Role::CallCentre],
            "console" => &[Role::Console],
            "notify" => &[Role::Notify],
            "terminal-gateway" | "terminal" => &[Role::TerminalGateway],
            _ => return Err(UnknownRole(part.to_string())),
        };
        for r in add {
            if !roles.contains(r) {
                roles.push(*r);
            }
        }
    }
    if roles.is_empty() {
        return Err(UnknownRole(text.to_string()));
    }
    Ok(roles)
}

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match parse_roles(s)?.as_slice() {
            [one] => Ok(*one),
            _ => Err(UnknownRole(s.to_string())),
        }
    }
}

/// What one server process does.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The roles served.
    pub roles: Vec<Role>,
    /// The city's numbers.
    pub settings: Settings,
    /// How long NOT_SERVING is shown before the server stops accepting (for load balancers).
    pub drain_delay: Duration,
    /// How long in-flight calls may run on after shutdown starts.
    pub grace: Duration,
    /// Concurrent HTTP/2 streams one client connection may open (SETTINGS_MAX_CONCURRENT_STREAMS);
    /// a client's further calls wait until one of its streams ends. Bounds what one
    /// connection can make the server hold: each open `StreamDispatches` costs about 18 KiB.
    pub max_streams_per_connection: u32,
    /// Token lifetimes, lockout and rate limits.
    pub auth: AuthSettings,
    /// Whether calls are authenticated. `Off` exists for the benchmark's comparison and
    /// loopback experiments only: every call then acts as the gateway, the phone switch or a supervisor, the first its
    /// policy row allows.
    pub auth_mode: AuthMode,
    /// The token signing key (at least 32 bytes); `None` keeps one in Redis, made on first
    /// use, shared by every process of the city.
    pub auth_key: Option<Vec<u8>>,
    /// Whether gRPC reflection is served (switch it off in production).
    pub reflection: bool,
    /// TLS for every connection; `None` serves plain TCP (loopback development only).
    pub tls: Option<tls::TlsSettings>,
    /// The operators' console (served with [`Role::Console`]).
    pub console: taxi_console::ConsoleSettings,
    /// The notifications' sender and its workers (run with [`Role::Notify`]).
    pub notify: taxi_notify::NotifySettings,
    /// Privacy numbers (AXB): the worker runs with [`Role::Dispatch`] unless the
    /// provider is off (the default).
    pub privacy: taxi_privacy::PrivacySettings,
    /// Where Prometheus metrics are served (`GET /metrics`, a listener of its own); `None`
    /// serves none (the library's default: tests and the demo opt in; `taxi serve`'s
    /// default is `127.0.0.1:9464`).
    pub metrics: Option<metrics::MetricsEndpoint>,
    /// Where the terminal gateway listens (with [`Role::TerminalGateway`]).
    pub terminal_listen: SocketAddr,
    /// How long a silent terminal's session lives.
    pub terminal_idle: Duration,
}

/// Whether calls are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// Every call needs a credential (the default).
    #[default]
    Enforce,
    /// No credential is checked (benchmark comparison, loopback only).
    Off,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            roles: Role::ALL.to_vec(),
            settings: Settings::default(),
            drain_delay: Duration::ZERO,
            grace: Duration::from_secs(10),
            // An in-car terminal gateway multiplexes its taxis' dispatch streams on one
            // connection (the benchmark's fan-out puts 1,250 on each); 2,000 streams hold
            // about 36 MiB.
            max_streams_per_connection: 2_000,
            auth: AuthSettings::default(),
            auth_mode: AuthMode::Enforce,
            auth_key: None,
            reflection: true,
            tls: None,
            console: taxi_console::ConsoleSettings::default(),
            notify: taxi_notify::NotifySettings::default(),
            privacy: taxi_privacy::PrivacySettings::default(),
            metrics: None,
            terminal_listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_TERMINAL_PORT)),
            terminal_idle: taxi_terminal::DEFAULT_IDLE,
        }
    }
}

/// The terminal gateway's default port (JT/T 808 has none of its own; 7808 names it).
pub const DEFAULT_TERMINAL_PORT: u16 = 7808;

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The gRPC transport failed.
    #[error("grpc transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Reflection could not be built from the descriptor sets.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The listener failed.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
    /// The token signing key could not be read or made.
    #[error("token signing key: {0}")]
    AuthKey(String),
    /// The notifications' settings are wrong (the field names the variable).
    #[error("notifications: {0}")]
    Notify(taxi_domain::FieldError),
    /// The TLS settings could not be turned into a server configuration.
    #[error("tls: {0}")]
    Tls(String),
    /// The privacy-number provider could not be set up.
    #[error("privacy numbers: {0}")]
    Privacy(String),
    /// The metrics recorder could not be installed (another recorder was first).
    #[error("metrics: {0}")]
    Metrics(String),
    /// The terminal gateway's port could not be opened.
    #[error("--terminal-listen / TAXI_TERMINAL_LISTEN {0}: {1}")]
    Terminal(SocketAddr, std::io::Error),
}

/// The privacy-number worker `settings` ask for, its consumer group made (so no
/// assignment after serving starts slips past it) and the pool synced with the
/// configured numbers; `None` when the provider is off. Redis being down is logged, not
/// fatal: the worker makes the group once Redis answers.
async fn privacy_worker(
    store: &Store,
    settings: &taxi_privacy::PrivacySettings,
) -> Result<Option<taxi_privacy::Worker>, ServeError> {
    use taxi_privacy::ProviderSettings;
    let provider: Arc<dyn taxi_privacy::Provider> = match &settings.provider {
        ProviderSettings::Off => return Ok(None),
        ProviderSettings::Pool { numbers } => {
            let pool = taxi_privacy::pool::Pool::new(store.clone());
            match pool.sync(numbers).await {
                Ok((added, removed)) => {
                    tracing::info!(
                        numbers = numbers.len(),
                        added,
                        removed,
                        "privacy number pool"
                    )
                }
                Err(e) => tracing::warn!(error = %e, "privacy number pool not synced"),
            }
            Arc::new(pool)
        }
        ProviderSettings::Aliyun(a) => Arc::new(
            taxi_privacy::aliyun::Aliyun::new(a.clone(), store.clock().clone())
                .map_err(|e| ServeError::Privacy(format!("endpoint {}", e.0)))?,
        ),
    };
    let worker = taxi_privacy::Worker::new(store.clone(), provider, settings.release_delay);
    if let Err(e) = worker.prepare().await {
        tracing::warn!(error = %e, "privacy worker: consumer group not made yet");
    }
    Ok(Some(worker))
}

/// Serves the configured roles on `listener` until `shutdown` is cancelled.
pub async fn run(
    listener: TcpListener,
    store: Store,
    config: ServerConfig,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let addr: SocketAddr = listener.local_addr()?;
    if config.roles.contains(&Role::Notify) {
        // Refused before anything starts: a sender that cannot send must not run.
        config.notify.sender().map_err(ServeError::Notify)?;
    }
    let (health, health_service) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(taxi_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(taxi_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let key = match &config.auth_key {
        Some(k) => k.clone(),
        None => store
            .auth_key()
            .await
            .map_err(|e| ServeError::AuthKey(e.to_string()))?,
    };
    let tokens = Tokens::new(&key, store.city(), config.auth.access_ttl)
        .map_err(|e| ServeError::AuthKey(e.to_string()))?;
    let revocations = Arc::new(taxi_auth::Revocations::default());
    let mut gate = Gate::new(
        tokens,
        revocations.clone(),
        &config.auth.rates,
        store.clock().clone(),
    );
    gate = gate.with_peer_reader(tls::peer_addr);
    if config.tls.as_ref().is_some_and(|t| t.verifies_clients()) {
        // A verified client certificate whose CN is `<service role>:<name>` is a service
        // identity (mTLS): the phone switch or the terminal gateway.
        gate = gate.with_client_certs(tls::client_identity);
    }
    if config.auth_mode == AuthMode::Off {
        tracing::warn!(
            "authentication is OFF: every call acts as the gateway, the phone switch or a supervisor; benchmarks and loopback experiments only"
        );
        gate = gate.without_authentication();
    }
    let gate = Arc::new(gate);

    let builder = Server::builder();
    let tls_config = match &config.tls {
        Some(tls) => {
            tracing::info!(%addr, client_certificates = tls.verifies_clients(), "serving TLS (ALPN h2, http/1.1)");
            Some(
                tls.rustls_config()
                    .map_err(|e| ServeError::Tls(e.to_string()))?,
            )
        }
        None => {
            warn_plain(addr);
            None
        }
    };
    // Every gRPC service, as routes: served on the port, and called in-process by the
    // console (through the same auth layer) with the operator's own token.
    let mut grpc = tonic::service::RoutesBuilder::default();
    grpc.add_service(health_service);
    if config.reflection {
        grpc.add_service(reflection).add_service(reflection_alpha);
    }
    let access = taxi_access::Access::new(store.clone(), gate.clone(), config.auth.clone());
    grpc.add_service(access.clone().auth_server())
        .add_service(access.access_server());
    let s = &config.settings;
    let has = |r: Role| config.roles.contains(&r);
    if has(Role::Fleet) {
        grpc.add_service(
            taxi_fleet::Fleet::new(store.clone(), s.clone())
                .with_auth(config.auth.clone())
                .into_server()
                .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES),
        );
        grpc.add_service(
            taxi_fleet::stands::Stands::new(store.clone(), s.clone())
                .into_server()
                .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES),
        );
    }
    let mut background = Vec::new();
    if let Some(endpoint) = &config.metrics {
        background.extend(metrics::start(endpoint, store.clone(), shutdown.clone()).await?);
    }
    if has(Role::Driver) {
        let hub = taxi_driver::hub::Hub::new(store.clone(), s.clone());
        background.push(tokio::spawn(hub.clone().run(shutdown.clone())));
        grpc.add_service(
            taxi_driver::Driver::new(store.clone(), s.clone(), shutdown.clone(), hub)
                .into_server()
                .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES),
        );
    }
    if has(Role::Hotline) {
        grpc.add_service(
            taxi_hotline::Hotline::new(store.clone(), s.clone())
                .announcing_calls()
                .into_server()
                .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES),
        );
        grpc.add_service(
            taxi_hotline::recurring::Recurring::new(store.clone(), s.clone())
                .into_server()
                .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES),
        );
    }
    if has(Role::OneKey) {
        grpc.add_service(
            taxi_onekey::OneKey::new(store.clone(), s.clone())
                .into_server()
                .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES),
        );
    }
    if has(Role::Dispatch) {
        let engine = taxi_dispatch::engine::Engine::new(store.clone(), s.clone());
        background.push(tokio::spawn(engine.run(shutdown.clone())));
        grpc.add_service(
            taxi_dispatch::Dispatch::new(store.clone(), s.clone())
                .into_server()
                .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES),
        );
    }
    if has(Role::Dispatch)
        && let Some(worker) = privacy_worker(&store, &config.privacy).await?
    {
        background.push(tokio::spawn(worker.run(shutdown.clone())));
    }
    if has(Role::CallCentre) {
        grpc.add_service(
            taxi_callcentre::CallCentre::new(store.clone(), s.clone())
                .into_server()
                .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES),
        );
    }
    if has(Role::TerminalGateway) {
        let gateway = taxi_terminal::Gateway::new(
            store.clone(),
            Arc::new(config.settings.clone()),
            config.terminal_idle,
        );
        let (at, task) = gateway
            .bind(config.terminal_listen, shutdown.clone())
            .await
            .map_err(|e| ServeError::Terminal(config.terminal_listen, e))?;
        tracing::info!(%at, "in-car terminal gateway (JT/T 808)");
        background.push(task);
    }
    if has(Role::Notify) {
        background.extend(
            config
                .notify
                .spawn_workers(&store, &shutdown)
                .map_err(ServeError::Notify)?,
        );
        grpc.add_service(
            taxi_notify::Notifications::new(store.clone())
                .into_server()
                .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES),
        );
    }
    let grpc = grpc.routes();
    let routes = if has(Role::Console) {
        let console = taxi_console::Console::new(taxi_console::ConsoleParts {
            store: store.clone(),
            gate: gate.clone(),
            grpc: tower::Layer::layer(&AuthLayer::new(gate.clone()), grpc.clone()),
            city: config.settings.city.clone(),
            settings: config.console.clone(),
            secure: config.tls.is_some(),
            peer_of: tls::peer_addr,
            shutdown: shutdown.clone(),
        });
        background.push(tokio::spawn(console.escalation_watcher()));
        tracing::info!(%addr, "operators' console at {}", taxi_console::BASE);
        tonic::service::Routes::from(grpc.into_axum_router().merge(console.router()))
    } else {
        grpc
    };
    let router = builder
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .tcp_nodelay(true)
        .max_concurrent_streams(Some(config.max_streams_per_connection))
        // Browsers speak HTTP/1.1 to the console over plain TCP; gRPC stays HTTP/2.
        .accept_http1(has(Role::Console))
        // Outermost: the call's span (with the caller's trace context) covers everything.
        .layer(trace::RpcSpanLayer)
        .layer(AuthLayer::new(gate.clone()))
        .add_routes(routes);
    for role in &config.roles {
        health
            .set_service_status(role.service_name(), ServingStatus::Serving)
            .await;
    }
    let (reach_tx, reach_rx) = tokio::sync::watch::channel(Reachability::Reachable);
    background.push(tokio::spawn({
        let store = store.clone();
        let shutdown = shutdown.clone();
        async move {
            store
                .watch_liveness(LIVENESS_INTERVAL, shutdown, reach_tx)
                .await
        }
    }));
    background.push(tokio::spawn(readiness(
        health.clone(),
        config.roles.clone(),
        reach_rx,
        shutdown.clone(),
    )));

    background.push(tokio::spawn(watch_revocations(
        store.clone(),
        revocations,
        config.auth.access_ttl,
        shutdown.clone(),
    )));

    let janitor = tokio::spawn(janitor(
        store.clone(),
        config.settings.clone(),
        shutdown.clone(),
    ));
    let retention = tokio::spawn(retention(
        store.clone(),
        config.settings.clone(),
        shutdown.clone(),
    ));

    let drained = {
        let health = health.clone();
        let roles = config.roles.clone();
        let shutdown = shutdown.clone();
        let delay = config.drain_delay;
        async move {
            shutdown.cancelled().await;
            health
                .set_service_status("", ServingStatus::NotServing)
                .await;
            for role in &roles {
                health
                    .set_service_status(role.service_name(), ServingStatus::NotServing)
                    .await;
            }
            tracing::info!("shutting down: NOT_SERVING, draining");
            tokio::time::sleep(delay).await;
        }
    };
    let roles: Vec<&str> = config.roles.iter().map(|r| r.service_name()).collect();
    tracing::info!(%addr, ?roles, city = store.city(), "serving");
    // tonic applies `tcp_nodelay` only to sockets it binds itself; ours come from the
    // caller's listener, so set it here. With Nagle on, a quiet connection waits for the
    // peer's delayed ACK: up to 40 ms on every offer a driver is sent.
    let incoming = tonic::transport::server::TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_secs(60)));
    let serve: std::pin::Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>> =
        match tls_config {
            Some(tls) => {
                Box::pin(router.serve_with_incoming_shutdown(tls::accept(incoming, tls), drained))
            }
            None => Box::pin(router.serve_with_incoming_shutdown(incoming, drained)),
        };
    tokio::pin!(serve);
    let result = tokio::select! {
        r = &mut serve => r,
        () = async {
            shutdown.cancelled().await;
            tokio::time::sleep(config.drain_delay + config.grace).await;
        } => {
            tracing::warn!(grace = ?config.grace, "calls still running after the grace period; stopping anyway");
            Ok(())
        }
    };
    janitor.abort();
    retention.abort();
    for task in background {
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }
    tracing::info!("stopped");
    Ok(result?)
}

/// Keeps the process's revocation list in step with the store's (every
/// `taxi_auth::revoked::POLL`), dropping entries no access token can outlive.
async fn watch_revocations(
    store: Store,
    revocations: Arc<taxi_auth::Revocations>,
    access_ttl: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(taxi_auth::revoked::POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let keep_after = store.now_ms() - access_ttl.as_millis() as i64 - 60_000;
        match store.revocations(keep_after).await {
            Ok(list) => revocations.replace(list),
            Err(e) => tracing::debug!(error = %e, "revocation list not read; keeping the last"),
        }
    }
}

/// Plain TCP carries device secrets and passengers' phone numbers and addresses in the
/// clear: acceptable on loopback for development, an error-level line anywhere else.
fn warn_plain(addr: SocketAddr) {
    match PlainNotice::for_addr(addr) {
        PlainNotice::Loopback => tracing::warn!(%addr, "{}", PlainNotice::LOOPBACK),
        PlainNotice::Exposed => tracing::error!(%addr, "{}", PlainNotice::EXPOSED),
    }
}

/// What a server without TLS says at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlainNotice {
    /// A loopback address: a warning.
    Loopback,
    /// Any other address: an error-level line.
    Exposed,
}

impl PlainNotice {
    const LOOPBACK: &str = "serving plain TCP: for loopback development only";
    const EXPOSED: &str = "serving plain TCP on a non-loopback address: requests travel \
        unencrypted; set --tls-cert and --tls-key (TAXI_TLS_CERT, TAXI_TLS_KEY)";

    fn for_addr(addr: SocketAddr) -> Self {
        if addr.ip().is_loopback() {
            Self::Loopback
        } else {
            Self::Exposed
        }
    }
}

/// How often every Redis connection is pinged (a dead one is replaced within about two).
pub const LIVENESS_INTERVAL: Duration = Duration::from_secs(1);

/// Readiness follows Redis: every service NOT_SERVING while Redis does not answer (a load
/// balancer sends callers elsewhere instead of into errors), SERVING again by itself.
/// After shutdown starts, the drain owns the statuses.
async fn readiness(
    health: tonic_health::server::HealthReporter,
    roles: Vec<Role>,
    mut reach: tokio::sync::watch::Receiver<Reachability>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            r = reach.changed() => if r.is_err() { return },
            () = shutdown.cancelled() => return,
        }
        let now = *reach.borrow_and_update();
        if shutdown.is_cancelled() {
            return;
        }
        let status = match now {
            Reachability::Reachable => ServingStatus::Serving,
            Reachability::Unreachable => ServingStatus::NotServing,
        };
        health.set_service_status("", status).await;
        for role in &roles {
            health.set_service_status(role.service_name(), status).await;
        }
        tracing::info!(?status, "readiness follows Redis");
    }
}

/// Background upkeep: keeps the free index free of taxis whose fixes went stale.
async fn janitor(store: Store, settings: Settings, shutdown: CancellationToken) {
    let fresh_ms = settings.position_fresh.as_millis() as i64;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let outcome = match store.sweep_stale(fresh_ms).await {
            Ok(0) => "ok",
            Ok(n) => {
                ::metrics::counter!(taxi_metrics::JANITOR_STALE_TAXIS).increment(n);
                tracing::debug!(removed = n, "stale taxis left the free index");
                "ok"
            }
            Err(e) => {
                tracing::debug!(error = %e, "stale sweep skipped");
                "error"
            }
        };
        ::metrics::counter!(taxi_metrics::JANITOR_SWEEPS, taxi_metrics::label::OUTCOME => outcome)
            .increment(1);
    }
}

/// Finished orders and resolved alerts (each) the retention pass deletes per batch.
pub const RETENTION_BATCH: usize = 500;
/// Batches one retention pass runs at most, so a pass after a long pause stays short.
const RETENTION_BATCHES_PER_PASS: usize = 20;

/// Background upkeep: deletes finished work older than the retention, once a minute, in
/// batches (every process runs it; the store's scripts make concurrent passes safe).
async fn retention(store: Store, settings: Settings, shutdown: CancellationToken) {
    let r = taxi_store::retention::Retention {
        finished: settings.retention,
        events: settings.event_retention,
    };
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        for _ in 0..RETENTION_BATCHES_PER_PASS {
            match store.trim_retained(&r, RETENTION_BATCH).await {
                Ok(t) => {
                    if t != taxi_store::retention::Trimmed::default() {
                        tracing::info!(
                            orders = t.orders,
                            alerts = t.alerts,
                            events = t.events,
                            notifications = t.notifications,
                            "retention: finished work deleted"
                        );
                    }
                    if !t.full(RETENTION_BATCH) {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "retention pass skipped");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse() {
        assert_eq!(parse_roles("all").unwrap(), Role::ALL.to_vec());
        assert_eq!(
            parse_roles("fleet, driver").unwrap(),
            vec![Role::Fleet, Role::Driver]
        );
        assert_eq!(parse_roles("onekey,onekey").unwrap(), vec![Role::OneKey]);
        // The terminal gateway opens a port of its own: named, never implied by `all`.
        assert!(!Role::ALL.contains(&Role::TerminalGateway));
        assert_eq!(
            parse_roles("all,terminal-gateway").unwrap().last(),
            Some(&Role::TerminalGateway)
        );
        assert!(
            parse_roles("taxi")
                .unwrap_err()
                .to_string()
                .contains("`taxi`")
        );
        assert!(parse_roles("").is_err());
        assert_eq!(Role::Fleet.service_name(), "taxi.v1.FleetService");
        assert_eq!(Role::OneKey.service_name(), "taxi.v1.OneKeyService");
    }

    #[test]
    fn plain_tcp_is_an_error_off_loopback() {
        for (addr, want) in [
            ("127.0.0.1:50051", PlainNotice::Loopback),
            ("[::1]:50051", PlainNotice::Loopback),
            ("0.0.0.0:50051", PlainNotice::Exposed),
            ("[::]:50051", PlainNotice::Exposed),
            ("10.0.0.5:50051", PlainNotice::Exposed),
        ] {
            assert_eq!(PlainNotice::for_addr(addr.parse().unwrap()), want, "{addr}");
        }
    }
}
