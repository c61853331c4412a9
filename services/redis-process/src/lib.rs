//! A private `redis-server` child process on a free loopback port.
//!
//! Used by `taxi serve` when no `TAXI_REDIS_URL` is given (the embedded default) and by the
//! test harness, which must never touch a Redis someone left running. The server runs with
//! AOF on (`appendfsync everysec`), binds 127.0.0.1 only, and is shut down (saving its AOF)
//! when the [`RedisProcess`] is dropped.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why a private Redis could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// No `redis-server` on PATH.
    #[error(
        "redis-server was not found on PATH. Install it (Debian/Ubuntu: `apt-get install -y redis-server`) \
         or point TAXI_REDIS_URL at a running Redis"
    )]
    NotInstalled,
    /// The process could not be spawned or prepared.
    #[error("could not start redis-server: {0}")]
    Io(#[from] std::io::Error),
    /// It started but never answered PING.
    #[error("redis-server on port {port} did not answer PING within {waited:?}; its log: {log}")]
    NotReady {
        /// The port it was given.
        port: u16,
        /// How long we waited.
        waited: Duration,
        /// The tail of its log.
        log: String,
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
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
}

fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
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
        let log = self.dir.path().join("redis.log");
        let child = Command::new(&self.binary)
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--protected-mode", "yes"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--appendonly", "yes", "--appendfsync", "everysec"])
            .args(["--save", "", "--daemonize", "no"])
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let waited = Duration::from_secs(10);
        let deadline = Instant::now() + waited;
        while Instant::now() < deadline {
            if ping(self.addr()) {
                tracing::info!(port = self.port, dir = %self.dir.path().display(), "private redis-server ready");
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && child.try_wait()?.is_some()
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        Err(LaunchError::NotReady {
            port: self.port,
            waited,
            log: tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
        })
    }

    /// The loopback address it listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
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
        if let Ok(mut s) = TcpStream::connect_timeout(&self.addr(), Duration::from_millis(500)) {
            let _ = s.set_write_timeout(Some(Duration::from_millis(500)));
            let _ = s.write_all(b"SHUTDOWN\r\n");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
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

fn ping(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
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
}
