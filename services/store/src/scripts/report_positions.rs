//! `report_positions.lua`: a batch of position fixes in a fixed number of commands.

use super::{Call, Loaded, Scripts};
use crate::keys::Keys;
use crate::taxis::{Fix, FixOutcome};
use redis::{ScriptInvocation, Value};

/// Stores `fixes` (at most [`crate::taxis::FIXES_PER_SCRIPT`]).
#[derive(Debug)]
pub(crate) struct ReportPositions<'a> {
    pub(crate) fixes: &'a [Fix],
    /// The fixes in a stand's fence, as the script reads them: `<index>:<id>=<capacity>,...`
    /// (1-based, the open stands holding the fix, nearest first) joined by `;`; empty when
    /// none is.
    pub(crate) in_fence: &'a str,
    /// Fixes older than this (ms) are stale: a free taxi reporting again returns to the
    /// free index.
    pub(crate) oldest_fresh_ms: i64,
}

impl Call for ReportPositions<'_> {
    type Reply = Vec<FixOutcome>;
    fn script(s: &Scripts) -> &Loaded {
        &s.report_positions
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![
            k.taxi_states.clone(),
            k.free.clone(),
            k.positions.clone(),
            k.fixes.clone(),
            k.wheelchair.clone(),
            k.caring.clone(),
            k.free_wheelchair.clone(),
            k.free_caring.clone(),
            k.free_fixes.clone(),
            k.stand_queues.clone(),
            k.stand_of.clone(),
            k.retry.clone(),
        ]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.fixes.len())
            .arg(self.oldest_fresh_ms)
            .arg(self.in_fence);
        for f in self.fixes {
            inv.arg(&f.taxi_id)
                .arg(f.at.lon())
                .arg(f.at.lat())
                .arg(f.fix_ms);
        }
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        let codes: Vec<i64> = redis::from_redis_value(v).map_err(|e| e.to_string())?;
        codes
            .into_iter()
            .map(|c| match c {
                0 => Ok(FixOutcome::Stored),
                1 => Ok(FixOutcome::UnknownTaxi),
                2 => Ok(FixOutcome::OffDuty),
                3 => Ok(FixOutcome::Superseded),
                other => Err(format!("fix code {other}")),
            })
            .collect()
    }
}
