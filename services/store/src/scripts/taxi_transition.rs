//! `taxi_transition.lua`: a taxi that holds no order moves by one event.

use super::{Call, Loaded, Scripts, codec, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};
use taxi_domain::taxi::{TaxiEvent, TaxiState};

/// Applies `event` to taxi `id`.
#[derive(Debug)]
pub(crate) struct TaxiTransition<'a> {
    pub(crate) id: &'a str,
    pub(crate) event: TaxiEvent,
}

/// What the transition did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum TaxiTransitionReply {
    /// Applied.
    Done,
    Missing,
    /// Not allowed in `state`.
    Refused {
        #[serde(deserialize_with = "codec::taxi_state")]
        state: TaxiState,
    },
    /// The taxi holds `order`.
    HoldsOrder {
        order: String,
    },
}

impl Call for TaxiTransition<'_> {
    type Reply = TaxiTransitionReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.taxi_transition
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.taxi(self.id)]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.id).arg(self.event.code());
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
