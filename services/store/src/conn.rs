//! Connections to Redis: one server or a Redis Cluster, behind one type that replaces
//! itself when it stops answering.
//!
//! `TAXI_REDIS_URL` names one server (`redis://host:port/db`) or a cluster: several
//! `redis://` node URLs separated by commas (any reachable subset of the nodes is
//! enough; the client learns the rest from `CLUSTER SLOTS`).
//!
//! # Socket settings
//! Every connection has Nagle's algorithm off (redis-rs leaves it on, and with delayed
//! ACKs a quiet connection waited up to 40 ms), TCP keepalive probes after
//! [`KEEPALIVE_IDLE`] of silence, and `TCP_USER_TIMEOUT` so unacknowledged writes give up
//! after [`USER_TIMEOUT`] instead of the kernel's 15 minutes.
//!
//! # Half-open connections
//! The socket settings find a dead peer, but not a path that still acknowledges and
//! never answers (a proxy or NAT that black-holes the flow). So a [`Conn`] watches its
//! own replies: a command that times out or finds the connection broken makes the
//! connection replace itself with a fresh one (dialled on the next command), and
//! [`Store::watch_liveness`](crate::Store::watch_liveness) pings every connection once a
//! second, so an idle dead one is replaced too, within about two seconds.

use crate::StoreError;
use arc_swap::ArcSwap;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::io::tcp::{TcpSettings, socket2::TcpKeepalive};
use redis::{Cmd, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, Value};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Silence after which the kernel starts keepalive probes.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);
/// Time between keepalive probes; three unanswered probes close the connection.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
/// How long written data may stay unacknowledged before the kernel closes the connection.
pub const USER_TIMEOUT: Duration = Duration::from_secs(5);

/// Where Redis is: one server or the seed nodes of a cluster. A URL may carry credentials
/// (`redis://:password@host:6379/`, `redis://user:password@host:6379/`; for a cluster every
/// node's URL carries the same ones); `Debug` shows them as `***` (see [`redact`]).
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    /// One server.
    Single(String),
    /// A Redis Cluster, by some of its nodes.
    Cluster(Vec<String>),
}

impl Target {
    /// Parses `TAXI_REDIS_URL`: one URL, or several separated by commas for a cluster.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let urls: Vec<String> = url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .collect();
        for u in &urls {
            u.as_str()
                .into_connection_info()
                .map_err(|e| StoreError::Config(format!("TAXI_REDIS_URL: {}: {e}", redact(u))))?;
        }
        match urls.len() {
            0 => Err(StoreError::Config("TAXI_REDIS_URL: empty".into())),
            1 => Ok(Target::Single(urls.into_iter().next().unwrap_or_default())),
            _ => Ok(Target::Cluster(urls)),
        }
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Single(u) => f.debug_tuple("Single").field(&redact(u)).finish(),
            Target::Cluster(urls) => f
                .debug_tuple("Cluster")
                .field(&urls.iter().map(|u| redact(u)).collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// `url` (one URL or a comma-separated list) with every password replaced by `***`, for
/// logs and messages: credentials in `TAXI_REDIS_URL` are never printed. A part that does
/// not parse as a URL but has user information (`…@`) loses everything before the `@`.
pub fn redact(url: &str) -> String {
    url.split(',')
        .map(|part| {
            let trimmed = part.trim();
            match url::Url::parse(trimmed) {
                Ok(mut u) => {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("***"));
                    }
                    u.to_string()
                }
                Err(_) => match trimmed.rsplit_once('@') {
                    Some((_, host)) => format!("***@{host}"),
                    None => trimmed.to_string(),
                },
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Nagle off, keepalive probes, and a bound on unacknowledged writes.
fn tcp_settings() -> TcpSettings {
    TcpSettings::default()
        .set_nodelay(true)
        .set_keepalive(
            TcpKeepalive::new()
                .with_time(KEEPALIVE_IDLE)
                .with_interval(KEEPALIVE_INTERVAL)
                .with_retries(3),
        )
        .set_user_timeout(USER_TIMEOUT)
}

/// A client for one server, with the socket settings above.
pub(crate) fn single_client(url: &str) -> Result<redis::Client, StoreError> {
    let info = url
        .into_connection_info()
        .map_err(|e| StoreError::Config(format!("TAXI_REDIS_URL: {e}")))?
        .set_tcp_settings(tcp_settings());
    redis::Client::open(info).map_err(|e| StoreError::Config(format!("TAXI_REDIS_URL: {e}")))
}

/// How long to wait for Redis.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    /// `None`: wait as long as it takes (blocking commands bring their own bound).
    pub(crate) response: Option<Duration>,
}

/// The redis-rs connection under a [`Conn`]: it reconnects by itself after a dropped
/// connection, but not after a reply that never comes.
#[derive(Clone)]
enum Raw {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// The connection in use and its generation (bumped on every replacement).
struct Current {
    generation: u64,
    raw: Raw,
}

struct Shared {
    /// Which connection this is, for logs ("main", "bulk", "wakeups").
    name: &'static str,
    target: Target,
    timeouts: Timeouts,
    current: ArcSwap<Current>,
    replaced: AtomicU64,
    /// The latest generation that answered a command.
    answered: AtomicU64,
}

/// A multiplexed connection to one server or to a cluster; cheap to clone (clones share
/// it), reconnects by itself, and replaces itself when replies stop coming.
#[derive(Clone)]
pub(crate) struct Conn {
    shared: Arc<Shared>,
}

impl Conn {
    /// A lazy connection: nothing is dialled until the first command, so a service can
    /// start while Redis is still coming up.
    pub(crate) fn open(
        name: &'static str,
        target: &Target,
        t: Timeouts,
    ) -> Result<Self, StoreError> {
        let raw = Raw::open(target, t)?;
        Ok(Self {
            shared: Arc::new(Shared {
                name,
                target: target.clone(),
                timeouts: t,
                current: ArcSwap::from_pointee(Current { generation: 0, raw }),
                replaced: AtomicU64::new(0),
                answered: AtomicU64::new(0),
            }),
        })
    }

    /// How many times this connection has been replaced.
    pub(crate) fn replacements(&self) -> u64 {
        self.shared.replaced.load(Ordering::Relaxed)
    }

    /// Runs a keyless command on the node that serves `slot` (on one server, simply on it).
    pub(crate) async fn on_slot(&self, cmd: Cmd, slot: u16) -> Result<Value, RedisError> {
        match self.shared.current.load().raw.clone() {
            Raw::Single(mut c) => cmd.query_async(&mut c).await,
            Raw::Cluster(mut c) => {
                use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(
                    Route::new(slot, SlotAddr::Master),
                ));
                c.route_command(cmd, route).await
            }
        }
    }

    fn answered(&self, generation: u64) {
        self.shared
            .answered
            .fetch_max(generation, Ordering::Relaxed);
    }

    /// After `error` on the connection of `generation`: if it says the connection is
    /// dead or not answering, put a fresh one in its place (once, however many commands
    /// saw the same failure).
    fn judge(&self, generation: u64, error: &RedisError) {
        if !(error.is_timeout() || error.is_connection_dropped() || error.is_io_error()) {
            return;
        }
        let s = &self.shared;
        // Another command already replaced it: while Redis is down every command fails,
        // and each would otherwise build (and drop) a connection of its own.
        if s.current.load().generation != generation {
            return;
        }
        let raw = match Raw::open(&s.target, s.timeouts) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(connection = s.name, error = %e, "cannot open a Redis connection");
                return;
            }
        };
        let mut swapped = false;
        s.current.rcu(|cur| {
            swapped = cur.generation == generation;
            if swapped {
                Arc::new(Current {
                    generation: generation + 1,
                    raw: raw.clone(),
                })
            } else {
                Arc::clone(cur)
            }
        });
        if swapped {
            let n = s.replaced.fetch_add(1, Ordering::Relaxed) + 1;
            metrics::counter!(taxi_metrics::REDIS_CONNECTION_REPLACEMENTS, "connection" => s.name)
                .increment(1);
            // While Redis is down every command fails and replaces the connection: say
            // so once, then quietly until it has answered again.
            if generation == s.answered.load(Ordering::Relaxed) {
                tracing::warn!(
                    connection = s.name,
                    error = %error,
                    replacements = n,
                    "Redis connection failed; replaced by a new one"
                );
            } else {
                tracing::debug!(connection = s.name, error = %error, "Redis connection replaced again");
            }
        }
    }
}

impl Raw {
    fn open(target: &Target, t: Timeouts) -> Result<Self, StoreError> {
        match target {
            Target::Single(url) => {
                let mut config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(t.connect))
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(200));
                config = config.set_response_timeout(t.response);
                Ok(Raw::Single(ConnectionManager::new_lazy_with_config(
                    single_client(url)?,
                    config,
                )?))
            }
            Target::Cluster(urls) => {
                let mut builder = redis::cluster::ClusterClientBuilder::new(urls.clone())
                    .tcp_settings(tcp_settings())
                    .connection_timeout(t.connect)
                    .retries(2)
                    .min_retry_wait(20)
                    .max_retry_wait(200);
                if let Some(r) = t.response {
                    builder = builder.response_timeout(r);
                }
                let client = builder
                    .build()
                    .map_err(|e| StoreError::Config(format!("TAXI_REDIS_URL: {e}")))?;
                let mut config =
                    redis::cluster::ClusterConfig::new().set_connection_timeout(t.connect);
                if let Some(r) = t.response {
                    config = config.set_response_timeout(r);
                }
                Ok(Raw::Cluster(
                    client.get_pending_async_connection_with_config(config),
                ))
            }
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let cur = self.shared.current.load_full();
            let r = match cur.raw.clone() {
                Raw::Single(mut c) => c.req_packed_command(cmd).await,
                Raw::Cluster(mut c) => c.req_packed_command(cmd).await,
            };
            match &r {
                Ok(_) => self.answered(cur.generation),
                Err(e) => self.judge(cur.generation, e),
            }
            r
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let cur = self.shared.current.load_full();
            let r = match cur.raw.clone() {
                Raw::Single(mut c) => c.req_packed_commands(pipeline, offset, count).await,
                Raw::Cluster(mut c) => c.req_packed_commands(pipeline, offset, count).await,
            };
            match &r {
                Ok(_) => self.answered(cur.generation),
                Err(e) => self.judge(cur.generation, e),
            }
            r
        })
    }

    fn get_db(&self) -> i64 {
        match &self.shared.current.load().raw {
            Raw::Single(c) => c.get_db(),
            Raw::Cluster(c) => c.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_url_is_a_server_several_are_a_cluster() {
        assert_eq!(
            Target::parse("redis://127.0.0.1:6379/").unwrap(),
            Target::Single("redis://127.0.0.1:6379/".into())
        );
        assert_eq!(
            Target::parse("redis://127.0.0.1:7000, redis://127.0.0.1:7001").unwrap(),
            Target::Cluster(vec![
                "redis://127.0.0.1:7000".into(),
                "redis://127.0.0.1:7001".into()
            ])
        );
        assert!(Target::parse("").is_err());
        assert!(Target::parse("http://x,redis://y").is_err());
    }

    #[test]
    fn credentials_are_accepted_and_never_shown() {
        let one = "redis://:s3cret@redis:6379/";
        assert_eq!(Target::parse(one).unwrap(), Target::Single(one.into()));
        let two = "redis://taxi:s3cret@a:7000,redis://taxi:s3cret@b:7000";
        let cluster = Target::parse(two).unwrap();
        assert!(matches!(&cluster, Target::Cluster(urls) if urls.len() == 2));
        for shown in [
            format!("{:?}", Target::parse(one).unwrap()),
            format!("{cluster:?}"),
            redact(one),
            redact(two),
            redact("redis://:s3cret@"),
            Target::parse("redis://:s3cret@[::1/")
                .unwrap_err()
                .to_string(),
        ] {
            assert!(!shown.contains("s3cret"), "{shown}");
        }
        assert_eq!(redact(one), "redis://:***@redis:6379/");
        assert_eq!(
            redact(two),
            "redis://taxi:***@a:7000,redis://taxi:***@b:7000"
        );
        assert_eq!(redact("redis://redis:6379/"), "redis://redis:6379/");
    }
}
