//! Private `redis-server` child processes on free loopback ports: one server, or a whole
//! Redis Cluster.
//!
//! Used by `taxi serve` when no `TAXI_REDIS_URL` is given (the embedded default) and by the
//! test harness, which must never touch a Redis someone left running. Every server runs with
//! AOF on (`appendfsync always` unless [`Options::fsync`] says `everysec`), binds 127.0.0.1
//! only, logs to a file in its own data directory, is stopped when the value that started it
//! is dropped, and exits by itself when the process that started it dies (Linux). A data
//! directory the caller chose is locked, so two servers never open one AOF.
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
//! - `child.rs`: spawning a server tied to this process (a parent-death signal, from one
//!   long-lived thread) and the lock on a data directory.
//! - `resp.rs`: a tiny blocking RESP2 client (one command per connection) for the above.

mod child;
mod cluster;
mod resp;

pub use cluster::RedisCluster;

use child::{DirLock, LockError};
use std::fmt;
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

/// When Redis writes its AOF through to the disk (`appendfsync`). The default is defined
/// here, once: `taxi serve`, `taxi bench`, the demo and the tests start with it unless told
/// otherwise (`TAXI_REDIS_FSYNC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fsync {
    /// After every write, before the reply (Redis groups the writes of one event-loop
    /// turn into one `fsync`): an acknowledged order survives a power cut.
    #[default]
    Always,
    /// Once a second, in the background: faster, but a power cut or a kernel crash loses
    /// up to about a second of acknowledged writes (a crash of Redis alone loses nothing:
    /// the data is in the kernel's page cache).
    Everysec,
}

impl Fsync {
    /// The value `appendfsync` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::Everysec => "everysec",
        }
    }
}

impl fmt::Display for Fsync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Fsync {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "always" => Ok(Fsync::Always),
            "everysec" => Ok(Fsync::Everysec),
            other => Err(format!("`{other}` is not `always` or `everysec`")),
        }
    }
}

/// How to run a private server.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The AOF's fsync policy.
    pub fsync: Fsync,
    /// A password clients must give (`requirepass`); [`RedisProcess::url`] carries it.
    /// It is passed on the server's command line, which local users can read: the server
    /// listens on loopback only, so this is for tests of authentication, not a secret.
    pub password: Option<String>,
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("fsync", &self.fsync)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

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
    /// Another process holds the data directory: two servers must never open one AOF.
    #[error(
        "the data directory {} is in use by another taxi process{}; stop it, or choose \
         another directory with --data-dir / TAXI_DATA_DIR",
        dir.display(),
        holder.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    DataDirInUse {
        /// The directory.
        dir: PathBuf,
        /// The pid the holder recorded, if readable.
        holder: Option<u32>,
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
    options: Options,
    /// The lock on a directory the caller chose (a temporary one is ours alone). Fields are
    /// dropped after `Drop::drop` has stopped the server, so it is released only then.
    lock: Option<DirLock>,
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

/// What to start: the binary, its port and data directory, how to run it.
struct Launch<'a> {
    binary: &'a Path,
    port: u16,
    dir: &'a Path,
    options: &'a Options,
    /// Arguments after the common ones.
    extra: &'a [&'a str],
    /// A lock the server inherits, so it holds its directory as long as it runs.
    lock: Option<&'a DirLock>,
}

/// Spawns the server and waits until it answers. On failure the process is gone.
fn launch(l: Launch<'_>) -> Result<Child, LaunchError> {
    let Launch {
        binary,
        port,
        dir,
        options,
        extra,
        lock,
    } = l;
    let log = dir.join(LOG_FILE);
    let mut cmd = Command::new(binary);
    cmd.arg("--port")
        .arg(port.to_string())
        .args(["--bind", "127.0.0.1", "--protected-mode", "yes"])
        .arg("--dir")
        .arg(dir)
        .args([
            "--appendonly",
            "yes",
            "--appendfsync",
            options.fsync.as_str(),
        ])
        .args(["--save", "", "--daemonize", "no"])
        .arg("--logfile")
        .arg(&log);
    if let Some(password) = &options.password {
        cmd.arg("--requirepass").arg(password);
    }
    cmd.args(extra)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = child::spawn(cmd, lock)?;
    let password = options.password.as_deref();
    let deadline = Instant::now() + READY_WAIT;
    while Instant::now() < deadline {
        // Its own pid, not just a PONG: if someone else took the port first, our server is
        // about to exit with "address in use" and the caller retries on another port.
        if answering_pid(port, password) == Some(child.id()) {
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
fn answering_pid(port: u16, password: Option<&str>) -> Option<u32> {
    let info = resp::command_as(
        loopback(port),
        password,
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
fn ask_shutdown(port: u16, password: Option<&str>, nosave: bool) {
    let cmd: &[&str] = if nosave {
        &["SHUTDOWN", "NOSAVE"]
    } else {
        &["SHUTDOWN"]
    };
    let _ = resp::send(loopback(port), password, cmd, Duration::from_millis(500));
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
        Self::start_temporary_with(Options::default())
    }

    /// The same, run as `options` say.
    pub fn start_temporary_with(options: Options) -> Result<Self, LaunchError> {
        let dir = tempfile::Builder::new().prefix("taxi-redis-").tempdir()?;
        Self::start_in(DataDir::Temp(dir), None, options)
    }

    /// Starts a server whose AOF lives in `dir` (created if missing, kept after exit).
    pub fn start_with_dir(dir: impl Into<PathBuf>) -> Result<Self, LaunchError> {
        Self::start_with_dir_with(dir, Options::default())
    }

    /// The same, run as `options` say. Fails at once with [`LaunchError::DataDirInUse`]
    /// if another process (or its server) holds `dir`.
    pub fn start_with_dir_with(
        dir: impl Into<PathBuf>,
        options: Options,
    ) -> Result<Self, LaunchError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        let lock = DirLock::acquire(&dir).map_err(|e| match e {
            LockError::Held(holder) => LaunchError::DataDirInUse {
                dir: dir.clone(),
                holder,
            },
            LockError::Io(e) => LaunchError::Io(e),
        })?;
        Self::start_in(DataDir::Kept(dir), Some(lock), options)
    }

    fn start_in(
        dir: DataDir,
        lock: Option<DirLock>,
        options: Options,
    ) -> Result<Self, LaunchError> {
        let binary = find_redis_server().ok_or(LaunchError::NotInstalled)?;
        let mut this = Self {
            child: None,
            port: 0,
            dir,
            binary,
            options,
            lock,
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
        self.child = Some(launch(Launch {
            binary: &self.binary,
            port: self.port,
            dir: self.dir.path(),
            options: &self.options,
            extra: &[],
            lock: self.lock.as_ref(),
        })?);
        tracing::info!(
            port = self.port,
            dir = %self.dir.path().display(),
            fsync = %self.options.fsync,
            "private redis-server ready"
        );
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

    /// A `redis://` URL for clients, with the password if it has one.
    pub fn url(&self) -> String {
        self.url_with(self.options.password.as_deref())
    }

    /// A `redis://` URL with `password` (or none), whatever the server requires: for
    /// tests of what a wrong or missing password does.
    pub fn url_with(&self, password: Option<&str>) -> String {
        let mut url = url::Url::parse(&format!("redis://127.0.0.1:{}/", self.port))
            .expect("a loopback URL parses");
        if password.is_some() {
            // Percent-encodes what a URL's user information cannot hold as is.
            let _ = url.set_password(password);
        }
        url.to_string()
    }

    /// How it runs (fsync policy, password).
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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
        ask_shutdown(self.port, self.options.password.as_deref(), false);
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
    fn fsync_is_always_unless_told_and_reaches_the_server() {
        assert_eq!(Options::default().fsync, Fsync::Always);
        assert_eq!("everysec".parse::<Fsync>(), Ok(Fsync::Everysec));
        assert!(
            "sometimes"
                .parse::<Fsync>()
                .unwrap_err()
                .contains("sometimes")
        );
        for fsync in [Fsync::Always, Fsync::Everysec] {
            let r = RedisProcess::start_temporary_with(Options {
                fsync,
                ..Options::default()
            })
            .unwrap();
            let reply = resp::command(
                r.addr(),
                &["CONFIG", "GET", "appendfsync"],
                Duration::from_secs(1),
            )
            .unwrap();
            assert_eq!(
                reply,
                resp::Reply::Array(Some(vec![
                    resp::Reply::Bulk(Some(b"appendfsync".to_vec())),
                    resp::Reply::Bulk(Some(fsync.as_str().as_bytes().to_vec())),
                ]))
            );
        }
    }

    #[test]
    fn a_password_is_required_and_in_the_url() {
        let mut r = RedisProcess::start_temporary_with(Options {
            password: Some("s3cret/:@".into()),
            ..Options::default()
        })
        .unwrap();
        assert_eq!(
            r.url(),
            format!("redis://:s3cret%2F%3A%40@127.0.0.1:{}/", r.port())
        );
        assert!(!format!("{r:?}").contains("s3cret"));
        let t = Duration::from_secs(1);
        let Ok(resp::Reply::Error(e)) = resp::command(r.addr(), &["PING"], t) else {
            panic!("PING without the password was answered");
        };
        assert!(e.starts_with("NOAUTH"), "{e}");
        let pong = resp::command_as(r.addr(), Some("s3cret/:@"), &["PING"], t).unwrap();
        assert_eq!(pong, resp::Reply::Simple("PONG".into()));
        // Stopping authenticates too: the server is gone, not killed after a timeout.
        let started = Instant::now();
        r.stop();
        assert!(started.elapsed() < STOP_WAIT, "{:?}", started.elapsed());
    }

    #[test]
    fn a_data_directory_holds_one_server_and_the_error_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("redis");
        let mut first = RedisProcess::start_with_dir(&data).unwrap();
        let err = RedisProcess::start_with_dir(&data).unwrap_err();
        assert!(
            matches!(&err, LaunchError::DataDirInUse { dir, holder }
                if *dir == data && *holder == Some(std::process::id())),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(&data.display().to_string()), "{text}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        // Released once the first server is gone: the directory can be used again. A child
        // the server forked (an AOF rewrite) inherits the lock too and may outlive it by an
        // instant, so the lock is given a few seconds to go (it failed a CI run once).
        first.stop();
        drop(first);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut again = loop {
            match RedisProcess::start_with_dir(&data) {
                Ok(r) => break r,
                Err(LaunchError::DataDirInUse { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => panic!("the directory was not released: {e:?}"),
            }
        };
        assert!(again.is_running());
    }

    /// The parent-death signal follows the thread that forked: a server started from a
    /// thread that then ends must live on (it is forked from the long-lived spawner).
    #[test]
    fn a_server_outlives_the_thread_that_started_it() {
        let mut r = std::thread::spawn(|| RedisProcess::start_temporary().unwrap())
            .join()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(r.is_running());
        assert!(ping(r.addr()));
    }

    #[test]
    fn reads_info_fields() {
        let info = "# Server\r\nredis_version:7.0.15\r\nprocess_id:4242\r\n";
        assert_eq!(info_field(info, "process_id"), Some("4242"));
        assert_eq!(info_field(info, "process"), None);
    }
}
