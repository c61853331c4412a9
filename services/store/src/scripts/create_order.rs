//! `create_order.lua`: an order, idempotent by request id and de-duplicated for one-key
//! and voice-menu bookings.

use super::{Call, Loaded, Scripts, json};
use crate::keys::Keys;
use crate::orders::NewOrder;
use redis::{ScriptInvocation, Value};
use taxi_domain::order::OrderStatus;

/// Creates `order` as `id` (allocated) in `status` (pending or scheduled).
#[derive(Debug)]
pub(crate) struct CreateOrder<'a> {
    pub(crate) id: &'a str,
    pub(crate) order: &'a NewOrder,
    pub(crate) status: OrderStatus,
    pub(crate) request_ttl_s: u64,
    /// The order's field/value pairs beyond those the script sets itself.
    pub(crate) fields: Vec<(String, String)>,
    /// A recurring pattern's occurrence `(pattern id, occurrence key, pattern version)`
    /// this order is made for: made at most once ever, and only from that version.
    pub(crate) occurrence: Option<(&'a str, &'a str, u64)>,
}

/// Which order stands.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum CreateOrderReply {
    /// Created; the order's hash as stored, field after value.
    Created { fields: Vec<String> },
    /// The request id was seen, or the caller has an active order due in the window, or
    /// the occurrence was made.
    Existing { order: String },
    /// The occurrence's pattern changed (or was cancelled) since it was read: nothing made.
    Stale {},
}

impl Call for CreateOrder<'_> {
    type Reply = CreateOrderReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.create_order
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        let o = self.order;
        vec![
            k.order(self.id),
            k.caller_orders(&o.phone),
            k.caller_active(&o.phone),
            // No request id: a key of the city that is never written.
            k.request(&o.device, &o.phone, o.request_id.as_deref().unwrap_or("-")),
            k.caller(&o.phone),
            k.stats.clone(),
            k.pending.clone(),
            k.scheduled.clone(),
            k.wakeup.clone(),
            k.events.clone(),
            k.notifications.clone(),
            // No occurrence: a key of the city that is never written.
            k.recurring_made(self.occurrence.map_or("-", |(p, _, _)| p)),
            k.recurring(self.occurrence.map_or("-", |(p, _, _)| p)),
        ]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        let o = self.order;
        let score = if o.reservation {
            o.release_ms
        } else {
            o.queue_score
        };
        inv.arg(self.id)
            .arg(u8::from(o.request_id.is_some()))
            .arg(self.request_ttl_s)
            .arg(u8::from(o.dedupe_until_ms.is_some()))
            .arg(o.dedupe_until_ms.unwrap_or(0))
            .arg(self.status.code())
            .arg(score)
            .arg(o.pickup_ms)
            .arg(&o.name)
            .arg(o.channel.code())
            .arg(o.elderly.map(|r| r.code()).unwrap_or(""))
            .arg(self.occurrence.map_or("", |(_, key, _)| key))
            .arg(self.occurrence.map_or(0, |(_, _, v)| v));
        for (f, v) in &self.fields {
            inv.arg(f).arg(v);
        }
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
