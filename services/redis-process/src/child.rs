//! Spawning a `redis-server` tied to this process, and the lock on a data directory.
//!
//! A server must not outlive the process that started it: `taxi serve` killed with
//! SIGKILL (or a test binary that panicked past its destructors) used to leave its
//! `redis-server` running, holding the port and the AOF. On Linux the child is given a
//! parent-death signal (`PR_SET_PDEATHSIG`, SIGTERM: Redis then flushes its AOF and exits).
//! The kernel sends it when the *thread* that forked the child exits, not the process, so
//! every server is forked from one thread that lives as long as the process ([`spawn`]);
//! forking from a test's thread, or from a Tokio blocking thread that is retired after 10 s
//! idle, would kill the server with it.
//!
//! Two servers must never open one AOF: a data directory is locked ([`DirLock`], `flock`
//! on a file in it, which records the holder's pid) before a server is started there. The
//! server inherits the lock (the same open file), so the directory stays locked while the
//! server lives, even for the moment after its parent was killed and before the
//! parent-death signal has made it exit.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::sync::mpsc;

/// The lock file in a locked data directory; it holds the pid of the process that locked it.
pub(crate) const LOCK_FILE: &str = "taxi-redis.lock";

/// A request to the spawner thread: the command, and where to send the child.
type Job = (Command, mpsc::Sender<io::Result<Child>>);

/// The spawner thread's inbox. The sender lives in this static, so the thread never ends
/// before the process does.
static SPAWNER: OnceLock<Result<mpsc::Sender<Job>, String>> = OnceLock::new();

/// Spawns `cmd` from the long-lived spawner thread, with a parent-death signal on Linux
/// and, if `inherit` is given, that lock inherited by the child.
pub(crate) fn spawn(mut cmd: Command, inherit: Option<&DirLock>) -> io::Result<Child> {
    let inherit = inherit.map(|l| l.file.try_clone()).transpose()?;
    tie_to_parent(&mut cmd, inherit);
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("redis-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .map(|_| tx)
            .map_err(|e| e.to_string())
    });
    let spawner = spawner
        .as_ref()
        .map_err(|e| io::Error::other(format!("cannot start the redis-spawner thread: {e}")))?;
    let (reply, child) = mpsc::channel();
    spawner
        .send((cmd, reply))
        .map_err(|_| io::Error::other("the redis-spawner thread is gone"))?;
    child
        .recv()
        .map_err(|_| io::Error::other("the redis-spawner thread is gone"))?
}

/// Sets what the child does between fork and exec: ask for SIGTERM when its parent dies
/// (Linux), check that the parent has not died already, and keep `inherit` open across exec.
#[cfg(unix)]
#[allow(unsafe_code)]
fn tie_to_parent(cmd: &mut Command, inherit: Option<File>) {
    use std::os::unix::process::CommandExt;
    #[cfg(target_os = "linux")]
    let parent = rustix::process::getpid();
    let hook = move || -> io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))?;
            // The parent may have died between fork and prctl: no signal would ever come.
            if rustix::process::getppid() != Some(parent) {
                return Err(rustix::io::Errno::SRCH.into());
            }
        }
        if let Some(lock) = &inherit {
            rustix::io::fcntl_setfd(lock, rustix::io::FdFlags::empty())?;
        }
        Ok(())
    };
    // SAFETY: `pre_exec` runs the hook in the forked child before exec, where only
    // async-signal-safe work is allowed. The hook only makes raw system calls through
    // rustix (prctl, getppid, fcntl) and builds errors from raw codes: it allocates
    // nothing, takes no lock and touches no state shared with other threads.
    unsafe {
        cmd.pre_exec(hook);
    }
}

#[cfg(not(unix))]
fn tie_to_parent(_cmd: &mut Command, _inherit: Option<File>) {}

/// An exclusive lock on a data directory, held until dropped (and while a server that
/// inherited it runs).
#[derive(Debug)]
pub(crate) struct DirLock {
    file: File,
}

/// Why a data directory could not be locked.
#[derive(Debug)]
pub(crate) enum LockError {
    /// Someone holds it; the pid it recorded, if readable.
    Held(Option<u32>),
    /// The lock file could not be opened or written.
    Io(io::Error),
}

impl DirLock {
    /// Locks `dir` at once or says who holds it; records our pid in the lock file.
    pub(crate) fn acquire(dir: &Path) -> Result<Self, LockError> {
        let path: PathBuf = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(LockError::Io)?;
        if let Err(e) = try_lock(&file) {
            if e.kind() != io::ErrorKind::WouldBlock {
                return Err(LockError::Io(e));
            }
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(LockError::Held(text.trim().parse().ok()));
        }
        let record = (|| {
            file.set_len(0)?;
            file.rewind()?;
            writeln!(file, "{}", std::process::id())?;
            file.flush()
        })();
        record.map_err(LockError::Io)?;
        Ok(Self { file })
    }
}

#[cfg(unix)]
fn try_lock(file: &File) -> io::Result<()> {
    use rustix::fs::{FlockOperation, flock};
    // flock, not fcntl: its lock belongs to the open file, so a child that inherits the
    // descriptor keeps the directory locked after we are gone.
    flock(file, FlockOperation::NonBlockingLockExclusive).map_err(io::Error::from)
}

#[cfg(not(unix))]
fn try_lock(_file: &File) -> io::Result<()> {
    Ok(())
}
