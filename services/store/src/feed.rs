//! What the services wait on, typed, reconnecting inside the store: [`Wakeups`] for
//! dispatch workers, [`Store::on_notices`] for driver streams.
//!
//! Scripts publish one JSON notice per taxi on the city's channel in the same atomic step
//! as the transition. Pub/sub delivers at most once, so it is only the fast path: the
//! truth stays in Redis, and after the subscription reconnects the stream yields
//! [`Notice::Resync`] so every listener reads what its taxi holds again. On a Redis
//! Cluster, classic PUBLISH reaches every node, so subscribing to one node is enough.

use crate::conn::{Conn, Timeouts, single_client};
use crate::{Store, StoreError};
use futures::StreamExt;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often an idle subscription is pinged.
const PUBSUB_PING_EVERY: Duration = Duration::from_secs(1);
/// How long a subscription's ping may go unanswered before it is replaced.
const PUBSUB_PING_TIMEOUT: Duration = Duration::from_secs(1);

/// The kinds of notice a driver stream receives; the scripts' `NOTICE.<code>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// An order is offered to the taxi.
    Offer,
    /// An operator assigned an order to the taxi.
    Assigned,
    /// An offer was taken back (declined, expired, taken by another taxi, assigned).
    Withdrawn,
    /// The order the taxi held was cancelled.
    Cancelled,
    /// The taxi was signed off (missed offers).
    SignedOff,
}

impl NoticeKind {
    /// Every kind.
    pub const ALL: [NoticeKind; 5] = [
        NoticeKind::Offer,
        NoticeKind::Assigned,
        NoticeKind::Withdrawn,
        NoticeKind::Cancelled,
        NoticeKind::SignedOff,
    ];

    /// Its code in notices.
    pub fn code(self) -> &'static str {
        match self {
            NoticeKind::Offer => "offer",
            NoticeKind::Assigned => "assigned",
            NoticeKind::Withdrawn => "withdrawn",
            NoticeKind::Cancelled => "cancelled",
            NoticeKind::SignedOff => "signed_off",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// An offer as the dispatch script publishes it with its notice, so delivering it reads
/// nothing from Redis.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct OfferPayload {
    /// Pickup latitude (WGS-84), as stored.
    pub p_lat: String,
    /// Pickup longitude.
    pub p_lon: String,
    /// Pickup address.
    pub p_addr: String,
    /// Drop-off latitude ('' if none).
    pub d_lat: String,
    /// Drop-off longitude ('' if none).
    pub d_lon: String,
    /// Drop-off address.
    pub d_addr: String,
    /// Needs, comma-separated codes.
    pub needs: String,
    /// Notes for the driver.
    pub notes: String,
    /// Payment code.
    pub pay: String,
    /// The passenger's phone (the edge masks it).
    pub phone: String,
    /// Passengers.
    pub pax: String,
    /// The older passenger's reason ('' if not older).
    pub elderly: String,
    /// Distance from the taxi to the pickup, metres.
    pub dist: f64,
    /// The offer's deadline, epoch ms.
    pub deadline: i64,
}

/// A notice for one taxi.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// Something happened to `taxi`.
    Taxi {
        /// The taxi.
        taxi: String,
        /// What.
        kind: NoticeKind,
        /// The order concerned ('' for a sign-off).
        order: String,
        /// Why, in words.
        reason: String,
        /// The offer itself, with [`NoticeKind::Offer`].
        offer: Option<Box<OfferPayload>>,
    },
    /// Notices may have been lost (the subscription reconnected): read the truth again.
    Resync,
}

#[derive(serde::Deserialize)]
struct Wire {
    taxi: String,
    kind: String,
    order: String,
    reason: String,
    #[serde(default)]
    offer: Option<OfferPayload>,
}

impl Notice {
    /// Decodes a published notice.
    pub fn parse(text: &str) -> Option<Self> {
        let w: Wire = serde_json::from_str(text).ok()?;
        Some(Notice::Taxi {
            taxi: w.taxi,
            kind: NoticeKind::from_code(&w.kind)?,
            order: w.order,
            reason: w.reason,
            offer: w.offer.map(Box::new),
        })
    }
}

/// A dispatch worker's wait for work, on a connection of its own (a blocking command
/// must not stall the shared one), reconnected inside as needed.
pub struct Wakeups {
    store: Store,
    conn: Option<Conn>,
}

impl std::fmt::Debug for Wakeups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wakeups")
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

impl Wakeups {
    /// Waits until work may be waiting or `timeout` passes; returns the order id the
    /// wake-up names (a hint of the queue's head), if any.
    pub async fn next(&mut self, timeout: Duration) -> Result<Option<String>, StoreError> {
        if self.conn.is_none() {
            let t = Timeouts {
                connect: self.store.config().connect_timeout,
                // The blocking wait brings its own bound; a second more for the reply.
                response: Some(timeout + Duration::from_secs(1)),
            };
            self.conn = Some(Conn::open("wakeups", &self.store.target, t)?);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Ok(None);
        };
        let got: Result<Option<(String, String)>, redis::RedisError> = redis::cmd("BLPOP")
            .arg(&self.store.keys.wakeup)
            .arg(timeout.as_secs_f64())
            .query_async(conn)
            .await;
        match got {
            Ok(v) => Ok(v.map(|(_, order)| order)),
            Err(e) => {
                self.conn = None;
                Err(e.into())
            }
        }
    }
}

impl Store {
    /// A wait for dispatch work, for one worker.
    pub fn wakeups(&self) -> Wakeups {
        Wakeups {
            store: self.clone(),
            conn: None,
        }
    }

    /// Hands the city's driver notices to `deliver` until `shutdown`: subscribes, and
    /// after every reconnection hands over [`Notice::Resync`] first. `deliver` runs on the
    /// subscription's own task, so it must not block (the hub only queues): a channel in
    /// between cost a task hop per offer, which the fan-out bench showed in its tail.
    pub async fn on_notices(
        &self,
        shutdown: CancellationToken,
        mut deliver: impl FnMut(Notice) + Send,
    ) {
        let mut first = true;
        loop {
            let sub = tokio::select! {
                s = self.subscribe() => s,
                () = shutdown.cancelled() => return,
            };
            let (mut sink, mut messages) = match sub {
                Ok(p) => p.split(),
                Err(e) => {
                    tracing::warn!(error = %e, "driver notices: cannot subscribe; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(500)) => continue,
                        () = shutdown.cancelled() => return,
                    }
                }
            };
            if !first {
                deliver(Notice::Resync);
            }
            first = false;
            // A subscription only ever reads, so a black-holed one would look like a quiet
            // city: ping it, and give it up when a ping goes unanswered.
            let mut probe = tokio::time::interval(PUBSUB_PING_EVERY);
            probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            probe.reset();
            loop {
                let msg = tokio::select! {
                    m = messages.next() => m,
                    _ = probe.tick() => {
                        match tokio::time::timeout(PUBSUB_PING_TIMEOUT, sink.ping::<redis::Value>()).await {
                            Ok(Ok(_)) => continue,
                            Ok(Err(e)) => tracing::warn!(error = %e, "driver notices: ping failed"),
                            Err(_) => tracing::warn!("driver notices: ping unanswered"),
                        }
                        break;
                    }
                    () = shutdown.cancelled() => return,
                };
                let Some(msg) = msg else { break };
                let Ok(text) = msg.get_payload::<String>() else {
                    continue;
                };
                match Notice::parse(&text) {
                    Some(n) => deliver(n),
                    None => tracing::warn!(%text, "driver notices: unreadable notice"),
                }
            }
            metrics::counter!("taxi_redis_connection_replacements_total", "connection" => "notices")
                .increment(1);
            tracing::warn!("driver notices: subscription lost; resubscribing");
        }
    }

    async fn subscribe(&self) -> Result<redis::aio::PubSub, StoreError> {
        let client = single_client(self.target.first())?;
        tokio::time::timeout(Duration::from_secs(2), async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&self.keys.notify).await?;
            Ok::<_, StoreError>(pubsub)
        })
        .await
        .map_err(|_| StoreError::Unavailable("pub/sub subscription timed out".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_decode() {
        let n =
            Notice::parse(r#"{"taxi":"T1","kind":"withdrawn","order":"O1","reason":"declined"}"#)
                .unwrap();
        assert_eq!(
            n,
            Notice::Taxi {
                taxi: "T1".into(),
                kind: NoticeKind::Withdrawn,
                order: "O1".into(),
                reason: "declined".into(),
                offer: None
            }
        );
        assert!(Notice::parse(r#"{"taxi":"T1","kind":"nope","order":"","reason":""}"#).is_none());
    }
}
