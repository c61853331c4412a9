//! The batched matcher's side of the store (issue 15): one read of the orders waiting
//! for a taxi and the free taxis near each, as a [`matching::Problem`], and the atomic
//! offer of one solved pair (`offer_pair.lua`).
//!
//! The read is plain pipelined commands (three round trips, every key from
//! [`crate::keys`], all under the city's hash tag), not a script: it changes nothing, and
//! what it read may be stale by the time the pairs are offered. That is safe because
//! `offer_pair.lua` checks again, atomically, everything a pair relied on.

use crate::dispatch::DispatchParams;
use crate::scripts::{GiveUp, OfferPair, OfferPairReply, StepReply};
use crate::{Store, StoreError};
use std::collections::{HashMap, HashSet};
use taxi_domain::Coordinates;
use taxi_domain::matching::{Candidate, FreeTaxi, Problem, WaitingOrder};
use taxi_domain::order::{OrderEvent, OrderStatus};
use taxi_domain::taxi::{TaxiEvent, TaxiState};

/// What offering one solved pair did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairOffer {
    /// Offered, until the deadline (ms).
    Offered {
        /// The offer's deadline, ms.
        deadline_ms: i64,
    },
    /// The order no longer waits for a taxi (offered by another process, cancelled...).
    Gone,
    /// The taxi no longer qualifies (taken, moved off, stale, declined this order).
    Taken,
    /// The order was due to be given up: it is (or, if it was waiting for its retry
    /// tick, will be once it is queued again).
    Unfulfilled,
}

/// The order fields the batch read needs, in `HMGET` order.
const ORDER_FIELDS: [&str; 10] = [
    "status",
    "p_lat",
    "p_lon",
    "needs",
    "reason",
    "release_ms",
    "round_ms",
    "stand",
    "pref_taxi",
    "caring_until",
];

type OrderRow = Vec<Option<String>>;

/// Members of a sorted set with their scores, in order.
type Scored = Vec<(String, f64)>;
type Hits = Vec<(String, f64, (f64, f64))>;

impl Store {
    /// The orders waiting for a taxi (queued first, in queue order, then those waiting
    /// for their retry tick, soonest first; at most `max_orders`) and, for each, up to
    /// `per_order` of the nearest free taxis with a fresh fix within its reach that hold
    /// nothing, have not declined or missed it, and meet its needs.
    ///
    /// Marked `greedy_only`, for the greedy pass: a recurring trip's order with a paired
    /// taxi, and an order picked up at a taxi stand (their first taxi is a rule, not a
    /// cost). They are read with their taxis all the same: the solve pairs none of them,
    /// but gives no taxi one could take to an order of the other kind behind it.
    pub async fn batch_problem(
        &self,
        p: &DispatchParams,
        max_orders: usize,
        per_order: usize,
    ) -> Result<Problem, StoreError> {
        let k = &self.keys;
        let now = self.now_ms();
        let mut conn = self.conn.clone();
        let last = max_orders.max(1) - 1;
        // Both by queue score: the queue, then the orders waiting for a taxi in reach.
        let (queued, waiting): (Scored, Scored) = redis::pipe()
            .cmd("ZRANGE")
            .arg(&k.pending)
            .arg(0)
            .arg(last)
            .arg("WITHSCORES")
            .cmd("ZRANGE")
            .arg(&k.waiting)
            .arg(0)
            .arg(last)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await?;
        let mut seen = HashSet::new();
        let mut score_of = HashMap::new();
        let ids: Vec<String> = queued
            .into_iter()
            .chain(waiting)
            .filter(|(id, _)| seen.insert(id.clone()))
            .take(max_orders)
            .map(|(id, score)| {
                score_of.insert(id.clone(), score as i64);
                id
            })
            .collect();
        if ids.is_empty() {
            return Ok(Problem::default());
        }

        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HMGET").arg(k.order(id)).arg(&ORDER_FIELDS[..]);
        }
        let rows: Vec<OrderRow> = pipe.query_async(&mut conn).await?;
        let reach_all = p.radii_m.last().copied().unwrap_or(0);
        let mut orders = Vec::new();
        for (id, row) in ids.iter().zip(rows) {
            let field = |i: usize| row.get(i).cloned().flatten().filter(|v| !v.is_empty());
            let offerable = field(0)
                .and_then(|s| OrderStatus::from_code(&s))
                .is_some_and(|s| OrderEvent::Offer.apply(s).is_ok());
            if !offerable {
                continue;
            }
            let num = |i: usize| field(i).and_then(|v| v.parse::<f64>().ok());
            let (Some(lat), Some(lon)) = (num(1), num(2)) else {
                continue;
            };
            let Ok(pickup) = Coordinates::new(lat, lon) else {
                continue;
            };
            let elderly = field(4).is_some();
            let since = num(6).or(num(5)).unwrap_or(now as f64) as i64;
            // As in `offer_order.lua`: the extra radius opens after the order waited.
            let released = num(5).unwrap_or(now as f64) as i64;
            let reach = if elderly && now - released >= p.elderly_extra_after_ms {
                reach_all.max(p.elderly_extra_radius_m)
            } else {
                reach_all
            };
            orders.push(WaitingOrder {
                id: id.clone(),
                pickup,
                elderly,
                waited_ms: (now - since).max(0),
                wheelchair: field(3)
                    .is_some_and(|n| n.split(',').any(|x| x.trim() == "wheelchair")),
                caring_only: num(9).is_some_and(|until| (now as f64) < until),
                reach_m: f64::from(reach),
                queue_score: score_of.get(id).copied().unwrap_or(now),
                // A stand pickup or a paired recurring trip: the greedy pass's (its first
                // taxi is a rule), but it still holds back the other kind behind it.
                greedy_only: field(7).is_some() || field(8).is_some(),
            });
        }

        // Every order read was left out (a stand pickup, a paired trip, already offered):
        // nothing to search, and an empty pipeline is an error, not an empty answer.
        if orders.is_empty() {
            return Ok(Problem::default());
        }
        // The nearest free taxis of each order (in the index its needs search), and the
        // taxis that already had their chance at it.
        let mut pipe = redis::pipe();
        for o in &orders {
            let index = if o.wheelchair {
                &k.free_wheelchair
            } else if o.caring_only {
                &k.free_caring
            } else {
                &k.free
            };
            pipe.cmd("GEOSEARCH")
                .arg(index)
                .arg("FROMLONLAT")
                .arg(o.pickup.lon())
                .arg(o.pickup.lat())
                .arg("BYRADIUS")
                .arg(o.reach_m)
                .arg("m")
                .arg("ASC")
                .arg("COUNT")
                .arg(per_order.max(1) * 2)
                .arg("WITHDIST")
                .arg("WITHCOORD");
            pipe.cmd("SMEMBERS").arg(k.order_tried(&o.id));
        }
        let replies: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
        let mut near: Vec<(Hits, HashSet<String>)> = Vec::with_capacity(orders.len());
        let bad = |e: redis::ParsingError| StoreError::Internal(format!("batch read: {e}"));
        let mut replies = replies.into_iter();
        while let (Some(hits), Some(tried)) = (replies.next(), replies.next()) {
            let hits: Hits = redis::from_redis_value(hits).map_err(bad)?;
            let tried: HashSet<String> = redis::from_redis_value(tried).map_err(bad)?;
            near.push((hits, tried));
        }

        // Every taxi named once: its fix, state, held order and capabilities.
        let mut taxi_ix: HashMap<String, usize> = HashMap::new();
        let mut taxi_at: Vec<(String, f64, f64)> = Vec::new();
        for (hits, _) in &near {
            for (id, _, (lon, lat)) in hits {
                taxi_ix.entry(id.clone()).or_insert_with(|| {
                    taxi_at.push((id.clone(), *lat, *lon));
                    taxi_at.len() - 1
                });
            }
        }
        if taxi_at.is_empty() {
            return Ok(Problem {
                orders,
                ..Problem::default()
            });
        }
        let names: Vec<&str> = taxi_at.iter().map(|t| t.0.as_str()).collect();
        type Facts = (
            Vec<Option<f64>>,
            Vec<Option<String>>,
            Vec<Option<String>>,
            Vec<bool>,
            Vec<bool>,
        );
        let (fixes, states, held, caring, accessible): Facts = redis::pipe()
            .cmd("HMGET")
            .arg(&k.fixes)
            .arg(&names)
            .cmd("HMGET")
            .arg(&k.taxi_states)
            .arg(&names)
            .cmd("HMGET")
            .arg(&k.taxi_orders)
            .arg(&names)
            .cmd("SMISMEMBER")
            .arg(&k.caring)
            .arg(&names)
            .cmd("SMISMEMBER")
            .arg(&k.wheelchair)
            .arg(&names)
            .query_async(&mut conn)
            .await?;
        let oldest_fresh = (now - p.fresh_ms) as f64;
        let mut taxis = Vec::with_capacity(taxi_at.len());
        let mut usable = Vec::with_capacity(taxi_at.len());
        for (i, (id, lat, lon)) in taxi_at.iter().enumerate() {
            let free = states[i]
                .as_deref()
                .and_then(TaxiState::from_code)
                .is_some_and(|s| TaxiEvent::Offer.apply(s).is_ok());
            let fresh = fixes[i].is_some_and(|f| f >= oldest_fresh);
            let position = Coordinates::new(*lat, *lon);
            usable.push(free && fresh && held[i].is_none() && position.is_ok());
            taxis.push(FreeTaxi {
                id: id.clone(),
                position: position.unwrap_or_else(|_| orders[0].pickup),
                caring: caring[i],
                accessible: accessible[i],
            });
        }
        let mut candidates = Vec::new();
        for (oi, (hits, tried)) in near.iter().enumerate() {
            let mut listed = 0;
            for (id, dist, _) in hits {
                let ti = taxi_ix[id];
                if listed < per_order && usable[ti] && !tried.contains(id) {
                    listed += 1;
                    candidates.push(Candidate {
                        order: oi,
                        taxi: ti,
                        distance_m: *dist,
                    });
                }
            }
        }
        Ok(Problem {
            orders,
            taxis,
            candidates,
        })
    }

    /// Offers `order` to `taxi` (`distance_m` away) in one atomic step, if the order
    /// still waits and the taxi still qualifies; gives the order up if it is due.
    pub async fn offer_pair(
        &self,
        p: &DispatchParams,
        order: &str,
        taxi: &str,
        distance_m: f64,
    ) -> Result<PairOffer, StoreError> {
        let call = OfferPair {
            order,
            taxi,
            distance_m,
            params: p,
            oldest_fresh_ms: self.now_ms() - p.fresh_ms,
        };
        Ok(match self.call(&call).await? {
            OfferPairReply::Made { deadline } => PairOffer::Offered {
                deadline_ms: deadline,
            },
            OfferPairReply::Gone => PairOffer::Gone,
            OfferPairReply::Taken => PairOffer::Taken,
            OfferPairReply::GiveUp { phone } => {
                let give_up = GiveUp {
                    order,
                    phone: &phone,
                    params: p,
                };
                match self.call(&give_up).await? {
                    StepReply::Done | StepReply::Gone => PairOffer::Unfulfilled,
                }
            }
        })
    }
}
