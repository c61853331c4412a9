//! Dispatch: the queue, offers, trip steps, manual assignment, call-backs, KPIs.
//!
//! Every function here is one Lua script (or a read). The scripts share `lua/lib.lua`
//! (prepended when they are loaded), so releasing an offer, freeing a taxi and requeueing
//! an order are written once.

use crate::{Store, StoreError, now_ms};
use std::collections::HashMap;
use taxi_domain::booking::Payment;
use taxi_domain::order::{OrderEvent, OrderStatus, refusal};
use taxi_domain::taxi::{TaxiEvent, TaxiState};

/// The numbers one dispatch attempt works by.
#[derive(Debug, Clone)]
pub struct DispatchParams {
    /// Taxis offered at once (1 = sequential).
    pub fan_out: u32,
    /// Search radii, metres.
    pub radii_m: Vec<u32>,
    /// One more radius for older passengers.
    pub elderly_extra_radius_m: u32,
    /// Caring-fleet radius for older passengers.
    pub caring_radius_m: u32,
    /// Fixes older than this are not matched.
    pub fresh_ms: i64,
    /// Time to answer an offer.
    pub offer_timeout_ms: i64,
    /// Offers before giving up.
    pub max_offers: u32,
    /// Time in dispatch before giving up.
    pub max_age_ms: i64,
    /// Wait before searching again when nothing was in reach.
    pub retry_ms: i64,
    /// Elderly head start in the queue.
    pub head_start_ms: i64,
    /// Missed offers before a taxi is signed off.
    pub max_missed: u32,
}

/// What one dispatch attempt did.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// The queue was empty.
    Empty,
    /// Offered to these taxis (id, distance m) until the deadline (ms).
    Offered {
        /// The order.
        order: String,
        /// Offer deadline, ms.
        deadline_ms: i64,
        /// The taxis and their distances.
        taxis: Vec<(String, f64)>,
    },
    /// No taxi in reach for this order: searched again later.
    Retry(String),
    /// Given up on this order: it is on the call-back list.
    Unfulfilled(String),
    /// The queued order was no longer pending (cancelled, assigned by hand).
    Gone(String),
}

/// A step of a dispatched trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TripStep {
    /// The taxi is at the pickup.
    Arrive,
    /// The passenger is on board.
    Start,
    /// The trip ended.
    Complete,
}

impl TripStep {
    fn order_event(self) -> OrderEvent {
        match self {
            TripStep::Arrive => OrderEvent::Arrive,
            TripStep::Start => OrderEvent::StartTrip,
            TripStep::Complete => OrderEvent::Complete,
        }
    }

    fn taxi_rule(self) -> (String, &'static str) {
        match self {
            TripStep::Arrive => (TaxiState::Assigned.code().to_string(), ""),
            TripStep::Start => (
                TaxiEvent::StartTrip.allowed_codes(),
                TaxiState::Occupied.code(),
            ),
            TripStep::Complete => (
                TaxiEvent::CompleteTrip.allowed_codes(),
                TaxiState::Free.code(),
            ),
        }
    }

    fn time_field(self) -> &'static str {
        match self {
            TripStep::Arrive => "arrived_ms",
            TripStep::Start => "started_ms",
            TripStep::Complete => "ended_ms",
        }
    }

    fn event(self) -> &'static str {
        match self {
            TripStep::Arrive => "taxi_arrived",
            TripStep::Start => "trip_started",
            TripStep::Complete => "trip_completed",
        }
    }
}

/// The raw figures behind the KPIs.
#[derive(Debug, Clone, Default)]
pub struct RawStats {
    /// Counters: total, ch:<channel>, elderly, assigned, completed, cancelled, unfulfilled, offers.
    pub counters: HashMap<String, u64>,
    /// Recent times to assign (ms), older passengers.
    pub assign_elderly: Vec<i64>,
    /// Recent times to assign (ms), others.
    pub assign_others: Vec<i64>,
    /// Recent times to pickup (ms), older passengers.
    pub pickup_elderly: Vec<i64>,
    /// Recent times to pickup (ms), others.
    pub pickup_others: Vec<i64>,
}

/// The replies of `raw_stats`' pipeline: counters, then four sample lists.
type StatsRows = (HashMap<String, u64>, Vec<i64>, Vec<i64>, Vec<i64>, Vec<i64>);

/// A dispatch notification for one taxi, as published by the scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The taxi.
    pub taxi: String,
    /// `offer`, `assigned`, `withdrawn`, `cancelled` or `signed_off`.
    pub kind: String,
    /// The order concerned (empty for `signed_off`).
    pub order: String,
    /// Why, in words.
    pub reason: String,
}

impl Notification {
    /// Parses `taxi|kind|order|reason`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(4, '|');
        Some(Self {
            taxi: parts.next()?.to_string(),
            kind: parts.next()?.to_string(),
            order: parts.next()?.to_string(),
            reason: parts.next().unwrap_or("").to_string(),
        })
    }
}

/// The reply of `accept_offer.lua` / `decline_offer.lua`.
fn offer_reply(reply: &[String], order: &str) -> Result<(), StoreError> {
    match reply.first().map(String::as_str) {
        Some("ok") => Ok(()),
        Some("missing") => Err(StoreError::NotFound {
            what: "order",
            id: order.into(),
        }),
        _ => Err(gone(reply.get(1), "order_id")),
    }
}

fn gone(status: Option<&String>, what: &str) -> StoreError {
    let st = status.and_then(|s| OrderStatus::from_code(s));
    StoreError::FailedPrecondition(match st {
        Some(OrderStatus::Cancelled) => format!("{what}: the order was cancelled"),
        Some(s) if s != OrderStatus::Offered => format!(
            "{what}: the offer is no longer open (the order is {})",
            s.code()
        ),
        _ => format!("{what}: the offer has expired or was given to another taxi"),
    })
}

impl Store {
    /// Takes the first queued order and makes one dispatch attempt for it, atomically.
    pub async fn dispatch_next(&self, p: &DispatchParams) -> Result<Attempt, StoreError> {
        let k = &self.keys;
        let now = now_ms();
        let radii = p
            .radii_m
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .scripts
            .offer_order
            .key(&k.pending)
            .arg(&k.entity_prefix)
            .arg(now)
            .arg("")
            .arg(p.fan_out)
            .arg(radii)
            .arg(p.elderly_extra_radius_m)
            .arg(p.caring_radius_m)
            .arg(now - p.fresh_ms)
            .arg(p.offer_timeout_ms)
            .arg(p.max_offers)
            .arg(p.max_age_ms)
            .arg(p.retry_ms)
            .invoke_async(&mut conn)
            .await?;
        let order = reply.get(1).cloned().unwrap_or_default();
        Ok(match reply.first().map(String::as_str) {
            Some("empty") => Attempt::Empty,
            Some("offered") => Attempt::Offered {
                order,
                deadline_ms: reply.get(2).and_then(|d| d.parse().ok()).unwrap_or(now),
                taxis: reply[3..]
                    .chunks_exact(2)
                    .map(|c| (c[0].clone(), c[1].parse().unwrap_or(0.0)))
                    .collect(),
            },
            Some("retry") => Attempt::Retry(order),
            Some("unfulfilled") => Attempt::Unfulfilled(order),
            Some("gone") => Attempt::Gone(order),
            _ => {
                return Err(StoreError::Internal(format!(
                    "offer_order replied {reply:?}"
                )));
            }
        })
    }

    /// The sweep: due reservations, due retries, expired offers. Returns how many of each
    /// it handled.
    pub async fn maintain(&self, p: &DispatchParams) -> Result<[u64; 3], StoreError> {
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let counts: Vec<u64> = self
            .scripts
            .maintain
            .key(&k.pending)
            .arg(&k.entity_prefix)
            .arg(now_ms())
            .arg(p.head_start_ms)
            .arg(p.max_missed)
            .arg(500)
            .invoke_async(&mut conn)
            .await?;
        let mut out = [0; 3];
        for (o, c) in out.iter_mut().zip(counts) {
            *o = c;
        }
        Ok(out)
    }

    /// Blocks (on `conn`, a dedicated connection) until work may be waiting or `timeout_s` passes.
    pub async fn wait_for_work(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        timeout_s: f64,
    ) -> Result<bool, StoreError> {
        let got: Option<(String, String)> = redis::cmd("BLPOP")
            .arg(format!("{}dispatch:wakeup", self.keys.entity_prefix))
            .arg(timeout_s)
            .query_async(conn)
            .await?;
        Ok(got.is_some())
    }

    /// A driver accepts an offer.
    pub async fn accept_offer(
        &self,
        order: &str,
        taxi: &str,
        eta_s: u32,
    ) -> Result<(), StoreError> {
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .scripts
            .accept_offer
            .key(k.order(order))
            .arg(&k.entity_prefix)
            .arg(now_ms())
            .arg(order)
            .arg(taxi)
            .arg(eta_s)
            .invoke_async(&mut conn)
            .await?;
        offer_reply(&reply, order)
    }

    /// A driver declines an offer.
    pub async fn decline_offer(&self, order: &str, taxi: &str) -> Result<(), StoreError> {
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .scripts
            .decline_offer
            .key(k.order(order))
            .arg(&k.entity_prefix)
            .arg(now_ms())
            .arg(order)
            .arg(taxi)
            .invoke_async(&mut conn)
            .await?;
        offer_reply(&reply, order)
    }

    /// A step of the trip by the taxi holding the order.
    pub async fn trip_step(
        &self,
        order: &str,
        taxi: &str,
        step: TripStep,
        fare_cents: i64,
        paid_by: Option<Payment>,
    ) -> Result<(), StoreError> {
        let k = &self.keys;
        let event = step.order_event();
        let (taxi_allowed, taxi_target) = step.taxi_rule();
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .scripts
            .trip_step
            .key(k.order(order))
            .arg(&k.entity_prefix)
            .arg(now_ms())
            .arg(order)
            .arg(taxi)
            .arg(event.allowed_codes())
            .arg(event.target().code())
            .arg(taxi_allowed)
            .arg(taxi_target)
            .arg(step.time_field())
            .arg(step.event())
            .arg(fare_cents)
            .arg(paid_by.map(Payment::code).unwrap_or(""))
            .invoke_async(&mut conn)
            .await?;
        let status = || reply.get(1).and_then(|s| OrderStatus::from_code(s));
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(()),
            Some("missing") => Err(StoreError::NotFound {
                what: "order",
                id: order.into(),
            }),
            Some("not_yours") => Err(StoreError::FailedPrecondition(format!(
                "order_id: order {order} is not assigned to taxi {taxi}"
            ))),
            Some("refused") => Err(StoreError::FailedPrecondition(refusal(
                event,
                status().unwrap_or(OrderStatus::Completed),
            ))),
            Some("taxi_state") => Err(StoreError::FailedPrecondition(format!(
                "taxi_id: the taxi is {}",
                reply.get(1).map(String::as_str).unwrap_or("?")
            ))),
            _ => Err(StoreError::Internal(format!("trip_step replied {reply:?}"))),
        }
    }

    /// An operator assigns a free taxi by hand.
    pub async fn assign_order(
        &self,
        order: &str,
        taxi: &str,
        eta_s: u32,
        operator: &str,
    ) -> Result<(), StoreError> {
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .scripts
            .assign_order
            .key(k.order(order))
            .arg(&k.entity_prefix)
            .arg(now_ms())
            .arg(order)
            .arg(taxi)
            .arg(eta_s)
            .arg(operator)
            .invoke_async(&mut conn)
            .await?;
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(()),
            Some("missing") => Err(StoreError::NotFound {
                what: "order",
                id: order.into(),
            }),
            Some("no_taxi") => Err(StoreError::NotFound {
                what: "taxi",
                id: taxi.into(),
            }),
            Some("taxi_busy") => Err(StoreError::FailedPrecondition(format!(
                "taxi_id: taxi {taxi} is {}, not free",
                reply.get(1).map(String::as_str).unwrap_or("?")
            ))),
            Some("refused") => Err(StoreError::FailedPrecondition(format!(
                "order_id: the order is {}; only a waiting order can be assigned",
                reply.get(1).map(String::as_str).unwrap_or("?")
            ))),
            _ => Err(StoreError::Internal(format!(
                "assign_order replied {reply:?}"
            ))),
        }
    }

    /// The offer a taxi holds right now, if any: (order, deadline ms).
    pub async fn open_offer(&self, taxi: &str) -> Result<Option<(String, i64)>, StoreError> {
        let mut conn = self.conn.clone();
        let order: Option<String> = redis::cmd("HGET")
            .arg(&self.keys.taxi_orders)
            .arg(taxi)
            .query_async(&mut conn)
            .await?;
        let Some(order) = order else { return Ok(None) };
        let deadline: Option<f64> = redis::cmd("ZSCORE")
            .arg(&self.keys.offers)
            .arg(format!("{order}|{taxi}"))
            .query_async(&mut conn)
            .await?;
        Ok(deadline.map(|d| (order, d as i64)))
    }

    /// The order a taxi holds (offered, assigned or on trip), if any.
    pub async fn held_order(&self, taxi: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("HGET")
            .arg(&self.keys.taxi_orders)
            .arg(taxi)
            .query_async(&mut conn)
            .await?)
    }

    /// Orders waiting for a taxi (queued, or waiting for a retry).
    pub async fn waiting_order_ids(&self) -> Result<Vec<String>, StoreError> {
        let p = &self.keys.entity_prefix;
        let mut conn = self.conn.clone();
        let (a, b): (Vec<String>, Vec<String>) = redis::pipe()
            .zrange(&self.keys.pending, 0, -1)
            .zrange(format!("{p}dispatch:retry"), 0, -1)
            .query_async(&mut conn)
            .await?;
        let mut ids = a;
        ids.extend(b);
        Ok(ids)
    }

    /// How many orders wait for a taxi (queued, or waiting for a retry).
    pub async fn waiting_count(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        let (a, b): (u64, u64) = redis::pipe()
            .atomic()
            .zcard(&self.keys.pending)
            .zcard(format!("{}dispatch:retry", self.keys.entity_prefix))
            .query_async(&mut conn)
            .await?;
        Ok(a + b)
    }

    /// The newest unfulfilled orders to call back.
    pub async fn callback_ids(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("ZRANGE")
            .arg(format!("{}dispatch:callbacks", self.keys.entity_prefix))
            .arg(0)
            .arg(limit as i64 - 1)
            .arg("REV")
            .query_async(&mut conn)
            .await?)
    }

    /// Counters and recent latency samples.
    pub async fn raw_stats(&self) -> Result<RawStats, StoreError> {
        let p = &self.keys.entity_prefix;
        let mut conn = self.conn.clone();
        let (counters, ae, ao, pe, po): StatsRows = redis::pipe()
            .hgetall(format!("{p}stats"))
            .lrange(format!("{p}stats:assign:e"), 0, -1)
            .lrange(format!("{p}stats:assign:o"), 0, -1)
            .lrange(format!("{p}stats:pickup:e"), 0, -1)
            .lrange(format!("{p}stats:pickup:o"), 0, -1)
            .query_async(&mut conn)
            .await?;
        Ok(RawStats {
            counters,
            assign_elderly: ae,
            assign_others: ao,
            pickup_elderly: pe,
            pickup_others: po,
        })
    }

    /// The pub/sub channel dispatch notifications go to.
    pub fn notify_channel(&self) -> String {
        format!("{}dispatch:notify", self.keys.entity_prefix)
    }

    /// A fresh pub/sub connection subscribed to dispatch notifications.
    pub async fn subscribe_notifications(&self) -> Result<redis::aio::PubSub, StoreError> {
        let client = crate::redis_client(self.url())?;
        let mut pubsub =
            tokio::time::timeout(std::time::Duration::from_secs(2), client.get_async_pubsub())
                .await
                .map_err(|_| StoreError::Unavailable("pub/sub connection timed out".into()))??;
        pubsub.subscribe(self.notify_channel()).await?;
        Ok(pubsub)
    }
}
