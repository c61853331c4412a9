//! The caring fleet's guarantee for recurring trips (issue 14): pairing a caring-fleet
//! taxi with a pattern, the paired driver's coming trips and answers, and the T−15 pass.
//!
//! A recurring trip's order carries what dispatch needs (written with it by
//! `create_order.lua`, see [`order_fields`]): `paired` (the paired taxi), `caring_until`
//! (T−open lead: until then `offer_order.lua` searches only the caring fleet),
//! `keep_until` (its pickup: dispatch never gives it up before), and, once the paired
//! driver answered, `pconf` and `pref_taxi` (`paired_answer.lua`). The reservation itself
//! is released at T−caring lead by the ordinary reservation sweep.

use crate::orders::OrderRecord;
use crate::recurring::PatternRec;
use crate::scripts::{GuaranteeAlert, GuaranteeAlertReply, PairedAnswer, PairedAnswerReply};
use crate::{Store, StoreError};
use redis::AsyncCommands;
use taxi_domain::order::OrderStatus;
use taxi_domain::recurring::{Guarantee, Occurrence};

/// The fields a recurring trip's order is made with.
pub fn order_fields(rec: &PatternRec, occ: &Occurrence, g: &Guarantee) -> Vec<(String, String)> {
    [
        ("rpat", rec.id.clone()),
        ("rocc", occ.key.clone()),
        ("paired", rec.paired_taxi.clone()),
        ("caring_until", g.open_to_all_ms(occ.pickup_ms).to_string()),
        ("keep_until", occ.pickup_ms.to_string()),
    ]
    .map(|(f, v)| (f.to_string(), v))
    .into()
}

/// Where a paired trip stands with its driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairState {
    /// Not answered yet.
    Unconfirmed,
    /// The driver will do it.
    Confirmed,
    /// The driver cannot.
    Refused,
}

/// One coming trip of a pattern a taxi is paired with.
#[derive(Debug, Clone)]
pub struct PairedTrip {
    /// The reservation.
    pub order: OrderRecord,
    /// Its pattern.
    pub pattern: String,
    /// The driver's answer.
    pub state: PairState,
}

/// Why a pairing or a paired driver's answer was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairRefusal {
    /// No such taxi.
    NoTaxi,
    /// The taxi is not in the caring fleet.
    NotCaring,
    /// The order is not a trip this taxi is paired with.
    NotPaired,
    /// The trip was already dispatched or ended (its status).
    Dispatched(OrderStatus),
}

/// Statuses in which a trip still has no taxi.
fn unassigned(s: OrderStatus) -> bool {
    matches!(
        s,
        OrderStatus::Scheduled | OrderStatus::Pending | OrderStatus::Offered
    )
}

impl Store {
    /// Pairs `taxi` (a caring-fleet taxi; '' unpairs) with pattern `rec` and stores it;
    /// every coming trip not yet dispatched follows (unconfirmed), and both taxis' streams
    /// are told.
    pub async fn pair_pattern(
        &self,
        rec: &mut PatternRec,
        taxi: &str,
    ) -> Result<Result<(), PairRefusal>, StoreError> {
        let mut conn = self.conn.clone();
        if !taxi.is_empty() {
            let exists: bool = conn.exists(self.keys.taxi(taxi)).await?;
            if !exists {
                return Ok(Err(PairRefusal::NoTaxi));
            }
            let caring: bool = conn.sismember(&self.keys.caring, taxi).await?;
            if !caring {
                return Ok(Err(PairRefusal::NotCaring));
            }
        }
        let old = std::mem::replace(&mut rec.paired_taxi, taxi.to_string());
        self.save_pattern(rec).await?;
        if !old.is_empty() && old != taxi {
            let _: () = conn.srem(self.keys.taxi_paired(&old), &rec.id).await?;
        }
        if !taxi.is_empty() {
            let _: () = conn.sadd(self.keys.taxi_paired(taxi), &rec.id).await?;
        }
        let now = self.now_ms();
        let ids: Vec<String> = self.pattern_made(&rec.id).await?.into_values().collect();
        for o in self.get_orders(&ids).await? {
            if o.pickup_ms <= now
                || !matches!(o.status, OrderStatus::Scheduled | OrderStatus::Pending)
            {
                continue;
            }
            let _: () = conn
                .hset_multiple(
                    self.keys.order(&o.id),
                    &[("paired", taxi), ("pconf", ""), ("pref_taxi", "")],
                )
                .await?;
            if old != taxi {
                if !old.is_empty() {
                    self.notify_paired(&old, &o.id, "unpaired").await?;
                }
                if !taxi.is_empty() {
                    self.notify_paired(taxi, &o.id, "paired").await?;
                }
            }
        }
        Ok(Ok(()))
    }

    /// The coming trips (pickup after now, not ended) of the patterns `taxi` is paired
    /// with, soonest first.
    pub async fn paired_trips(&self, taxi: &str) -> Result<Vec<PairedTrip>, StoreError> {
        let mut conn = self.conn.clone();
        let patterns: Vec<String> = conn.smembers(self.keys.taxi_paired(taxi)).await?;
        let now = self.now_ms();
        let mut out = Vec::new();
        for p in patterns {
            let ids: Vec<String> = self.pattern_made(&p).await?.into_values().collect();
            for o in self.get_orders(&ids).await? {
                if o.pickup_ms <= now || o.status.is_final() {
                    continue;
                }
                if let Some(t) = self.paired_trip(&o, taxi, &p).await? {
                    out.push(t);
                }
            }
        }
        out.sort_by(|a, b| (a.order.pickup_ms, &a.order.id).cmp(&(b.order.pickup_ms, &b.order.id)));
        Ok(out)
    }

    /// `o` as a trip of `taxi`, if `taxi` is its paired taxi.
    async fn paired_trip(
        &self,
        o: &OrderRecord,
        taxi: &str,
        pattern: &str,
    ) -> Result<Option<PairedTrip>, StoreError> {
        let mut conn = self.conn.clone();
        let (paired, pconf): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(self.keys.order(&o.id))
            .arg("paired")
            .arg("pconf")
            .query_async(&mut conn)
            .await?;
        if paired.as_deref() != Some(taxi) {
            return Ok(None);
        }
        let state = match pconf.as_deref() {
            Some("confirmed") => PairState::Confirmed,
            Some("refused") => PairState::Refused,
            _ => PairState::Unconfirmed,
        };
        Ok(Some(PairedTrip {
            order: o.clone(),
            pattern: pattern.to_string(),
            state,
        }))
    }

    /// The paired `taxi` confirms (or refuses) trip `order`, before it is dispatched.
    pub async fn answer_paired(
        &self,
        taxi: &str,
        order: &str,
        confirm: bool,
    ) -> Result<Result<PairedTrip, PairRefusal>, StoreError> {
        match self
            .call(&PairedAnswer {
                order,
                taxi,
                confirm,
            })
            .await?
        {
            PairedAnswerReply::Done => {}
            PairedAnswerReply::Missing => {
                return Err(StoreError::not_found(crate::Entity::Order, order));
            }
            PairedAnswerReply::NotPaired => return Ok(Err(PairRefusal::NotPaired)),
            PairedAnswerReply::Gone { status } => {
                let s = OrderStatus::from_code(&status).unwrap_or(OrderStatus::Cancelled);
                return Ok(Err(PairRefusal::Dispatched(s)));
            }
        }
        let o = self.get_order(order).await?;
        let mut conn = self.conn.clone();
        let pattern: Option<String> = conn.hget(self.keys.order(order), "rpat").await?;
        self.paired_trip(&o, taxi, pattern.as_deref().unwrap_or(""))
            .await?
            .map(Ok)
            .ok_or_else(|| StoreError::Internal(format!("order {order} lost its pairing")))
    }

    /// Tells `taxi`'s dispatch stream that its paired trip `order` changed (`reason`).
    pub async fn notify_paired(
        &self,
        taxi: &str,
        order: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let notice = serde_json::json!({
            "taxi": taxi,
            "kind": crate::feed::NoticeKind::Paired.code(),
            "order": order,
            "reason": reason,
        });
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("XADD")
            .arg(&self.keys.feed)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.config().feed_len)
            .arg("*")
            .arg("taxi")
            .arg(taxi)
            .arg("n")
            .arg(notice.to_string())
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// The guarantee's pass: every recurring trip still without a taxi at T−alert lead
    /// (and not yet picked up) raises its operator alert and tells the passenger and the
    /// relative, once ever per trip. Returns how many alerts were raised now.
    pub async fn guarantee_pass(&self, g: &Guarantee) -> Result<usize, StoreError> {
        let mut conn = self.conn.clone();
        let patterns: Vec<String> = conn.smembers(self.keys.recurring_active()).await?;
        let now = self.now_ms();
        let mut raised = 0;
        for p in patterns {
            let ids: Vec<String> = self.pattern_made(&p).await?.into_values().collect();
            for o in self.get_orders(&ids).await? {
                if !unassigned(o.status) || now < g.alert_ms(o.pickup_ms) || now >= o.pickup_ms {
                    continue;
                }
                let seen: Option<String> = conn.hget(self.keys.order(&o.id), "g_alert").await?;
                if seen.is_some_and(|s| !s.is_empty()) {
                    continue;
                }
                let n: i64 = redis::cmd("INCR")
                    .arg(self.keys.seq("alert"))
                    .query_async(&mut conn)
                    .await?;
                let alert = format!("A{n}");
                match self
                    .call(&GuaranteeAlert {
                        order: &o.id,
                        alert: &alert,
                    })
                    .await?
                {
                    GuaranteeAlertReply::Created { alert } => {
                        raised += 1;
                        tracing::warn!(order_id = %o.id, pattern_id = %p, alert_id = %alert, "recurring trip unassigned at T-15: alert raised");
                    }
                    // Another pass raised it meanwhile.
                    GuaranteeAlertReply::Existing { alert } => {
                        tracing::debug!(order_id = %o.id, alert_id = %alert, "alert already raised");
                    }
                    GuaranteeAlertReply::Gone => {}
                }
            }
        }
        Ok(raised)
    }
}
