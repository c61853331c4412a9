//! The in-car terminal gateway (`taxi serve --role terminal-gateway`): a TCP listener where
//! JT/T 808 terminals register, authenticate, keep alive and report positions, so the taxis
//! already on the road are taxis of this system without a new app.
//!
//! A terminal is bound to its taxi by a fleet admin (`taxi admin bind-terminal`, by the
//! terminal's phone number). Its session ([`session`]):
//! - registration (0x0100) answers 0x8100: OK with a fresh authentication code when the
//!   phone number is bound and the plate is that taxi's; "no such terminal" or "no such
//!   vehicle" otherwise. Only the code's salted hash is stored.
//! - authentication (0x0102) with that code binds the session to the taxi and signs it on;
//!   until then nothing else counts (answered "failed"). One terminal has one session: a
//!   new authentication ends the old one.
//! - after it, every frame must carry the session's phone number (another is refused);
//!   heartbeats (0x0002) are answered; locations (0x0200) and batches (0x0704) are checked
//!   as the driver app's (`taxi_driver::positions::check`) and stored like them.
//! - a session that sends nothing for the idle time is closed.
//!
//! - the emergency alarm bit raises an operator alert (the taxi as its source, at the
//!   report's position) when it sets; the reply says "alarm confirmed".
//!
//! - the taxi's dispatch events become JT/T 905 frames and the driver's 905 answers the
//!   app's store calls ([`orders`]).
//!
//! Not yet (issue 17 item 4 and the bench): the terminal simulator, and sequential
//! "direct assignment" as its own frame (an offer is always the broadcast 0x8B00).

mod orders;
mod positions;
pub mod session;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use taxi_domain::settings::Settings;
use taxi_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long a silent session lives by default: three of the standard's 60 s heartbeats.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(180);

/// The gateway's shared state.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub(crate) store: Store,
    pub(crate) settings: Arc<Settings>,
    pub(crate) idle: Duration,
    /// The live session of each terminal (by phone number), to end it when the terminal
    /// authenticates again elsewhere.
    pub(crate) sessions: Arc<Mutex<HashMap<String, (u64, CancellationToken)>>>,
    /// The dispatch events of the taxis connected here (the driver apps' hub).
    pub(crate) hub: taxi_driver::hub::Hub,
    /// Every session's fixes, stored together ([`positions`]).
    pub(crate) fixes: positions::Fixes,
}

impl Gateway {
    /// A gateway over `store`, checking positions by `settings`, closing sessions silent
    /// for `idle`.
    pub fn new(store: Store, settings: Arc<Settings>, idle: Duration) -> Self {
        Self {
            hub: taxi_driver::hub::Hub::new(store.clone(), (*settings).clone()),
            fixes: positions::Fixes::new(),
            store,
            settings,
            idle,
            sessions: Arc::default(),
        }
    }

    /// Accepts terminals on `listener` until `shutdown`; each connection is a session.
    pub async fn serve(self, listener: TcpListener, shutdown: CancellationToken) {
        tokio::spawn(self.hub.clone().run(shutdown.clone()));
        let fresh = self.settings.position_fresh.as_millis() as i64;
        if let Some(task) = self.fixes.worker(self.store.clone(), fresh) {
            tokio::spawn(task);
        }
        let mut next_id: u64 = 0;
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                () = shutdown.cancelled() => return,
            };
            match accepted {
                Ok((stream, peer)) => {
                    next_id += 1;
                    let _ = stream.set_nodelay(true);
                    let gw = self.clone();
                    let stop = shutdown.child_token();
                    tokio::spawn(session::run(gw, stream, peer, next_id, stop));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "terminal gateway: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Binds `addr` and serves on it (the listener's address is returned first).
    pub async fn bind(
        self,
        addr: SocketAddr,
        shutdown: CancellationToken,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        tracing::info!(%local, "terminal gateway (JT/T 808) listening");
        Ok((local, tokio::spawn(self.serve(listener, shutdown))))
    }
}
