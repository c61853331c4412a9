//! `ack_alert.lua`: an operator acknowledges an alert.

use super::{Call, Loaded, Scripts, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// Acknowledges alert `id`.
#[derive(Debug)]
pub(crate) struct AckAlert<'a> {
    pub(crate) id: &'a str,
    pub(crate) operator: &'a str,
    pub(crate) note: &'a str,
}

/// What acknowledging did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum AckAlertReply {
    Acknowledged,
    /// It was acknowledged before; the first acknowledgement stands.
    Already,
    Missing,
}

impl Call for AckAlert<'_> {
    type Reply = AckAlertReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.ack_alert
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.alert(self.id), k.alerts_open.clone(), k.events.clone()]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.id).arg(self.operator).arg(self.note);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
