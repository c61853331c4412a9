//! The operators' console: a web page served by `taxi` on the gRPC port, its JSON API and
//! its live event stream.
//!
//! The console computes nothing of its own about orders, callers or taxis: every JSON
//! endpoint that stands for an RPC calls that RPC in-process, through the same
//! authorization layer and policy table as a gRPC client, with the operator's own access
//! token (from an HttpOnly cookie). Validation, field-named errors, scope and the
//! operators' audit log are therefore the gRPC API's own.
//!
//! # Layout
//! - [`bridge`]: in-process gRPC calls through the auth layer; JSON ⇄ protobuf by the
//!   API's descriptors (the proto3 JSON mapping, field names as in the `.proto` files).
//! - [`session`]: login, refresh and logout (cookies), the CSRF header, and admitting an
//!   endpoint that is not an RPC (events, map) as the RPC it stands for.
//! - [`live`]: Server-Sent Events: the city's audit trail by stream id, incoming calls,
//!   escalated alerts, heartbeats; the alert escalation watcher.
//! - [`map`]: taxis for the map: grid cells at city zoom, single taxis in the viewport.
//! - [`assets`]: the page, its script and style, and the vendored Leaflet, embedded.
//! - [`error`]: the API's error body `{code, message, field}`.

pub mod assets;
pub mod bridge;
pub mod error;
pub mod live;
pub mod map;
pub mod session;

use axum::Router;
use axum::routing::{get, post};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use taxi_auth::layer::Gate;
use taxi_store::Store;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Where the console lives on the server.
pub const BASE: &str = "/console/";

/// How long an open alert waits for an acknowledgement before it escalates to the
/// supervisors, unless configured (`TAXI_ALERT_ESCALATE_AFTER`).
pub const DEFAULT_ESCALATE_AFTER: Duration = Duration::from_secs(120);

/// What a deployment configures about the console.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// An open alert nobody acknowledged this long is escalated to supervisors.
    pub escalate_after: Duration,
    /// A raster tile URL template (`https://.../{z}/{x}/{y}.png`); `None` draws the
    /// project's own shapes over a plain background (works offline).
    pub tiles: Option<String>,
    /// A PMTiles archive (raster tiles) served by this server as the base map, instead
    /// of a tile URL.
    pub pmtiles: Option<std::path::PathBuf>,
    /// Whether the tiles are drawn in GCJ-02 (the datum of Chinese map providers): the
    /// server then converts every position it sends for the map.
    pub tiles_gcj02: bool,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            escalate_after: DEFAULT_ESCALATE_AFTER,
            tiles: None,
            pmtiles: None,
            tiles_gcj02: false,
        }
    }
}

/// Reads the peer address of a connection from a request's extensions (the server knows
/// whether the connection is TLS).
pub type PeerReader = fn(&http::Extensions) -> Option<SocketAddr>;

/// Everything the console's handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) gate: Arc<Gate>,
    pub(crate) bridge: bridge::Bridge,
    pub(crate) settings: ConsoleSettings,
    pub(crate) city: taxi_domain::geo::City,
    pub(crate) escalations: broadcast::Sender<live::Escalation>,
    /// Cookies are `Secure` when the server serves TLS.
    pub(crate) secure: bool,
    pub(crate) peer_of: PeerReader,
    pub(crate) shutdown: CancellationToken,
    pub(crate) grid: map::GridCache,
    pub(crate) escalated: std::sync::Mutex<Vec<live::Escalation>>,
}

/// The console of one server.
#[derive(Debug, Clone)]
pub struct Console {
    shared: Arc<Shared>,
}

/// What the console is built from.
#[derive(Debug)]
pub struct ConsoleParts {
    /// The city's store.
    pub store: Store,
    /// The authorization gate the gRPC layer uses.
    pub gate: Arc<Gate>,
    /// The gRPC services, behind the auth layer, to call in-process.
    pub grpc: bridge::Grpc,
    /// The city's settings (its service area and centre).
    pub city: taxi_domain::geo::City,
    /// The console's own settings.
    pub settings: ConsoleSettings,
    /// Whether the server serves TLS (cookies are then `Secure`).
    pub secure: bool,
    /// How to find a request's peer address.
    pub peer_of: PeerReader,
    /// The server's shutdown signal: open event streams end on it.
    pub shutdown: CancellationToken,
}

impl Console {
    /// The console over `parts`.
    pub fn new(parts: ConsoleParts) -> Self {
        let (escalations, _) = broadcast::channel(64);
        Self {
            shared: Arc::new(Shared {
                store: parts.store,
                gate: parts.gate,
                bridge: bridge::Bridge::new(parts.grpc),
                settings: parts.settings,
                city: parts.city,
                escalations,
                secure: parts.secure,
                peer_of: parts.peer_of,
                shutdown: parts.shutdown,
                grid: map::GridCache::default(),
                escalated: std::sync::Mutex::new(Vec::new()),
            }),
        }
    }

    /// The alert escalation watcher (runs until shutdown): see [`live::escalate`].
    pub fn escalation_watcher(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        live::escalate(self.shared.clone())
    }

    /// The console's routes, to merge with the gRPC routes (absolute paths under
    /// [`BASE`], and `/` redirecting there).
    pub fn router(&self) -> Router {
        let api = Router::new()
            .route("/login", post(session::login))
            .route("/refresh", post(session::refresh))
            .route("/logout", post(session::logout))
            .route("/me", get(session::me))
            .route("/rpc/{service}/{method}", post(bridge::rpc))
            .route("/events", get(live::events))
            .route("/in-progress", get(live::in_progress))
            .route("/escalations", get(live::escalations))
            .route("/map/taxis", get(map::taxis))
            .route("/map/area", get(map::area))
            .route("/map/orders", get(map::orders))
            .route("/map/stands", get(map::stands))
            .route("/map/place", get(map::place))
            .route("/map/base.pmtiles", get(map::base_pmtiles))
            .with_state(self.shared.clone());
        let csp = assets::csp(&self.shared.settings);
        let csp2 = csp.clone();
        Router::new()
            .route("/", get(assets::redirect))
            .route("/console", get(assets::redirect))
            .route("/console/", get(move || assets::index(csp.clone())))
            .route(
                "/console/assets/{*path}",
                get(move |path| assets::file(csp2.clone(), path)),
            )
            .nest("/console/api", api)
    }
}
