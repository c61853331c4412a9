//! Recurring-ride patterns (issue 14): the pattern record, its index by passenger, and
//! materialising its occurrences as reservations.
//!
//! Idempotence: every occurrence key (`<id>:<YYYYMMDD>:<out|ret>`) is marked in the
//! pattern's `made` hash by `create_order.lua` in the same atomic step as its reservation,
//! and the mark never expires, so re-running a pass (or two passes racing) never doubles
//! a trip. A change, a pause or a cancellation cancels the future reservations that no
//! longer match (still SCHEDULED: not yet dispatched) and unmarks them, then the pass
//! makes the new ones.

use crate::orders::{NewOrder, PlaceRec};
use crate::{Store, StoreError};
use redis::AsyncCommands;
use std::collections::HashMap;
use taxi_domain::Coordinates;
use taxi_domain::booking::{CancelledBy, Channel, Need, Payment, join_codes, parse_needs};
use taxi_domain::error::FieldError;
use taxi_domain::order::OrderStatus;
use taxi_domain::priority::{self, ElderlyReason};
use taxi_domain::recurring::{self, Pattern, PatternSpec, Place, ScheduleSpec};
use taxi_domain::settings::Settings;

/// A place as stored in a pattern's JSON.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlaceJson {
    /// Latitude, WGS-84.
    pub lat: f64,
    /// Longitude, WGS-84.
    pub lon: f64,
    /// Address text.
    pub address: String,
}

impl PlaceJson {
    /// From a checked place.
    pub fn of(p: &PlaceRec) -> Self {
        Self {
            lat: p.at.lat(),
            lon: p.at.lon(),
            address: p.address.clone(),
        }
    }

    /// Back to a place (the coordinates were checked when stored).
    pub fn place(&self) -> Result<PlaceRec, StoreError> {
        Ok(PlaceRec {
            at: Coordinates::new(self.lat, self.lon)
                .map_err(|e| StoreError::Internal(format!("a pattern's place: {e}")))?,
            address: self.address.clone(),
        })
    }
}

/// A pattern as stored (`{c}:recurring:<id>`, JSON).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PatternRec {
    /// `R` and random bits.
    pub id: String,
    /// The passenger's canonical phone.
    pub phone: String,
    /// The passenger's name.
    pub name: String,
    /// Why the passenger is older (code), '' if not known to be.
    pub elderly: String,
    /// `YYYY-MM-DD`.
    pub start_date: String,
    /// `YYYY-MM-DD` or ''.
    pub end_date: String,
    /// How many dates run, if a count ends it.
    pub count: Option<u32>,
    /// ISO weekdays.
    pub weekdays: Vec<u32>,
    /// `HH:MM`.
    pub pickup_time: String,
    /// `HH:MM` or ''.
    pub return_time: String,
    /// The outbound pickup.
    pub pickup: PlaceJson,
    /// The outbound drop-off.
    pub dropoff: PlaceJson,
    /// Need codes, comma-separated.
    pub needs: String,
    /// Dates with no trip.
    pub skipped_dates: Vec<String>,
    /// Paused from this date on ('' when not).
    pub paused_from: String,
    /// Cancelled: nothing more is made.
    pub cancelled: bool,
    /// The operator who set it up ('' for a relative).
    pub operator: String,
    /// The relative who set it up ('' for an operator).
    pub booker: String,
    /// Created (ms).
    pub created_ms: i64,
    /// Bumped by every change: a reservation is made only from the version it was
    /// computed from (`create_order.lua`), so a pass racing a change makes nothing stale.
    #[serde(default)]
    pub ver: u64,
    /// The caring-fleet taxi paired with the pattern ('' when none; issue 14).
    #[serde(default)]
    pub paired_taxi: String,
}

impl PatternRec {
    /// The domain's spec of this record.
    pub fn spec(&self) -> Result<PatternSpec, StoreError> {
        let place = |p: &PlaceJson| -> Result<Place, StoreError> {
            let r = p.place()?;
            Ok(Place {
                at: r.at,
                address: r.address,
            })
        };
        Ok(PatternSpec {
            id: self.id.clone(),
            start_date: self.start_date.clone(),
            end_date: self.end_date.clone(),
            count: self.count,
            schedule: ScheduleSpec {
                weekdays: self.weekdays.clone(),
                pickup_time: self.pickup_time.clone(),
                return_time: self.return_time.clone(),
                pickup: place(&self.pickup)?,
                dropoff: place(&self.dropoff)?,
                needs: parse_needs(&self.needs),
            },
            skipped_dates: self.skipped_dates.clone(),
            paused_from: self.paused_from.clone(),
            changes: vec![],
        })
    }

    /// The checked pattern; a field error names what is wrong.
    pub fn pattern(&self) -> Result<Result<Pattern, FieldError>, StoreError> {
        Ok(Pattern::new(&self.spec()?))
    }

    /// The needs.
    pub fn need_list(&self) -> Vec<Need> {
        parse_needs(&self.needs)
    }

    /// Need codes from a list.
    pub fn needs_csv(needs: &[Need]) -> String {
        join_codes(needs, Need::code)
    }
}

/// A new pattern id: `R` and 128 random bits.
pub fn new_pattern_id() -> String {
    taxi_domain::validate::generated_id("R", rand::random())
}

impl Store {
    /// Stores a pattern (new or changed) and indexes it: by passenger, and among the active
    /// ones unless cancelled. One transaction.
    pub async fn save_pattern(&self, rec: &PatternRec) -> Result<(), StoreError> {
        let json = serde_json::to_string(rec)
            .map_err(|e| StoreError::Internal(format!("pattern json: {e}")))?;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .set(self.keys.recurring(&rec.id), json)
            .ignore()
            .sadd(self.keys.caller_recurring(&rec.phone), &rec.id)
            .ignore();
        if rec.cancelled {
            pipe.srem(self.keys.recurring_active(), &rec.id).ignore();
        } else {
            pipe.sadd(self.keys.recurring_active(), &rec.id).ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    /// The version the next save of pattern `id` should carry: one after the stored one.
    pub async fn next_pattern_version(&self, id: &str) -> Result<u64, StoreError> {
        Ok(self.get_pattern(id).await?.map_or(1, |p| p.ver + 1))
    }

    /// One pattern, if it exists.
    pub async fn get_pattern(&self, id: &str) -> Result<Option<PatternRec>, StoreError> {
        let mut conn = self.conn.clone();
        let json: Option<String> = conn.get(self.keys.recurring(id)).await?;
        json.map(|j| {
            serde_json::from_str(&j)
                .map_err(|e| StoreError::Internal(format!("pattern {id} json: {e}")))
        })
        .transpose()
    }

    /// The patterns of a passenger, oldest first.
    pub async fn patterns_of(&self, phone: &str) -> Result<Vec<PatternRec>, StoreError> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = conn.smembers(self.keys.caller_recurring(phone)).await?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(p) = self.get_pattern(&id).await? {
                out.push(p);
            }
        }
        out.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(out)
    }

    /// The reservations made for a pattern: occurrence key → order id.
    pub async fn pattern_made(&self, id: &str) -> Result<HashMap<String, String>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(conn.hgetall(self.keys.recurring_made(id)).await?)
    }

    /// Makes every occurrence of `rec` whose pickup is within `horizon_ms` of now, once
    /// ever each. Returns how many reservations were made now.
    pub async fn materialise_pattern(
        &self,
        rec: &PatternRec,
        settings: &Settings,
        horizon_ms: i64,
    ) -> Result<usize, StoreError> {
        if rec.cancelled {
            return Ok(0);
        }
        let pattern = rec
            .pattern()?
            .map_err(|e| StoreError::Internal(format!("pattern {}: {e}", rec.id)))?;
        let now = self.now_ms();
        let elderly = ElderlyReason::from_code(&rec.elderly);
        let channel = if rec.booker.is_empty() {
            Channel::Operator
        } else {
            Channel::FamilyProxy
        };
        let mut made = 0;
        for occ in recurring::occurrences(&pattern, now, horizon_ms) {
            let placement = priority::place_order(
                now,
                occ.pickup_ms,
                elderly.is_some(),
                settings.elderly_head_start.as_millis() as i64,
                settings.guarantee.caring_lead_ms,
            );
            let order = NewOrder {
                channel,
                phone: rec.phone.clone(),
                name: rec.name.clone(),
                pickup: PlaceRec {
                    at: occ.from.at,
                    address: occ.from.address.clone(),
                },
                dropoff: Some(PlaceRec {
                    at: occ.to.at,
                    address: occ.to.address.clone(),
                }),
                pickup_ms: occ.pickup_ms,
                reservation: true,
                release_ms: placement.release_ms,
                elderly,
                needs: occ.needs.clone(),
                passengers: 1,
                notes: String::new(),
                payment: Payment::Cash,
                operator: rec.operator.clone(),
                booker: rec.booker.clone(),
                device: String::new(),
                priority: placement.priority,
                queue_score: placement.queue_score,
                request_id: None,
                dedupe_until_ms: None,
            };
            let extra = crate::guarantee::order_fields(rec, &occ, &settings.guarantee);
            let Some(created) = self
                .create_order_for(&order, Some((&rec.id, &occ.key, rec.ver)), extra)
                .await?
            else {
                // Changed meanwhile: whoever changed it makes the new trips.
                tracing::debug!(pattern_id = %rec.id, "pattern changed during the pass");
                break;
            };
            if created.created {
                made += 1;
                tracing::info!(pattern_id = %rec.id, occurrence = %occ.key, order_id = %created.order.id, "recurring trip reserved");
                if !rec.paired_taxi.is_empty() {
                    self.notify_paired(&rec.paired_taxi, &created.order.id, "made")
                        .await?;
                }
            }
        }
        Ok(made)
    }

    /// After `rec` changed (rules, skipped dates, pause, cancellation): cancels its future
    /// reservations not yet dispatched that no longer match an occurrence within the
    /// horizon, and unmarks them so the next pass makes them anew. Past and dispatched
    /// reservations are left alone. Returns how many were cancelled.
    pub async fn resync_pattern(
        &self,
        rec: &PatternRec,
        horizon_ms: i64,
    ) -> Result<usize, StoreError> {
        let now = self.now_ms();
        let wanted: HashMap<String, recurring::Occurrence> = if rec.cancelled {
            HashMap::new()
        } else {
            let pattern = rec
                .pattern()?
                .map_err(|e| StoreError::Internal(format!("pattern {}: {e}", rec.id)))?;
            recurring::occurrences(&pattern, now, horizon_ms)
                .into_iter()
                .map(|o| (o.key.clone(), o))
                .collect()
        };
        let made = self.pattern_made(&rec.id).await?;
        let ids: Vec<String> = made.values().cloned().collect();
        let orders: HashMap<String, crate::orders::OrderRecord> = self
            .get_orders(&ids)
            .await?
            .into_iter()
            .map(|o| (o.id.clone(), o))
            .collect();
        let mut cancelled = 0;
        for (key, id) in made {
            let Some(o) = orders.get(&id) else { continue };
            if o.pickup_ms <= now {
                continue;
            }
            let matches = wanted.get(&key).is_some_and(|w| {
                w.pickup_ms == o.pickup_ms
                    && w.from.at == o.pickup.at
                    && o.dropoff.as_ref().is_some_and(|d| d.at == w.to.at)
                    && w.needs == o.needs
            });
            if matches {
                continue;
            }
            if o.status == OrderStatus::Scheduled {
                match self
                    .cancel_order(&id, CancelledBy::Operator, "recurring pattern changed")
                    .await
                {
                    Ok(_) => {
                        cancelled += 1;
                        if !rec.paired_taxi.is_empty() {
                            self.notify_paired(&rec.paired_taxi, &id, "cancelled")
                                .await?;
                        }
                    }
                    // Released meanwhile: dispatch has it; it stands.
                    Err(StoreError::OrderRefused { .. }) => continue,
                    Err(e) => return Err(e),
                }
            } else if o.status != OrderStatus::Cancelled {
                // Already dispatched: it stands, and stays marked.
                continue;
            }
            let mut conn = self.conn.clone();
            let _: () = conn.hdel(self.keys.recurring_made(&rec.id), &key).await?;
        }
        Ok(cancelled)
    }

    /// The materialiser's pass: every active pattern's occurrences over the horizon, once
    /// ever each. Returns how many reservations were made.
    pub async fn materialise_recurring(
        &self,
        settings: &Settings,
        horizon_ms: i64,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = conn.smembers(self.keys.recurring_active()).await?;
        let mut made = 0;
        for id in ids {
            match self.get_pattern(&id).await? {
                Some(rec) if !rec.cancelled => {
                    made += self.materialise_pattern(&rec, settings, horizon_ms).await?;
                }
                _ => {
                    let _: () = conn.srem(self.keys.recurring_active(), &id).await?;
                }
            }
        }
        Ok(made)
    }
}
