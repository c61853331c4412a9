//! `pending_page.lua`: one page of the orders waiting for a taxi, in dispatch order.

use super::{Call, Loaded, Scripts, codec, json};
use crate::dispatch::QueueCursor;
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// The page after `after` (the first page when `None`), `want` items at most.
#[derive(Debug)]
pub(crate) struct PendingPage<'a> {
    pub(crate) after: Option<&'a QueueCursor>,
    pub(crate) want: usize,
}

/// One waiting order and where it stands.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct PageItem {
    pub(crate) s: String,
    pub(crate) id: String,
    pub(crate) score: String,
}

#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Reply {
    Page {
        #[serde(deserialize_with = "codec::list")]
        items: Vec<PageItem>,
    },
}

impl Call for PendingPage<'_> {
    type Reply = Vec<PageItem>;
    fn script(s: &Scripts) -> &Loaded {
        &s.pending_page
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.pending.clone(), k.retry.clone()]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        match self.after {
            Some(c) => inv.arg(c.section.code()).arg(c.score).arg(&c.id),
            None => inv.arg("").arg(0).arg(""),
        };
        inv.arg(self.want);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        let Reply::Page { items } = json(v)?;
        Ok(items)
    }
}
