//! `give_up.lua`: a queued order that waited too long or was offered too often ends
//! UNFULFILLED, on the call-back list.

use super::{Call, Loaded, Scripts, StepReply, json};
use crate::dispatch::DispatchParams;
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// Gives up on `order` of the caller `phone`, if it is still due.
#[derive(Debug)]
pub(crate) struct GiveUp<'a> {
    pub(crate) order: &'a str,
    pub(crate) phone: &'a str,
    pub(crate) params: &'a DispatchParams,
}

impl Call for GiveUp<'_> {
    type Reply = StepReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.give_up
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.order(self.order), k.caller_active(self.phone)]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.order)
            .arg(self.params.max_offers)
            .arg(self.params.max_age_ms);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
