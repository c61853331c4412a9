//! The Redis store of one city: key schema, atomic Lua transitions, typed errors, and
//! the feeds (dispatch wake-ups, driver notices) the services wait on.
//!
//! # Layout
//! - [`keys`]: every Redis key of a city, under one hash tag (`{c:500100}:...`), built
//!   here and nowhere else.
//! - [`conn`]: one server or a Redis Cluster behind one connection type.
//! - `scripts`: the Lua scripts with their generated prelude (states, rules, audit names
//!   and key names from the domain and [`keys`]) and one typed Rust face per script.
//! - [`taxis`]: the fleet registry, positions, the free geo index.
//! - [`callcentre`]: the call queue (ACD): calls, seats, routing, abandoned calls'
//!   call-backs, the call centre's KPI counters.
//! - [`callers`]: caller profiles, their orders and active orders.
//! - [`orders`]: order creation (idempotent by request id, de-duplicated for one-key and
//!   voice-menu bookings), reads, cancellation.
//! - [`devices`]: one-key devices and the emergency alerts of their long presses.
//! - [`dispatch`]: the queue, offers, trip steps, manual assignment, call-backs, KPIs.
//! - [`batch`]: the batched matcher's read (waiting orders, free taxis near each) and
//!   its atomic offer of one solved pair (`offer_pair.lua`).
//! - [`feed`]: the wake-ups dispatch workers wait on and the notices driver streams
//!   receive, as typed streams that reconnect inside the store.
//! - [`privacy`]: privacy numbers (AXB): the built-in number pool and which number each
//!   live trip holds, until when.
//! - [`liveness`]: whether Redis answers, probed every second (health and metrics).
//! - [`audit`]: reading the audit trail (tests and tools), and following it through a
//!   consumer group (workers that react to transitions).
//! - [`oplog`]: the operators' audit log: append (chained to the head, retried when
//!   another append came first), pages for the auditor, verification. Never trimmed.
//! - [`outbox`]: the notifications outbox: a stream read by a consumer group, retries
//!   with back-off on the store's clock, claiming of a dead worker's messages, dead letters.
//! - [`recurring`]: recurring-ride patterns, and materialising their trips as reservations, once each.
//! - [`guarantee`]: the caring fleet's guarantee for recurring trips: pairing, the paired
//!   driver's trips and answers, the T−15 alert pass.
//! - [`stands`]: taxi stands (候客点): records, each process's copy, queues, walk-up boardings.
//! - [`retention`]: the bounded pass that deletes finished work older than the retention.
//! - [`error`]: [`StoreError`], which the service edge maps to gRPC status codes once.
//!
//! Architecture invariant: only this crate talks to Redis and knows its keys. Every
//! transition that touches an order and a taxi is one Lua script that declares every key
//! it touches, so no interleaving of workers can give an order two taxis or a taxi two
//! orders, and every script runs unchanged on a Redis Cluster.
//!
//! # Connections
//! One multiplexed connection per process carries every non-blocking command, and a
//! second one carries bulk position writes, so an order's few round trips never queue
//! behind thousands of fixes; both reconnect in the background after Redis goes away.
//! Blocking waits (wake-ups, the driver feed) have connections of their own ([`feed`]). While Redis is
//! down commands fail fast with [`StoreError::Unavailable`] (short connection and
//! response timeouts, few retries), and work again once it is back.
//!
//! # Time
//! The store reads "now" from the [`Clock`] it was given: the system clock in production,
//! a test clock that tests step instead of sleeping.

pub mod access;
pub mod audit;
pub mod batch;
pub mod callcentre;
pub mod callers;
pub mod conn;
pub mod console;
pub mod devices;
pub mod dispatch;
pub mod error;
pub mod feed;
mod fields;
pub mod guarantee;
mod inspect;
pub mod keys;
pub mod liveness;
pub mod oplog;
pub mod orders;
pub mod outbox;
pub mod privacy;
pub mod recurring;
pub mod retention;
mod scripts;
pub mod stands;
mod streams;
pub mod taxis;
pub mod terminals;

pub use conn::{Target, redact};
pub use error::{Entity, StoreError};
pub use keys::Keys;
pub use scripts::assembled as assembled_scripts;

use conn::{Conn, Timeouts};
use std::sync::Arc;
use std::time::Duration;
use taxi_domain::clock::{Clock, SystemClock};

/// The driver feed's default length: at 100 notices a second, about 8 minutes.
pub const DEFAULT_FEED_LEN: u64 = 50_000;

/// How to reach Redis, how long to wait for it, and what time it is.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// A `redis://` URL, or several separated by commas for a Redis Cluster.
    pub url: String,
    /// The city whose keys this store reads and writes.
    pub city: String,
    /// How long one command may take before it fails as unavailable.
    pub response_timeout: Duration,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
    /// How long a booking's request id is remembered.
    pub request_ttl: Duration,
    /// About how many notices the driver feed keeps (a stream that fell further behind,
    /// or resumes from an older id, is sent what its taxi holds instead).
    pub feed_len: u64,
    /// Where "now" comes from.
    pub clock: Arc<dyn Clock>,
}

impl StoreConfig {
    /// The defaults for `url` and `city`, on the system clock.
    pub fn new(url: impl Into<String>, city: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            city: city.into(),
            response_timeout: Duration::from_millis(1000),
            connect_timeout: Duration::from_millis(500),
            request_ttl: Duration::from_secs(24 * 3600),
            feed_len: DEFAULT_FEED_LEN,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same, on `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

/// A handle on one city's data in Redis. Cheap to clone; clones share the connections.
#[derive(Clone)]
pub struct Store {
    pub(crate) conn: Conn,
    /// A second connection for bulk position writes, so nothing else queues behind them.
    pub(crate) bulk: Conn,
    pub(crate) keys: Arc<Keys>,
    pub(crate) scripts: Arc<scripts::Scripts>,
    pub(crate) target: Arc<Target>,
    /// This process's copy of the city's stands (`stands.rs`), shared by clones.
    pub(crate) stand_cache: Arc<stands::StandCache>,
    config: Arc<StoreConfig>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("city", &self.config.city)
            .field("target", &self.target)
            .finish()
    }
}

impl Store {
    /// Connects (lazily: the first command opens the connection, so a service can start
    /// while Redis is still coming up).
    pub fn connect(config: StoreConfig) -> Result<Self, StoreError> {
        let target = Target::parse(&config.url)?;
        let timeouts = Timeouts {
            connect: config.connect_timeout,
            response: Some(config.response_timeout),
        };
        Ok(Self {
            conn: Conn::open("main", &target, timeouts)?,
            bulk: Conn::open("bulk", &target, timeouts)?,
            keys: Arc::new(Keys::new(&config.city)),
            scripts: scripts::Scripts::shared(),
            target: Arc::new(target),
            stand_cache: Arc::default(),
            config: Arc::new(config),
        })
    }

    /// The city this store serves.
    pub fn city(&self) -> &str {
        &self.config.city
    }

    /// Now, by the store's clock (epoch milliseconds).
    pub fn now_ms(&self) -> i64 {
        self.config.clock.now_ms()
    }

    /// The clock the store reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.config.clock
    }

    pub(crate) fn config(&self) -> &StoreConfig {
        &self.config
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
