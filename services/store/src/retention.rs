//! Retention: finished work is deleted once it is older than the city's retention, in
//! bounded batches that the server's upkeep repeats (and tests call directly).
//!
//! - Finished orders (`orders:ended`, scored by when they finished on the store's clock:
//!   completed, cancelled, unfulfilled once their call-back was resolved): the order's
//!   hash and tried set are deleted and the order leaves its caller's history, in one
//!   script that checks again that the order is finished. Nothing unfinished is deleted.
//! - Resolved alerts (`alerts:resolved`, by resolution time): the alert's hash is
//!   deleted and it leaves `alerts:all` (and its device forgets it as its last alert).
//! - The audit trail (`events`) and the care contacts' feed (`notifications`):
//!   `XTRIM ... MINID ~`, Redis' own trimming of whole stream nodes (at most 10,000
//!   entries a call). Stream ids are stamped by Redis' clock, not the store's, so for the
//!   streams "older than the retention" is judged by Redis' time of writing against the
//!   store's now; everything else here uses the store's clock alone. The outbox is never
//!   trimmed past a message its sender group has not finished (`outbox_trim.lua`: the
//!   oldest pending entry and the last delivered one bound the cut), so a message still
//!   waiting for a retry, or left by a dead worker, is kept however old it is; dead
//!   letters are copies and outlive the stream entry.
//!
//! - Keys earlier versions wrote and nothing reads now ([`crate::keys::Keys::retired`])
//!   are unlinked.
//!
//! Why not `PEXPIRE` on a finished order's hash: it runs on Redis' clock, and an
//! order that expired by itself would leave its id in the caller's history with no way
//! to find the caller again. The pass deletes the hash and the history entry together.

use crate::scripts::{OutboxTrim, TrimAlerts, TrimOrders};
use crate::{Store, StoreError};
use std::time::Duration;

/// How long finished work is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Finished orders, resolved call-backs and alerts.
    pub finished: Duration,
    /// The audit trail and the notifications feed.
    pub events: Duration,
}

/// What one retention batch removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trimmed {
    /// Finished orders deleted.
    pub orders: u64,
    /// Resolved alerts deleted.
    pub alerts: u64,
    /// Audit records trimmed.
    pub events: u64,
    /// Notifications trimmed.
    pub notifications: u64,
}

impl Trimmed {
    /// Whether a batch of `batch` was full for orders or alerts (more may be due).
    pub fn full(&self, batch: usize) -> bool {
        self.orders as usize >= batch || self.alerts as usize >= batch
    }
}

impl Store {
    /// One batch of the retention pass: at most `batch` finished orders and `batch`
    /// resolved alerts older than the retention, and the streams' old nodes. A few
    /// round trips, each bounded by `batch`.
    pub async fn trim_retained(&self, r: &Retention, batch: usize) -> Result<Trimmed, StoreError> {
        let k = &self.keys;
        let now = self.now_ms();
        let cutoff = now - r.finished.as_millis() as i64;
        let events_cutoff = (now - r.events.as_millis() as i64).max(0);
        let due = |key: &str| {
            let mut cmd = redis::cmd("ZRANGE");
            cmd.arg(key)
                .arg("-inf")
                .arg(cutoff)
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(batch);
            cmd
        };
        let mut conn = self.conn.clone();
        let (orders, alerts, events): (Vec<String>, Vec<String>, u64) = redis::pipe()
            // Keys of earlier versions (one O(1) call; freed off Redis' main thread).
            .cmd("UNLINK")
            .arg(k.retired())
            .ignore()
            .add_command(due(&k.orders_ended))
            .add_command(due(&k.alerts_resolved))
            .add_command(
                redis::cmd("XTRIM")
                    .arg(&k.events)
                    .arg("MINID")
                    .arg("~")
                    .arg(events_cutoff)
                    .to_owned(),
            )
            .query_async(&mut conn)
            .await?;
        // The outbox never loses a message still pending delivery (`outbox_trim.lua`).
        let notifications = self
            .call(&OutboxTrim {
                group: crate::outbox::GROUP,
                cutoff_ms: events_cutoff,
            })
            .await?;
        let mut out = Trimmed {
            events,
            notifications,
            ..Trimmed::default()
        };
        if !orders.is_empty() {
            // The caller's history key is declared, so the phones come first.
            let mut pipe = redis::pipe();
            for id in &orders {
                pipe.hget(k.order(id), "phone");
            }
            let phones: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
            let orders: Vec<(String, String)> = orders
                .into_iter()
                .zip(phones)
                .map(|(id, phone)| (id, phone.unwrap_or_default()))
                .collect();
            out.orders = self
                .call(&TrimOrders {
                    cutoff_ms: cutoff,
                    orders: &orders,
                })
                .await?;
        }
        if !alerts.is_empty() {
            // The device's key is declared (its pointer to its last alert goes too).
            let mut pipe = redis::pipe();
            for id in &alerts {
                pipe.hget(k.alert(id), "device");
            }
            let devices: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
            let alerts: Vec<(String, String)> = alerts
                .into_iter()
                .zip(devices)
                .map(|(id, device)| (id, device.unwrap_or_default()))
                .collect();
            out.alerts = self
                .call(&TrimAlerts {
                    cutoff_ms: cutoff,
                    alerts: &alerts,
                })
                .await?;
        }
        Ok(out)
    }
}
