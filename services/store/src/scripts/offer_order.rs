//! `offer_order.lua`: dispatch attempts for the orders at the head of the queue, in
//! queue order, in one call.

use super::{Call, Loaded, Scripts, json};
use crate::dispatch::DispatchParams;
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// Attempts for `expected`, the orders the worker believes are at the head of the queue,
/// in queue order; the reply names up to `want` heads to expect next.
#[derive(Debug)]
pub(crate) struct OfferOrder<'a> {
    pub(crate) expected: &'a [String],
    pub(crate) want: usize,
    pub(crate) params: &'a DispatchParams,
    pub(crate) oldest_fresh_ms: i64,
}

/// A taxi picked for an offer.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Picked {
    pub(crate) id: String,
    pub(crate) dist: f64,
}

/// What the attempt for one order did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// Offered until `deadline` (ms).
    Made {
        order: String,
        deadline: i64,
        taxis: Vec<Picked>,
    },
    /// Nothing in reach: waiting for the next retry tick.
    Retry { order: String },
    /// Too old or offered too often: give up on it (with the caller's keys). Always the
    /// batch's last outcome.
    GiveUp { order: String, phone: String },
    /// It was no longer waiting (cancelled, assigned by hand).
    Gone { order: String },
    /// Its pick went to waiting orders ahead of it (`to`); it is queued again.
    Yield {
        order: String,
        #[serde(default)]
        to: Vec<String>,
    },
}

/// What the call did: the attempts, in queue order, and the queue's first ids after them.
/// No outcomes: the queue was empty, or its head was not the first expected order (then
/// `next` names the heads to expect).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct OfferOrderReply {
    #[serde(default)]
    pub(crate) results: Vec<Outcome>,
    #[serde(default)]
    pub(crate) next: Vec<String>,
}

impl Call for OfferOrder<'_> {
    type Reply = OfferOrderReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.offer_order
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        self.expected
            .iter()
            .flat_map(|o| [k.order(o), k.order_tried(o)])
            .collect()
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        let p = self.params;
        let radii: Vec<String> = p.radii_m.iter().map(u32::to_string).collect();
        inv.arg(self.want.max(1))
            .arg(p.fan_out)
            .arg(radii.join(","))
            .arg(p.elderly_extra_radius_m)
            .arg(p.elderly_extra_after_ms)
            .arg(p.caring_radius_m)
            .arg(self.oldest_fresh_ms)
            .arg(p.offer_timeout_ms)
            .arg(p.max_offers)
            .arg(p.max_age_ms)
            .arg(p.retry_ms);
        for o in self.expected {
            inv.arg(o);
        }
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
