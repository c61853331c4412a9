//! `cancel_order.lua`: an order cancelled before its trip, its taxis freed in the same step.

use super::{Call, Loaded, Scripts, codec, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};
use taxi_domain::booking::CancelledBy;
use taxi_domain::order::OrderStatus;

/// Cancels `order` of the caller `phone`.
#[derive(Debug)]
pub(crate) struct CancelOrder<'a> {
    pub(crate) order: &'a str,
    pub(crate) phone: &'a str,
    pub(crate) by: CancelledBy,
    pub(crate) reason: &'a str,
}

/// What cancelling did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum CancelOrderReply {
    /// Cancelled; these taxis lost it.
    Done {
        #[serde(deserialize_with = "codec::list")]
        released: Vec<String>,
    },
    Missing,
    Refused {
        #[serde(deserialize_with = "codec::order_status")]
        status: OrderStatus,
    },
}

impl Call for CancelOrder<'_> {
    type Reply = CancelOrderReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.cancel_order
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.order(self.order), k.caller_active(self.phone)]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.order).arg(self.by.code()).arg(self.reason);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
