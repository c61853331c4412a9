//! What a simulation observed: every taxi's position and phase, every order it made, and
//! the counts of what happened.

use crate::calls;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a simulated taxi is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Cruising, free.
    Cruising,
    /// Answering, or driving to, a pickup.
    ToPickup,
    /// Carrying a passenger (dispatched or hailed).
    Carrying,
}

/// One order the simulation made.
#[derive(Debug, Clone)]
pub struct Tracked {
    /// From an older passenger.
    pub elderly: bool,
    /// Booked ahead.
    pub reservation: bool,
    /// When it was created.
    pub created: Instant,
    /// How long until a taxi accepted it.
    pub assigned_after: Option<Duration>,
    /// Pickup.
    pub pickup: (f64, f64),
    /// When it was created, on the services' clock (epoch ms).
    pub created_ms: i64,
    /// When a taxi accepted it, on the services' clock.
    pub assigned_ms: Option<i64>,
    /// Where that taxi was then.
    pub taxi_at_assign: Option<(f64, f64)>,
    /// The road model's drive from there to the pickup, seconds.
    pub eta_at_assign_s: Option<f64>,
    /// The ETA the offer carried, seconds.
    pub offer_eta_s: Option<f64>,
    /// When the passenger was picked up, on the services' clock.
    pub picked_up_ms: Option<i64>,
}

impl Default for Tracked {
    fn default() -> Self {
        Self {
            elderly: false,
            reservation: false,
            created: Instant::now(),
            assigned_after: None,
            pickup: (0.0, 0.0),
            created_ms: 0,
            assigned_ms: None,
            taxi_at_assign: None,
            eta_at_assign_s: None,
            offer_eta_s: None,
            picked_up_ms: None,
        }
    }
}

/// A point, (latitude, longitude), WGS-84.
pub type Point = (f64, f64);

/// The first offer of an order as a simulated driver got it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FirstOffer {
    /// When the driver got it (the services' clock).
    pub received_ms: i64,
    /// The offer's own expiry (the services' clock), from which the report knows when
    /// dispatch made it: two offers one script made reach two drivers in either order.
    pub expires_ms: Option<i64>,
    /// Where dispatch knew the taxi to be (its last reported position).
    pub taxi_at: Point,
}

/// What the simulation has seen so far.
#[derive(Debug, Default)]
pub struct Observed {
    /// Every taxi's position and phase.
    pub taxis: Mutex<HashMap<String, (Point, Phase)>>,
    /// Every order made, by id.
    pub orders: Mutex<HashMap<String, Tracked>>,
    /// The first offer of each order a simulated taxi was offered (when, and where the
    /// taxi was), kept apart from `orders`: it can arrive before the booking's reply, and
    /// orders the simulation did not make (recurring trips) are offered too.
    pub first_offers: Mutex<HashMap<String, FirstOffer>>,
    /// Every taxi's last position reported to the services: where dispatch knew it to be.
    pub reported: Mutex<HashMap<String, Point>>,
    /// Orders created, by channel name.
    pub by_channel: Mutex<HashMap<&'static str, u64>>,
    /// Offers received by the simulated drivers.
    pub offers: AtomicU64,
    /// Offers accepted.
    pub accepted: AtomicU64,
    /// Trips completed.
    pub completed: AtomicU64,
    /// When a planned run's bookings started, on the services' clock.
    pub started_ms: Mutex<Option<i64>>,
    /// Road metres driven without a passenger (cruising, to pickups).
    pub empty_m: AtomicU64,
    /// Street hails carried.
    pub hails: AtomicU64,
    /// Bookings the services refused (should stay zero).
    pub refused: AtomicU64,
    /// Privacy numbers the simulated drivers were sent.
    pub privacy_numbers: AtomicU64,
    /// The call centre's calls.
    pub calls: Arc<calls::CallsObserved>,
    /// The devices' emergency alerts.
    pub alerts: Arc<crate::alerts::AlertsObserved>,
}

impl Observed {
    /// Counts `m` road metres driven empty.
    pub fn drove_empty(&self, m: f64) {
        self.empty_m.fetch_add(
            m.max(0.0).round() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Records a booking the services acknowledged (the first record of it stays).
    pub fn booked(&self, id: &str, tracked: Tracked) {
        self.orders
            .lock()
            .expect("lock")
            .entry(id.to_string())
            .or_insert(tracked);
    }

    /// Notes the first offer of an order to `taxi` (later offers change nothing), with where
    /// dispatch knew the taxi to be: its last reported position (`at`, where it is, if it
    /// reported none). Dispatch decides from reports; a taxi that drove into or out of an
    /// order's reach since its last one is not dispatch favouring anyone.
    pub fn offered(&self, id: &str, now_ms: i64, expires_ms: Option<i64>, taxi: &str, at: Point) {
        let known = self
            .reported
            .lock()
            .expect("lock")
            .get(taxi)
            .copied()
            .unwrap_or(at);
        self.first_offers
            .lock()
            .expect("lock")
            .entry(id.to_string())
            .or_insert(FirstOffer {
                received_ms: now_ms,
                expires_ms,
                taxi_at: known,
            });
    }

    /// Notes the positions just reported to the services.
    pub fn reported<'a>(&self, positions: impl IntoIterator<Item = (&'a str, Point)>) {
        let mut r = self.reported.lock().expect("lock");
        for (id, at) in positions {
            r.insert(id.to_string(), at);
        }
    }

    /// What became of every immediate order (reservations left out).
    pub fn outcomes(&self) -> Vec<crate::report::Outcome> {
        let orders = self.orders.lock().expect("lock");
        let offers = self.first_offers.lock().expect("lock");
        let mut v: Vec<crate::report::Outcome> = orders
            .iter()
            .filter(|(_, t)| !t.reservation)
            .map(|(id, t)| crate::report::Outcome {
                id: id.clone(),
                elderly: t.elderly,
                created_ms: t.created_ms,
                offered_ms: offers.get(id).map(|o| o.received_ms),
                offer_expires_ms: offers.get(id).and_then(|o| o.expires_ms),
                taxi_at_offer: offers.get(id).map(|o| o.taxi_at),
                assigned_ms: t.assigned_ms,
                taxi_at_assign: t.taxi_at_assign,
                eta_at_assign_s: t.eta_at_assign_s,
                offer_eta_s: t.offer_eta_s,
                picked_up_ms: t.picked_up_ms,
                pickup: t.pickup,
            })
            .collect();
        v.sort_by_key(|o| o.created_ms);
        v
    }

    /// Times to assign (ms), for older passengers and for others.
    pub fn assign_times(&self) -> (Vec<i64>, Vec<i64>) {
        let orders = self.orders.lock().expect("lock");
        let mut e = Vec::new();
        let mut o = Vec::new();
        for t in orders.values().filter(|t| !t.reservation) {
            if let Some(d) = t.assigned_after {
                if t.elderly { &mut e } else { &mut o }.push(d.as_millis() as i64);
            }
        }
        (e, o)
    }
}
