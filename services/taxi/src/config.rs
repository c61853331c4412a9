//! Configuration: flags and `TAXI_*` environment variables, checked before anything starts.

use anyhow::{Context, bail};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use taxi_domain::geo::{City, ServiceArea};
use taxi_server::{ServerConfig, parse_roles};

/// `TAXI_ROLE`: the roles to serve.
pub const ENV_ROLE: &str = "TAXI_ROLE";
/// `TAXI_LISTEN`: the gRPC listen address.
pub const ENV_LISTEN: &str = "TAXI_LISTEN";
/// `TAXI_REDIS_URL`: an external Redis; unset means a private embedded one.
pub const ENV_REDIS_URL: &str = "TAXI_REDIS_URL";
/// `TAXI_CITY`: the administrative code of the city served.
pub const ENV_CITY: &str = "TAXI_CITY";
/// `TAXI_SERVICE_AREA`: the service polygon, `lat,lon;lat,lon;...` (required for cities not built in).
pub const ENV_SERVICE_AREA: &str = "TAXI_SERVICE_AREA";
/// `TAXI_DATA_DIR`: where the embedded Redis keeps its AOF.
pub const ENV_DATA_DIR: &str = "TAXI_DATA_DIR";
/// `TAXI_POSITION_FRESH_SECS`: positions older than this are never matched.
pub const ENV_POSITION_FRESH: &str = "TAXI_POSITION_FRESH_SECS";
/// `TAXI_GRACE_SECS`: how long in-flight calls may finish after a shutdown signal.
pub const ENV_GRACE: &str = "TAXI_GRACE_SECS";
/// `TAXI_DRAIN_SECS`: how long NOT_SERVING shows before the listener closes.
pub const ENV_DRAIN: &str = "TAXI_DRAIN_SECS";

/// Flags of `taxi serve` (each also read from its environment variable).
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Roles: all, or a comma-separated list of fleet, driver, hotline, onekey, dispatch.
    #[arg(long, env = ENV_ROLE, default_value = "all")]
    pub role: String,
    /// gRPC listen address.
    #[arg(long, env = ENV_LISTEN, default_value = "127.0.0.1:50051")]
    pub listen: String,
    /// Redis URL (redis://host:port/db). Unset: start a private redis-server.
    #[arg(long, env = ENV_REDIS_URL)]
    pub redis_url: Option<String>,
    /// City code (500100 Chongqing and 110100 Beijing are built in).
    #[arg(long, env = ENV_CITY, default_value = "500100")]
    pub city: String,
    /// Service area polygon as `lat,lon;lat,lon;...` (WGS-84).
    #[arg(long, env = ENV_SERVICE_AREA)]
    pub service_area: Option<String>,
    /// Data directory of the embedded Redis.
    #[arg(long, env = ENV_DATA_DIR, default_value = ".taxi-data")]
    pub data_dir: PathBuf,
    /// Seconds after which a position is stale.
    #[arg(long, env = ENV_POSITION_FRESH, default_value_t = 30)]
    pub position_fresh_secs: u64,
    /// Seconds in-flight calls may run on after SIGINT/SIGTERM.
    #[arg(long, env = ENV_GRACE, default_value_t = 10)]
    pub grace_secs: u64,
    /// Seconds NOT_SERVING is shown before the listener closes.
    #[arg(long, env = ENV_DRAIN, default_value_t = 0)]
    pub drain_secs: u64,
}

/// Configuration that passed every check.
#[derive(Debug, Clone)]
pub struct Checked {
    pub listen: SocketAddr,
    pub redis_url: Option<String>,
    pub data_dir: PathBuf,
    pub server: ServerConfig,
}

impl ServeArgs {
    /// Checks everything; the error names the flag and its variable.
    pub fn check(&self) -> anyhow::Result<Checked> {
        let roles = parse_roles(&self.role).with_context(|| format!("--role / {ENV_ROLE}"))?;
        let listen: SocketAddr = self.listen.parse().with_context(|| {
            format!(
                "--listen / {ENV_LISTEN}: `{}` is not host:port",
                self.listen
            )
        })?;
        if let Some(url) = &self.redis_url {
            let ok = ["redis://", "rediss://", "unix://", "redis+unix://"]
                .iter()
                .any(|p| url.starts_with(p));
            if !ok {
                bail!(
                    "--redis-url / {ENV_REDIS_URL}: `{url}` must start with redis://, rediss:// or unix://"
                );
            }
        }
        if self.city.is_empty()
            || self.city.len() > 12
            || !self.city.bytes().all(|b| b.is_ascii_digit())
        {
            bail!(
                "--city / {ENV_CITY}: `{}` must be a numeric division code such as 500100",
                self.city
            );
        }
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
            ..ServerConfig::default()
        };
        server.settings.city = city;
        server.settings.position_fresh = Duration::from_secs(self.position_fresh_secs);
        Ok(Checked {
            listen,
            redis_url: self.redis_url.clone(),
            data_dir: self.data_dir.clone(),
            server,
        })
    }
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
    fn defaults_just_work() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:50051");
        assert!(c.redis_url.is_none());
        assert_eq!(c.server.settings.city.code, "500100");
        assert_eq!(c.server.roles.len(), 5);
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
