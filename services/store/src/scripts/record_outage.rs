//! `record_outage.lua`: a period dispatch could not reach Redis, merged with those
//! already known.

use super::{Call, Loaded, Scripts, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};
use taxi_domain::outage::Outage;

/// Records `outage`; periods that ended more than `keep_ms` ago are dropped.
#[derive(Debug)]
pub(crate) struct RecordOutage {
    pub(crate) outage: Outage,
    pub(crate) keep_ms: i64,
}

/// The stored period `outage` became part of.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum RecordOutageReply {
    Done { start: i64, end: i64 },
}

impl Call for RecordOutage {
    type Reply = RecordOutageReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.record_outage
    }
    fn keys(&self, _: &Keys) -> Vec<String> {
        vec![]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.outage.start_ms)
            .arg(self.outage.end_ms)
            .arg(self.keep_ms);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
