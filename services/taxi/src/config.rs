//! Configuration: flags and `TAXI_*` environment variables, checked before anything starts.

use anyhow::{Context, bail};
use clap::Args;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use taxi_domain::geo::{City, ServiceArea};
use taxi_server::tls::{TlsSettings, TlsSettingsError};
use taxi_server::{AuthMode, ServerConfig, parse_roles};

/// `TAXI_ROLE`: the roles to serve.
pub(crate) const ENV_ROLE: &str = "TAXI_ROLE";
/// `TAXI_LISTEN`: the gRPC listen address.
pub(crate) const ENV_LISTEN: &str = "TAXI_LISTEN";
/// `TAXI_REDIS_URL`: an external Redis; unset means a private embedded one.
pub(crate) const ENV_REDIS_URL: &str = "TAXI_REDIS_URL";
/// `TAXI_CITY`: the administrative code of the city served.
pub(crate) const ENV_CITY: &str = "TAXI_CITY";
/// `TAXI_SERVICE_AREA`: the service polygon, `lat,lon;lat,lon;...` (required for cities not built in).
pub(crate) const ENV_SERVICE_AREA: &str = "TAXI_SERVICE_AREA";
/// `TAXI_DATA_DIR`: where the embedded Redis keeps its AOF.
pub(crate) const ENV_DATA_DIR: &str = "TAXI_DATA_DIR";
/// `TAXI_REDIS_FSYNC`: the embedded Redis' AOF fsync policy, `always` or `everysec`.
pub(crate) const ENV_REDIS_FSYNC: &str = "TAXI_REDIS_FSYNC";
/// `TAXI_POSITION_FRESH_SECS`: positions older than this are never matched.
pub(crate) const ENV_POSITION_FRESH: &str = "TAXI_POSITION_FRESH_SECS";
/// `TAXI_GRACE_SECS`: how long in-flight calls may finish after a shutdown signal.
pub(crate) const ENV_GRACE: &str = "TAXI_GRACE_SECS";
/// `TAXI_DRAIN_SECS`: how long NOT_SERVING shows before the listener closes.
pub(crate) const ENV_DRAIN: &str = "TAXI_DRAIN_SECS";

/// `TAXI_OFFER_TIMEOUT_MS`: how long a driver has to answer an offer.
pub(crate) const ENV_OFFER_TIMEOUT: &str = "TAXI_OFFER_TIMEOUT_MS";
/// `TAXI_OFFER_MODE`: `sequential` or `broadcast:N`.
pub(crate) const ENV_OFFER_MODE: &str = "TAXI_OFFER_MODE";
/// `TAXI_MATCHER`: `greedy` (one order at a time) or `batched` (issue 15).
pub(crate) const ENV_MATCHER: &str = "TAXI_MATCHER";
/// `TAXI_BATCH_WINDOW_MS`: how often the batched matcher solves (1000 to 2000).
pub(crate) const ENV_BATCH_WINDOW: &str = "TAXI_BATCH_WINDOW_MS";
/// `TAXI_DISPATCH_WORKERS`: dispatch workers per process.
pub(crate) const ENV_WORKERS: &str = "TAXI_DISPATCH_WORKERS";
/// `TAXI_RADII_M`: search radii, e.g. `1000,2000,3000,5000`.
pub(crate) const ENV_RADII: &str = "TAXI_RADII_M";
/// `TAXI_MAX_OFFERS`: offers before an order is unfulfilled.
pub(crate) const ENV_MAX_OFFERS: &str = "TAXI_MAX_OFFERS";
/// `TAXI_MAX_DISPATCH_SECS`: time in dispatch before an order is unfulfilled.
pub(crate) const ENV_MAX_DISPATCH: &str = "TAXI_MAX_DISPATCH_SECS";
/// `TAXI_ELDERLY_HEAD_START_SECS`: the priority head start (and aging bound).
pub(crate) const ENV_HEAD_START: &str = "TAXI_ELDERLY_HEAD_START_SECS";
/// `TAXI_ELDERLY_EXTRA_AFTER_SECS`: an older passenger's order searches the extra radius
/// only after waiting this long.
pub(crate) const ENV_EXTRA_AFTER: &str = "TAXI_ELDERLY_EXTRA_AFTER_SECS";
/// `TAXI_RETRY_MS`: wait before searching again when no taxi is in reach.
pub(crate) const ENV_RETRY: &str = "TAXI_RETRY_MS";
/// `TAXI_SWEEP_MS`: how often expired offers, due retries and due reservations are swept.
pub(crate) const ENV_SWEEP: &str = "TAXI_SWEEP_MS";
/// `TAXI_RECURRING_HORIZON_DAYS`: how far ahead recurring rides are reserved.
pub(crate) const ENV_RECURRING_HORIZON: &str = "TAXI_RECURRING_HORIZON_DAYS";
/// `TAXI_CARING_LEAD_MINS`: a recurring trip is released to the caring fleet this long
/// before pickup (60).
pub(crate) const ENV_CARING_LEAD: &str = "TAXI_CARING_LEAD_MINS";
/// `TAXI_OPEN_LEAD_MINS`: a recurring trip still unassigned is offered to any taxi this
/// long before pickup (30).
pub(crate) const ENV_OPEN_LEAD: &str = "TAXI_OPEN_LEAD_MINS";
/// `TAXI_ALERT_LEAD_MINS`: a recurring trip still unassigned this long before pickup
/// raises the operator alert (15).
pub(crate) const ENV_ALERT_LEAD: &str = "TAXI_ALERT_LEAD_MINS";
/// `TAXI_STUCK_ARRIVAL_MIN_SECS`: the least time a taxi has to reach the pickup before
/// the watchdog alerts operators.
pub(crate) const ENV_STUCK_ARRIVAL_MIN: &str = "TAXI_STUCK_ARRIVAL_MIN_SECS";
/// `TAXI_STUCK_ARRIVAL_ETA_FACTOR`: a taxi has this many times its ETA, if that is longer.
pub(crate) const ENV_STUCK_ETA_FACTOR: &str = "TAXI_STUCK_ARRIVAL_ETA_FACTOR";
/// `TAXI_STUCK_BOARDING_SECS`: how long a taxi may wait at the pickup for the trip to start.
pub(crate) const ENV_STUCK_BOARDING: &str = "TAXI_STUCK_BOARDING_SECS";
/// `TAXI_RETENTION_DAYS`: how long finished orders, resolved call-backs and alerts are kept.
pub(crate) const ENV_RETENTION: &str = "TAXI_RETENTION_DAYS";
/// `TAXI_EVENT_RETENTION_DAYS`: how long the audit trail and notifications are kept.
pub(crate) const ENV_EVENT_RETENTION: &str = "TAXI_EVENT_RETENTION_DAYS";
/// `TAXI_MAX_STREAMS_PER_CONNECTION`: concurrent HTTP/2 streams one client connection may open.
pub(crate) const ENV_MAX_STREAMS: &str = "TAXI_MAX_STREAMS_PER_CONNECTION";
/// `TAXI_TLS_CERT`: the PEM certificate chain served (with `TAXI_TLS_KEY`); unset serves
/// plain TCP, for loopback development only.
pub(crate) const ENV_TLS_CERT: &str = "TAXI_TLS_CERT";
/// `TAXI_TLS_KEY`: the PEM private key of `TAXI_TLS_CERT`.
pub(crate) const ENV_TLS_KEY: &str = "TAXI_TLS_KEY";
/// `TAXI_TLS_CLIENT_CA`: PEM CA certificates whose client certificates identify services
/// (optional for clients, verified when presented).
pub(crate) const ENV_TLS_CLIENT_CA: &str = "TAXI_TLS_CLIENT_CA";
/// `TAXI_AUTH`: `enforce` (every call needs a credential) or `off` (loopback only).
pub(crate) const ENV_AUTH: &str = "TAXI_AUTH";
/// `TAXI_ALERT_ESCALATE_AFTER`: seconds an open emergency alert waits for an operator's
/// acknowledgement before the console escalates it to the supervisors.
pub(crate) const ENV_ALERT_ESCALATE_AFTER: &str = "TAXI_ALERT_ESCALATE_AFTER";
/// `TAXI_CONSOLE_TILES`: the console map's base map: a raster tile URL template, or the
/// path of a `.pmtiles` archive (raster tiles) that `taxi` serves itself (unset: no
/// tiles, the project's own shapes over a plain background, works offline).
pub(crate) const ENV_CONSOLE_TILES: &str = "TAXI_CONSOLE_TILES";
/// `TAXI_CONSOLE_TILES_DATUM`: `wgs84` (default) or `gcj02`, the datum the tiles are drawn in.
pub(crate) const ENV_CONSOLE_TILES_DATUM: &str = "TAXI_CONSOLE_TILES_DATUM";
/// `TAXI_METRICS_ADDR`: where Prometheus metrics are served (`GET /metrics`, a listener of
/// its own), or `off`.
pub(crate) const ENV_METRICS_ADDR: &str = "TAXI_METRICS_ADDR";
/// The default metrics address: loopback, the port registered for Prometheus exporters
/// that OpenTelemetry's uses too, so a first `taxi serve` can be scraped locally.
pub(crate) const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";
/// `TAXI_OTLP_ENDPOINT`: the OpenTelemetry collector spans are exported to over OTLP/gRPC
/// (`http://host:4317`; builds with the `otlp` feature); unset exports none.
pub(crate) const ENV_OTLP_ENDPOINT: &str = "TAXI_OTLP_ENDPOINT";
/// `TAXI_TERMINAL_LISTEN`: where the in-car terminal gateway (role `terminal-gateway`)
/// listens for JT/T 808 terminals.
pub(crate) const ENV_TERMINAL_LISTEN: &str = "TAXI_TERMINAL_LISTEN";
/// `TAXI_TERMINAL_IDLE_SECS`: how long a silent terminal's session lives.
pub(crate) const ENV_TERMINAL_IDLE: &str = "TAXI_TERMINAL_IDLE_SECS";
/// `TAXI_REFLECTION`: whether gRPC reflection is served (`false` in production).
pub(crate) const ENV_REFLECTION: &str = "TAXI_REFLECTION";
/// `TAXI_AUTH_KEY_FILE`: the token signing key (at least 32 bytes, read verbatim); unset
/// keeps one in Redis, made on first use and shared by every process of the city.
pub(crate) const ENV_AUTH_KEY_FILE: &str = "TAXI_AUTH_KEY_FILE";
/// `TAXI_ACCESS_TOKEN_TTL_S`: how long an access token is accepted, in seconds.
pub(crate) const ENV_ACCESS_TOKEN_TTL: &str = "TAXI_ACCESS_TOKEN_TTL_S";
/// `TAXI_PRIVACY_PROVIDER`: where trips' privacy numbers (AXB) come from: `off`
/// (default), `pool` (the built-in pool, `TAXI_PRIVACY_POOL`) or `aliyun`.
pub(crate) const ENV_PRIVACY_PROVIDER: &str = "TAXI_PRIVACY_PROVIDER";
/// `TAXI_PRIVACY_POOL`: the pool's virtual numbers, comma-separated, ranges allowed
/// (`17100000001-17100000050,023-61234567`).
pub(crate) const ENV_PRIVACY_POOL: &str = "TAXI_PRIVACY_POOL";
/// `TAXI_PRIVACY_RELEASE_SECS`: how long a number stays bound after its trip ended.
pub(crate) const ENV_PRIVACY_RELEASE: &str = "TAXI_PRIVACY_RELEASE_SECS";
/// `TAXI_PRIVACY_ALIYUN_ENDPOINT`: the Dypls API endpoint (https; http only on loopback).
pub(crate) const ENV_PRIVACY_ALIYUN_ENDPOINT: &str = "TAXI_PRIVACY_ALIYUN_ENDPOINT";
/// `TAXI_PRIVACY_ALIYUN_KEY_ID`: the AccessKey id.
pub(crate) const ENV_PRIVACY_ALIYUN_KEY_ID: &str = "TAXI_PRIVACY_ALIYUN_KEY_ID";
/// `TAXI_PRIVACY_ALIYUN_KEY_SECRET_FILE`: a file holding the AccessKey secret (kept out
/// of the environment and the process list).
pub(crate) const ENV_PRIVACY_ALIYUN_SECRET_FILE: &str = "TAXI_PRIVACY_ALIYUN_KEY_SECRET_FILE";
/// `TAXI_PRIVACY_ALIYUN_POOL_KEY`: the number pool's key (`PoolKey`).
pub(crate) const ENV_PRIVACY_ALIYUN_POOL_KEY: &str = "TAXI_PRIVACY_ALIYUN_POOL_KEY";
/// `TAXI_PRIVACY_ALIYUN_TIMEOUT_MS`: how long one API call may take.
pub(crate) const ENV_PRIVACY_ALIYUN_TIMEOUT: &str = "TAXI_PRIVACY_ALIYUN_TIMEOUT_MS";

/// `TAXI_NOTIFY_SENDER`: how messages to passengers leave: `log` or `webhook`.
pub(crate) const ENV_NOTIFY_SENDER: &str = "TAXI_NOTIFY_SENDER";
/// `TAXI_NOTIFY_WEBHOOK_URL`: the SMS/voice gateway's webhook (https; http only to loopback).
pub(crate) const ENV_NOTIFY_WEBHOOK_URL: &str = "TAXI_NOTIFY_WEBHOOK_URL";
/// `TAXI_NOTIFY_WEBHOOK_SECRET`: the webhook signing secret, `whsec_<base64>`.
pub(crate) const ENV_NOTIFY_WEBHOOK_SECRET: &str = "TAXI_NOTIFY_WEBHOOK_SECRET";
/// `TAXI_NOTIFY_WORKERS`: sender workers per process (with the `notify` role).
pub(crate) const ENV_NOTIFY_WORKERS: &str = "TAXI_NOTIFY_WORKERS";
/// `TAXI_NOTIFY_BATCH`: messages a sender worker takes at once.
pub(crate) const ENV_NOTIFY_BATCH: &str = "TAXI_NOTIFY_BATCH";
/// `TAXI_NOTIFY_MAX_ATTEMPTS`: failed deliveries after which a message is a dead letter.
pub(crate) const ENV_NOTIFY_MAX_ATTEMPTS: &str = "TAXI_NOTIFY_MAX_ATTEMPTS";
/// `TAXI_NOTIFY_BACKOFF_FIRST_MS`: the wait after a first failure (it doubles each time).
pub(crate) const ENV_NOTIFY_BACKOFF_FIRST: &str = "TAXI_NOTIFY_BACKOFF_FIRST_MS";
/// `TAXI_NOTIFY_BACKOFF_MAX_MS`: the longest wait between attempts.
pub(crate) const ENV_NOTIFY_BACKOFF_MAX: &str = "TAXI_NOTIFY_BACKOFF_MAX_MS";
/// `TAXI_NOTIFY_CLAIM_IDLE_MS`: a message read but not acknowledged for this long (its
/// worker died) is claimed by another worker.
pub(crate) const ENV_NOTIFY_CLAIM_IDLE: &str = "TAXI_NOTIFY_CLAIM_IDLE_MS";
/// `TAXI_NOTIFY_TIMEOUT_MS`: one webhook post's bound.
pub(crate) const ENV_NOTIFY_TIMEOUT: &str = "TAXI_NOTIFY_TIMEOUT_MS";

/// The defaults of the flags, read from where each is defined once: the city's numbers
/// in `Settings::default()`, the server's in `ServerConfig::default()`.
mod defaults {
    use taxi_domain::settings::Settings;
    use taxi_server::ServerConfig;

    fn s() -> Settings {
        Settings::default()
    }

    pub(super) fn city() -> String {
        s().city.code
    }
    pub(super) fn position_fresh_secs() -> u64 {
        s().position_fresh.as_secs()
    }
    pub(super) fn grace_secs() -> u64 {
        ServerConfig::default().grace.as_secs()
    }
    pub(super) fn drain_secs() -> u64 {
        ServerConfig::default().drain_delay.as_secs()
    }
    pub(super) fn retention_days() -> u64 {
        s().retention.as_secs() / 86_400
    }
    pub(super) fn event_retention_days() -> u64 {
        s().event_retention.as_secs() / 86_400
    }
    pub(super) fn recurring_horizon_days() -> u64 {
        s().recurring_horizon.as_secs() / 86_400
    }
    pub(super) fn max_streams_per_connection() -> u32 {
        ServerConfig::default().max_streams_per_connection
    }
    pub(super) fn offer_timeout_ms() -> u64 {
        s().offer_timeout.as_millis() as u64
    }
    pub(super) fn offer_mode() -> String {
        s().offer_mode.to_string()
    }
    pub(super) fn matcher() -> String {
        s().matcher.to_string()
    }
    pub(super) fn batch_window_ms() -> u64 {
        s().batch_window.as_millis() as u64
    }
    pub(super) fn dispatch_workers() -> usize {
        s().dispatch_workers
    }
    pub(super) fn radii_m() -> String {
        let radii: Vec<String> = s().radii_m.iter().map(u32::to_string).collect();
        radii.join(",")
    }
    pub(super) fn max_offers() -> u32 {
        s().max_offers
    }
    pub(super) fn max_dispatch_secs() -> u64 {
        s().max_dispatch_time.as_secs()
    }
    pub(super) fn elderly_head_start_secs() -> u64 {
        s().elderly_head_start.as_secs()
    }
    pub(super) fn elderly_extra_after_secs() -> u64 {
        s().elderly_extra_after.as_secs()
    }
    pub(super) fn retry_ms() -> u64 {
        s().retry_interval.as_millis() as u64
    }
    pub(super) fn sweep_ms() -> u64 {
        s().sweep_interval.as_millis() as u64
    }
    pub(super) fn redis_fsync() -> String {
        taxi_redis_process::Fsync::default().to_string()
    }
    pub(super) fn stuck_arrival_min_secs() -> u64 {
        s().trip_watch.arrival_min.as_secs()
    }
    pub(super) fn stuck_arrival_eta_factor() -> u32 {
        s().trip_watch.arrival_eta_factor
    }
    pub(super) fn stuck_boarding_secs() -> u64 {
        s().trip_watch.boarding.as_secs()
    }
    pub(super) fn auth() -> String {
        match ServerConfig::default().auth_mode {
            taxi_server::AuthMode::Enforce => "enforce".into(),
            taxi_server::AuthMode::Off => "off".into(),
        }
    }
    pub(super) fn reflection() -> bool {
        ServerConfig::default().reflection
    }
    pub(super) fn access_token_ttl_s() -> u64 {
        taxi_auth::AuthSettings::default().access_ttl.as_secs()
    }
    fn n() -> taxi_notify::NotifySettings {
        taxi_notify::NotifySettings::default()
    }
    pub(super) fn notify_workers() -> usize {
        n().workers
    }
    pub(super) fn notify_batch() -> usize {
        n().batch
    }
    pub(super) fn notify_max_attempts() -> u32 {
        n().backoff.attempts
    }
    pub(super) fn notify_backoff_first_ms() -> u64 {
        n().backoff.first.as_millis() as u64
    }
    pub(super) fn notify_backoff_max_ms() -> u64 {
        n().backoff.max.as_millis() as u64
    }
    pub(super) fn notify_claim_idle_ms() -> u64 {
        n().claim_idle.as_millis() as u64
    }
    pub(super) fn notify_timeout_ms() -> u64 {
        n().timeout.as_millis() as u64
    }
}

/// Flags of `taxi serve` (each also read from its environment variable).
#[derive(Debug, Clone, Args)]
pub(crate) struct ServeArgs {
    /// Roles: all, or a comma-separated list of fleet, driver, hotline, onekey, dispatch,
    /// callcentre, console, notify.
    #[arg(long, env = ENV_ROLE, default_value = "all")]
    pub role: String,
    /// gRPC listen address.
    #[arg(long, env = ENV_LISTEN, default_value = "127.0.0.1:50051")]
    pub listen: String,
    /// Prometheus metrics address (`GET /metrics`, its own listener), or `off`.
    #[arg(long, env = ENV_METRICS_ADDR, default_value = DEFAULT_METRICS_ADDR)]
    pub metrics_addr: String,
    /// The OpenTelemetry collector to export spans to over OTLP/gRPC (`http://host:4317`);
    /// needs a build with `--features otlp` (without it the server warns and exports none).
    #[arg(long, env = ENV_OTLP_ENDPOINT)]
    pub otlp_endpoint: Option<String>,
    /// The in-car terminal gateway's TCP address (with `--role terminal-gateway`).
    #[arg(long, env = ENV_TERMINAL_LISTEN, default_value = "127.0.0.1:7808")]
    pub terminal_listen: String,
    /// Seconds a silent terminal's session lives (10..=3600; three 60 s heartbeats).
    #[arg(long, env = ENV_TERMINAL_IDLE, default_value_t = 180)]
    pub terminal_idle_secs: u64,
    /// Redis URL (redis://host:port/db), or a Redis Cluster's nodes separated by commas.
    /// Unset: start a private redis-server.
    #[arg(long, env = ENV_REDIS_URL)]
    pub redis_url: Option<String>,
    /// City code (500100 Chongqing and 110100 Beijing are built in).
    #[arg(long, env = ENV_CITY, default_value_t = defaults::city())]
    pub city: String,
    /// Service area polygon as `lat,lon;lat,lon;...` (WGS-84).
    #[arg(long, env = ENV_SERVICE_AREA)]
    pub service_area: Option<String>,
    /// Data directory of the embedded Redis.
    #[arg(long, env = ENV_DATA_DIR, default_value = ".taxi-data")]
    pub data_dir: PathBuf,
    /// The embedded Redis' AOF fsync policy: `always` (an acknowledged write survives a
    /// power cut) or `everysec` (faster; a power cut loses up to about 1 s of writes).
    #[arg(long, env = ENV_REDIS_FSYNC, default_value_t = defaults::redis_fsync())]
    pub redis_fsync: String,
    /// Seconds after which a position is stale.
    #[arg(long, env = ENV_POSITION_FRESH, default_value_t = defaults::position_fresh_secs())]
    pub position_fresh_secs: u64,
    /// Seconds in-flight calls may run on after SIGINT/SIGTERM.
    #[arg(long, env = ENV_GRACE, default_value_t = defaults::grace_secs())]
    pub grace_secs: u64,
    /// Seconds NOT_SERVING is shown before the listener closes.
    #[arg(long, env = ENV_DRAIN, default_value_t = defaults::drain_secs())]
    pub drain_secs: u64,
    /// Milliseconds a driver has to answer an offer.
    #[arg(long, env = ENV_OFFER_TIMEOUT, default_value_t = defaults::offer_timeout_ms())]
    pub offer_timeout_ms: u64,
    /// `sequential`, or `broadcast:N` (the N nearest at once, first to accept wins).
    #[arg(long, env = ENV_OFFER_MODE, default_value_t = defaults::offer_mode())]
    pub offer_mode: String,
    /// How orders meet taxis: `greedy` (each in queue order takes its nearest) or
    /// `batched` (one assignment over every waiting order each batch window).
    #[arg(long, env = ENV_MATCHER, default_value_t = defaults::matcher())]
    pub matcher: String,
    /// Milliseconds between the batched matcher's solves (1000 to 2000).
    #[arg(long, env = ENV_BATCH_WINDOW, default_value_t = defaults::batch_window_ms())]
    pub batch_window_ms: u64,
    /// Dispatch workers in this process.
    #[arg(long, env = ENV_WORKERS, default_value_t = defaults::dispatch_workers())]
    pub dispatch_workers: usize,
    /// Search radii in metres, nearest first.
    #[arg(long, env = ENV_RADII, default_value_t = defaults::radii_m())]
    pub radii_m: String,
    /// Offers before an order is unfulfilled.
    #[arg(long, env = ENV_MAX_OFFERS, default_value_t = defaults::max_offers())]
    pub max_offers: u32,
    /// Seconds in dispatch before an order is unfulfilled.
    #[arg(long, env = ENV_MAX_DISPATCH, default_value_t = defaults::max_dispatch_secs())]
    pub max_dispatch_secs: u64,
    /// Seconds an older passenger's order is queued ahead (the aging bound for others).
    #[arg(long, env = ENV_HEAD_START, default_value_t = defaults::elderly_head_start_secs())]
    pub elderly_head_start_secs: u64,
    /// Seconds an older passenger's order waits before its search reaches the extra radius.
    #[arg(long, env = ENV_EXTRA_AFTER, default_value_t = defaults::elderly_extra_after_secs())]
    pub elderly_extra_after_secs: u64,
    /// Milliseconds before searching again when no taxi is in reach.
    #[arg(long, env = ENV_RETRY, default_value_t = defaults::retry_ms())]
    pub retry_ms: u64,
    /// Milliseconds between sweeps of expired offers, due retries and due reservations.
    #[arg(long, env = ENV_SWEEP, default_value_t = defaults::sweep_ms())]
    pub sweep_ms: u64,
    /// Seconds a taxi has at least to reach the pickup before operators are alerted.
    #[arg(long, env = ENV_STUCK_ARRIVAL_MIN, default_value_t = defaults::stuck_arrival_min_secs())]
    pub stuck_arrival_min_secs: u64,
    /// A taxi has this many times its ETA to reach the pickup, if that is longer.
    #[arg(long, env = ENV_STUCK_ETA_FACTOR, default_value_t = defaults::stuck_arrival_eta_factor())]
    pub stuck_arrival_eta_factor: u32,
    /// Seconds a taxi may wait at the pickup for the trip to start before operators are alerted.
    #[arg(long, env = ENV_STUCK_BOARDING, default_value_t = defaults::stuck_boarding_secs())]
    pub stuck_boarding_secs: u64,
    /// Days finished orders, resolved call-backs and resolved alerts are kept.
    #[arg(long, env = ENV_RETENTION, default_value_t = defaults::retention_days())]
    pub retention_days: u64,
    /// Days the audit trail (events) and the notifications feed are kept.
    #[arg(long, env = ENV_EVENT_RETENTION, default_value_t = defaults::event_retention_days())]
    pub event_retention_days: u64,
    /// Days ahead recurring rides are materialised as reservations.
    #[arg(long, env = ENV_RECURRING_HORIZON, default_value_t = defaults::recurring_horizon_days())]
    pub recurring_horizon_days: u64,
    /// Minutes before pickup a recurring trip is released to the caring fleet.
    #[arg(long, env = ENV_CARING_LEAD, default_value_t = 60)]
    pub caring_lead_mins: u64,
    /// Minutes before pickup a recurring trip still unassigned is offered to any taxi.
    #[arg(long, env = ENV_OPEN_LEAD, default_value_t = 30)]
    pub open_lead_mins: u64,
    /// Minutes before pickup a recurring trip still unassigned raises the operator alert.
    #[arg(long, env = ENV_ALERT_LEAD, default_value_t = 15)]
    pub alert_lead_mins: u64,
    /// Concurrent HTTP/2 streams one client connection may open; further calls wait.
    #[arg(long, env = ENV_MAX_STREAMS, default_value_t = defaults::max_streams_per_connection())]
    pub max_streams_per_connection: u32,
    /// PEM certificate chain to serve TLS with (needs --tls-key). Unset: plain TCP, for
    /// loopback development only.
    #[arg(long, env = ENV_TLS_CERT)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = ENV_TLS_KEY)]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificate(s) for client certificates: optional for clients, verified when
    /// presented; their common name identifies a service (mTLS). Needs --tls-cert.
    #[arg(long, env = ENV_TLS_CLIENT_CA)]
    pub tls_client_ca: Option<PathBuf>,
    /// `enforce`: every call but health, reflection and logging in needs a credential.
    /// `off`: no credential is checked and every call acts as the gateway, the phone
    /// switch or a supervisor, the first its policy row allows; refused unless `--listen` is a loopback address (benchmarks and
    /// local experiments only).
    #[arg(long, env = ENV_AUTH, default_value_t = defaults::auth())]
    pub auth: String,
    /// Serve gRPC reflection (`true` or `false`; switch it off in production).
    #[arg(long, env = ENV_REFLECTION, default_value_t = defaults::reflection(), action = clap::ArgAction::Set)]
    pub reflection: bool,
    /// A file holding the token signing key (at least 32 bytes, used verbatim). Unset: the
    /// key kept in the city's Redis (made on first use, shared by every process).
    #[arg(long, env = ENV_AUTH_KEY_FILE)]
    pub auth_key_file: Option<PathBuf>,
    /// Seconds an access token is accepted (clients refresh before it ends).
    #[arg(long, env = ENV_ACCESS_TOKEN_TTL, default_value_t = defaults::access_token_ttl_s())]
    pub access_token_ttl: u64,
    /// Seconds an open emergency alert waits for an acknowledgement before the console
    /// escalates it to the supervisors (1 to 3600).
    #[arg(long, env = ENV_ALERT_ESCALATE_AFTER, default_value_t = taxi_console::DEFAULT_ESCALATE_AFTER.as_secs())]
    pub alert_escalate_after: u64,
    /// The console map's base map: a tile URL template (`https://.../{z}/{x}/{y}.png`) or
    /// the path of a `.pmtiles` archive of raster tiles, served by `taxi` itself with
    /// range requests; unset draws no tiles (works offline).
    #[arg(long, env = ENV_CONSOLE_TILES)]
    pub console_tiles: Option<String>,
    /// The datum the console's tiles are drawn in: `wgs84` or `gcj02`.
    #[arg(long, env = ENV_CONSOLE_TILES_DATUM, default_value = "wgs84")]
    pub console_tiles_datum: String,
    /// How messages to passengers, relatives and care contacts leave: `log` (the demo,
    /// development) or `webhook` (the city's SMS/voice gateway, signed).
    #[arg(long, env = ENV_NOTIFY_SENDER, default_value = "log")]
    pub notify_sender: String,
    /// The gateway's webhook URL (`https://`; `http://` only to a loopback host).
    #[arg(long, env = ENV_NOTIFY_WEBHOOK_URL)]
    pub notify_webhook_url: Option<String>,
    /// The webhook signing secret, `whsec_<base64>` (Standard Webhooks).
    #[arg(long, env = ENV_NOTIFY_WEBHOOK_SECRET, hide_env_values = true)]
    pub notify_webhook_secret: Option<String>,
    /// Sender workers in this process (with the `notify` role; 0 runs none).
    #[arg(long, env = ENV_NOTIFY_WORKERS, default_value_t = defaults::notify_workers())]
    pub notify_workers: usize,
    /// Messages a sender worker takes at once.
    #[arg(long, env = ENV_NOTIFY_BATCH, default_value_t = defaults::notify_batch())]
    pub notify_batch: usize,
    /// Failed deliveries after which a message is a dead letter.
    #[arg(long, env = ENV_NOTIFY_MAX_ATTEMPTS, default_value_t = defaults::notify_max_attempts())]
    pub notify_max_attempts: u32,
    /// Milliseconds to wait after a first failed delivery (doubling each time).
    #[arg(long, env = ENV_NOTIFY_BACKOFF_FIRST, default_value_t = defaults::notify_backoff_first_ms())]
    pub notify_backoff_first_ms: u64,
    /// The longest wait between delivery attempts, in milliseconds.
    #[arg(long, env = ENV_NOTIFY_BACKOFF_MAX, default_value_t = defaults::notify_backoff_max_ms())]
    pub notify_backoff_max_ms: u64,
    /// Milliseconds after which a message a worker read but never acknowledged is claimed
    /// by another worker (longer than --notify-timeout-ms).
    #[arg(long, env = ENV_NOTIFY_CLAIM_IDLE, default_value_t = defaults::notify_claim_idle_ms())]
    pub notify_claim_idle_ms: u64,
    /// Milliseconds one webhook post may take.
    #[arg(long, env = ENV_NOTIFY_TIMEOUT, default_value_t = defaults::notify_timeout_ms())]
    pub notify_timeout_ms: u64,
    /// Privacy numbers (AXB) for trips: `off`, `pool` or `aliyun`.
    #[arg(long, env = ENV_PRIVACY_PROVIDER, default_value = "off")]
    pub privacy_provider: String,
    /// The built-in pool's virtual numbers (with `--privacy-provider pool`).
    #[arg(long, env = ENV_PRIVACY_POOL, default_value = "")]
    pub privacy_pool: String,
    /// Seconds a privacy number stays bound after its trip ended (0 to 604800).
    #[arg(long, env = ENV_PRIVACY_RELEASE, default_value_t = taxi_domain::privacy::DEFAULT_RELEASE_DELAY.as_secs())]
    pub privacy_release_secs: u64,
    /// The Alibaba Cloud Dypls endpoint.
    #[arg(long, env = ENV_PRIVACY_ALIYUN_ENDPOINT, default_value = taxi_privacy::aliyun::DEFAULT_ENDPOINT)]
    pub privacy_aliyun_endpoint: String,
    /// The Alibaba Cloud AccessKey id.
    #[arg(long, env = ENV_PRIVACY_ALIYUN_KEY_ID, default_value = "")]
    pub privacy_aliyun_key_id: String,
    /// A file holding the AccessKey secret.
    #[arg(long, env = ENV_PRIVACY_ALIYUN_SECRET_FILE)]
    pub privacy_aliyun_key_secret_file: Option<PathBuf>,
    /// The Dypls number pool's key.
    #[arg(long, env = ENV_PRIVACY_ALIYUN_POOL_KEY, default_value = "")]
    pub privacy_aliyun_pool_key: String,
    /// Milliseconds one Dypls call may take (100 to 60000).
    #[arg(long, env = ENV_PRIVACY_ALIYUN_TIMEOUT, default_value_t = taxi_privacy::aliyun::DEFAULT_TIMEOUT.as_millis() as u64)]
    pub privacy_aliyun_timeout_ms: u64,
}

/// `TAXI_NOTIFY_WEBHOOK_URL` → `--notify-webhook-url / TAXI_NOTIFY_WEBHOOK_URL`.
fn notify_flag(env: &str) -> String {
    let flag = env
        .trim_start_matches("TAXI_")
        .to_ascii_lowercase()
        .replace('_', "-");
    format!("--{flag} / {env}")
}

const TLS_CERT_FLAG: &str = "--tls-cert / TAXI_TLS_CERT";
const TILES_FLAG: &str = "--console-tiles / TAXI_CONSOLE_TILES";
const TLS_KEY_FLAG: &str = "--tls-key / TAXI_TLS_KEY";
const TLS_CLIENT_CA_FLAG: &str = "--tls-client-ca / TAXI_TLS_CLIENT_CA";
const AUTH_FLAG: &str = "--auth / TAXI_AUTH";
const AUTH_KEY_FILE_FLAG: &str = "--auth-key-file / TAXI_AUTH_KEY_FILE";
const ACCESS_TOKEN_TTL_FLAG: &str = "--access-token-ttl / TAXI_ACCESS_TOKEN_TTL_S";
/// The shortest token signing key accepted (HS256 wants at least its hash's 32 bytes).
const MIN_AUTH_KEY_BYTES: usize = 32;

/// Checks `--redis-url` / `TAXI_REDIS_URL` (every command that reaches Redis).
pub(crate) fn check_redis_url(url: &str) -> anyhow::Result<()> {
    let ok = url.split(',').map(str::trim).all(|u| {
        ["redis://", "rediss://", "unix://", "redis+unix://"]
            .iter()
            .any(|p| u.starts_with(p))
    });
    if !ok {
        bail!(
            "--redis-url / {ENV_REDIS_URL}: `{}` must be redis://, rediss:// or unix:// URLs (several, comma-separated, for a cluster)",
            taxi_store::redact(url)
        );
    }
    taxi_store::Target::parse(url)
        .map_err(|e| anyhow::anyhow!("--redis-url / {ENV_REDIS_URL}: {e}"))?;
    Ok(())
}

/// Checks `--city` / `TAXI_CITY`: a numeric division code.
pub(crate) fn check_city(city: &str) -> anyhow::Result<()> {
    if city.is_empty() || city.len() > 12 || !city.bytes().all(|b| b.is_ascii_digit()) {
        bail!("--city / {ENV_CITY}: `{city}` must be a numeric division code such as 500100");
    }
    Ok(())
}

/// The default of `--city`, for other commands' flags.
pub(crate) fn default_city() -> String {
    defaults::city()
}

/// Configuration that passed every check.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub listen: SocketAddr,
    pub redis_url: Option<String>,
    pub data_dir: PathBuf,
    pub redis_fsync: taxi_redis_process::Fsync,
    pub server: ServerConfig,
}

impl ServeArgs {
    /// The notifications' settings, checked (the sender is built once to prove it).
    fn notify(&self) -> anyhow::Result<taxi_notify::NotifySettings> {
        use taxi_notify::SenderChoice;
        let sender = match self.notify_sender.to_ascii_lowercase().as_str() {
            "log" => SenderChoice::Log,
            "webhook" => SenderChoice::Webhook {
                url: self.notify_webhook_url.clone().unwrap_or_default(),
                secret: self.notify_webhook_secret.clone().unwrap_or_default(),
            },
            other => bail!(
                "{}: `{other}` is not `log` or `webhook`",
                notify_flag(ENV_NOTIFY_SENDER)
            ),
        };
        if self.notify_workers > 64 {
            bail!("{}: at most 64", notify_flag(ENV_NOTIFY_WORKERS));
        }
        let settings = taxi_notify::NotifySettings {
            sender,
            workers: self.notify_workers,
            batch: self.notify_batch,
            claim_idle: Duration::from_millis(self.notify_claim_idle_ms),
            timeout: Duration::from_millis(self.notify_timeout_ms),
            backoff: taxi_domain::notify::Backoff {
                first: Duration::from_millis(self.notify_backoff_first_ms),
                max: Duration::from_millis(self.notify_backoff_max_ms),
                attempts: self.notify_max_attempts,
            },
            ..taxi_notify::NotifySettings::default()
        };
        settings
            .sender()
            .map_err(|e| anyhow::anyhow!("{}: {}", notify_flag(&e.field), e.reason))?;
        Ok(settings)
    }

    /// Checks everything; the error names the flag and its variable.
    pub(crate) fn check(&self) -> anyhow::Result<Checked> {
        let roles = parse_roles(&self.role).with_context(|| format!("--role / {ENV_ROLE}"))?;
        let listen: SocketAddr = self.listen.parse().with_context(|| {
            format!(
                "--listen / {ENV_LISTEN}: `{}` is not host:port",
                self.listen
            )
        })?;
        let metrics = match self.metrics_addr.trim() {
            "off" => None,
            addr => Some(taxi_server::metrics::MetricsEndpoint::Addr(
                addr.parse().with_context(|| {
                    format!("--metrics-addr / {ENV_METRICS_ADDR}: `{addr}` is not host:port or off")
                })?,
            )),
        };
        if let Some(url) = &self.redis_url {
            check_redis_url(url)?;
        }
        let redis_fsync = self
            .redis_fsync
            .parse()
            .map_err(|e| anyhow::anyhow!("--redis-fsync / {ENV_REDIS_FSYNC}: {e}"))?;
        check_city(&self.city)?;
        let mut city = match City::builtin(&self.city) {
            Some(c) => c,
            None => {
                let Some(area) = &self.service_area else {
                    bail!(
                        "--city / {ENV_CITY}: city {} has no built-in service area; set --service-area / {ENV_SERVICE_AREA}",
                        self.city
                    );
                };
                let area = ServiceArea::parse(area)
                    .map_err(|e| anyhow::anyhow!("--service-area / {ENV_SERVICE_AREA}: {e}"))?;
                let mut c = City::builtin("500100").expect("built in");
                c.code = self.city.clone();
                c.name = format!("city {}", self.city);
                c.service_area = area;
                c
            }
        };
        if let Some(area) = &self.service_area {
            city.service_area = ServiceArea::parse(area)
                .map_err(|e| anyhow::anyhow!("--service-area / {ENV_SERVICE_AREA}: {e}"))?;
        }
        if !(1..=600).contains(&self.position_fresh_secs) {
            bail!("--position-fresh-secs / {ENV_POSITION_FRESH}: must be 1 to 600");
        }
        if self.grace_secs > 600 || self.drain_secs > 600 {
            bail!("--grace-secs / {ENV_GRACE} and --drain-secs / {ENV_DRAIN}: at most 600");
        }
        let mut server = ServerConfig {
            roles,
            drain_delay: Duration::from_secs(self.drain_secs),
            grace: Duration::from_secs(self.grace_secs),
            max_streams_per_connection: self.max_streams_per_connection,
            tls: self.tls()?,
            auth_mode: self.auth_mode(listen)?,
            auth_key: self.auth_key()?,
            reflection: self.reflection,
            metrics,
            terminal_listen: self.terminal_listen.parse().with_context(|| {
                format!(
                    "--terminal-listen / {ENV_TERMINAL_LISTEN}: `{}` is not host:port",
                    self.terminal_listen
                )
            })?,
            terminal_idle: Duration::from_secs(self.terminal_idle_secs),
            ..ServerConfig::default()
        };
        if !(10..=3_600).contains(&self.terminal_idle_secs) {
            bail!("--terminal-idle-secs / {ENV_TERMINAL_IDLE}: must be 10 to 3600");
        }
        if !(1..=86_400).contains(&self.access_token_ttl) {
            bail!(
                "{ACCESS_TOKEN_TTL_FLAG}: {} is outside 1..=86400 seconds",
                self.access_token_ttl
            );
        }
        server.auth.access_ttl = Duration::from_secs(self.access_token_ttl);
        if !(1..=3_600).contains(&self.alert_escalate_after) {
            bail!(
                "--alert-escalate-after / {ENV_ALERT_ESCALATE_AFTER}: {} is outside 1..=3600 seconds",
                self.alert_escalate_after
            );
        }
        server.console.escalate_after = Duration::from_secs(self.alert_escalate_after);
        server.notify = self.notify()?;
        server.console.tiles_gcj02 = match self.console_tiles_datum.to_ascii_lowercase().as_str() {
            "wgs84" => false,
            "gcj02" => true,
            other => bail!(
                "--console-tiles-datum / {ENV_CONSOLE_TILES_DATUM}: `{other}` is not `wgs84` or `gcj02`"
            ),
        };
        if let Some(tiles) = self.console_tiles.as_ref().filter(|t| !t.is_empty()) {
            if tiles.ends_with(".pmtiles") && !tiles.contains("://") {
                // A PMTiles archive on this machine: served by `taxi` itself.
                let mut head = [0u8; 8];
                std::fs::File::open(tiles)
                    .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
                    .with_context(|| format!("{TILES_FLAG}: cannot read {tiles}"))?;
                if &head[..7] != b"PMTiles" || head[7] != 3 {
                    bail!("{TILES_FLAG}: {tiles} is not a PMTiles version 3 archive");
                }
                server.console.pmtiles = Some(PathBuf::from(tiles));
            } else {
                if !(tiles.starts_with("https://")
                    || tiles.starts_with("http://")
                    || tiles.starts_with('/'))
                {
                    bail!(
                        "{TILES_FLAG}: must be an http(s) URL template, a path on this server, or a .pmtiles file"
                    );
                }
                if !["{z}", "{x}", "{y}"].iter().all(|p| tiles.contains(p)) {
                    bail!("{TILES_FLAG}: a URL template must hold {{z}}, {{x}} and {{y}}");
                }
                server.console.tiles = Some(tiles.clone());
            }
        }
        server.privacy = self.privacy()?;
        let s = &mut server.settings;
        s.offer_mode = taxi_domain::settings::OfferMode::parse(&self.offer_mode)
            .with_context(|| format!("--offer-mode / {ENV_OFFER_MODE}: `{}` is not `sequential` or `broadcast:N` (N 1 to 20)", self.offer_mode))?;
        s.matcher = taxi_domain::settings::Matcher::parse(&self.matcher)
            .map_err(|e| anyhow::anyhow!("--matcher / {ENV_MATCHER}: {e}"))?;
        s.batch_window = taxi_domain::settings::batch_window(self.batch_window_ms)
            .map_err(|e| anyhow::anyhow!("--batch-window-ms / {ENV_BATCH_WINDOW}: {e}"))?;
        let radii: Result<Vec<u32>, _> = self
            .radii_m
            .split(',')
            .map(|r| r.trim().parse::<u32>())
            .collect();
        match radii {
            Ok(r)
                if !r.is_empty()
                    && r.windows(2).all(|w| w[0] < w[1])
                    && r[0] > 0
                    && *r.last().unwrap_or(&0) <= 50_000 =>
            {
                s.radii_m = r
            }
            _ => bail!(
                "--radii-m / {ENV_RADII}: `{}` must be increasing metres up to 50000, e.g. 1000,2000,3000,5000",
                self.radii_m
            ),
        }
        for (value, range, name) in [
            (
                self.offer_timeout_ms,
                100..=600_000,
                format!("--offer-timeout-ms / {ENV_OFFER_TIMEOUT}"),
            ),
            (
                self.dispatch_workers as u64,
                0..=64,
                format!("--dispatch-workers / {ENV_WORKERS}"),
            ),
            (
                u64::from(self.max_offers),
                1..=50,
                format!("--max-offers / {ENV_MAX_OFFERS}"),
            ),
            (
                self.max_dispatch_secs,
                1..=86_400,
                format!("--max-dispatch-secs / {ENV_MAX_DISPATCH}"),
            ),
            (
                self.elderly_head_start_secs,
                0..=3600,
                format!("--elderly-head-start-secs / {ENV_HEAD_START}"),
            ),
            (
                self.elderly_extra_after_secs,
                0..=3600,
                format!("--elderly-extra-after-secs / {ENV_EXTRA_AFTER}"),
            ),
            (
                self.retry_ms,
                10..=600_000,
                format!("--retry-ms / {ENV_RETRY}"),
            ),
            (
                self.sweep_ms,
                10..=60_000,
                format!("--sweep-ms / {ENV_SWEEP}"),
            ),
            (
                self.stuck_arrival_min_secs,
                60..=7200,
                format!("--stuck-arrival-min-secs / {ENV_STUCK_ARRIVAL_MIN}"),
            ),
            (
                u64::from(self.stuck_arrival_eta_factor),
                1..=10,
                format!("--stuck-arrival-eta-factor / {ENV_STUCK_ETA_FACTOR}"),
            ),
            (
                self.stuck_boarding_secs,
                60..=7200,
                format!("--stuck-boarding-secs / {ENV_STUCK_BOARDING}"),
            ),
            (
                self.retention_days,
                1..=3650,
                format!("--retention-days / {ENV_RETENTION}"),
            ),
            (
                self.event_retention_days,
                1..=3650,
                format!("--event-retention-days / {ENV_EVENT_RETENTION}"),
            ),
            (
                self.recurring_horizon_days,
                1..=60,
                format!("--recurring-horizon-days / {ENV_RECURRING_HORIZON}"),
            ),
            (
                u64::from(self.max_streams_per_connection),
                1..=100_000,
                format!("--max-streams-per-connection / {ENV_MAX_STREAMS}"),
            ),
        ] {
            if !range.contains(&value) {
                bail!(
                    "{name}: {value} is outside {}..={}",
                    range.start(),
                    range.end()
                );
            }
        }
        s.offer_timeout = Duration::from_millis(self.offer_timeout_ms);
        s.dispatch_workers = self.dispatch_workers;
        s.max_offers = self.max_offers;
        s.max_dispatch_time = Duration::from_secs(self.max_dispatch_secs);
        s.elderly_head_start = Duration::from_secs(self.elderly_head_start_secs);
        s.elderly_extra_after = Duration::from_secs(self.elderly_extra_after_secs);
        s.retry_interval = Duration::from_millis(self.retry_ms);
        s.sweep_interval = Duration::from_millis(self.sweep_ms);
        s.trip_watch = taxi_domain::watchdog::TripWatch {
            arrival_min: Duration::from_secs(self.stuck_arrival_min_secs),
            arrival_eta_factor: self.stuck_arrival_eta_factor,
            boarding: Duration::from_secs(self.stuck_boarding_secs),
        };
        s.retention = Duration::from_secs(self.retention_days * 86_400);
        s.event_retention = Duration::from_secs(self.event_retention_days * 86_400);
        s.recurring_horizon = Duration::from_secs(self.recurring_horizon_days * 86_400);
        s.guarantee = taxi_domain::recurring::Guarantee::new(
            self.caring_lead_mins as i64 * 60_000,
            self.open_lead_mins as i64 * 60_000,
            self.alert_lead_mins as i64 * 60_000,
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "--caring-lead-mins / --open-lead-mins / --alert-lead-mins ({ENV_CARING_LEAD}, {ENV_OPEN_LEAD}, {ENV_ALERT_LEAD}): {e}"
            )
        })?;
        server.settings.city = city;
        server.settings.position_fresh = Duration::from_secs(self.position_fresh_secs);
        Ok(Checked {
            listen,
            redis_url: self.redis_url.clone(),
            data_dir: self.data_dir.clone(),
            redis_fsync,
            server,
        })
    }
}

impl ServeArgs {
    /// `--auth`: `enforce`, or `off` on a loopback listen address only.
    fn auth_mode(&self, listen: SocketAddr) -> anyhow::Result<AuthMode> {
        match self.auth.as_str() {
            "enforce" => Ok(AuthMode::Enforce),
            "off" if listen.ip().is_loopback() => {
                tracing::warn!(
                    %listen,
                    "{AUTH_FLAG} is off: NO credential is checked; loopback experiments and benchmarks only"
                );
                Ok(AuthMode::Off)
            }
            "off" => bail!(
                "{AUTH_FLAG}: `off` is refused on {listen}: without authentication anyone who reaches the port can do anything; it is allowed only on a loopback --listen address"
            ),
            other => bail!("{AUTH_FLAG}: `{other}` is not `enforce` or `off`"),
        }
    }

    /// `--auth-key-file`: readable, at least 32 bytes; never shown.
    fn auth_key(&self) -> anyhow::Result<Option<Vec<u8>>> {
        let Some(path) = &self.auth_key_file else {
            return Ok(None);
        };
        let key = std::fs::read(path)
            .with_context(|| format!("{AUTH_KEY_FILE_FLAG}: cannot read {}", path.display()))?;
        if key.len() < MIN_AUTH_KEY_BYTES {
            bail!(
                "{AUTH_KEY_FILE_FLAG}: {} holds {} bytes; the key needs at least {MIN_AUTH_KEY_BYTES} (e.g. `head -c 48 /dev/urandom > {}`)",
                path.display(),
                key.len(),
                path.display()
            );
        }
        Ok(Some(key))
    }

    /// The TLS files: both the certificate and its key or neither, each readable and
    /// parseable, the key the certificate's; a client CA only with them.
    /// The privacy numbers' settings; every error names its flag.
    fn privacy(&self) -> anyhow::Result<taxi_privacy::PrivacySettings> {
        use taxi_domain::privacy::{self, ProviderKind};
        use taxi_privacy::ProviderSettings;
        let flag = |env: &str| {
            format!(
                "--{} / {env}",
                env.trim_start_matches("TAXI_")
                    .to_ascii_lowercase()
                    .replace('_', "-")
            )
        };
        let kind = ProviderKind::parse(&flag(ENV_PRIVACY_PROVIDER), &self.privacy_provider)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let release_delay = privacy::release_delay(
            &flag(ENV_PRIVACY_RELEASE),
            Duration::from_secs(self.privacy_release_secs),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let provider = match kind {
            ProviderKind::Off => ProviderSettings::Off,
            ProviderKind::Pool => {
                let numbers = privacy::parse_pool(&flag(ENV_PRIVACY_POOL), &self.privacy_pool)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                if numbers.is_empty() {
                    bail!(
                        "{}: the pool provider needs numbers",
                        flag(ENV_PRIVACY_POOL)
                    );
                }
                ProviderSettings::Pool {
                    numbers: numbers.iter().map(|p| p.as_str().to_string()).collect(),
                }
            }
            ProviderKind::Aliyun => {
                taxi_privacy::aliyun::check_endpoint(&self.privacy_aliyun_endpoint)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", flag(ENV_PRIVACY_ALIYUN_ENDPOINT)))?;
                for (value, env) in [
                    (&self.privacy_aliyun_key_id, ENV_PRIVACY_ALIYUN_KEY_ID),
                    (&self.privacy_aliyun_pool_key, ENV_PRIVACY_ALIYUN_POOL_KEY),
                ] {
                    if value.trim().is_empty() {
                        bail!("{}: is required with the aliyun provider", flag(env));
                    }
                }
                let secret_flag = flag(ENV_PRIVACY_ALIYUN_SECRET_FILE);
                let Some(path) = &self.privacy_aliyun_key_secret_file else {
                    bail!("{secret_flag}: is required with the aliyun provider");
                };
                let secret = std::fs::read_to_string(path)
                    .with_context(|| format!("{secret_flag}: cannot read {}", path.display()))?
                    .trim()
                    .to_string();
                if secret.is_empty() {
                    bail!("{secret_flag}: {} is empty", path.display());
                }
                if !(100..=60_000).contains(&self.privacy_aliyun_timeout_ms) {
                    bail!(
                        "{}: {} is outside 100..=60000 ms",
                        flag(ENV_PRIVACY_ALIYUN_TIMEOUT),
                        self.privacy_aliyun_timeout_ms
                    );
                }
                ProviderSettings::Aliyun(taxi_privacy::aliyun::AliyunSettings {
                    endpoint: self.privacy_aliyun_endpoint.clone(),
                    access_key_id: self.privacy_aliyun_key_id.trim().to_string(),
                    access_key_secret: secret,
                    pool_key: self.privacy_aliyun_pool_key.trim().to_string(),
                    timeout: Duration::from_millis(self.privacy_aliyun_timeout_ms),
                })
            }
        };
        Ok(taxi_privacy::PrivacySettings {
            provider,
            release_delay,
        })
    }

    fn tls(&self) -> anyhow::Result<Option<TlsSettings>> {
        let (cert, key) = match (&self.tls_cert, &self.tls_key) {
            (None, None) => {
                if self.tls_client_ca.is_some() {
                    bail!(
                        "{TLS_CLIENT_CA_FLAG}: client certificates need TLS; set {TLS_CERT_FLAG} and {TLS_KEY_FLAG} too"
                    );
                }
                return Ok(None);
            }
            (Some(_), None) => bail!(
                "{TLS_KEY_FLAG}: {TLS_CERT_FLAG} is set but its private key is not (give both or neither)"
            ),
            (None, Some(_)) => bail!(
                "{TLS_CERT_FLAG}: {TLS_KEY_FLAG} is set but the certificate chain is not (give both or neither)"
            ),
            (Some(cert), Some(key)) => (cert, key),
        };
        let client_ca = match &self.tls_client_ca {
            Some(path) => Some(read_pem(path, TLS_CLIENT_CA_FLAG)?),
            None => None,
        };
        let settings = TlsSettings::from_pem(
            read_pem(cert, TLS_CERT_FLAG)?,
            read_pem(key, TLS_KEY_FLAG)?,
            client_ca,
        )
        .map_err(|e| {
            let flag = match e {
                TlsSettingsError::CertChain(_) => TLS_CERT_FLAG.to_string(),
                TlsSettingsError::Key(_) => TLS_KEY_FLAG.to_string(),
                TlsSettingsError::ClientCa(_) => TLS_CLIENT_CA_FLAG.to_string(),
                TlsSettingsError::Pair(_) => format!("{TLS_CERT_FLAG} and {TLS_KEY_FLAG}"),
            };
            anyhow::anyhow!("{flag}: {e}")
        })?;
        Ok(Some(settings))
    }
}

fn read_pem(path: &Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{flag}: cannot read {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: ServeArgs,
    }

    fn parse(args: &[&str]) -> anyhow::Result<Checked> {
        let mut v = vec!["taxi"];
        v.extend_from_slice(args);
        T::try_parse_from(v)?.a.check()
    }

    #[test]
    fn the_base_map_is_a_url_template_or_a_pmtiles_archive() {
        let c = parse(&[]).unwrap();
        assert_eq!(
            (c.server.console.tiles, c.server.console.pmtiles),
            (None, None)
        );
        let c = parse(&["--console-tiles", "https://t.example/{z}/{x}/{y}.png"]).unwrap();
        assert_eq!(
            c.server.console.tiles.as_deref(),
            Some("https://t.example/{z}/{x}/{y}.png")
        );
        let dir = std::env::temp_dir().join(format!("taxi-tiles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("city.pmtiles");
        let mut bytes = b"PMTiles\x03".to_vec();
        bytes.resize(127, 0);
        std::fs::write(&good, &bytes).unwrap();
        let bad = dir.join("bad.pmtiles");
        std::fs::write(&bad, b"MBTiles-not-this").unwrap();
        let good_s = good.to_string_lossy().to_string();
        let bad_s = bad.to_string_lossy().to_string();
        let missing = dir.join("none.pmtiles").to_string_lossy().to_string();
        let c = parse(&["--console-tiles", &good_s, "--console-tiles-datum", "GCJ02"]).unwrap();
        assert_eq!(c.server.console.pmtiles, Some(good.clone()));
        assert!(c.server.console.tiles.is_none() && c.server.console.tiles_gcj02);
        for (arg, needle) in [
            (bad_s.as_str(), "not a PMTiles version 3 archive"),
            (missing.as_str(), "cannot read"),
            ("ftp://x/{z}/{x}/{y}", "must be an http(s) URL template"),
            ("https://t.example/tile.png", "must hold {z}, {x} and {y}"),
        ] {
            let err = format!("{:#}", parse(&["--console-tiles", arg]).unwrap_err());
            assert!(
                err.contains("--console-tiles / TAXI_CONSOLE_TILES"),
                "{err}"
            );
            assert!(err.contains(needle), "{arg}: {err}");
        }
        let err = format!(
            "{:#}",
            parse(&["--console-tiles-datum", "bd09"]).unwrap_err()
        );
        assert!(err.contains("TAXI_CONSOLE_TILES_DATUM"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn metrics_are_served_on_loopback_by_default_and_can_be_off() {
        let addr = |c: &Checked| match &c.server.metrics {
            Some(taxi_server::metrics::MetricsEndpoint::Addr(a)) => Some(a.to_string()),
            Some(other) => panic!("{other:?}"),
            None => None,
        };
        assert_eq!(
            addr(&parse(&[]).unwrap()).as_deref(),
            Some(DEFAULT_METRICS_ADDR)
        );
        let c = parse(&["--metrics-addr", "0.0.0.0:9100"]).unwrap();
        assert_eq!(addr(&c).as_deref(), Some("0.0.0.0:9100"));
        assert_eq!(addr(&parse(&["--metrics-addr", "off"]).unwrap()), None);
        let err = format!("{:#}", parse(&["--metrics-addr", "nine"]).unwrap_err());
        assert!(
            err.contains(ENV_METRICS_ADDR) && err.contains("nine"),
            "{err}"
        );
    }

    #[test]
    fn defaults_just_work() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:50051");
        assert!(c.redis_url.is_none());
        assert_eq!(c.server.settings.city.code, "500100");
        assert_eq!(c.server.roles, taxi_server::Role::ALL.to_vec());
        assert!(
            c.server.tls.is_none(),
            "plain TCP unless TLS files are given"
        );
        assert_eq!(c.server.privacy, taxi_privacy::PrivacySettings::default());
        let c = parse(&[
            "--privacy-provider",
            "pool",
            "--privacy-pool",
            "17100000001-17100000002",
            "--privacy-release-secs",
            "60",
        ])
        .unwrap();
        assert_eq!(
            c.server.privacy,
            taxi_privacy::PrivacySettings::pool(
                &["17100000001", "17100000002"],
                Duration::from_secs(60)
            )
        );
    }

    #[test]
    fn notification_settings_are_checked_naming_their_flag() {
        const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let webhook = |url: &str, secret: &str| {
            parse(&[
                "--notify-sender",
                "webhook",
                "--notify-webhook-url",
                url,
                "--notify-webhook-secret",
                secret,
            ])
        };
        let c = webhook("https://sms.example.cn/hook", SECRET).unwrap();
        assert!(matches!(
            c.server.notify.sender,
            taxi_notify::SenderChoice::Webhook { .. }
        ));
        assert!(webhook("http://127.0.0.1:8080/hook", SECRET).is_ok());
        let e = webhook("http://sms.example.cn/hook", SECRET)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--notify-webhook-url / TAXI_NOTIFY_WEBHOOK_URL") && e.contains("https"),
            "{e}"
        );
        let e = webhook("https://sms.example.cn/hook", "whsec_short")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--notify-webhook-secret / TAXI_NOTIFY_WEBHOOK_SECRET"),
            "{e}"
        );
        let e = parse(&["--notify-sender", "fax"]).unwrap_err().to_string();
        assert!(e.contains("--notify-sender / TAXI_NOTIFY_SENDER"), "{e}");
        let e = parse(&["--notify-max-attempts", "0"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--notify-max-attempts / TAXI_NOTIFY_MAX_ATTEMPTS"),
            "{e}"
        );
        assert!(matches!(
            parse(&[]).unwrap().server.notify.sender,
            taxi_notify::SenderChoice::Log
        ));
    }

    #[test]
    fn tls_files_are_read_and_checked_naming_their_flag() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let one = crate::demo::Throwaway::new().unwrap();
        let other = crate::demo::Throwaway::new().unwrap();
        let (cert, key, ca) = (
            write("cert.pem", &one.cert_pem),
            write("key.pem", &one.key_pem),
            write("ca.pem", &one.ca_pem),
        );
        let (garbage, other_key) = (
            write("garbage.pem", "hello"),
            write("other.pem", &other.key_pem),
        );

        let c = parse(&["--tls-cert", &cert, "--tls-key", &key]).unwrap();
        assert!(!c.server.tls.expect("tls").verifies_clients());
        let c = parse(&[
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--tls-client-ca",
            &ca,
        ])
        .unwrap();
        assert!(c.server.tls.expect("tls").verifies_clients());

        for (args, needle) in [
            (
                vec!["--tls-cert", &garbage, "--tls-key", &key],
                "--tls-cert / TAXI_TLS_CERT: certificate chain",
            ),
            (
                vec!["--tls-cert", &cert, "--tls-key", &garbage],
                "--tls-key / TAXI_TLS_KEY: private key",
            ),
            (
                vec![
                    "--tls-cert",
                    &cert,
                    "--tls-key",
                    &key,
                    "--tls-client-ca",
                    &garbage,
                ],
                "--tls-client-ca / TAXI_TLS_CLIENT_CA: client CA",
            ),
            (
                vec!["--tls-cert", &cert, "--tls-key", &other_key],
                "TAXI_TLS_CERT and --tls-key / TAXI_TLS_KEY: certificate and key do not go together",
            ),
        ] {
            let err = format!("{:#}", parse(&args).unwrap_err());
            assert!(err.contains(needle), "{args:?}: {err}");
            assert!(!err.contains("PRIVATE KEY-----"), "a key was shown: {err}");
        }
    }

    /// The matcher and its batch window are read, checked, and named in the error.
    #[test]
    fn the_matcher_and_batch_window_are_checked() {
        let c = parse(&["--matcher", "batched", "--batch-window-ms", "1000"]).unwrap();
        assert_eq!(
            c.server.settings.matcher,
            taxi_domain::settings::Matcher::Batched
        );
        assert_eq!(c.server.settings.batch_window, Duration::from_millis(1000));
        for (args, needle) in [
            (
                ["--matcher", "nearest"],
                "--matcher / TAXI_MATCHER: matcher: `nearest` is not",
            ),
            (
                ["--batch-window-ms", "500"],
                "--batch-window-ms / TAXI_BATCH_WINDOW_MS: batch_window: 500 ms is outside",
            ),
        ] {
            let err = format!("{:#}", parse(&args).unwrap_err());
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    /// Every default comes from the one place it is defined.
    #[test]
    fn the_defaults_are_the_settings_defaults() {
        let c = parse(&[]).unwrap();
        let (got, want) = (
            &c.server.settings,
            &taxi_domain::settings::Settings::default(),
        );
        assert_eq!(got.position_fresh, want.position_fresh);
        assert_eq!(got.offer_timeout, want.offer_timeout);
        assert_eq!(got.offer_mode, want.offer_mode);
        assert_eq!(got.matcher, want.matcher);
        assert_eq!(got.batch_window, want.batch_window);
        assert_eq!(got.dispatch_workers, want.dispatch_workers);
        assert_eq!(got.radii_m, want.radii_m);
        assert_eq!(got.max_offers, want.max_offers);
        assert_eq!(got.max_dispatch_time, want.max_dispatch_time);
        assert_eq!(got.elderly_head_start, want.elderly_head_start);
        assert_eq!(got.elderly_extra_after, want.elderly_extra_after);
        assert_eq!(got.retry_interval, want.retry_interval);
        assert_eq!(got.sweep_interval, want.sweep_interval);
        assert_eq!(got.trip_watch, want.trip_watch);
        assert_eq!(got.retention, want.retention);
        assert_eq!(got.event_retention, want.event_retention);
        assert_eq!(got.recurring_horizon, want.recurring_horizon);
        assert_eq!(got.city.code, want.city.code);
        assert_eq!(c.redis_fsync, taxi_redis_process::Fsync::default());
        let server = ServerConfig::default();
        assert_eq!(
            (c.server.grace, c.server.drain_delay),
            (server.grace, server.drain_delay)
        );
        assert_eq!(
            c.server.max_streams_per_connection,
            server.max_streams_per_connection
        );
        assert_eq!(c.server.auth_mode, AuthMode::Enforce);
        assert_eq!(c.server.reflection, server.reflection);
        assert_eq!(c.server.auth_key, None, "the key kept in Redis by default");
        assert_eq!(
            c.server.auth.access_ttl,
            taxi_auth::AuthSettings::default().access_ttl
        );
    }

    #[test]
    fn identity_flags_are_checked_naming_their_flag() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short.key");
        std::fs::write(&short, [7u8; 31]).unwrap();
        let good = dir.path().join("good.key");
        std::fs::write(&good, [9u8; 32]).unwrap();
        let (short, good) = (short.display().to_string(), good.display().to_string());

        let c = parse(&[
            "--auth",
            "off",
            "--reflection",
            "false",
            "--auth-key-file",
            &good,
            "--access-token-ttl",
            "120",
        ])
        .unwrap();
        assert_eq!(c.server.auth_mode, AuthMode::Off);
        assert!(!c.server.reflection);
        assert_eq!(c.server.auth_key, Some(vec![9u8; 32]));
        assert_eq!(c.server.auth.access_ttl, Duration::from_secs(120));
        let c = parse(&["--auth", "off", "--listen", "[::1]:7000"]).unwrap();
        assert_eq!(c.server.auth_mode, AuthMode::Off, "IPv6 loopback too");

        for (args, needle) in [
            (
                vec!["--auth", "off", "--listen", "0.0.0.0:50051"],
                "--auth / TAXI_AUTH: `off` is refused on 0.0.0.0:50051",
            ),
            (
                vec!["--auth", "off", "--listen", "10.1.2.3:50051"],
                "--auth / TAXI_AUTH: `off` is refused",
            ),
            (
                vec!["--auth", "maybe"],
                "--auth / TAXI_AUTH: `maybe` is not `enforce` or `off`",
            ),
            (
                vec!["--auth-key-file", &short],
                "--auth-key-file / TAXI_AUTH_KEY_FILE: ",
            ),
            (
                vec!["--auth-key-file", "/nonexistent/k"],
                "--auth-key-file / TAXI_AUTH_KEY_FILE: cannot read /nonexistent/k",
            ),
            (
                vec!["--access-token-ttl", "0"],
                "--access-token-ttl / TAXI_ACCESS_TOKEN_TTL_S: 0 is outside",
            ),
            (
                vec!["--access-token-ttl", "86401"],
                "--access-token-ttl / TAXI_ACCESS_TOKEN_TTL_S",
            ),
        ] {
            let err = format!("{:#}", parse(&args).unwrap_err());
            assert!(err.contains(needle), "{args:?}: {err}");
        }
        let err = format!("{:#}", parse(&["--auth-key-file", &short]).unwrap_err());
        assert!(err.contains("holds 31 bytes"), "{err}");
        // Not a boolean: clap names the flag.
        let err = T::try_parse_from(["taxi", "--reflection", "maybe"])
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("--reflection"), "{err}");
    }

    #[test]
    fn a_cluster_is_several_urls() {
        let c = parse(&[
            "--redis-url",
            "redis://127.0.0.1:7000,redis://127.0.0.1:7001",
        ])
        .unwrap();
        assert_eq!(
            c.redis_url.as_deref(),
            Some("redis://127.0.0.1:7000,redis://127.0.0.1:7001")
        );
    }

    #[test]
    fn bad_values_name_their_flag() {
        for (args, needle) in [
            (vec!["--role", "taxi"], "TAXI_ROLE"),
            (vec!["--listen", "nowhere"], "TAXI_LISTEN"),
            (vec!["--redis-url", "http://x"], "TAXI_REDIS_URL"),
            (vec!["--city", "abc"], "TAXI_CITY"),
            (vec!["--city", "440300"], "TAXI_SERVICE_AREA"),
            (
                vec!["--city", "440300", "--service-area", "1,2"],
                "TAXI_SERVICE_AREA",
            ),
            (
                vec!["--position-fresh-secs", "0"],
                "TAXI_POSITION_FRESH_SECS",
            ),
            (vec!["--redis-fsync", "no"], "TAXI_REDIS_FSYNC"),
            (vec!["--redis-url", "http://:s3cret@x/"], "TAXI_REDIS_URL"),
            (
                vec!["--stuck-boarding-secs", "5"],
                "TAXI_STUCK_BOARDING_SECS",
            ),
            (
                vec!["--stuck-arrival-eta-factor", "0"],
                "TAXI_STUCK_ARRIVAL_ETA_FACTOR",
            ),
            (vec!["--retention-days", "0"], "TAXI_RETENTION_DAYS"),
            (
                vec!["--elderly-extra-after-secs", "3601"],
                "TAXI_ELDERLY_EXTRA_AFTER_SECS",
            ),
            (
                vec!["--event-retention-days", "5000"],
                "TAXI_EVENT_RETENTION_DAYS",
            ),
            (
                vec!["--max-streams-per-connection", "0"],
                "TAXI_MAX_STREAMS_PER_CONNECTION",
            ),
            (
                vec!["--privacy-provider", "twilio"],
                "TAXI_PRIVACY_PROVIDER",
            ),
            (vec!["--privacy-provider", "pool"], "TAXI_PRIVACY_POOL"),
            (
                vec!["--privacy-provider", "pool", "--privacy-pool", "171000000"],
                "TAXI_PRIVACY_POOL[0]",
            ),
            (
                vec!["--privacy-release-secs", "9999999"],
                "TAXI_PRIVACY_RELEASE_SECS",
            ),
            (
                vec![
                    "--privacy-provider",
                    "aliyun",
                    "--privacy-aliyun-endpoint",
                    "http://example.com",
                ],
                "TAXI_PRIVACY_ALIYUN_ENDPOINT: must be https",
            ),
            (
                vec!["--privacy-provider", "aliyun"],
                "TAXI_PRIVACY_ALIYUN_KEY_ID",
            ),
        ] {
            let err = format!("{:#}", parse(&args).unwrap_err());
            assert!(err.contains(needle), "{args:?}: {err}");
            assert!(!err.contains("s3cret"), "a password was shown: {err}");
        }
        for (args, needle) in [
            (vec!["--tls-cert", "c.pem"], "TAXI_TLS_KEY"),
            (vec!["--tls-key", "k.pem"], "TAXI_TLS_CERT"),
            (vec!["--tls-client-ca", "ca.pem"], "TAXI_TLS_CLIENT_CA"),
            (
                vec!["--tls-cert", "/nonexistent/c.pem", "--tls-key", "k.pem"],
                "TAXI_TLS_CERT: cannot read /nonexistent/c.pem",
            ),
        ] {
            let err = format!("{:#}", parse(&args).unwrap_err());
            assert!(err.contains(needle), "{args:?}: {err}");
        }
        let c = parse(&[
            "--city",
            "440300",
            "--service-area",
            "22.4,113.8;22.4,114.4;22.8,114.4;22.8,113.8",
        ])
        .unwrap();
        assert_eq!(c.server.settings.city.code, "440300");
    }
}
