//! `assign_order.lua`: an operator assigns a free taxi by hand.

use super::{Call, Loaded, Scripts, codec, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};
use taxi_domain::order::OrderStatus;
use taxi_domain::taxi::TaxiState;

/// `operator` assigns `taxi` to `order`; the taxi has `arrive_within_ms` to reach the pickup
/// before the watchdog flags the trip.
#[derive(Debug)]
pub(crate) struct AssignOrder<'a> {
    pub(crate) order: &'a str,
    pub(crate) taxi: &'a str,
    pub(crate) eta_s: u32,
    pub(crate) operator: &'a str,
    pub(crate) arrive_within_ms: i64,
}

/// What the assignment did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum AssignOrderReply {
    /// Done, with the time to assign it measured.
    Done {
        #[serde(flatten)]
        took: super::Took,
    },
    Missing,
    Refused {
        #[serde(deserialize_with = "codec::order_status")]
        status: OrderStatus,
    },
    NoTaxi,
    TaxiBusy {
        #[serde(deserialize_with = "codec::taxi_state")]
        state: TaxiState,
    },
}

impl Call for AssignOrder<'_> {
    type Reply = AssignOrderReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.assign_order
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.order(self.order), k.taxi(self.taxi)]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.order)
            .arg(self.taxi)
            .arg(self.eta_s)
            .arg(self.operator)
            .arg(self.arrive_within_ms);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
