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
        reply
            .ids
            .into_iter()
            .map(|entry| {
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
            })
            .collect()
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
