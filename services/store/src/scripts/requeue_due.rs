//! `requeue_due.lua`: orders whose retry is due go back to the queue together.

use super::{Call, Loaded, Scripts, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// Requeues at most `most` orders whose retry is due.
#[derive(Debug)]
pub(crate) struct RequeueDue {
    pub(crate) most: usize,
}

#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Reply {
    Done { moved: u64 },
}

impl Call for RequeueDue {
    type Reply = u64;
    fn script(s: &Scripts) -> &Loaded {
        &s.requeue_due
    }
    fn keys(&self, _: &Keys) -> Vec<String> {
        vec![]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.most);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        let Reply::Done { moved } = json(v)?;
        Ok(moved)
    }
}
