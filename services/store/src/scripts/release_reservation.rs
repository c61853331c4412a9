//! `release_reservation.lua`: a reservation whose time has come enters dispatch.

use super::{Call, Loaded, Scripts, StepReply, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// Releases `order` if it is due.
#[derive(Debug)]
pub(crate) struct ReleaseReservation<'a> {
    pub(crate) order: &'a str,
    pub(crate) head_start_ms: i64,
}

impl Call for ReleaseReservation<'_> {
    type Reply = StepReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.release_reservation
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.order(self.order)]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.order).arg(self.head_start_ms);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
