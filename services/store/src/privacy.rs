//! Privacy numbers (AXB) in Redis: the built-in number pool, and the record of which
//! virtual number each live trip holds, until when.
//!
//! Two layers, so any provider fits:
//! - **The pool** (`privacy_pool_*.lua`) is a provider of its own: it hands out numbers
//!   under the AXB rule (a live number is bound at most once per party) atomically, so
//!   two trips that share a passenger or a driver never share a number, whatever runs
//!   at once; releasing returns the number. It is idempotent per subscription (the order
//!   id), so a worker that died between binding and recording binds the same number again.
//! - **The bindings** (`privacy_record.lua`, `privacy_release.lua`,
//!   `privacy_unavailable.lua`) say which number a trip holds, whatever provider bound it:
//!   the order shows it (`px`), the driver's stream is told, and a trip that ended or
//!   moved to another taxi before the record is refused (the caller unbinds). The release
//!   schedule is a sorted set by the store's clock, swept by the privacy worker.

use crate::scripts::{
    PoolBind, PoolBindReply, PoolSync, PoolSyncReply, PoolUnbind, PoolUnbindReply, Record,
    RecordReply, Release, ReleaseReply, Unavailable as UnavailableCall, UnavailableReply,
};
use crate::{Store, StoreError};
use taxi_domain::privacy::Unavailable;

/// What the pool did when asked for a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolBound {
    /// This number is bound to the subscription.
    Bound(String),
    /// Every number of the pool is bound to one of the two parties already.
    Exhausted,
}

/// One binding of the pool, as it holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct PoolSubscription {
    /// The virtual number.
    pub x: String,
    /// Party A (the passenger).
    pub a: String,
    /// Party B (the driver).
    pub b: String,
}

/// A trip's live binding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Binding {
    /// The virtual number.
    pub x: String,
    /// The provider's subscription id.
    pub sub: String,
    /// The taxi whose driver is party B.
    pub taxi: String,
    /// The provider that bound it (`taxi_domain::privacy::ProviderKind::code`).
    pub provider: String,
    /// When it was recorded (ms).
    pub at: i64,
}

/// What recording a binding did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded; the driver's stream was told.
    Recorded,
    /// The order already holds a binding (this one when the subscription is the same).
    Already {
        /// Its number.
        x: String,
        /// Its subscription.
        sub: String,
    },
    /// The trip ended, or has another taxi, before the record: unbind the number.
    Moved,
}

/// The privacy numbers' counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrivacyStats {
    /// Numbers bound to trips, ever.
    pub bound: u64,
    /// Trips left without a number (pool exhausted, no driver phone, provider failed).
    pub unavailable: u64,
    /// Bindings live now.
    pub live: u64,
}

impl Store {
    /// Makes the pool hold exactly `numbers` (at start-up, from the configuration): new
    /// numbers join unused; numbers no longer configured leave (live bindings on them
    /// stay until released). Answers (added, removed).
    pub async fn privacy_pool_sync(&self, numbers: &[String]) -> Result<(u64, u64), StoreError> {
        match self.call(&PoolSync { numbers }).await? {
            PoolSyncReply::Synced { added, removed } => Ok((added, removed)),
        }
    }

    /// Binds a pool number to subscription `sub` for parties `a` and `b`.
    pub async fn privacy_pool_bind(
        &self,
        sub: &str,
        a: &str,
        b: &str,
    ) -> Result<PoolBound, StoreError> {
        Ok(match self.call(&PoolBind { sub, a, b }).await? {
            PoolBindReply::Bound { x } => PoolBound::Bound(x),
            PoolBindReply::Exhausted => PoolBound::Exhausted,
        })
    }

    /// Releases the pool's subscription `sub`; false if it was released before.
    pub async fn privacy_pool_unbind(&self, sub: &str) -> Result<bool, StoreError> {
        Ok(matches!(
            self.call(&PoolUnbind { sub }).await?,
            PoolUnbindReply::Released { .. }
        ))
    }

    /// The pool's subscription `sub`, if live.
    pub async fn privacy_pool_subscription(
        &self,
        sub: &str,
    ) -> Result<Option<PoolSubscription>, StoreError> {
        let mut conn = self.conn.clone();
        let text: Option<String> = redis::cmd("HGET")
            .arg(&self.keys.privacy_pool_subs)
            .arg(sub)
            .query_async(&mut conn)
            .await?;
        text.map(|t| {
            serde_json::from_str(&t)
                .map_err(|e| StoreError::Internal(format!("pool subscription {sub}: {e}")))
        })
        .transpose()
    }

    /// The pool's numbers with how many live bindings each holds.
    pub async fn privacy_pool_numbers(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut conn = self.conn.clone();
        let list: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(&self.keys.privacy_pool)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await?;
        Ok(list
            .into_iter()
            .map(|(x, n)| (x, n.max(0.0) as u64))
            .collect())
    }

    /// Records that `order`'s trip with `taxi` holds number `x` (subscription `sub` of
    /// `provider`), if the trip is still live with that taxi.
    pub async fn privacy_record(
        &self,
        order: &str,
        taxi: &str,
        x: &str,
        sub: &str,
        provider: &str,
    ) -> Result<Recorded, StoreError> {
        let call = Record {
            order,
            taxi,
            x,
            sub,
            provider,
            feed_max: self.config().feed_len,
        };
        Ok(match self.call(&call).await? {
            RecordReply::Recorded => Recorded::Recorded,
            RecordReply::Already { x, sub } => Recorded::Already { x, sub },
            RecordReply::Moved => Recorded::Moved,
        })
    }

    /// Records why `order`'s trip has no number (counted once per order and reason);
    /// false if nothing changed.
    pub async fn privacy_unavailable(
        &self,
        order: &str,
        why: Unavailable,
    ) -> Result<bool, StoreError> {
        Ok(matches!(
            self.call(&UnavailableCall {
                order,
                why: why.code()
            })
            .await?,
            UnavailableReply::Recorded
        ))
    }

    /// `order`'s live binding, if any.
    pub async fn privacy_binding(&self, order: &str) -> Result<Option<Binding>, StoreError> {
        let mut conn = self.conn.clone();
        let text: Option<String> = redis::cmd("HGET")
            .arg(&self.keys.privacy_bindings)
            .arg(order)
            .query_async(&mut conn)
            .await?;
        text.map(|t| {
            serde_json::from_str(&t)
                .map_err(|e| StoreError::Internal(format!("binding of {order}: {e}")))
        })
        .transpose()
    }

    /// Schedules the release of `order`'s number at `at_ms` (the store's clock), if it
    /// holds one; an earlier schedule is moved.
    pub async fn privacy_schedule_release(
        &self,
        order: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        if self.privacy_binding(order).await?.is_none() {
            return Ok(false);
        }
        let mut conn = self.conn.clone();
        let _: u64 = redis::cmd("ZADD")
            .arg(&self.keys.privacy_release)
            .arg(at_ms)
            .arg(order)
            .query_async(&mut conn)
            .await?;
        Ok(true)
    }

    /// Orders whose number is due for release by now, at most `limit`.
    pub async fn privacy_due(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("ZRANGE")
            .arg(&self.keys.privacy_release)
            .arg("-inf")
            .arg(self.now_ms())
            .arg("BYSCORE")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut conn)
            .await?)
    }

    /// When `order`'s number is due for release (ms), if scheduled.
    pub async fn privacy_release_time(&self, order: &str) -> Result<Option<i64>, StoreError> {
        let mut conn = self.conn.clone();
        let at: Option<f64> = redis::cmd("ZSCORE")
            .arg(&self.keys.privacy_release)
            .arg(order)
            .query_async(&mut conn)
            .await?;
        Ok(at.map(|v| v as i64))
    }

    /// Forgets `order`'s binding `sub` once its provider released it; false if the
    /// order held no such binding.
    pub async fn privacy_forget(&self, order: &str, sub: &str) -> Result<bool, StoreError> {
        Ok(matches!(
            self.call(&Release { order, sub }).await?,
            ReleaseReply::Released
        ))
    }

    /// The counters and how many bindings are live.
    pub async fn privacy_stats(&self) -> Result<PrivacyStats, StoreError> {
        let mut conn = self.conn.clone();
        let ((bound, unavailable), live): ((Option<u64>, Option<u64>), u64) = redis::pipe()
            .cmd("HMGET")
            .arg(&self.keys.privacy_stats)
            .arg("bound")
            .arg("unavailable")
            .cmd("HLEN")
            .arg(&self.keys.privacy_bindings)
            .query_async(&mut conn)
            .await?;
        Ok(PrivacyStats {
            bound: bound.unwrap_or(0),
            unavailable: unavailable.unwrap_or(0),
            live,
        })
    }
}
