//! `expire_offer.lua`: an offer past its deadline is released and counted as missed.

use super::{Call, Loaded, Scripts, StepReply, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// Expires the offer of `order` to `taxi` if it is due.
#[derive(Debug)]
pub(crate) struct ExpireOffer<'a> {
    pub(crate) order: &'a str,
    pub(crate) taxi: &'a str,
    pub(crate) max_missed: u32,
}

impl Call for ExpireOffer<'_> {
    type Reply = StepReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.expire_offer
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.order(self.order), k.order_tried(self.order)]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.order).arg(self.taxi).arg(self.max_missed);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
