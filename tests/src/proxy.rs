//! A TCP fault proxy between the services and Redis: pass, delay, black-hole, reset.
//!
//! [`FaultProxy::start`] listens on a free loopback port and forwards every connection to
//! the upstream address. Faults are switched at run time and act like the network does:
//! - [`FaultProxy::pass`]: forward (connections that were black-holed stay dead, as a
//!   flow a NAT forgot stays dead; new connections work);
//! - [`FaultProxy::delay`]: forward each chunk after a delay;
//! - [`FaultProxy::black_hole`]: every open connection and every new one stays open but
//!   nothing more is forwarded, in either direction (a half-open connection: the kernel
//!   still acknowledges, so only the application can notice);
//! - [`FaultProxy::reset`]: every open connection is closed with a TCP reset.
//!
//! The proxy stops (and closes every connection) when dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What the proxy does to traffic now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pass,
    Delay(Duration),
    BlackHole,
}

/// One proxied connection's fate.
#[derive(Debug, Default)]
struct Conn {
    /// Black-holed once: never forwards again.
    dead: bool,
    /// Cancel to reset it.
    reset: CancellationToken,
}

/// A fault-injecting TCP proxy on loopback.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    conns: Arc<Mutex<Vec<Arc<Mutex<Conn>>>>>,
    stop: CancellationToken,
}

impl FaultProxy {
    /// Starts forwarding a free loopback port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (mode, _) = watch::channel(Mode::Pass);
        let conns: Arc<Mutex<Vec<Arc<Mutex<Conn>>>>> = Arc::default();
        let stop = CancellationToken::new();
        let proxy = Self {
            addr,
            mode,
            conns: conns.clone(),
            stop: stop.clone(),
        };
        let modes = proxy.mode.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    () = stop.cancelled() => return,
                };
                let Ok((client, _)) = accepted else { continue };
                let conn = Arc::new(Mutex::new(Conn {
                    dead: *modes.borrow() == Mode::BlackHole,
                    reset: stop.child_token(),
                }));
                conns.lock().expect("proxy lock").push(conn.clone());
                tokio::spawn(serve(client, upstream, conn, modes.subscribe()));
            }
        });
        proxy
    }

    /// Where the services should connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A `redis://` URL for the proxy.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// Forward again (for new connections; black-holed ones stay dead).
    pub fn pass(&self) {
        self.mode.send_replace(Mode::Pass);
    }

    /// Forward each chunk after `by`.
    pub fn delay(&self, by: Duration) {
        self.mode.send_replace(Mode::Delay(by));
    }

    /// Stop forwarding on every open and new connection, leaving them open.
    pub fn black_hole(&self) {
        for c in self.conns.lock().expect("proxy lock").iter() {
            c.lock().expect("proxy lock").dead = true;
        }
        self.mode.send_replace(Mode::BlackHole);
    }

    /// Reset every open connection.
    pub fn reset(&self) {
        for c in self.conns.lock().expect("proxy lock").drain(..) {
            c.lock().expect("proxy lock").reset.cancel();
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve(
    client: TcpStream,
    upstream: SocketAddr,
    conn: Arc<Mutex<Conn>>,
    modes: watch::Receiver<Mode>,
) {
    let reset = conn.lock().expect("proxy lock").reset.clone();
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    for s in [&client, &server] {
        let _ = s.set_nodelay(true);
        // Linger zero: dropping the socket sends a reset, which is what `reset` means.
        let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
    }
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = pump(cr, sw, conn.clone(), modes.clone());
    let down = pump(sr, cw, conn, modes);
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        () = reset.cancelled() => {}
    }
}

/// Copies one direction, honouring the mode.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    conn: Arc<Mutex<Conn>>,
    modes: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if conn.lock().expect("proxy lock").dead {
            // Swallowed: the sender's kernel saw it acknowledged, nobody will answer.
            continue;
        }
        let mode = *modes.borrow();
        if let Mode::Delay(by) = mode {
            tokio::time::sleep(by).await;
        }
        if conn.lock().expect("proxy lock").dead {
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
