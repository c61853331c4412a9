//! `offer_order.lua`: one dispatch attempt for the order at the head of the queue.

use super::{Call, Loaded, Scripts, json};
use crate::dispatch::DispatchParams;
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// An attempt for `expected`, the order the worker believes is at the head of the queue.
#[derive(Debug)]
pub(crate) struct OfferOrder<'a> {
    pub(crate) expected: &'a str,
    pub(crate) params: &'a DispatchParams,
    pub(crate) oldest_fresh_ms: i64,
}

/// A taxi picked for an offer.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Picked {
    pub(crate) id: String,
    pub(crate) dist: f64,
}

/// What the attempt did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum OfferOrderReply {
    /// The queue is empty.
    Empty,
    /// Another order is at the head: attempt that one.
    Moved { head: String },
    /// Offered until `deadline` (ms); `next` is the new head ('' if none).
    Made {
        order: String,
        deadline: i64,
        taxis: Vec<Picked>,
        next: String,
    },
    /// Nothing in reach: waiting for the next retry tick.
    Retry { order: String, next: String },
    /// Too old or offered too often: give up on it (with the caller's keys).
    GiveUp { order: String, phone: String },
    /// It was no longer waiting (cancelled, assigned by hand).
    Gone { order: String, next: String },
}

impl Call for OfferOrder<'_> {
    type Reply = OfferOrderReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.offer_order
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.order(self.expected), k.order_tried(self.expected)]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        let p = self.params;
        let radii: Vec<String> = p.radii_m.iter().map(u32::to_string).collect();
        inv.arg(self.expected)
            .arg(p.fan_out)
            .arg(radii.join(","))
            .arg(p.elderly_extra_radius_m)
            .arg(p.caring_radius_m)
            .arg(self.oldest_fresh_ms)
            .arg(p.offer_timeout_ms)
            .arg(p.max_offers)
            .arg(p.max_age_ms)
            .arg(p.retry_ms);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
