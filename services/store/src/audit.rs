//! Reading the audit trail: every transition, in order, as the scripts appended it.

use crate::{Store, StoreError};
use std::collections::HashMap;
use taxi_domain::audit::AuditKind;

/// One record of the trail.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// The stream id (time-sequence).
    pub id: String,
    /// What happened.
    pub kind: AuditKind,
    /// Its fields: `order`, `taxi`, `from`, `to`, `ts`, `reason`, `by`, ...
    pub fields: HashMap<String, String>,
}

impl AuditRecord {
    /// A field, or '' if missing.
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map(String::as_str).unwrap_or("")
    }
}

impl Store {
    /// The audit trail after record `after` ('' for the start), at most `count` records.
    pub async fn audit_trail(
        &self,
        after: &str,
        count: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let start = if after.is_empty() {
            "-".to_string()
        } else {
            format!("({after}")
        };
        let mut conn = self.conn.clone();
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&self.keys.events)
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut conn)
            .await?;
        reply.ids.into_iter().map(record).collect()
    }

    /// The whole audit trail (tests and tools; it reads in pages).
    pub async fn audit_trail_all(&self) -> Result<Vec<AuditRecord>, StoreError> {
        let mut all: Vec<AuditRecord> = Vec::new();
        loop {
            let after = all.last().map(|r| r.id.clone()).unwrap_or_default();
            let page = self.audit_trail(&after, 10_000).await?;
            if page.is_empty() {
                return Ok(all);
            }
            all.extend(page);
        }
    }
}

/// A stream entry of the trail as a record.
fn record(entry: redis::streams::StreamId) -> Result<AuditRecord, StoreError> {
    let fields: HashMap<String, String> = entry
        .map
        .iter()
        .map(|(k, v)| {
            let text: String = redis::from_redis_value_ref(v).unwrap_or_default();
            (k.clone(), text)
        })
        .collect();
    let kind = fields
        .get("type")
        .and_then(|t| AuditKind::from_code(t))
        .ok_or_else(|| {
            StoreError::Internal(format!("audit record {} has no known type", entry.id))
        })?;
    Ok(AuditRecord {
        id: entry.id,
        kind,
        fields,
    })
}

/// A record a consumer group was handed: the record, or the id of one whose kind this
/// build does not know (acknowledge it and move on).
#[derive(Debug, Clone, PartialEq)]
pub enum Delivered {
    /// A record.
    Record(AuditRecord),
    /// An entry that is not a record this build knows.
    Unknown(String),
}

impl Delivered {
    /// Its stream id.
    pub fn id(&self) -> &str {
        match self {
            Delivered::Record(r) => &r.id,
            Delivered::Unknown(id) => id,
        }
    }
}

fn delivered(entries: Vec<redis::streams::StreamId>) -> Vec<Delivered> {
    entries
        .into_iter()
        .map(|e| {
            let id = e.id.clone();
            record(e).map_or(Delivered::Unknown(id), Delivered::Record)
        })
        .collect()
}

/// Reading the trail through a consumer group: every record reaches one consumer of the
/// group (at least once: a consumer that dies before acknowledging leaves its records
/// pending, and another claims them). Workers that react to transitions (privacy
/// numbers) follow the trail this way instead of editing the transitions' scripts.
impl Store {
    /// Makes consumer group `group` on the trail unless it exists; a new group starts
    /// at the trail's end (what happened before it existed is not replayed).
    pub async fn trail_group(&self, group: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let made: Result<String, redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.keys.events)
            .arg(group)
            .arg("$")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match made {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Records not yet handed to any consumer of `group`, at most `count`, handed to
    /// `consumer` (non-blocking).
    pub async fn trail_group_read(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<Delivered>, StoreError> {
        let mut conn = self.conn.clone();
        let reply: Option<redis::streams::StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(group)
            .arg(consumer)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(&self.keys.events)
            .arg(">")
            .query_async(&mut conn)
            .await?;
        Ok(reply
            .map(|r| delivered(r.keys.into_iter().flat_map(|k| k.ids).collect()))
            .unwrap_or_default())
    }

    /// Records of `group` handed out more than `min_idle` ago and never acknowledged
    /// (their consumer died), at most `count`, handed to `consumer` now.
    pub async fn trail_group_claim(
        &self,
        group: &str,
        consumer: &str,
        min_idle: std::time::Duration,
        count: usize,
    ) -> Result<Vec<Delivered>, StoreError> {
        let mut conn = self.conn.clone();
        let reply: redis::streams::StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(&self.keys.events)
            .arg(group)
            .arg(consumer)
            .arg(min_idle.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut conn)
            .await?;
        Ok(delivered(reply.claimed))
    }

    /// Acknowledges records of `group`: they are done.
    pub async fn trail_group_ack(&self, group: &str, ids: &[&str]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let _: u64 = redis::cmd("XACK")
            .arg(&self.keys.events)
            .arg(group)
            .arg(ids)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }
}
