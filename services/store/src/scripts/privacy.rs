//! The privacy-number scripts: the built-in pool (`privacy_pool_bind.lua`,
//! `privacy_pool_unbind.lua`, `privacy_pool_sync.lua`) and a trip's binding record
//! (`privacy_record.lua`, `privacy_release.lua`, `privacy_unavailable.lua`).

use super::{Call, Loaded, Scripts, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// Binds a number of the pool to subscription `sub` for parties `a` and `b`.
#[derive(Debug)]
pub(crate) struct PoolBind<'a> {
    pub(crate) sub: &'a str,
    pub(crate) a: &'a str,
    pub(crate) b: &'a str,
}

/// What binding from the pool did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum PoolBindReply {
    /// `x` is bound (now, or before to the same subscription).
    Bound { x: String },
    /// Every number is bound to one of the parties already.
    Exhausted,
}

impl Call for PoolBind<'_> {
    type Reply = PoolBindReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.privacy_pool_bind
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![
            k.privacy_pool.clone(),
            k.privacy_pool_parties.clone(),
            k.privacy_pool_subs.clone(),
        ]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.sub).arg(self.a).arg(self.b);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}

/// Releases the pool's subscription `sub`.
#[derive(Debug)]
pub(crate) struct PoolUnbind<'a> {
    pub(crate) sub: &'a str,
}

/// What releasing from the pool did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum PoolUnbindReply {
    /// `x` is free again for both parties.
    Released {
        #[allow(dead_code)]
        x: String,
    },
    /// No such subscription (released before).
    Gone,
}

impl Call for PoolUnbind<'_> {
    type Reply = PoolUnbindReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.privacy_pool_unbind
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![
            k.privacy_pool.clone(),
            k.privacy_pool_parties.clone(),
            k.privacy_pool_subs.clone(),
        ]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.sub);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}

/// Makes the pool hold exactly `numbers`.
#[derive(Debug)]
pub(crate) struct PoolSync<'a> {
    pub(crate) numbers: &'a [String],
}

/// What syncing the pool did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum PoolSyncReply {
    /// Numbers added and removed.
    Synced { added: u64, removed: u64 },
}

impl Call for PoolSync<'_> {
    type Reply = PoolSyncReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.privacy_pool_sync
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.privacy_pool.clone()]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        for n in self.numbers {
            inv.arg(n);
        }
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}

/// Records number `x` (subscription `sub`) for `order`'s trip with `taxi`.
#[derive(Debug)]
pub(crate) struct Record<'a> {
    pub(crate) order: &'a str,
    pub(crate) taxi: &'a str,
    pub(crate) x: &'a str,
    pub(crate) sub: &'a str,
    pub(crate) provider: &'a str,
    pub(crate) feed_max: u64,
}

/// What recording did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum RecordReply {
    /// Recorded; the driver's stream was told.
    Recorded,
    /// The order already holds binding `sub` with number `x`.
    Already { x: String, sub: String },
    /// The trip ended or has another taxi now.
    Moved,
}

impl Call for Record<'_> {
    type Reply = RecordReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.privacy_record
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![
            k.privacy_bindings.clone(),
            k.privacy_stats.clone(),
            k.order(self.order),
            k.feed.clone(),
        ]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.order)
            .arg(self.taxi)
            .arg(self.x)
            .arg(self.sub)
            .arg(self.provider)
            .arg(self.feed_max);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}

/// Forgets `order`'s binding `sub` once the provider released it.
#[derive(Debug)]
pub(crate) struct Release<'a> {
    pub(crate) order: &'a str,
    pub(crate) sub: &'a str,
}

/// What forgetting did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum ReleaseReply {
    /// Forgotten.
    Released,
    /// The order holds no such binding.
    Gone,
}

impl Call for Release<'_> {
    type Reply = ReleaseReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.privacy_release
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![
            k.privacy_bindings.clone(),
            k.privacy_release.clone(),
            k.order(self.order),
        ]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.order).arg(self.sub);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}

/// Records why `order`'s trip has no number.
#[derive(Debug)]
pub(crate) struct Unavailable<'a> {
    pub(crate) order: &'a str,
    pub(crate) why: &'a str,
}

/// What recording the reason did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum UnavailableReply {
    /// Recorded and counted.
    Recorded,
    /// Recorded before (or the order is gone).
    Already,
    /// The order holds a number after all.
    Bound,
}

impl Call for Unavailable<'_> {
    type Reply = UnavailableReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.privacy_unavailable
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![
            k.privacy_stats.clone(),
            k.order(self.order),
            k.privacy_bindings.clone(),
        ]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.order).arg(self.why);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
