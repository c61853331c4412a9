//! The operators' audit log: an append-only, hash-chained stream of every write by a
//! person (`taxi_domain::oplog` holds the entry, the chain and the verdicts).
//!
//! Appending is optimistic: read the head, hash the entry after it here (Redis' Lua has
//! no SHA-256), and let `oplog_append.lua` store it only if the head has not moved;
//! otherwise the script answers with the head as it is now and the entry is hashed again,
//! a bounded number of times. So concurrent appends from any number of processes keep one
//! whole chain, each entry exactly once.
//!
//! The log is kept for ever: nothing in the store trims or deletes it (the retention pass
//! does not know its key; `tests/oplog.rs` checks it survives a pass). Operations export
//! it. The only ways to alter it are the tampering tools in `inspect.rs`, which exist for
//! the tests that prove `verify` notices.

use crate::scripts::{OplogAppend, OplogAppendReply};
use crate::{Store, StoreError};
use std::collections::HashMap;
use taxi_domain::oplog::{self, Chain, GENESIS, Head, OplogEntry, Verdict};

/// How many times an append hashes again after another append came first. Each conflict
/// means some other entry was stored, so the log always moves; this only bounds one
/// caller's bad luck under a burst.
const APPEND_ATTEMPTS: usize = 64;

/// How many entries `verify` reads per round trip.
const VERIFY_PAGE: usize = 1_000;

/// The id of a stored entry: its stream id (`<ms>-<seq>`, Redis' clock).
pub type OplogId = String;

/// One entry as stored: its id, the hash it was chained to, its own hash, its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOplogEntry {
    /// The stream id.
    pub id: OplogId,
    /// The previous entry's hash ([`GENESIS`] for the first).
    pub prev: String,
    /// This entry's hash.
    pub hash: String,
    /// What was recorded.
    pub entry: OplogEntry,
}

/// An entry's stream fields, in the order `oplog_append.lua` writes them.
pub(crate) const FIELDS: [&str; 9] = [
    "actor", "role", "action", "target", "at_ms", "from", "detail", "prev", "hash",
];

impl Store {
    /// Appends `entry` to the city's audit log, stamped with the store's clock (the
    /// `at_ms` given is replaced: who writes the log cannot date an entry). Refuses an
    /// entry over its bounds ([`OplogEntry::check`]) and stores nothing then.
    pub async fn oplog_append(&self, entry: &OplogEntry) -> Result<OplogId, StoreError> {
        entry.check().map_err(StoreError::Invalid)?;
        let mut conn = self.conn.clone();
        let mut prev: String = redis::cmd("HGET")
            .arg(&self.keys.oplog_head)
            .arg("hash")
            .query_async::<Option<String>>(&mut conn)
            .await?
            .unwrap_or_else(|| GENESIS.to_string());
        let mut stamped = entry.clone();
        for _ in 0..APPEND_ATTEMPTS {
            stamped.at_ms = self.now_ms();
            let hash = stamped.chain_hash(&prev);
            let call = OplogAppend {
                prev: &prev,
                hash: &hash,
                entry: &stamped,
            };
            match self.call(&call).await? {
                OplogAppendReply::Appended { id } => return Ok(id),
                OplogAppendReply::Conflict { head } => prev = head,
            }
        }
        Err(StoreError::Unavailable(format!(
            "the audit log moved under {APPEND_ATTEMPTS} appends in a row; try again"
        )))
    }

    /// A page of the audit log: at most `limit` (1 to [`oplog::MAX_PAGE`]) entries after
    /// entry `after` (`None`: from the start), oldest first. An entry altered so that it
    /// no longer reads is shown with its missing fields empty (and an unreadable time as
    /// 0); `oplog_verify` names it.
    pub async fn oplog_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredOplogEntry>, StoreError> {
        oplog::check_page_size("limit", limit).map_err(StoreError::Invalid)?;
        if let Some(after) = after {
            oplog::check_cursor("after", after).map_err(StoreError::Invalid)?;
        }
        let raw = self.oplog_range(after, "+", limit).await?;
        // An entry altered past reading must not hide the rest of the log from the
        // auditor: it is shown as far as it reads, and `oplog_verify` names it.
        Ok(raw
            .into_iter()
            .map(|(id, fields)| {
                read_entry(&id, &fields).unwrap_or_else(|| {
                    let get = |name: &str| fields.get(name).cloned().unwrap_or_default();
                    StoredOplogEntry {
                        id: id.clone(),
                        prev: get("prev"),
                        hash: get("hash"),
                        entry: OplogEntry {
                            actor: get("actor"),
                            role: get("role"),
                            action: get("action"),
                            target: get("target"),
                            at_ms: get("at_ms").parse().unwrap_or(0),
                            from: get("from"),
                            detail: get("detail"),
                        },
                    }
                })
            })
            .collect())
    }

    /// Walks the whole audit log, 1,000 entries a round trip, and names the first
    /// problem. The head is read first and the walk stops at the entry it names, so
    /// entries appended meanwhile are left for the next run.
    pub async fn oplog_verify(&self) -> Result<Verdict, StoreError> {
        let mut conn = self.conn.clone();
        let head: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(&self.keys.oplog_head)
            .query_async(&mut conn)
            .await?;
        let head = match (head.get("id"), head.get("hash")) {
            (Some(id), Some(hash)) => Some(Head {
                id: id.clone(),
                hash: hash.clone(),
            }),
            _ => None,
        };
        let end = head.as_ref().map_or("+", |h| h.id.as_str());
        let mut chain = Chain::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.oplog_range(after.as_deref(), end, VERIFY_PAGE).await?;
            let Some((last, _)) = page.last() else {
                break;
            };
            let last = last.clone();
            for (id, fields) in &page {
                let Some(stored) = read_entry(id, fields) else {
                    return Ok(chain.unreadable(id));
                };
                if let Err(verdict) =
                    chain.push(&stored.id, &stored.prev, &stored.hash, &stored.entry)
                {
                    return Ok(verdict);
                }
            }
            if page.len() < VERIFY_PAGE {
                break;
            }
            after = Some(last);
        }
        Ok(chain.finish(head.as_ref()))
    }

    /// `XRANGE` of the log after `after` (exclusive) up to `end` (inclusive), as raw
    /// fields.
    pub(crate) async fn oplog_range(
        &self,
        after: Option<&str>,
        end: &str,
        count: usize,
    ) -> Result<Vec<(String, HashMap<String, String>)>, StoreError> {
        let start = after.map_or_else(|| "-".to_string(), |a| format!("({a}"));
        let mut conn = self.conn.clone();
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&self.keys.oplog)
            .arg(start)
            .arg(end)
            .arg("COUNT")
            .arg(count)
            .query_async(&mut conn)
            .await?;
        Ok(reply
            .ids
            .into_iter()
            .map(|e| {
                let fields = e
                    .map
                    .iter()
                    .filter_map(|(k, v)| {
                        redis::from_redis_value_ref::<String>(v)
                            .ok()
                            .map(|v| (k.clone(), v))
                    })
                    .collect();
                (e.id, fields)
            })
            .collect())
    }
}

/// An entry from its stream fields; `None` if a field is missing or `at_ms` is not a
/// number (for `verify`, an altered entry).
fn read_entry(id: &str, f: &HashMap<String, String>) -> Option<StoredOplogEntry> {
    let get = |name: &str| f.get(name).cloned();
    Some(StoredOplogEntry {
        id: id.to_string(),
        prev: get("prev")?,
        hash: get("hash")?,
        entry: OplogEntry {
            actor: get("actor")?,
            role: get("role")?,
            action: get("action")?,
            target: get("target")?,
            at_ms: get("at_ms")?.parse().ok()?,
            from: get("from")?,
            detail: get("detail")?,
        },
    })
}
