//! The JT/T 905 order flow of one terminal session: the taxi's dispatch events (the same
//! hub and feed as a driver app's `StreamDispatches`) become 905 frames, and the driver's
//! 905 answers become the same store calls as the app's.
//!
//! - an offer → the order broadcast 0x8B00, under a business ID (a DWORD) this session
//!   gives the order. Its business type says how the city offers: in broadcast mode
//!   "now" ([`order_kind::NOW`], several taxis hear it and the first grab wins); in
//!   sequential mode a direct assignment ([`order_kind::ASSIGNED`], 车辆指派: this taxi
//!   alone, for the offer's window), which the driver confirms with the same grab or turns
//!   down with 0x0B08; no answer in the window passes it to the next taxi, as in the app;
//! - an operator's assignment (no confirmation asked) → the order's details 0x8B01 at once;
//! - a grab 0x0B01 → `accept_offer`, exactly `AcceptOffer`'s atomic claim: the winner gets
//!   the details 0x8B01 (the passenger's phone masked), a loser 0x8B09 "taken";
//! - an offer withdrawn or an order cancelled → 0x8B09;
//! - completion 0x0B07 → arrive, start and complete, each idempotent (a terminal reports
//!   only the end of the trip);
//! - the driver's cancellation 0x0B08 of an open offer → `decline_offer`; of an accepted
//!   trip it is refused (as in the app: the driver calls the desk, which redispatches).

use crate::Gateway;
use std::collections::HashMap;
use taxi_domain::booking::Payment;
use taxi_jtt808::Body;
use taxi_jtt808::message::{OrderCancelled, OrderDetails, OrderOffer, Time, order_kind, result};
use taxi_proto::v1 as pb;
use taxi_proto::v1::stream_dispatches_response::Event;
use taxi_store::dispatch::TripStep;

/// 0x8B09 reasons.
const CANCELLED_BY_PASSENGER: u8 = 0;
const TAKEN_ELSEWHERE: u8 = 1;
const WITHDRAWN: u8 = 2;

/// The orders this session has told its terminal about, by business ID.
#[derive(Debug, Default)]
pub(crate) struct Orders {
    offers: HashMap<u32, pb::Offer>,
    ids: HashMap<String, u32>,
    next: u32,
}

/// Bounded: a terminal hears of at most this many orders before the oldest are forgotten.
const KEPT: usize = 256;

fn remark(o: &pb::Offer) -> String {
    let mut parts = Vec::new();
    if o.elderly {
        parts.push("老年乘客".to_string());
    }
    if !o.notes.is_empty() {
        parts.push(o.notes.clone());
    }
    parts.join("；")
}

/// The 905 business type of an offer: a broadcast is "now", first grab wins; an offer to
/// this taxi alone (sequential mode) or an operator's assignment is a direct assignment.
fn kind_of(o: &pb::Offer) -> u8 {
    if o.broadcast {
        order_kind::NOW
    } else {
        order_kind::ASSIGNED
    }
}

fn place(o: &pb::Offer) -> (f64, f64, String) {
    let p = o.pickup.clone().unwrap_or_default();
    let at = p.location.unwrap_or_default();
    (at.latitude, at.longitude, p.address)
}

impl Orders {
    fn business_id(&mut self, offer: &pb::Offer) -> u32 {
        if let Some(id) = self.ids.get(&offer.order_id) {
            self.offers.insert(*id, offer.clone());
            return *id;
        }
        if self.offers.len() >= KEPT
            && let Some(oldest) = self.offers.keys().min().copied()
            && let Some(o) = self.offers.remove(&oldest)
        {
            self.ids.remove(&o.order_id);
        }
        self.next = self.next.wrapping_add(1).max(1);
        self.offers.insert(self.next, offer.clone());
        self.ids.insert(offer.order_id.clone(), self.next);
        self.next
    }

    fn details(&self, id: u32, now_ms: i64) -> Option<Body> {
        let o = self.offers.get(&id)?;
        let (latitude, longitude, address) = place(o);
        Some(Body::OrderDetails(OrderDetails {
            business_id: id,
            kind: kind_of(o),
            pickup_time: Time::from_unix_ms(now_ms),
            latitude,
            longitude,
            phone: if o.privacy_number.is_empty() {
                o.passenger_phone_masked.clone()
            } else {
                o.privacy_number.clone()
            },
            name: String::new(),
            address,
            remark: remark(o),
        }))
    }

    /// The frames a dispatch event becomes for the terminal.
    pub(crate) fn event(&mut self, e: Event, now_ms: i64) -> Vec<Body> {
        match e {
            Event::Offer(o) => {
                let id = self.business_id(&o);
                let (latitude, longitude, address) = place(&o);
                vec![Body::OrderOffer(OrderOffer {
                    business_id: id,
                    kind: kind_of(&o),
                    pickup_time: Time::from_unix_ms(now_ms),
                    latitude,
                    longitude,
                    address,
                    remark: remark(&o),
                })]
            }
            Event::Assigned(o) => {
                let id = self.business_id(&o);
                self.details(id, now_ms).into_iter().collect()
            }
            Event::OfferWithdrawn(w) => self.cancelled(&w.order_id, WITHDRAWN),
            Event::OrderCancelled(c) => self.cancelled(&c.order_id, CANCELLED_BY_PASSENGER),
            _ => vec![],
        }
    }

    fn cancelled(&self, order: &str, reason: u8) -> Vec<Body> {
        self.ids
            .get(order)
            .map(|&business_id| {
                Body::OrderCancelled(OrderCancelled {
                    business_id,
                    reason,
                })
            })
            .into_iter()
            .collect()
    }

    /// A grab: the reply code and the frame that follows (details, or "taken").
    pub(crate) async fn grab(&mut self, gw: &Gateway, taxi: &str, id: u32) -> (u8, Option<Body>) {
        let Some(order) = self.offers.get(&id).map(|o| o.order_id.clone()) else {
            return (result::FAILED, None);
        };
        let eta = taxi_edge::view::eta_to_pickup(&gw.store, &order, taxi)
            .await
            .unwrap_or(0);
        match gw
            .store
            .accept_offer(&order, taxi, eta, &gw.settings.trip_watch)
            .await
        {
            Ok(_) => {
                tracing::info!(taxi, order_id = %order, "a terminal grabbed its offer");
                (result::OK, self.details(id, gw.store.now_ms()))
            }
            Err(e) => {
                tracing::info!(taxi, order_id = %order, error = %e, "a terminal's grab refused");
                let taken = Body::OrderCancelled(OrderCancelled {
                    business_id: id,
                    reason: TAKEN_ELSEWHERE,
                });
                (result::FAILED, Some(taken))
            }
        }
    }

    /// The driver ended the trip: arrive, start and complete, as far as each is needed.
    pub(crate) async fn complete(&self, gw: &Gateway, taxi: &str, id: u32) -> u8 {
        let Some(order) = self.offers.get(&id).map(|o| o.order_id.clone()) else {
            return result::FAILED;
        };
        let paid = match gw.store.get_order(&order).await {
            Ok(o) => o.payment,
            Err(_) => return result::FAILED,
        };
        for step in [TripStep::Arrive, TripStep::Start, TripStep::Complete] {
            let paid_by: Option<Payment> = (step == TripStep::Complete).then_some(paid);
            if let Err(e) = gw
                .store
                .trip_step(&order, taxi, step, 0, paid_by, &gw.settings.trip_watch)
                .await
            {
                tracing::info!(taxi, order_id = %order, ?step, error = %e, "a terminal's completion refused");
                return result::FAILED;
            }
        }
        result::OK
    }

    /// The driver cancels: an open offer is declined; an accepted trip is not the
    /// driver's to drop (the desk redispatches it).
    pub(crate) async fn cancel(&self, gw: &Gateway, taxi: &str, id: u32) -> u8 {
        let Some(order) = self.offers.get(&id).map(|o| o.order_id.clone()) else {
            return result::FAILED;
        };
        match gw.store.decline_offer(&order, taxi).await {
            Ok(_) => result::OK,
            Err(_) => result::FAILED,
        }
    }
}
