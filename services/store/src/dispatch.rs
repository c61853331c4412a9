//! Dispatch: the queue, offers, trip steps, manual assignment, call-backs, KPIs, the trip
//! watchdog (stuck trips, redispatch) and the outages that do not count against orders.
//!
//! Every transition here is one Lua script with every key declared. The scripts share
//! `lua/lib.lua`, so releasing an offer, freeing a taxi and requeueing an order are
//! written once. Where a script must touch a key it cannot know in advance (the caller
//! of the order at the head of the queue), the store learns it first and the script
//! checks that nothing moved in between.

use crate::scripts::{
    AcceptOffer, AnswerReply, AssignOrder, AssignOrderReply, DeclineOffer, ExpireOffer, FlagStuck,
    GiveUp, OfferOrder, Outcome, PendingPage, RecordOutage, RecordOutageReply, RedispatchOrder,
    RedispatchReply, ReleaseReservation, RequeueDue, ResolveCallback, ResolveReply, StepReply,
    TripStepCall, TripStepReply,
};
use crate::{Entity, Store, StoreError};
use std::collections::HashMap;
use taxi_domain::booking::{Channel, Payment};
use taxi_domain::order::{OrderEvent, OrderStatus};
use taxi_domain::outage::Outage;
use taxi_domain::taxi::{TaxiEvent, TaxiState};
use taxi_domain::watchdog::TripWatch;

/// The numbers one dispatch attempt works by.
#[derive(Debug, Clone)]
pub struct DispatchParams {
    /// Taxis offered at once (1 = sequential).
    pub fan_out: u32,
    /// Search radii, metres.
    pub radii_m: Vec<u32>,
    /// One more radius for older passengers.
    pub elderly_extra_radius_m: u32,
    /// The extra radius opens after an older passenger's order waited this long, ms.
    pub elderly_extra_after_ms: i64,
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
    /// A taxi picked for this order was in the reach of orders ahead of it that were
    /// waiting for a taxi: they went back to the queue ahead of it, and it is queued
    /// again behind them (older first at every moment).
    Yielded {
        /// The order that yielded.
        order: String,
        /// The waiting orders brought back ahead of it.
        to: Vec<String>,
    },
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
    /// The order's event.
    pub fn order_event(self) -> OrderEvent {
        match self {
            TripStep::Arrive => OrderEvent::Arrive,
            TripStep::Start => OrderEvent::StartTrip,
            TripStep::Complete => OrderEvent::Complete,
        }
    }

    /// The taxi's event.
    pub fn taxi_event(self) -> TaxiEvent {
        match self {
            TripStep::Arrive => TaxiEvent::Arrive,
            TripStep::Start => TaxiEvent::StartTrip,
            TripStep::Complete => TaxiEvent::CompleteTrip,
        }
    }

    /// The order's field that records when the step happened.
    pub(crate) fn time_field(self) -> &'static str {
        match self {
            TripStep::Arrive => "arrived_ms",
            TripStep::Start => "started_ms",
            TripStep::Complete => "ended_ms",
        }
    }
}

/// What a redispatch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redispatched {
    /// The status the order was stuck in.
    pub from: OrderStatus,
    /// The taxi that held it, if one did.
    pub taxi: Option<String>,
    /// That taxi's state now.
    pub taxi_state: Option<TaxiState>,
}

/// A trip on the operators' list of stuck trips.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StuckTrip {
    /// The order.
    pub order: String,
    /// When the watchdog flagged it (ms).
    pub flagged_ms: i64,
}

/// The KPI counters, kept as the transitions happen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Orders created.
    pub total: u64,
    /// Orders created per channel.
    pub by_channel: Vec<(Channel, u64)>,
    /// Orders of older passengers.
    pub elderly: u64,
    /// Orders that got a taxi (accepted or assigned by hand).
    pub assigned: u64,
    /// Trips completed.
    pub completed: u64,
    /// Orders cancelled.
    pub cancelled: u64,
    /// Orders given up (no taxi).
    pub unfulfilled: u64,
    /// Older passengers' orders that got a taxi (of `assigned`).
    pub elderly_assigned: u64,
    /// Older passengers' orders given up (of `unfulfilled`).
    pub elderly_unfulfilled: u64,
    /// Offers made.
    pub offers: u64,
    /// Walk-up rides at taxi stands (`stand_board.lua`, and a queued taxi's street hail).
    pub stand_rides: u64,
    /// Offers made to the head of a stand's queue (`offer_order.lua`).
    pub stand_offers: u64,
    /// Offers made from a batched matcher's solve (`offer_pair.lua`).
    pub batch_offers: u64,
}

/// The raw figures behind the KPIs.
#[derive(Debug, Clone, Default)]
pub struct RawStats {
    /// The counters.
    pub counters: Counters,
    /// Recent times to assign (ms), older passengers.
    pub assign_elderly: Vec<i64>,
    /// Recent times to assign (ms), others.
    pub assign_others: Vec<i64>,
    /// Recent times to pickup (ms), older passengers.
    pub pickup_elderly: Vec<i64>,
    /// Recent times to pickup (ms), others.
    pub pickup_others: Vec<i64>,
}

/// Where an order waiting for a taxi stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueSection {
    /// In the queue, by queue score: dispatch takes these first.
    Queued,
    /// No taxi was in reach: waiting for its next search, by its time.
    Retrying,
}

impl QueueSection {
    /// The code in a cursor.
    pub fn code(self) -> &'static str {
        match self {
            QueueSection::Queued => "q",
            QueueSection::Retrying => "r",
        }
    }
}

/// A position in the list of waiting orders: after this order, at this score, in this
/// section. Its text (`q:<score>:<id>`) is the page token operators get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueCursor {
    /// The section.
    pub section: QueueSection,
    /// The order's score in it (queue score, or next search time; ms).
    pub score: i64,
    /// The order.
    pub id: String,
}

impl std::fmt::Display for QueueCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.section.code(), self.score, self.id)
    }
}

impl QueueCursor {
    /// Reads a cursor's text; `None` if it is not one (the id is checked by the caller).
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, ':');
        let section = match parts.next()? {
            "q" => QueueSection::Queued,
            "r" => QueueSection::Retrying,
            _ => return None,
        };
        let score = parts.next()?.parse::<i64>().ok()?;
        let id = parts.next()?.to_string();
        (!id.is_empty()).then_some(Self { section, score, id })
    }
}

/// One page of the orders waiting for a taxi.
#[derive(Debug, Clone, Default)]
pub struct PendingPageOf {
    /// The orders, in the order dispatch takes them.
    pub ids: Vec<String>,
    /// Where the next page starts, if there is one.
    pub next: Option<QueueCursor>,
}

/// The replies of `raw_stats`' pipeline: counters, then four sample lists.
type StatsRows = (HashMap<String, u64>, Vec<i64>, Vec<i64>, Vec<i64>, Vec<i64>);

/// The counter of orders that reached `status` (`lib.lua`'s `count`).
fn status_counter(status: OrderStatus) -> String {
    format!("n:{}", status.code())
}

/// The counter of older passengers' orders that reached `status` (`lib.lua`'s `count`).
fn elderly_counter(status: OrderStatus) -> String {
    format!("n:{}:e", status.code())
}

fn answer(reply: AnswerReply, order: &str) -> Result<(), StoreError> {
    match reply {
        AnswerReply::Done { .. } => Ok(()),
        AnswerReply::Missing => Err(StoreError::not_found(Entity::Order, order)),
        AnswerReply::Gone { status } => Err(StoreError::OfferGone { status }),
    }
}

impl Store {
    /// Makes one dispatch attempt for the order at the head of the queue, atomically.
    /// `hint` is the order the caller believes is at the head (a wake-up's token, or the
    /// previous attempt's `next`); a wrong or missing hint costs one more round trip.
    /// Returns the attempt and the new head of the queue, if known.
    pub async fn dispatch_next(
        &self,
        p: &DispatchParams,
        hint: Option<String>,
    ) -> Result<(Attempt, Option<String>), StoreError> {
        let (mut attempts, next) = self
            .dispatch_batch(p, hint.into_iter().collect(), 1)
            .await?;
        let first = if attempts.is_empty() {
            Attempt::Empty
        } else {
            attempts.swap_remove(0)
        };
        Ok((first, next.into_iter().next()))
    }

    /// Makes dispatch attempts for up to `max` orders from the head of the queue, in
    /// queue order, in one atomic step (one round trip and one AOF write for the lot).
    /// `hints` are the orders the caller believes are at the head, in order (a wake-up's
    /// token, or the previous batch's `next`); wrong or missing hints cost one more round
    /// trip. Returns the attempts (`[Attempt::Empty]` if the queue was empty) and up to
    /// `max` orders now at the head, to pass as the next call's hints (empty: unknown).
    pub async fn dispatch_batch(
        &self,
        p: &DispatchParams,
        hints: Vec<String>,
        max: usize,
    ) -> Result<(Vec<Attempt>, Vec<String>), StoreError> {
        let max = max.max(1);
        let mut expected: Vec<String> = hints.into_iter().filter(|h| !h.is_empty()).collect();
        expected.truncate(max);
        if expected.is_empty() {
            expected = self.queue_heads(max).await?;
            if expected.is_empty() {
                return Ok((vec![Attempt::Empty], vec![]));
            }
        }
        // The head may move between reads; a few tries always find it.
        for _ in 0..8 {
            let call = OfferOrder {
                expected: &expected,
                want: max,
                params: p,
                oldest_fresh_ms: self.now_ms() - p.fresh_ms,
            };
            let reply = self.call(&call).await?;
            if reply.results.is_empty() {
                if reply.next.is_empty() {
                    return Ok((vec![Attempt::Empty], vec![]));
                }
                expected = reply.next;
                continue;
            }
            let mut attempts = Vec::with_capacity(reply.results.len());
            let mut next = reply.next;
            for outcome in reply.results {
                attempts.push(match outcome {
                    Outcome::Made {
                        order,
                        deadline,
                        taxis,
                    } => Attempt::Offered {
                        order,
                        deadline_ms: deadline,
                        taxis: taxis.into_iter().map(|t| (t.id, t.dist)).collect(),
                    },
                    Outcome::Retry { order } => Attempt::Retry(order),
                    Outcome::Gone { order } => Attempt::Gone(order),
                    Outcome::Yield { order, to } => Attempt::Yielded { order, to },
                    Outcome::GiveUp { order, phone } => {
                        // Always the batch's last: the queue's head is read afresh next.
                        next.clear();
                        let give_up = GiveUp {
                            order: &order,
                            phone: &phone,
                            params: p,
                        };
                        match self.call(&give_up).await? {
                            StepReply::Done => Attempt::Unfulfilled(order),
                            StepReply::Gone => Attempt::Gone(order),
                        }
                    }
                });
            }
            return Ok((attempts, next));
        }
        Ok((vec![Attempt::Gone(expected.swap_remove(0))], vec![]))
    }

    /// Up to `n` orders at the head of the dispatch queue, in queue order.
    async fn queue_heads(&self, n: usize) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        let top: Vec<String> = redis::cmd("ZRANGE")
            .arg(&self.keys.pending)
            .arg(0)
            .arg(n.saturating_sub(1))
            .query_async(&mut conn)
            .await?;
        Ok(top)
    }

    /// The sweep: due reservations, due retries, expired offers, at most `batch` of each.
    /// Returns how many of each it handled.
    pub async fn maintain(&self, p: &DispatchParams, batch: usize) -> Result<[u64; 3], StoreError> {
        let k = &self.keys;
        let now = self.now_ms();
        let due = |key: &str| {
            let mut cmd = redis::cmd("ZRANGE");
            cmd.arg(key)
                .arg("-inf")
                .arg(now)
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(batch);
            cmd
        };
        let mut conn = self.conn.clone();
        let (released, retried, expired): (Vec<String>, Vec<String>, Vec<String>) = redis::pipe()
            .add_command(due(&k.scheduled))
            .add_command(due(&k.retry))
            .add_command(due(&k.offers))
            .query_async(&mut conn)
            .await?;
        let mut counts = [0u64; 3];
        for id in &released {
            let call = ReleaseReservation {
                order: id,
                head_start_ms: p.head_start_ms,
            };
            if matches!(self.call(&call).await?, StepReply::Done) {
                counts[0] += 1;
            }
        }
        if !retried.is_empty() {
            counts[1] = self.call(&RequeueDue { most: batch }).await?;
        }
        for member in &expired {
            let Some((order, taxi)) = member.split_once('|') else {
                continue;
            };
            let call = ExpireOffer {
                order,
                taxi,
                max_missed: p.max_missed,
            };
            if matches!(self.call(&call).await?, StepReply::Done) {
                counts[2] += 1;
            }
        }
        metrics::counter!(taxi_metrics::OFFERS, taxi_metrics::label::OUTCOME => "timed_out")
            .increment(counts[2]);
        Ok(counts)
    }

    /// A driver accepts an offer; the watchdog gives the taxi `watch`'s time to reach
    /// the pickup.
    pub async fn accept_offer(
        &self,
        order: &str,
        taxi: &str,
        eta_s: u32,
        watch: &TripWatch,
    ) -> Result<(), StoreError> {
        let call = AcceptOffer {
            order,
            taxi,
            eta_s,
            arrive_within_ms: watch.arrival_bound(eta_s).as_millis() as i64,
        };
        let reply = self.call(&call).await?;
        // Counted once: a retry after a lost reply answers `done` with nothing measured.
        if let AnswerReply::Done { took } = &reply
            && took.waited_ms.is_some()
        {
            metrics::counter!(taxi_metrics::OFFERS, taxi_metrics::label::OUTCOME => "accepted")
                .increment(1);
            took.record(taxi_metrics::TIME_TO_ASSIGN);
        }
        answer(reply, order)
    }

    /// A driver declines an offer.
    pub async fn decline_offer(&self, order: &str, taxi: &str) -> Result<(), StoreError> {
        let reply = self.call(&DeclineOffer { order, taxi }).await?;
        if matches!(reply, AnswerReply::Done { .. }) {
            metrics::counter!(taxi_metrics::OFFERS, taxi_metrics::label::OUTCOME => "declined")
                .increment(1);
        }
        answer(reply, order)
    }

    /// A step of the trip by the taxi holding the order; once arrived, the watchdog gives
    /// the trip `watch`'s time to start.
    pub async fn trip_step(
        &self,
        order: &str,
        taxi: &str,
        step: TripStep,
        fare_cents: i64,
        paid_by: Option<Payment>,
        watch: &TripWatch,
    ) -> Result<(), StoreError> {
        let phone = self.order_phone(order).await?;
        let call = TripStepCall {
            order,
            taxi,
            phone: &phone,
            step,
            fare_cents,
            paid_by,
            start_within_ms: watch.boarding_bound().as_millis() as i64,
        };
        match self.call(&call).await? {
            TripStepReply::Done { took } => {
                took.record(taxi_metrics::TIME_TO_PICKUP);
                if took.first && step == TripStep::Complete {
                    metrics::counter!(taxi_metrics::ORDERS_ENDED, taxi_metrics::label::OUTCOME => "fulfilled")
                        .increment(1);
                }
                Ok(())
            }
            TripStepReply::Missing => Err(StoreError::not_found(Entity::Order, order)),
            TripStepReply::NotYours => Err(StoreError::NotAssigned {
                order: order.into(),
                taxi: taxi.into(),
            }),
            TripStepReply::Refused { status } => Err(StoreError::OrderRefused {
                event: step.order_event(),
                status,
            }),
            TripStepReply::TaxiRefused { state } => Err(StoreError::TaxiRefused {
                event: step.taxi_event(),
                state,
            }),
        }
    }

    /// An operator assigns a free taxi by hand; the watchdog gives it `watch`'s time to
    /// reach the pickup.
    pub async fn assign_order(
        &self,
        order: &str,
        taxi: &str,
        eta_s: u32,
        operator: &str,
        watch: &TripWatch,
    ) -> Result<(), StoreError> {
        let call = AssignOrder {
            order,
            taxi,
            eta_s,
            operator,
            arrive_within_ms: watch.arrival_bound(eta_s).as_millis() as i64,
        };
        match self.call(&call).await? {
            AssignOrderReply::Done { took } => {
                took.record(taxi_metrics::TIME_TO_ASSIGN);
                Ok(())
            }
            AssignOrderReply::Missing => Err(StoreError::not_found(Entity::Order, order)),
            AssignOrderReply::NoTaxi => Err(StoreError::not_found(Entity::Taxi, taxi)),
            AssignOrderReply::TaxiBusy { state } => Err(StoreError::TaxiBusy {
                taxi: taxi.into(),
                state,
            }),
            AssignOrderReply::Refused { status } => Err(StoreError::OrderRefused {
                event: OrderEvent::ManualAssign,
                status,
            }),
        }
    }

    /// The watchdog's pass: trips whose stage deadline has passed (the taxi did not reach
    /// the pickup, or the trip did not start, in time) go on the operators' list, at most
    /// `batch` per pass, each once per stage. Returns how many it flagged.
    pub async fn flag_stuck_trips(&self, batch: usize) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        let due: Vec<String> = redis::cmd("ZRANGE")
            .arg(&self.keys.watch)
            .arg("-inf")
            .arg(self.now_ms())
            .arg("BYSCORE")
            .arg("LIMIT")
            .arg(0)
            .arg(batch)
            .query_async(&mut conn)
            .await?;
        let mut flagged = 0;
        for order in &due {
            if matches!(self.call(&FlagStuck { order }).await?, StepReply::Done) {
                tracing::warn!(order_id = %order, "trip stuck: operators alerted");
                flagged += 1;
            }
        }
        Ok(flagged)
    }

    /// The operators' list of stuck trips, longest flagged first (at most `limit`), and
    /// how many there are.
    pub async fn stuck_trips(&self, limit: usize) -> Result<(Vec<StuckTrip>, u64), StoreError> {
        let mut conn = self.conn.clone();
        let (rows, total): (Vec<(String, f64)>, u64) = redis::pipe()
            .zrange_withscores(&self.keys.stuck, 0, limit as isize - 1)
            .zcard(&self.keys.stuck)
            .query_async(&mut conn)
            .await?;
        let trips = rows
            .into_iter()
            .map(|(order, at)| StuckTrip {
                order,
                flagged_ms: at as i64,
            })
            .collect();
        Ok((trips, total))
    }

    /// An operator takes a stuck trip (ACCEPTED or ARRIVED) back from its taxi: the taxi
    /// is released or signed off (`taxi_domain::watchdog::Stage::taxi_on_redispatch`) and
    /// told, and the order goes back to the queue at its own priority, in one script.
    pub async fn redispatch_order(
        &self,
        order: &str,
        operator: &str,
        reason: &str,
    ) -> Result<Redispatched, StoreError> {
        let call = RedispatchOrder {
            order,
            operator,
            reason,
        };
        match self.call(&call).await? {
            RedispatchReply::Done { from, taxi, state } => Ok(Redispatched {
                from,
                taxi: (!taxi.is_empty()).then_some(taxi),
                taxi_state: TaxiState::from_code(&state),
            }),
            RedispatchReply::Missing => Err(StoreError::not_found(Entity::Order, order)),
            RedispatchReply::Refused { status } => Err(StoreError::OrderRefused {
                event: OrderEvent::Redispatch,
                status,
            }),
        }
    }

    /// Records that dispatch could not reach Redis during `outage`, so that time does not
    /// count against waiting orders; periods that ended more than `keep` ago are dropped.
    /// Returns the stored period it became part of.
    pub async fn record_outage(
        &self,
        outage: Outage,
        keep: std::time::Duration,
    ) -> Result<Outage, StoreError> {
        let call = RecordOutage {
            outage,
            keep_ms: keep.as_millis() as i64,
        };
        let RecordOutageReply::Done { start, end } = self.call(&call).await?;
        Ok(Outage {
            start_ms: start,
            end_ms: end,
        })
    }

    /// An operator resolves the call-back of an unfulfilled order (a second resolution
    /// keeps the first): it leaves the call-back list, and its retention starts.
    pub async fn resolve_callback(
        &self,
        order: &str,
        operator: &str,
        outcome: &str,
    ) -> Result<(), StoreError> {
        let call = ResolveCallback {
            order,
            operator,
            outcome,
        };
        match self.call(&call).await? {
            ResolveReply::Resolved | ResolveReply::Already => Ok(()),
            ResolveReply::Missing => Err(StoreError::not_found(Entity::Order, order)),
            ResolveReply::NoCallback { status } => Err(StoreError::NoCallback {
                order: order.into(),
                status,
            }),
            ResolveReply::Refused { state } => Err(StoreError::Internal(format!(
                "call-back of order {order} is in state {state:?}"
            ))),
        }
    }

    /// The offer a taxi holds right now, if any: (order, deadline ms).
    pub async fn open_offer(&self, taxi: &str) -> Result<Option<(String, i64)>, StoreError> {
        let Some(order) = self.held_order(taxi).await? else {
            return Ok(None);
        };
        let mut conn = self.conn.clone();
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

    /// Every taxi that holds an order, with the order (invariant checks in tests and tools).
    pub async fn held_orders(&self) -> Result<HashMap<String, String>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("HGETALL")
            .arg(&self.keys.taxi_orders)
            .query_async(&mut conn)
            .await?)
    }

    /// Orders waiting for a taxi (queued, or waiting for a retry): all of them, for tests
    /// and tools; the API pages with [`Store::pending_page`].
    pub async fn waiting_order_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        let (a, b): (Vec<String>, Vec<String>) = redis::pipe()
            .zrange(&self.keys.pending, 0, -1)
            .zrange(&self.keys.retry, 0, -1)
            .query_async(&mut conn)
            .await?;
        let mut ids = a;
        ids.extend(b);
        Ok(ids)
    }

    /// The orders that found no taxi in reach and wait for one (to retry, or for a taxi
    /// in their reach to come free), in queue order: for tests and tools.
    pub async fn retrying_order_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("ZRANGE")
            .arg(&self.keys.waiting)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await?)
    }

    /// One page of at most `size` orders waiting for a taxi, after `after` (from the
    /// start when `None`): the queue in the order dispatch takes it, then the orders
    /// waiting to search again, by their time. Redis reads about `size` members.
    pub async fn pending_page(
        &self,
        after: Option<&QueueCursor>,
        size: usize,
    ) -> Result<PendingPageOf, StoreError> {
        let mut items = self
            .call(&PendingPage {
                after,
                want: size + 1,
            })
            .await?;
        let more = items.len() > size;
        items.truncate(size);
        let next = match items.last() {
            Some(last) if more => Some(QueueCursor {
                section: if last.s == "q" {
                    QueueSection::Queued
                } else {
                    QueueSection::Retrying
                },
                score: last.score.parse::<f64>().map_err(|e| {
                    StoreError::Internal(format!("pending_page score {:?}: {e}", last.score))
                })? as i64,
                id: last.id.clone(),
            }),
            _ => None,
        };
        Ok(PendingPageOf {
            ids: items.into_iter().map(|i| i.id).collect(),
            next,
        })
    }

    /// How many orders wait for a taxi (queued, or waiting for a retry), read atomically
    /// so an order moving between the two is counted once.
    pub async fn waiting_count(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        let (a, b): (u64, u64) = redis::pipe()
            .atomic()
            .zcard(&self.keys.pending)
            .zcard(&self.keys.retry)
            .query_async(&mut conn)
            .await?;
        Ok(a + b)
    }

    /// How many waiting orders (as [`Store::waiting_count`]) are older passengers' and how
    /// many others' (for the metrics' sampler). Reads the `reason` of at most `most`
    /// waiting orders, the head of the queue first; past that, the rest count as others.
    pub async fn waiting_by_priority(&self, most: usize) -> Result<(u64, u64), StoreError> {
        let mut conn = self.conn.clone();
        let (queued, retry, mut ids, retrying): (u64, u64, Vec<String>, Vec<String>) =
            redis::pipe()
                .atomic()
                .zcard(&self.keys.pending)
                .zcard(&self.keys.retry)
                .zrange(&self.keys.pending, 0, most as isize - 1)
                .zrange(&self.keys.retry, 0, most as isize - 1)
                .query_async(&mut conn)
                .await?;
        let total = queued + retry;
        ids.extend(retrying);
        ids.truncate(most);
        if ids.is_empty() {
            return Ok((0, total));
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hget(self.keys.order(id), "reason");
        }
        let reasons: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
        let older = reasons
            .iter()
            .filter(|r| r.as_deref().is_some_and(|r| !r.is_empty()))
            .count() as u64;
        Ok((older, total.saturating_sub(older)))
    }

    /// How many reservations wait for their time.
    pub async fn scheduled_count(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("ZCARD")
            .arg(&self.keys.scheduled)
            .query_async(&mut conn)
            .await?)
    }

    /// When a scheduled order enters dispatch (ms), if it is scheduled.
    pub async fn release_time(&self, order: &str) -> Result<Option<i64>, StoreError> {
        let mut conn = self.conn.clone();
        let at: Option<f64> = redis::cmd("ZSCORE")
            .arg(&self.keys.scheduled)
            .arg(order)
            .query_async(&mut conn)
            .await?;
        Ok(at.map(|a| a as i64))
    }

    /// The newest unfulfilled orders to call back.
    pub async fn callback_ids(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("ZRANGE")
            .arg(&self.keys.callbacks)
            .arg(0)
            .arg(limit as i64 - 1)
            .arg("REV")
            .query_async(&mut conn)
            .await?)
    }

    /// Counters and recent latency samples.
    pub async fn raw_stats(&self) -> Result<RawStats, StoreError> {
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let (c, ae, ao, pe, po): StatsRows = redis::pipe()
            .hgetall(&k.stats)
            .lrange(&k.assign_elderly, 0, -1)
            .lrange(&k.assign_others, 0, -1)
            .lrange(&k.pickup_elderly, 0, -1)
            .lrange(&k.pickup_others, 0, -1)
            .query_async(&mut conn)
            .await?;
        let get = |name: &str| c.get(name).copied().unwrap_or(0);
        let counters = Counters {
            total: get("total"),
            by_channel: Channel::ALL
                .iter()
                .map(|ch| (*ch, get(&format!("ch:{}", ch.code()))))
                .collect(),
            elderly: get("elderly"),
            assigned: get(&status_counter(OrderStatus::Accepted)),
            completed: get(&status_counter(OrderStatus::Completed)),
            cancelled: get(&status_counter(OrderStatus::Cancelled)),
            unfulfilled: get(&status_counter(OrderStatus::Unfulfilled)),
            elderly_assigned: get(&elderly_counter(OrderStatus::Accepted)),
            elderly_unfulfilled: get(&elderly_counter(OrderStatus::Unfulfilled)),
            offers: get("offers"),
            stand_rides: get("stand_rides"),
            stand_offers: get("stand_offers"),
            batch_offers: get("batch_offers"),
        };
        Ok(RawStats {
            counters,
            assign_elderly: ae,
            assign_others: ao,
            pickup_elderly: pe,
            pickup_others: po,
        })
    }

    /// How many orders were ever created in the city (kept as they are created).
    pub async fn order_count(&self) -> Result<u64, StoreError> {
        Ok(self.raw_stats().await?.counters.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_cursors_round_trip_and_refuse_garbage() {
        let c = QueueCursor {
            section: QueueSection::Retrying,
            score: 1_764_000_000_000,
            id: "OABC".into(),
        };
        assert_eq!(QueueCursor::parse(&c.to_string()), Some(c));
        for bad in [
            "",
            "x:1:O",
            "q:1",
            "q:1:",
            "q:18446744073709551615:O",
            "q:1.5:O",
        ] {
            assert_eq!(QueueCursor::parse(bad), None, "{bad:?}");
        }
    }
}
