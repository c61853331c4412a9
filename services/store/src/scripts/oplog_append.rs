//! `oplog_append.lua`: one entry appended to the operators' audit log if the log still
//! ends at the hash the entry was chained to.

use super::{Call, Loaded, Scripts, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};
use taxi_domain::oplog::{GENESIS, OplogEntry};

/// Appends `entry`, whose hash `hash` was computed after `prev`.
#[derive(Debug)]
pub(crate) struct OplogAppend<'a> {
    pub(crate) prev: &'a str,
    pub(crate) hash: &'a str,
    pub(crate) entry: &'a OplogEntry,
}

/// What appending did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum OplogAppendReply {
    /// Stored as stream entry `id`.
    Appended { id: String },
    /// The log ends elsewhere now (another append came first): chain to `head` instead.
    Conflict { head: String },
}

impl Call for OplogAppend<'_> {
    type Reply = OplogAppendReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.oplog_append
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.oplog.clone(), k.oplog_head.clone()]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        let e = self.entry;
        inv.arg(self.prev)
            .arg(GENESIS)
            .arg(self.hash)
            .arg(&e.actor)
            .arg(&e.role)
            .arg(&e.action)
            .arg(&e.target)
            .arg(e.at_ms)
            .arg(&e.from)
            .arg(&e.detail);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
