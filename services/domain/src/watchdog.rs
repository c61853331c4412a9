//! The trip watchdog's rules: how long a taxi may take to reach the pickup and a trip to
//! start before operators are alerted, and what becomes of a taxi whose trip an operator
//! redispatches.
//!
//! The store keeps every accepted or arrived order in a watch index by the deadline of
//! its current stage, set in the same script as the transition; the dispatch sweeper
//! flags what is due, once per order per stage.

use crate::order::OrderStatus;
use crate::taxi::TaxiEvent;
use std::time::Duration;

/// The bounds the watchdog works by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TripWatch {
    /// The least time a taxi has to reach the pickup after accepting.
    pub arrival_min: Duration,
    /// A taxi has this many times its estimated time to the pickup, if that is longer.
    pub arrival_eta_factor: u32,
    /// How long a taxi may wait at the pickup before the trip starts.
    pub boarding: Duration,
}

impl Default for TripWatch {
    fn default() -> Self {
        Self {
            arrival_min: Duration::from_secs(10 * 60),
            arrival_eta_factor: 2,
            boarding: Duration::from_secs(10 * 60),
        }
    }
}

impl TripWatch {
    /// How long a taxi that accepted `eta_s` seconds from the pickup has to reach it:
    /// `max(ETA × factor, arrival_min)`. City traffic makes ETAs optimistic, and a short
    /// ETA must not raise alarms over a red light.
    pub fn arrival_bound(&self, eta_s: u32) -> Duration {
        let by_eta = Duration::from_secs(u64::from(eta_s) * u64::from(self.arrival_eta_factor));
        by_eta.max(self.arrival_min)
    }

    /// How long a taxi at the pickup may wait for the trip to start.
    pub fn boarding_bound(&self) -> Duration {
        self.boarding
    }
}

/// Where a stuck trip is stuck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The taxi accepted but has not reached the pickup.
    NotArrived,
    /// The taxi is at the pickup but the trip has not started.
    NotStarted,
}

impl Stage {
    /// The stage an order in `status` can be stuck at, if any. An order is on the
    /// watchdog's list only while its status is the one it was flagged in (every step
    /// takes it off), so its status says its stage.
    pub fn of(status: OrderStatus) -> Option<Stage> {
        match status {
            OrderStatus::Accepted => Some(Stage::NotArrived),
            OrderStatus::Arrived => Some(Stage::NotStarted),
            _ => None,
        }
    }

    /// What becomes of the taxi when an operator redispatches a trip stuck at this stage.
    ///
    /// A driver who never reached the pickup has stopped answering (or broken down):
    /// the taxi is signed off, so the next older passenger is not offered to it, until
    /// its driver signs on again. A driver who reached the pickup did their part (the
    /// passenger did not come out): the taxi is free again, where it stands.
    pub fn taxi_on_redispatch(self) -> TaxiEvent {
        match self {
            Stage::NotArrived => TaxiEvent::Dismiss,
            Stage::NotStarted => TaxiEvent::Release,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::OrderEvent;
    use crate::taxi::TaxiState;

    #[test]
    fn the_arrival_bound_is_twice_the_eta_but_at_least_ten_minutes() {
        let w = TripWatch::default();
        assert_eq!(w.arrival_bound(0), Duration::from_secs(600));
        assert_eq!(w.arrival_bound(240), Duration::from_secs(600));
        assert_eq!(w.arrival_bound(300), Duration::from_secs(600));
        assert_eq!(w.arrival_bound(420), Duration::from_secs(840));
        assert_eq!(
            w.arrival_bound(u32::MAX),
            Duration::from_secs(2 * u64::from(u32::MAX))
        );
        assert_eq!(w.boarding_bound(), Duration::from_secs(600));
    }

    #[test]
    fn only_accepted_and_arrived_orders_have_a_stage_and_those_can_be_redispatched() {
        for s in OrderStatus::ALL {
            assert_eq!(
                Stage::of(s).is_some(),
                OrderEvent::Redispatch.apply(s).is_ok(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn a_driver_who_never_arrived_is_signed_off_one_at_the_door_is_free() {
        // Both stages leave the taxi ASSIGNED; the rule picks an event that applies there.
        for (stage, to) in [
            (Stage::NotArrived, TaxiState::OffDuty),
            (Stage::NotStarted, TaxiState::Free),
        ] {
            let event = stage.taxi_on_redispatch();
            assert_eq!(event.apply(TaxiState::Assigned), Ok(to), "{stage:?}");
        }
    }
}
