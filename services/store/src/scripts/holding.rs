//! `holding.lua`: what a taxi holds, read with the driver feed's newest id in one step.

use super::{Call, Loaded, Scripts, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// What `taxi` holds now.
#[derive(Debug)]
pub(crate) struct Holding<'a> {
    pub(crate) taxi: &'a str,
}

/// The script's reply.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum HoldingReply {
    /// The held order (`''`: none), the open offer's deadline (ms; negative: no open
    /// offer) and the feed's newest id (`''`: an empty feed).
    Holding {
        order: String,
        deadline: f64,
        seq: String,
    },
}

impl Call for Holding<'_> {
    type Reply = HoldingReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.holding
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.taxi_orders.clone(), k.offers.clone(), k.feed.clone()]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.taxi);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
