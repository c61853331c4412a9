//! Connections to Redis: one server or a Redis Cluster, behind one type.
//!
//! `TAXI_REDIS_URL` names one server (`redis://host:port/db`) or a cluster: several
//! `redis://` node URLs separated by commas (any reachable subset of the nodes is
//! enough; the client learns the rest from `CLUSTER SLOTS`). Every connection has
//! Nagle's algorithm off: redis-rs leaves it on, and with delayed ACKs a quiet connection
//! waited up to 40 ms, which a dispatch path of a few round trips cannot afford.

use crate::StoreError;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::io::tcp::TcpSettings;
use redis::{Cmd, IntoConnectionInfo, Pipeline, RedisFuture, Value};
use std::time::Duration;

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

    /// The first node: where pub/sub subscribes (a cluster forwards every PUBLISH to
    /// every node).
    pub(crate) fn first(&self) -> &str {
        match self {
            Target::Single(u) => u,
            Target::Cluster(urls) => &urls[0],
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

fn nodelay() -> TcpSettings {
    TcpSettings::default().set_nodelay(true)
}

/// A client for one server, with TCP_NODELAY on.
pub(crate) fn single_client(url: &str) -> Result<redis::Client, StoreError> {
    let info = url
        .into_connection_info()
        .map_err(|e| StoreError::Config(format!("TAXI_REDIS_URL: {e}")))?
        .set_tcp_settings(nodelay());
    redis::Client::open(info).map_err(|e| StoreError::Config(format!("TAXI_REDIS_URL: {e}")))
}

/// How long to wait for Redis.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    /// `None`: wait as long as it takes (blocking commands bring their own bound).
    pub(crate) response: Option<Duration>,
}

/// A multiplexed connection to one server or to a cluster; cheap to clone, reconnects by
/// itself.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Conn {
    /// A lazy connection: nothing is dialled until the first command, so a service can
    /// start while Redis is still coming up.
    pub(crate) fn open(target: &Target, t: Timeouts) -> Result<Self, StoreError> {
        match target {
            Target::Single(url) => {
                let mut config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(t.connect))
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(200));
                config = config.set_response_timeout(t.response);
                Ok(Conn::Single(ConnectionManager::new_lazy_with_config(
                    single_client(url)?,
                    config,
                )?))
            }
            Target::Cluster(urls) => {
                let mut builder = redis::cluster::ClusterClientBuilder::new(urls.clone())
                    .tcp_settings(nodelay())
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
                Ok(Conn::Cluster(
                    client.get_pending_async_connection_with_config(config),
                ))
            }
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
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
