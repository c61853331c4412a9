//! `register_taxi.lua`: a new taxi, unless its plate is taken.

use super::{Call, Loaded, Scripts, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// Registers taxi `id` (its id already allocated).
#[derive(Debug)]
pub(crate) struct RegisterTaxi<'a> {
    pub(crate) id: &'a str,
    pub(crate) plate: &'a str,
    pub(crate) driver: &'a str,
    pub(crate) color: &'a str,
    pub(crate) phone: &'a str,
    pub(crate) wheelchair: bool,
    pub(crate) tags: &'a [String],
    pub(crate) caring: bool,
}

/// What registering did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum RegisterTaxiReply {
    /// Registered, off duty.
    Registered,
    /// The plate belongs to `taxi`.
    PlateTaken { taxi: String },
}

impl Call for RegisterTaxi<'_> {
    type Reply = RegisterTaxiReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.register_taxi
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![
            k.plates.clone(),
            k.taxi(self.id),
            k.taxi_states.clone(),
            k.wheelchair.clone(),
            k.caring.clone(),
            k.events.clone(),
            k.state_counts.clone(),
        ]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.id)
            .arg(self.plate)
            .arg(self.driver)
            .arg(self.color)
            .arg(u8::from(self.wheelchair))
            .arg(self.tags.join(","))
            .arg(u8::from(self.caring))
            .arg(self.phone);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
