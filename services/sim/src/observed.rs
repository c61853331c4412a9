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
}

/// A point, (latitude, longitude), WGS-84.
pub type Point = (f64, f64);

/// What the simulation has seen so far.
#[derive(Debug, Default)]
pub struct Observed {
    /// Every taxi's position and phase.
    pub taxis: Mutex<HashMap<String, (Point, Phase)>>,
    /// Every order made, by id.
    pub orders: Mutex<HashMap<String, Tracked>>,
    /// Orders created, by channel name.
    pub by_channel: Mutex<HashMap<&'static str, u64>>,
    /// Offers received by the simulated drivers.
    pub offers: AtomicU64,
    /// Offers accepted.
    pub accepted: AtomicU64,
    /// Trips completed.
    pub completed: AtomicU64,
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
}

impl Observed {
    /// Counts `m` road metres driven empty.
    pub fn drove_empty(&self, m: f64) {
        self.empty_m.fetch_add(
            m.max(0.0).round() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
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
