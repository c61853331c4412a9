//! The notifications outbox's scripts: `outbox_take.lua` (due retries and messages a dead
//! worker left), `outbox_fail.lua` (back-off or dead letter), `outbox_replay.lua` (a dead
//! letter back into the outbox), `outbox_trim.lua` (retention that spares pending messages).

use super::{Call, Loaded, Scripts, codec, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// Takes at most `count` due retries and stale pending messages for `consumer`.
#[derive(Debug)]
pub(crate) struct OutboxTake<'a> {
    pub(crate) group: &'a str,
    pub(crate) consumer: &'a str,
    pub(crate) count: usize,
    pub(crate) claim_idle_ms: u64,
}

/// What was taken: (entry id, field/value list, failures so far).
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum OutboxTakeReply {
    Taken {
        #[serde(deserialize_with = "codec::list")]
        entries: Vec<(String, Vec<String>, u32)>,
    },
}

impl Call for OutboxTake<'_> {
    type Reply = OutboxTakeReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.outbox_take
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![
            k.notifications.clone(),
            k.notify_retry.clone(),
            k.notify_attempts.clone(),
        ]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.group)
            .arg(self.consumer)
            .arg(self.count)
            .arg(self.claim_idle_ms);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}

/// Records a failed delivery of `id`: retry at `next_ms`, or dead when `None`.
#[derive(Debug)]
pub(crate) struct OutboxFail<'a> {
    pub(crate) group: &'a str,
    pub(crate) consumer: &'a str,
    pub(crate) id: &'a str,
    pub(crate) failures: u32,
    pub(crate) next_ms: Option<i64>,
    pub(crate) error: &'a str,
}

/// What became of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboxFailReply {
    /// It waits for its next attempt.
    Retry,
    /// It is a dead letter.
    Dead,
    /// This worker no longer held it (another claimed it): nothing changed.
    Gone,
}

impl Call for OutboxFail<'_> {
    type Reply = OutboxFailReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.outbox_fail
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![
            k.notifications.clone(),
            k.notify_retry.clone(),
            k.notify_attempts.clone(),
            k.notify_dead.clone(),
            k.notify_dead_msgs.clone(),
        ]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.group)
            .arg(self.consumer)
            .arg(self.id)
            .arg(self.failures)
            .arg(self.next_ms.map(|m| m.to_string()).unwrap_or_default())
            .arg(self.error);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}

/// Puts dead letter `id` back into the outbox.
#[derive(Debug)]
pub(crate) struct OutboxReplay<'a> {
    pub(crate) id: &'a str,
}

/// The new entry, or no such dead letter.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum OutboxReplayReply {
    Replayed { id: String },
    Missing,
}

impl Call for OutboxReplay<'_> {
    type Reply = OutboxReplayReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.outbox_replay
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![
            k.notifications.clone(),
            k.notify_dead.clone(),
            k.notify_dead_msgs.clone(),
        ]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.id);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}

/// Trims the outbox before `cutoff_ms`, never past what `group` has not finished.
#[derive(Debug)]
pub(crate) struct OutboxTrim<'a> {
    pub(crate) group: &'a str,
    pub(crate) cutoff_ms: i64,
}

#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum TrimReply {
    Trimmed { deleted: u64 },
}

impl Call for OutboxTrim<'_> {
    type Reply = u64;
    fn script(s: &Scripts) -> &Loaded {
        &s.outbox_trim
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.notifications.clone()]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.group)
            .arg(format!("{}-0", self.cutoff_ms.max(0)));
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        let TrimReply::Trimmed { deleted } = json(v)?;
        Ok(deleted)
    }
}
