//! `accept_offer.lua`: a driver accepts an offer.

use super::{AnswerReply, Call, Loaded, Scripts, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// Taxi `taxi` accepts `order`; `eta_s` is its time to the pickup, `arrive_within_ms` the
/// time it has to get there before the watchdog flags the trip.
#[derive(Debug)]
pub(crate) struct AcceptOffer<'a> {
    pub(crate) order: &'a str,
    pub(crate) taxi: &'a str,
    pub(crate) eta_s: u32,
    pub(crate) arrive_within_ms: i64,
}

impl Call for AcceptOffer<'_> {
    type Reply = AnswerReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.accept_offer
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.order(self.order), k.taxi(self.taxi)]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.order)
            .arg(self.taxi)
            .arg(self.eta_s)
            .arg(self.arrive_within_ms);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
