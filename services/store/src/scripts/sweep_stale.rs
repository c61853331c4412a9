//! `sweep_stale.lua`: stale taxis out of the free index.

use super::{Call, Loaded, Scripts};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// Moves at most `most` free taxis whose fix is older than `oldest_fresh_ms`; replies
/// how many it moved.
#[derive(Debug)]
pub(crate) struct SweepStale {
    pub(crate) oldest_fresh_ms: i64,
    pub(crate) most: usize,
}

impl Call for SweepStale {
    type Reply = u64;
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
        ]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.oldest_fresh_ms).arg(self.most);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        redis::from_redis_value(v).map_err(|e| e.to_string())
    }
}
