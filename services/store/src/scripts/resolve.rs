//! `resolve_callback.lua` and `resolve_alert.lua`: an operator closes what they followed up.

use super::{Call, Loaded, Scripts, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// What resolving did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum ResolveReply {
    /// Resolved now.
    Resolved,
    /// Resolved before; the first resolution stands.
    Already,
    /// No such order or alert.
    Missing,
    /// The order has no call-back: it was not given up.
    NoCallback {
        #[serde(default, deserialize_with = "super::codec::opt_order_status")]
        status: Option<taxi_domain::order::OrderStatus>,
    },
    /// The stored state allows no resolution.
    Refused {
        #[serde(default)]
        state: String,
    },
}

/// Resolves the call-back of unfulfilled order `order`.
#[derive(Debug)]
pub(crate) struct ResolveCallback<'a> {
    pub(crate) order: &'a str,
    pub(crate) operator: &'a str,
    pub(crate) outcome: &'a str,
}

impl Call for ResolveCallback<'_> {
    type Reply = ResolveReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.resolve_callback
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.order(self.order)]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.order).arg(self.operator).arg(self.outcome);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}

/// Resolves alert `id`.
#[derive(Debug)]
pub(crate) struct ResolveAlert<'a> {
    pub(crate) id: &'a str,
    pub(crate) operator: &'a str,
    pub(crate) outcome: &'a str,
}

impl Call for ResolveAlert<'_> {
    type Reply = ResolveReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.resolve_alert
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![
            k.alert(self.id),
            k.alerts_open.clone(),
            k.alerts_resolved.clone(),
            k.events.clone(),
        ]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.id).arg(self.operator).arg(self.outcome);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
