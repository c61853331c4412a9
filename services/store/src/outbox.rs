//! The notifications outbox: `{c}:notifications`, a Redis stream read by the consumer
//! group [`GROUP`] with at-least-once delivery.
//!
//! The transition scripts append a message in the same step as the transition it tells
//! (assign, arrive, complete, unfulfilled, a relative's booking, an alert), so an
//! acknowledged transition never loses its message. A sender worker
//! ([`OutboxReader::next`] for new messages, [`Store::outbox_take`] for due retries and
//! for messages a dead worker left) acknowledges a message only after it was delivered
//! ([`Store::outbox_ack`]); a failure waits for its back-off on the store's clock
//! (`notify:retry`), and after the last attempt the message becomes a dead letter
//! (`notify:dead`) that operators list and replay. Messages a worker read but never
//! acknowledged stay pending in the group and are claimed (`XAUTOCLAIM`) by another
//! worker once idle longer than the claim bound (Redis' clock: idle time is Redis').

use crate::conn::{Conn, Timeouts};
use crate::scripts::{OutboxFail, OutboxReplay, OutboxReplayReply, OutboxTake, OutboxTakeReply};
use crate::{Entity, Store, StoreError};
use std::collections::HashMap;
use std::time::Duration;

pub use crate::scripts::OutboxFailReply;

/// The sender workers' consumer group.
pub const GROUP: &str = "notify";

/// One outbox entry as a worker holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The stream id (also the dead letter's id, should it die).
    pub id: String,
    /// The entry's fields (`taxi_domain::notify::Message::from_fields` reads them).
    pub fields: HashMap<String, String>,
    /// Failed attempts before this one.
    pub failures: u32,
}

/// A message that failed every attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its id (the outbox entry it was).
    pub id: String,
    /// The message's fields.
    pub fields: HashMap<String, String>,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub error: String,
    /// When it died (ms).
    pub died_ms: i64,
}

#[derive(Debug, serde::Deserialize)]
struct DeadRec {
    #[serde(deserialize_with = "crate::scripts::codec::list")]
    fields: Vec<String>,
    attempts: u32,
    error: String,
    at: i64,
}

fn pairs(list: Vec<String>) -> HashMap<String, String> {
    list.chunks_exact(2)
        .map(|kv| (kv[0].clone(), kv[1].clone()))
        .collect()
}

/// `XREADGROUP`'s reply: per stream, its entries.
type ReadReply = Option<Vec<(String, Vec<(String, HashMap<String, String>)>)>>;

/// A worker's wait for new messages, on a connection of its own (a blocking read must not
/// stall the shared one), reconnected inside as needed.
pub struct OutboxReader {
    store: Store,
    consumer: String,
    conn: Option<Conn>,
}

impl std::fmt::Debug for OutboxReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxReader")
            .field("consumer", &self.consumer)
            .finish()
    }
}

impl OutboxReader {
    /// New messages for this worker (at most `count`), waiting up to `block` for one.
    /// They are pending for this consumer until acknowledged.
    pub async fn next(
        &mut self,
        count: usize,
        block: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        if self.conn.is_none() {
            let t = Timeouts {
                connect: self.store.config().connect_timeout,
                response: Some(block + self.store.config().response_timeout),
            };
            self.conn = Some(Conn::open("outbox", &self.store.target, t)?);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Ok(vec![]);
        };
        let got: Result<ReadReply, redis::RedisError> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(block.as_millis().max(1) as u64)
            .arg("STREAMS")
            .arg(&self.store.keys.notifications)
            .arg(">")
            .query_async(conn)
            .await;
        match got {
            Ok(reply) => Ok(reply
                .unwrap_or_default()
                .into_iter()
                .flat_map(|(_, entries)| entries)
                .map(|(id, fields)| OutboxEntry {
                    id,
                    fields,
                    failures: 0,
                })
                .collect()),
            Err(e) => {
                self.conn = None;
                if e.code() == Some("NOGROUP") {
                    // The stream or the group went away (a flushed Redis): make it again.
                    let _ = self.store.outbox_ensure_group().await;
                }
                Err(e.into())
            }
        }
    }
}

impl Store {
    /// Creates the sender group if it does not exist, reading the outbox from its start
    /// (messages written before any sender ran are delivered too).
    pub async fn outbox_ensure_group(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let r: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.keys.notifications)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// A reader of new messages for worker `consumer`.
    pub fn outbox_reader(&self, consumer: &str) -> OutboxReader {
        OutboxReader {
            store: self.clone(),
            consumer: consumer.to_string(),
            conn: None,
        }
    }

    /// Claims for `consumer` at most `count` messages that are due again: failed ones
    /// whose back-off has passed (store clock), and ones another worker read but left
    /// unacknowledged for longer than `claim_idle` (a dead worker's).
    pub async fn outbox_take(
        &self,
        consumer: &str,
        count: usize,
        claim_idle: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let OutboxTakeReply::Taken { entries } = self
            .call(&OutboxTake {
                group: GROUP,
                consumer,
                count,
                claim_idle_ms: claim_idle.as_millis() as u64,
            })
            .await?;
        Ok(entries
            .into_iter()
            .map(|(id, fields, failures)| OutboxEntry {
                id,
                fields: pairs(fields),
                failures,
            })
            .collect())
    }

    /// Acknowledges a delivered message: it leaves the group's pending list and any retry.
    pub async fn outbox_ack(&self, id: &str) -> Result<(), StoreError> {
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let _: () = redis::pipe()
            .atomic()
            .cmd("XACK")
            .arg(&k.notifications)
            .arg(GROUP)
            .arg(id)
            .ignore()
            .zrem(&k.notify_retry, id)
            .ignore()
            .hdel(&k.notify_attempts, id)
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Records that `consumer`'s delivery of `id` failed for the `failures`-th time: it is
    /// tried again at `next_ms` (store clock), or with `None` becomes a dead letter.
    pub async fn outbox_fail(
        &self,
        consumer: &str,
        id: &str,
        failures: u32,
        next_ms: Option<i64>,
        error: &str,
    ) -> Result<OutboxFailReply, StoreError> {
        self.call(&OutboxFail {
            group: GROUP,
            consumer,
            id,
            failures,
            next_ms,
            error,
        })
        .await
    }

    /// The newest `limit` dead letters after skipping `offset`, and how many there are.
    pub async fn dead_letters(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<DeadLetter>, usize), StoreError> {
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let stop = offset.saturating_add(limit.max(1)) as isize - 1;
        let (ids, total): (Vec<String>, usize) = redis::pipe()
            .zrevrange(&k.notify_dead, offset as isize, stop)
            .zcard(&k.notify_dead)
            .query_async(&mut conn)
            .await?;
        if ids.is_empty() {
            return Ok((vec![], total));
        }
        let recs: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&k.notify_dead_msgs)
            .arg(&ids)
            .query_async(&mut conn)
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for (id, rec) in ids.into_iter().zip(recs) {
            let Some(rec) = rec else { continue };
            let r: DeadRec = serde_json::from_str(&rec)
                .map_err(|e| StoreError::Internal(format!("dead letter {id}: {e}")))?;
            out.push(DeadLetter {
                id,
                fields: pairs(r.fields),
                attempts: r.attempts,
                error: r.error,
                died_ms: r.at,
            });
        }
        Ok((out, total))
    }

    /// Puts dead letter `id` back into the outbox (same fields, so the same idempotency
    /// key); returns the new entry's id.
    pub async fn replay_dead_letter(&self, id: &str) -> Result<String, StoreError> {
        match self.call(&OutboxReplay { id }).await? {
            OutboxReplayReply::Replayed { id } => Ok(id),
            OutboxReplayReply::Missing => Err(StoreError::not_found(Entity::DeadLetter, id)),
        }
    }

    /// The outbox as it stands, oldest first (tests and tools): every entry's id and fields.
    pub async fn outbox_entries(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut conn = self.conn.clone();
        let entries: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
            .arg(&self.keys.notifications)
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await?;
        Ok(entries
            .into_iter()
            .map(|(id, fields)| OutboxEntry {
                id,
                fields,
                failures: 0,
            })
            .collect())
    }

    /// How many messages the sender group holds unacknowledged (tests and metrics).
    pub async fn outbox_pending(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        let r: Result<redis::Value, redis::RedisError> = redis::cmd("XPENDING")
            .arg(&self.keys.notifications)
            .arg(GROUP)
            .query_async(&mut conn)
            .await;
        match r {
            Ok(redis::Value::Array(v)) => Ok(v
                .first()
                .and_then(|n| redis::from_redis_value::<u64>(n.clone()).ok())
                .unwrap_or(0)),
            Ok(_) => Ok(0),
            Err(e) if e.code() == Some("NOGROUP") => Ok(0),
            Err(e) => Err(e.into()),
        }
    }
}
