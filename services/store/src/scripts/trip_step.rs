//! `trip_step.lua`: arrived, trip started, completed, by the taxi that holds the order.

use super::{Call, Loaded, Scripts, codec, json};
use crate::dispatch::TripStep;
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};
use taxi_domain::booking::Payment;
use taxi_domain::order::OrderStatus;
use taxi_domain::taxi::TaxiState;

/// `step` of `order` by `taxi`; `phone` is the order's caller (whose active set a
/// completed trip leaves); once arrived, the trip has `start_within_ms` to start before the
/// watchdog flags it.
#[derive(Debug)]
pub(crate) struct TripStepCall<'a> {
    pub(crate) order: &'a str,
    pub(crate) taxi: &'a str,
    pub(crate) phone: &'a str,
    pub(crate) step: TripStep,
    pub(crate) fare_cents: i64,
    pub(crate) paid_by: Option<Payment>,
    pub(crate) start_within_ms: i64,
}

/// What the step did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum TripStepReply {
    /// Done; an arrival names the time to pickup it measured.
    Done {
        #[serde(flatten)]
        took: super::Took,
    },
    Missing,
    /// Another taxi (or none) holds the order.
    NotYours,
    Refused {
        #[serde(deserialize_with = "codec::order_status")]
        status: OrderStatus,
    },
    TaxiRefused {
        #[serde(deserialize_with = "codec::taxi_state")]
        state: TaxiState,
    },
}

impl Call for TripStepCall<'_> {
    type Reply = TripStepReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.trip_step
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![
            k.order(self.order),
            k.caller_active(self.phone),
            k.taxi(self.taxi),
        ]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.order)
            .arg(self.taxi)
            .arg(self.step.order_event().code())
            .arg(self.step.taxi_event().code())
            .arg(self.step.time_field())
            .arg(self.fare_cents)
            .arg(self.paid_by.map(Payment::code).unwrap_or(""))
            .arg(self.start_within_ms);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
