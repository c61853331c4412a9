//! Private `redis-server` child processes on free loopback ports: one server, or a whole
//! Redis Cluster.
//!
//! Used by `taxi serve` when no `TAXI_REDIS_URL` is given (the embedded default) and by the
//! test harness, which must never touch a Redis someone left running. Every server runs with
//! AOF on (`appendfsync everysec`), binds 127.0.0.1 only, logs to a file in its own data
//! directory, and is stopped when the value that started it is dropped.
//!
//! # Layout
//!
//! - `lib.rs`: [`RedisProcess`] (one server; shut down, saving its AOF, on drop), the
//!   [`LaunchError`] both types return, and what they share: finding the binaries, spawning a
//!   server and waiting until it answers *as itself* (its `process_id`, so a server someone
//!   else started on the same port is never mistaken for ours), stopping it.
//! - `cluster.rs`: [`RedisCluster`] (N masters, no replicas, created with
//!   `redis-cli --cluster create`, ready once every node reports all 16384 slots assigned and
//!   `cluster_state:ok`; every node stopped on drop), and [`RedisCluster::owner_port`] for
//!   tests that care which node serves a key.
//! - `resp.rs`: a tiny blocking RESP2 client (one command per connection) for the above.

mod cluster;
mod resp;

pub use cluster::RedisCluster;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a freshly spawned server gets to answer.
const READY_WAIT: Duration = Duration::from_secs(10);
/// How long a server gets to exit after SHUTDOWN before it is killed.
const STOP_WAIT: Duration = Duration::from_secs(5);
/// Each server's log, in its data directory.
const LOG_FILE: &str = "redis.log";

/// Why a private Redis (one server or a cluster) could not be started or asked something.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// No `redis-server` on PATH.
    #[error(
        "redis-server was not found on PATH. Install it (Debian/Ubuntu: `apt-get install -y redis-server`) \
         or point TAXI_REDIS_URL at a running Redis"
    )]
    NotInstalled,
    /// No `redis-cli` next to `redis-server` or on PATH (a cluster is created with it).
    #[error(
        "redis-cli was not found next to redis-server or on PATH. Install it \
         (Debian/Ubuntu: `apt-get install -y redis-tools`)"
    )]
    CliNotInstalled,
    /// A process could not be spawned or prepared, or a server could not be reached.
    #[error("could not start or reach redis-server: {0}")]
    Io(#[from] std::io::Error),
    /// It started but never answered as itself.
    #[error("redis-server on port {port} was not answering within {waited:?}; its log: {log}")]
    NotReady {
        /// The port it was given.
        port: u16,
        /// How long we waited.
        waited: Duration,
        /// The tail of its log.
        log: String,
    },
    /// Redis Cluster needs at least three masters.
    #[error("a Redis Cluster needs at least 3 masters, not {0}")]
    TooFewMasters(usize),
    /// `redis-cli --cluster create` failed or did not finish in time.
    #[error("`redis-cli --cluster create` failed ({status}); its output: {output}")]
    ClusterCreate {
        /// Its exit status, or why it was stopped.
        status: String,
        /// The tail of what it printed.
        output: String,
    },
    /// The nodes were joined but did not all report a healthy cluster in time.
    #[error(
        "the Redis Cluster on ports {ports:?} was not ready within {waited:?} (last seen: {state}); \
         node logs: {logs}"
    )]
    ClusterNotReady {
        /// The nodes' ports.
        ports: Vec<u16>,
        /// How long we waited.
        waited: Duration,
        /// What the nodes said last.
        state: String,
        /// The tail of each node's log.
        logs: String,
    },
    /// A server answered something unexpected.
    #[error("unexpected answer from redis-server on port {port}: {detail}")]
    Protocol {
        /// The server's port.
        port: u16,
        /// What was wrong.
        detail: String,
    },
}

/// Where the data lives: a directory we own (removed on drop) or one the caller chose.
#[derive(Debug)]
enum DataDir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl DataDir {
    fn path(&self) -> &Path {
        match self {
            DataDir::Temp(t) => t.path(),
            DataDir::Kept(p) => p,
        }
    }
}

/// A running private `redis-server`.
#[derive(Debug)]
pub struct RedisProcess {
    child: Option<Child>,
    port: u16,
    dir: DataDir,
    binary: PathBuf,
}

/// Finds `redis-server` on PATH.
pub fn find_redis_server() -> Option<PathBuf> {
    find_on_path("redis-server")
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `redis-cli` next to `server` (they ship together), else the one on PATH.
fn find_redis_cli(server: &Path) -> Option<PathBuf> {
    let beside = server.with_file_name("redis-cli");
    if beside.is_file() {
        return Some(beside);
    }
    find_on_path("redis-cli")
}

fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Spawns `binary` on `port`, its data and log in `dir`, with `extra` arguments after the
/// common ones, and waits until it answers. On failure the process is gone.
fn launch(binary: &Path, port: u16, dir: &Path, extra: &[&str]) -> Result<Child, LaunchError> {
    let log = dir.join(LOG_FILE);
    let mut child = Command::new(binary)
        .arg("--port")
        .arg(port.to_string())
        .args(["--bind", "127.0.0.1", "--protected-mode", "yes"])
        .arg("--dir")
        .arg(dir)
        .args(["--appendonly", "yes", "--appendfsync", "everysec"])
        .args(["--save", "", "--daemonize", "no"])
        .arg("--logfile")
        .arg(&log)
        .args(extra)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + READY_WAIT;
    while Instant::now() < deadline {
        // Its own pid, not just a PONG: if someone else took the port first, our server is
        // about to exit with "address in use" and the caller retries on another port.
        if answering_pid(port) == Some(child.id()) {
            return Ok(child);
        }
        if child.try_wait()?.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(LaunchError::NotReady {
        port,
        waited: READY_WAIT,
        log: log_tail(&log, 5),
    })
}

/// The `process_id` of the server answering on `port`, if one does.
fn answering_pid(port: u16) -> Option<u32> {
    let info = resp::command(
        loopback(port),
        &["INFO", "server"],
        Duration::from_millis(500),
    )
    .ok()?
    .text()?;
    info_field(&info, "process_id")?.parse().ok()
}

/// `field:value` from an INFO-style reply.
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

/// The last `lines` lines of a log, joined with ` | `.
fn log_tail(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(lines).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// Sends SHUTDOWN (with `NOSAVE` if asked) to the server on `port`; there is no reply.
fn ask_shutdown(port: u16, nosave: bool) {
    let cmd: &[&str] = if nosave {
        &["SHUTDOWN", "NOSAVE"]
    } else {
        &["SHUTDOWN"]
    };
    let _ = resp::send(loopback(port), cmd, Duration::from_millis(500));
}

/// Waits for `child` to exit until `deadline`, then kills it; either way it is reaped.
fn wait_or_kill(child: &mut Child, deadline: Instant) {
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl RedisProcess {
    /// Starts a server with its data in a fresh temporary directory (removed on drop).
    pub fn start_temporary() -> Result<Self, LaunchError> {
        let dir = tempfile::Builder::new().prefix("taxi-redis-").tempdir()?;
        Self::start_in(DataDir::Temp(dir))
    }

    /// Starts a server whose AOF lives in `dir` (created if missing, kept after exit).
    pub fn start_with_dir(dir: impl Into<PathBuf>) -> Result<Self, LaunchError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Self::start_in(DataDir::Kept(dir))
    }

    fn start_in(dir: DataDir) -> Result<Self, LaunchError> {
        let binary = find_redis_server().ok_or(LaunchError::NotInstalled)?;
        let mut this = Self {
            child: None,
            port: 0,
            dir,
            binary,
        };
        // A free port can be taken by someone else between our probe and Redis' bind:
        // try a few.
        let mut last = None;
        for _ in 0..5 {
            this.port = free_port()?;
            match this.spawn() {
                Ok(()) => return Ok(this),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(LaunchError::NotInstalled))
    }

    fn spawn(&mut self) -> Result<(), LaunchError> {
        self.child = Some(launch(&self.binary, self.port, self.dir.path(), &[])?);
        tracing::info!(port = self.port, dir = %self.dir.path().display(), "private redis-server ready");
        Ok(())
    }

    /// The loopback address it listens on.
    pub fn addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A `redis://` URL for clients.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The directory holding its AOF.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Asks the server to shut down (flushing its AOF) and waits for it to exit.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        ask_shutdown(self.port, false);
        wait_or_kill(&mut child, Instant::now() + STOP_WAIT);
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port with the same data (its AOF is replayed).
    pub fn restart(&mut self) -> Result<(), LaunchError> {
        self.stop();
        self.start_again()
    }

    /// Starts a stopped server again on the same port with the same data.
    pub fn start_again(&mut self) -> Result<(), LaunchError> {
        let mut last = None;
        // The old socket may linger for a moment.
        for _ in 0..50 {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(last.unwrap_or(LaunchError::NotInstalled))
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a server answers PING on `addr`.
#[cfg(test)]
fn ping(addr: SocketAddr) -> bool {
    matches!(
        resp::command(addr, &["PING"], Duration::from_millis(500)),
        Ok(resp::Reply::Simple(s)) if s == "PONG"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_pings_restarts_and_stops() {
        let mut r = RedisProcess::start_temporary().unwrap();
        assert!(ping(r.addr()));
        let port = r.port();
        r.restart().unwrap();
        assert_eq!(r.port(), port);
        assert!(ping(r.addr()));
        r.stop();
        assert!(!ping(r.addr()));
        assert!(!r.is_running());
    }

    #[test]
    fn reads_info_fields() {
        let info = "# Server\r\nredis_version:7.0.15\r\nprocess_id:4242\r\n";
        assert_eq!(info_field(info, "process_id"), Some("4242"));
        assert_eq!(info_field(info, "process"), None);
    }
}
