//! `trim_orders.lua` and `trim_alerts.lua`: the retention pass deletes finished work.

use super::{Call, Loaded, Scripts, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Reply {
    Trimmed { deleted: u64 },
}

/// Deletes the finished orders among `orders` (id, caller's phone) that ended before `cutoff_ms`.
#[derive(Debug)]
pub(crate) struct TrimOrders<'a> {
    pub(crate) cutoff_ms: i64,
    pub(crate) orders: &'a [(String, String)],
}

impl Call for TrimOrders<'_> {
    type Reply = u64;
    fn script(s: &Scripts) -> &Loaded {
        &s.trim_orders
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        let mut keys = vec![k.orders_ended.clone()];
        for (id, phone) in self.orders {
            keys.extend([k.order(id), k.order_tried(id), k.caller_orders(phone)]);
        }
        keys
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.cutoff_ms);
        for (id, _) in self.orders {
            inv.arg(id);
        }
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        let Reply::Trimmed { deleted } = json(v)?;
        Ok(deleted)
    }
}

/// Deletes the alerts among `alerts` (id, device) that were resolved before `cutoff_ms`.
#[derive(Debug)]
pub(crate) struct TrimAlerts<'a> {
    pub(crate) cutoff_ms: i64,
    pub(crate) alerts: &'a [(String, String)],
}

impl Call for TrimAlerts<'_> {
    type Reply = u64;
    fn script(s: &Scripts) -> &Loaded {
        &s.trim_alerts
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        let mut keys = vec![k.alerts_resolved.clone(), k.alerts_all.clone()];
        for (id, device) in self.alerts {
            keys.extend([k.alert(id), k.device(device)]);
        }
        keys
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.cutoff_ms);
        for (id, _) in self.alerts {
            inv.arg(id);
        }
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        let Reply::Trimmed { deleted } = json(v)?;
        Ok(deleted)
    }
}
