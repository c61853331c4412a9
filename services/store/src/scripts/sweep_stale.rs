//! `sweep_stale.lua`: stale taxis out of the free index.

use super::{Call, Loaded, Scripts};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// Looks at most `most` free taxis whose free-fix score is older than `oldest_fresh_ms`
/// and moves those whose last fix is too.
#[derive(Debug)]
pub(crate) struct SweepStale {
    pub(crate) oldest_fresh_ms: i64,
    pub(crate) most: usize,
}

/// What one call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Swept {
    /// Taxis looked at: `most` means there may be more.
    pub(crate) looked_at: u64,
    /// Taxis moved out of the free index.
    pub(crate) moved: u64,
}

impl Call for SweepStale {
    type Reply = Swept;
    fn script(s: &Scripts) -> &Loaded {
        &s.sweep_stale
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![
            k.free_fixes.clone(),
            k.free.clone(),
            k.positions.clone(),
            k.free_wheelchair.clone(),
            k.free_caring.clone(),
            k.fixes.clone(),
            k.stand_queues.clone(),
            k.stand_of.clone(),
        ]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.oldest_fresh_ms).arg(self.most);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        let (looked_at, moved): (u64, u64) =
            redis::from_redis_value(v).map_err(|e| e.to_string())?;
        Ok(Swept { looked_at, moved })
    }
}
