//! `paired_answer.lua` and `guarantee_alert.lua`: the caring fleet's guarantee for
//! recurring trips (issue 14): a paired driver's answer, and the T−15 alert.

use super::{Call, Loaded, Scripts, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// The paired taxi `taxi` confirms (`true`) or refuses `order`.
#[derive(Debug)]
pub(crate) struct PairedAnswer<'a> {
    pub(crate) order: &'a str,
    pub(crate) taxi: &'a str,
    pub(crate) confirm: bool,
}

/// What the answer did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum PairedAnswerReply {
    Done,
    Missing,
    NotPaired,
    Gone { status: String },
}

impl Call for PairedAnswer<'_> {
    type Reply = PairedAnswerReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.paired_answer
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.order(self.order), k.order_tried(self.order)]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.order)
            .arg(self.taxi)
            .arg(if self.confirm { "confirmed" } else { "refused" });
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}

/// Raises the T−15 alert of `order` as `alert` (allocated), once ever.
#[derive(Debug)]
pub(crate) struct GuaranteeAlert<'a> {
    pub(crate) order: &'a str,
    pub(crate) alert: &'a str,
}

/// Which alert stands.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum GuaranteeAlertReply {
    Created { alert: String },
    Existing { alert: String },
    Gone,
}

impl Call for GuaranteeAlert<'_> {
    type Reply = GuaranteeAlertReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.guarantee_alert
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![
            k.order(self.order),
            k.alert(self.alert),
            k.alerts_open.clone(),
            k.alerts_all.clone(),
        ]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.order).arg(self.alert);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
