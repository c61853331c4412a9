//! `decline_offer.lua`: a driver declines an offer.

use super::{AnswerReply, Call, Loaded, Scripts, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// Taxi `taxi` declines `order`.
#[derive(Debug)]
pub(crate) struct DeclineOffer<'a> {
    pub(crate) order: &'a str,
    pub(crate) taxi: &'a str,
}

impl Call for DeclineOffer<'_> {
    type Reply = AnswerReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.decline_offer
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.order(self.order), k.order_tried(self.order)]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.order).arg(self.taxi);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
