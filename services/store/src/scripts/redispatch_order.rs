//! `redispatch_order.lua`: an operator takes a stuck trip back from its taxi and puts the
//! order back in the queue.

use super::{Call, Loaded, Scripts, codec, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};
use taxi_domain::order::OrderStatus;
use taxi_domain::watchdog::Stage;

/// `operator` redispatches `order` because of `reason`.
#[derive(Debug)]
pub(crate) struct RedispatchOrder<'a> {
    pub(crate) order: &'a str,
    pub(crate) operator: &'a str,
    pub(crate) reason: &'a str,
}

/// What the redispatch did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum RedispatchReply {
    /// Back in the queue; `taxi` (if any held it) is now in `state` (a code, '' if unknown).
    Done {
        #[serde(deserialize_with = "codec::order_status")]
        from: OrderStatus,
        taxi: String,
        state: String,
    },
    Missing,
    Refused {
        #[serde(deserialize_with = "codec::order_status")]
        status: OrderStatus,
    },
}

impl Call for RedispatchOrder<'_> {
    type Reply = RedispatchReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.redispatch_order
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.order(self.order), k.order_tried(self.order)]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.order)
            .arg(self.operator)
            .arg(self.reason)
            .arg(Stage::NotArrived.taxi_on_redispatch().code())
            .arg(Stage::NotStarted.taxi_on_redispatch().code());
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
