//! Whether Redis answers, found out every second instead of by the next unlucky caller.
//!
//! [`Store::watch_liveness`] pings each of the store's connections once per interval,
//! each ping bounded by the response timeout. A ping that fails makes its connection
//! replace itself ([`crate::conn`]), so an idle half-open connection is gone within
//! about two intervals, not when a dispatch next needs it. The result is published as a
//! [`Reachability`] (the server turns it into gRPC health: NOT_SERVING while Redis is
//! unreachable) and as metrics: the gauge `taxi_redis_up` (1 or 0), the counter
//! `taxi_redis_outages_total`, and `taxi_redis_connection_replacements_total` by
//! connection. Each change is logged once: a warning when Redis stops answering, and how
//! long it was away when it answers again.

use crate::{Store, StoreError};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Whether the store's connections answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reachability {
    /// Every connection answered its last ping.
    Reachable,
    /// At least one did not.
    Unreachable,
}

impl Store {
    /// Pings every connection each `every` until `shutdown`, publishing the result on
    /// `status` (only changes are sent).
    pub async fn watch_liveness(
        &self,
        every: Duration,
        shutdown: CancellationToken,
        status: watch::Sender<Reachability>,
    ) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut down_since: Option<Instant> = None;
        metrics::gauge!(taxi_metrics::REDIS_UP).set(1.0);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.cancelled() => return,
            }
            let probe = tokio::select! {
                r = self.probe() => r,
                () = shutdown.cancelled() => return,
            };
            match (probe, down_since) {
                (Ok(()), None) => {}
                (Ok(()), Some(since)) => {
                    down_since = None;
                    metrics::gauge!(taxi_metrics::REDIS_UP).set(1.0);
                    tracing::info!(
                        city = self.city(),
                        down_for_ms = since.elapsed().as_millis() as u64,
                        "Redis answers again"
                    );
                    status.send_replace(Reachability::Reachable);
                }
                (Err(e), None) => {
                    down_since = Some(Instant::now());
                    metrics::gauge!(taxi_metrics::REDIS_UP).set(0.0);
                    metrics::counter!(taxi_metrics::REDIS_OUTAGES).increment(1);
                    tracing::warn!(city = self.city(), error = %e, "Redis does not answer");
                    status.send_replace(Reachability::Unreachable);
                }
                (Err(_), Some(_)) => {}
            }
        }
    }

    /// One ping on each connection, at once.
    async fn probe(&self) -> Result<(), StoreError> {
        let ping = |mut c: crate::conn::Conn| async move {
            let _: String = redis::cmd("PING").query_async(&mut c).await?;
            Ok::<(), StoreError>(())
        };
        let (a, b) = tokio::join!(ping(self.conn.clone()), ping(self.bulk.clone()));
        a.and(b)
    }

    /// How many times the store's connections have been replaced after failing.
    pub fn connection_replacements(&self) -> u64 {
        self.conn.replacements() + self.bulk.replacements()
    }
}
