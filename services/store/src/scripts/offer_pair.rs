//! `offer_pair.lua`: one pair of the batched matcher's solve, offered if it still holds.

use super::{Call, Loaded, Scripts, json};
use crate::dispatch::DispatchParams;
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// Offers `order` to `taxi`, `distance_m` away, if both still qualify.
#[derive(Debug)]
pub(crate) struct OfferPair<'a> {
    pub(crate) order: &'a str,
    pub(crate) taxi: &'a str,
    pub(crate) distance_m: f64,
    pub(crate) params: &'a DispatchParams,
    pub(crate) oldest_fresh_ms: i64,
}

/// What the call did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum OfferPairReply {
    /// Offered until `deadline` (ms).
    Made { deadline: i64 },
    /// The order no longer waits for a taxi.
    Gone,
    /// The taxi no longer qualifies (taken, stale, declined this order, lacks a need).
    Taken,
    /// The order is due to be given up (with the caller's keys).
    GiveUp { phone: String },
}

impl Call for OfferPair<'_> {
    type Reply = OfferPairReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.offer_pair
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.order(self.order), k.order_tried(self.order)]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        let p = self.params;
        inv.arg(self.order)
            .arg(self.taxi)
            .arg(self.distance_m)
            .arg(self.oldest_fresh_ms)
            .arg(p.offer_timeout_ms)
            .arg(p.max_offers)
            .arg(p.max_age_ms);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
