//! The Redis store of one city: key schema, atomic Lua transitions, typed errors.
//!
//! # Layout
//! - [`keys`]: every Redis key of a city, under one hash tag (`{c:500100}:...`), so every
//!   script touches one slot and a city moves whole between Redis Cluster shards.
//! - [`taxis`]: the fleet registry, positions, the free geo index.
//! - [`callers`]: caller profiles, their orders and active orders.
//! - [`orders`]: order creation (idempotent by request id, de-duplicated for one-key and
//!   voice-menu bookings), reads, cancellation.
//! - [`devices`]: one-key devices and the emergency alerts of long presses.
//! - [`dispatch`]: the queue, offers, trip steps, manual assignment, call-backs,
//!   KPIs and the notifications to driver streams.
//! - [`error`]: [`StoreError`], which the service edge maps to gRPC status codes once.
//!
//! Architecture invariant: only this crate knows Redis keys and commands. Every
//! transition that touches an order and a taxi is one Lua script, so no interleaving of
//! workers can give an order two taxis or a taxi two orders.
//!
//! # Connections
//! One multiplexed [`redis::aio::ConnectionManager`] per process carries every
//! non-blocking command, and a second one carries bulk position writes, so an order's
//! few round trips never queue behind thousands of fixes; both reconnect in the
//! background after Redis goes away. While
//! Redis is down commands fail fast with [`StoreError::Unavailable`] (short connection and
//! response timeouts, few reconnection retries), and work again once it is back.

pub mod callers;
pub mod devices;
pub mod dispatch;
pub mod error;
pub mod keys;
pub mod orders;
pub mod taxis;

pub use error::StoreError;
pub use keys::Keys;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;
use std::time::Duration;

/// A Redis client for `url` with TCP_NODELAY on. redis-rs leaves Nagle's algorithm on by
/// default; with delayed ACKs that costs up to 40 ms on a quiet connection, which a
/// dispatch path of a few round trips cannot afford. Every connection comes from here.
pub fn redis_client(url: &str) -> Result<redis::Client, StoreError> {
    use redis::IntoConnectionInfo;
    let info = url
        .into_connection_info()
        .map_err(|e| StoreError::Config(format!("TAXI_REDIS_URL: {e}")))?
        .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    redis::Client::open(info).map_err(|e| StoreError::Config(format!("TAXI_REDIS_URL: {e}")))
}

/// How to reach Redis and how long to wait for it.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// A `redis://` URL.
    pub url: String,
    /// The city whose keys this store reads and writes.
    pub city: String,
    /// How long one command may take before it fails as unavailable.
    pub response_timeout: Duration,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
    /// How long a booking's request id is remembered.
    pub request_ttl: Duration,
}

impl StoreConfig {
    /// The defaults for `url` and `city`.
    pub fn new(url: impl Into<String>, city: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            city: city.into(),
            response_timeout: Duration::from_millis(1000),
            connect_timeout: Duration::from_millis(500),
            request_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// A handle on one city's data in Redis. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Store {
    pub(crate) conn: ConnectionManager,
    /// A second connection for bulk position writes, so nothing else queues behind them.
    pub(crate) bulk: ConnectionManager,
    pub(crate) keys: Arc<Keys>,
    pub(crate) scripts: Arc<scripts::Scripts>,
    config: Arc<StoreConfig>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("city", &self.config.city)
            .finish()
    }
}

impl Store {
    /// Connects (lazily: the first command opens the connection, so a service can start
    /// while Redis is still coming up).
    pub fn connect(config: StoreConfig) -> Result<Self, StoreError> {
        let client = redis_client(&config.url)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.response_timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), manager_config.clone())?;
        let bulk = ConnectionManager::new_lazy_with_config(client, manager_config)?;
        Ok(Self {
            conn,
            bulk,
            keys: Arc::new(Keys::new(&config.city)),
            scripts: Arc::new(scripts::Scripts::new()),
            config: Arc::new(config),
        })
    }

    /// The city this store serves.
    pub fn city(&self) -> &str {
        &self.config.city
    }

    /// The key schema (for tests and tools that inspect Redis directly).
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// A fresh dedicated connection, for blocking commands that must not stall the
    /// shared multiplexed one.
    pub async fn dedicated_connection(
        &self,
    ) -> Result<redis::aio::MultiplexedConnection, StoreError> {
        let client = redis_client(&self.config.url)?;
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.config.connect_timeout))
            .set_response_timeout(None);
        Ok(client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await?)
    }

    pub(crate) fn url(&self) -> &str {
        &self.config.url
    }

    pub(crate) fn request_ttl_s(&self) -> u64 {
        self.config.request_ttl.as_secs().max(1)
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}

mod scripts {
    //! The Lua scripts, loaded by SHA and reloaded by `redis::Script` after a Redis restart.

    use redis::Script;

    pub(crate) struct Scripts {
        pub(crate) register_taxi: Script,
        pub(crate) taxi_transition: Script,
        pub(crate) report_positions: Script,
        pub(crate) nearby_free: Script,
        pub(crate) sweep_stale: Script,
        pub(crate) create_order: Script,
        pub(crate) cancel_order: Script,
        pub(crate) register_device: Script,
        pub(crate) raise_alert: Script,
        pub(crate) ack_alert: Script,
        pub(crate) caller_screen: Script,
        pub(crate) offer_order: Script,
        pub(crate) maintain: Script,
        pub(crate) accept_offer: Script,
        pub(crate) decline_offer: Script,
        pub(crate) trip_step: Script,
        pub(crate) assign_order: Script,
    }

    const LIB: &str = include_str!("lua/lib.lua");

    /// A dispatch script: the shared library, then the body.
    fn with_lib(body: &str) -> Script {
        Script::new(&format!("{LIB}\n{body}"))
    }

    impl Scripts {
        pub(crate) fn new() -> Self {
            Self {
                register_taxi: Script::new(include_str!("lua/register_taxi.lua")),
                taxi_transition: Script::new(include_str!("lua/taxi_transition.lua")),
                report_positions: Script::new(include_str!("lua/report_positions.lua")),
                nearby_free: Script::new(include_str!("lua/nearby_free.lua")),
                sweep_stale: Script::new(include_str!("lua/sweep_stale.lua")),
                create_order: Script::new(include_str!("lua/create_order.lua")),
                cancel_order: with_lib(include_str!("lua/cancel_order.lua")),
                register_device: Script::new(include_str!("lua/register_device.lua")),
                raise_alert: Script::new(include_str!("lua/raise_alert.lua")),
                ack_alert: Script::new(include_str!("lua/ack_alert.lua")),
                caller_screen: Script::new(include_str!("lua/caller_screen.lua")),
                offer_order: with_lib(include_str!("lua/offer_order.lua")),
                maintain: with_lib(include_str!("lua/maintain.lua")),
                accept_offer: with_lib(include_str!("lua/accept_offer.lua")),
                decline_offer: with_lib(include_str!("lua/decline_offer.lua")),
                trip_step: with_lib(include_str!("lua/trip_step.lua")),
                assign_order: with_lib(include_str!("lua/assign_order.lua")),
            }
        }
    }
}

/// Milliseconds since the Unix epoch, the time unit of every stored timestamp.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
