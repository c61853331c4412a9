//! Named, seeded scenarios and the plan each makes: where the taxis start and every
//! booking (when, where from, where to, by an older passenger or not). Pure: the same
//! scenario and seed give the same plan, so a run can be repeated exactly.
//!
//! - `normal`: a weekday late morning (11:00), demand at 60 % of what the fleet can serve.
//! - `rush`: the morning peak (07:00), slow roads and demand up by half.
//! - `scarcity`: 20 minutes of demand at 1.3× what the free taxis can serve (and at least
//!   1.3 bookings per taxi, all free at the start, when trips outlast the 20 minutes), then
//!   10 minutes with no new bookings.
//! - `hospital`: clinic closing time (16:30–17:30): ordinary demand, and a cluster of older
//!   passengers leaving one hospital between 16:55 and 17:10.
//! - `rain`: rain (every speed at 70 %) and demand up by 40 %.
//!
//! What the fleet can serve: taxis ÷ the mean time one order holds a taxi, from the road
//! model: an approach of [`APPROACH_M`] straight-line metres, the planned trips' mean drive,
//! and [`DWELL`] at the kerb.

use crate::city::{self, SPOTS, SpotKind};
use crate::road::{RoadModel, Weather};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// A scenario's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScenarioName {
    /// A weekday late morning.
    Normal,
    /// The morning peak.
    Rush,
    /// Demand at 1.3× the free taxis for 20 minutes.
    Scarcity,
    /// Older passengers leaving one hospital at clinic closing time.
    Hospital,
    /// Rain: slower taxis, more demand.
    Rain,
}

impl ScenarioName {
    /// Every scenario.
    pub const ALL: [ScenarioName; 5] = [
        ScenarioName::Normal,
        ScenarioName::Rush,
        ScenarioName::Scarcity,
        ScenarioName::Hospital,
        ScenarioName::Rain,
    ];

    /// Its name on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ScenarioName::Normal => "normal",
            ScenarioName::Rush => "rush",
            ScenarioName::Scarcity => "scarcity",
            ScenarioName::Hospital => "hospital",
            ScenarioName::Rain => "rain",
        }
    }

    /// Parses [`ScenarioName::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Straight-line metres from a free taxi to a pickup assumed by the fleet's capacity.
pub const APPROACH_M: f64 = 1500.0;

/// Time at the kerb per order (boarding, paying).
pub const DWELL: Duration = Duration::from_secs(60);

/// A taxi's start.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedTaxi {
    /// Where it starts.
    pub at: (f64, f64),
    /// Carries a wheelchair.
    pub wheelchair: bool,
    /// In the caring fleet.
    pub caring: bool,
}

/// One booking of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedBooking {
    /// When, from the start of the run (the services' clock).
    pub at: Duration,
    /// Pickup.
    pub pickup: (f64, f64),
    /// Its address.
    pub pickup_name: String,
    /// Drop-off.
    pub dropoff: (f64, f64),
    /// Its address.
    pub dropoff_name: String,
    /// By an older passenger.
    pub elderly: bool,
}

/// What a scenario does, before it is planned.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioSpec {
    /// Which.
    pub name: ScenarioName,
    /// China time of day it starts, minutes after midnight.
    pub start_minute: u32,
    /// How long it runs (the services' clock).
    pub duration: Duration,
    /// Taxis on duty.
    pub taxis: usize,
    /// The roads.
    pub road: RoadModel,
    /// Share of ordinary bookings by older passengers.
    pub elderly_share: f64,
}

/// A scenario planned: everything a run does, fixed in advance.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// What was planned.
    pub spec: ScenarioSpec,
    /// The seed.
    pub seed: u64,
    /// The taxis' starts.
    pub taxis: Vec<PlannedTaxi>,
    /// The bookings, in time order.
    pub bookings: Vec<PlannedBooking>,
    /// Orders per hour the fleet can serve (the capacity demand was scaled by).
    pub capacity_per_hour: f64,
}

impl ScenarioSpec {
    /// The scenario's defaults with `taxis` on duty.
    pub fn new(name: ScenarioName, taxis: usize) -> Self {
        let dry = RoadModel::default();
        let (start_minute, minutes, road) = match name {
            ScenarioName::Normal => (11 * 60, 60, dry),
            ScenarioName::Rush => (7 * 60, 60, dry),
            ScenarioName::Scarcity => (11 * 60, 30, dry),
            ScenarioName::Hospital => (16 * 60 + 30, 60, dry),
            ScenarioName::Rain => (
                11 * 60,
                60,
                RoadModel {
                    weather: Weather::Rain,
                    ..dry
                },
            ),
        };
        Self {
            name,
            start_minute,
            duration: Duration::from_secs(minutes * 60),
            taxis,
            road,
            elderly_share: 0.3,
        }
    }

    /// Plans it with `seed`.
    pub fn plan(&self, seed: u64) -> Plan {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5CE0_A210);
        let taxis: Vec<PlannedTaxi> = (0..self.taxis)
            .map(|_| PlannedTaxi {
                at: if rng.random_bool(0.5) {
                    city::near(&SPOTS[rng.random_range(0..SPOTS.len())], 2000.0, &mut rng)
                } else {
                    city::random_point(&mut rng)
                },
                wheelchair: rng.random_bool(0.05),
                caring: rng.random_bool(0.1),
            })
            .collect();
        // The fleet's capacity, from the trips this scenario's passengers take.
        let start_ms = i64::from(self.start_minute) * 60_000 - 8 * 3_600_000;
        let mut probe = StdRng::seed_from_u64(seed ^ 0xCA9A_C17E);
        let samples = 200;
        let mean_drive_s = (0..samples)
            .map(|_| {
                let (p, _) = city::destination(&mut probe);
                let (d, _) = city::destination(&mut probe);
                self.road.travel_time(p, d, start_ms).as_secs_f64()
            })
            .sum::<f64>()
            / f64::from(samples);
        let approach_s = APPROACH_M * self.road.detour.max(1.0) / self.road.speed_mps(start_ms);
        let cycle_s = mean_drive_s + approach_s + DWELL.as_secs_f64();
        let capacity_per_hour = self.taxis as f64 * 3600.0 / cycle_s;
        let (demand, window) = match self.name {
            ScenarioName::Normal => (0.6, self.duration),
            ScenarioName::Rush => (0.9, self.duration),
            ScenarioName::Scarcity => (1.3, self.duration.min(Duration::from_secs(20 * 60))),
            ScenarioName::Hospital => (0.5, self.duration),
            ScenarioName::Rain => (0.84, self.duration),
        };
        // Scarcity is scarce even when trips outlast its window: at least 1.3 bookings per
        // taxi free at its start.
        let base_per_hour = if self.name == ScenarioName::Scarcity {
            capacity_per_hour.max(self.taxis as f64 * 3600.0 / window.as_secs_f64())
        } else {
            capacity_per_hour
        };
        let rate_per_s = demand * base_per_hour / 3600.0;
        let mut bookings = Vec::new();
        let mut t = 0.0;
        loop {
            t += -rng.random::<f64>().max(1e-12).ln() / rate_per_s.max(1e-6);
            if t >= window.as_secs_f64() {
                break;
            }
            let elderly = rng.random_bool(self.elderly_share);
            let (pickup, pickup_name) = city::destination(&mut rng);
            let (dropoff, dropoff_name) = if elderly && rng.random_bool(0.4) {
                let h: Vec<_> = SPOTS
                    .iter()
                    .filter(|s| s.kind == SpotKind::Hospital)
                    .collect();
                let s = h[rng.random_range(0..h.len())];
                (city::near(s, 100.0, &mut rng), s.name.to_string())
            } else {
                city::destination(&mut rng)
            };
            bookings.push(PlannedBooking {
                at: Duration::from_millis((t * 1000.0) as u64),
                pickup,
                pickup_name,
                dropoff,
                dropoff_name,
                elderly,
            });
        }
        if self.name == ScenarioName::Hospital {
            // Clinic closing: older passengers leave one hospital from 16:55 to 17:10, as
            // many as a third of the fleet, going home.
            let hospitals: Vec<_> = SPOTS
                .iter()
                .filter(|s| s.kind == SpotKind::Hospital)
                .collect();
            let homes: Vec<_> = SPOTS
                .iter()
                .filter(|s| s.kind == SpotKind::Residential)
                .collect();
            let h = hospitals[rng.random_range(0..hospitals.len())];
            let from = (16 * 60 + 55 - self.start_minute) as f64 * 60.0;
            for _ in 0..(self.taxis / 3).max(3) {
                let home = homes[rng.random_range(0..homes.len())];
                bookings.push(PlannedBooking {
                    at: Duration::from_secs_f64(from + rng.random_range(0.0..15.0 * 60.0)),
                    pickup: city::near(h, 150.0, &mut rng),
                    pickup_name: h.name.to_string(),
                    dropoff: city::near(home, 400.0, &mut rng),
                    dropoff_name: home.name.to_string(),
                    elderly: true,
                });
            }
            bookings.sort_by_key(|b| b.at);
        }
        Plan {
            spec: self.clone(),
            seed,
            taxis,
            bookings,
            capacity_per_hour,
        }
    }
}

impl Plan {
    /// The epoch ms the run starts at: the next `start_minute` (China time) after `now_ms`.
    pub fn start_ms_after(&self, now_ms: i64) -> i64 {
        let day = 24 * 3_600_000;
        let offset = i64::from(self.spec.start_minute) * 60_000 - 8 * 3_600_000;
        let midnight = (now_ms - offset).div_euclid(day) * day + offset;
        if midnight > now_ms {
            midnight
        } else {
            midnight + day
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::road::china_minute_of_day;

    #[test]
    fn the_same_seed_plans_the_same_run_and_another_seed_another() {
        for name in ScenarioName::ALL {
            let spec = ScenarioSpec::new(name, 30);
            let a = spec.plan(7);
            let b = spec.plan(7);
            assert_eq!(a, b, "{name:?}");
            assert!(!a.bookings.is_empty(), "{name:?}");
            assert_eq!(a.taxis.len(), 30);
            let c = spec.plan(8);
            assert_ne!(a.bookings, c.bookings, "{name:?}");
            assert_ne!(a.taxis, c.taxis, "{name:?}");
            // In time order, inside the run.
            assert!(a.bookings.windows(2).all(|w| w[0].at <= w[1].at));
            assert!(a.bookings.iter().all(|b| b.at < spec.duration));
        }
    }

    #[test]
    fn scenarios_parse_by_name() {
        for name in ScenarioName::ALL {
            assert_eq!(ScenarioName::parse(name.as_str()), Some(name));
        }
        assert_eq!(ScenarioName::parse("caring-guarantee"), None);
    }

    #[test]
    fn scarcity_books_1_3_times_the_capacity_for_20_minutes_then_stops() {
        let spec = ScenarioSpec::new(ScenarioName::Scarcity, 40);
        let p = spec.plan(1);
        assert!(p.bookings.iter().all(|b| b.at < Duration::from_secs(1200)));
        // Poisson arrivals: on average over many seeds, 1.3 × the free taxis' worth.
        let seeds = 40;
        let mean = (0..seeds)
            .map(|s| spec.plan(s).bookings.len() as f64)
            .sum::<f64>()
            / seeds as f64;
        let expected = 1.3 * p.capacity_per_hour.max(40.0 * 3.0) / 3.0;
        assert!(
            (mean - expected).abs() < 0.1 * expected,
            "{mean} vs {expected}"
        );
        let normal = ScenarioSpec::new(ScenarioName::Normal, 40).plan(1);
        let per_min = |p: &Plan, mins: f64| p.bookings.len() as f64 / mins;
        assert!(per_min(&p, 20.0) > 1.5 * per_min(&normal, 60.0));
    }

    #[test]
    fn rush_and_rain_are_slower_and_busier_than_normal() {
        let normal = ScenarioSpec::new(ScenarioName::Normal, 40).plan(3);
        let rush = ScenarioSpec::new(ScenarioName::Rush, 40).plan(3);
        let rain = ScenarioSpec::new(ScenarioName::Rain, 40).plan(3);
        assert!(rush.capacity_per_hour < normal.capacity_per_hour);
        assert!(rain.capacity_per_hour < normal.capacity_per_hour);
        assert_eq!(rain.spec.road.weather, Weather::Rain);
        // Demand relative to capacity is up in both.
        let load = |p: &Plan| p.bookings.len() as f64 / p.capacity_per_hour;
        assert!(load(&rush) > load(&normal) && load(&rain) > load(&normal));
    }

    #[test]
    fn the_hospital_cluster_is_older_passengers_at_one_place_at_closing_time() {
        let p = ScenarioSpec::new(ScenarioName::Hospital, 30).plan(5);
        let mut at_hospital: std::collections::HashMap<&str, usize> = Default::default();
        for b in p.bookings.iter().filter(|b| {
            b.elderly && b.at >= Duration::from_secs(25 * 60) && b.at < Duration::from_secs(40 * 60)
        }) {
            if SPOTS
                .iter()
                .any(|s| s.kind == SpotKind::Hospital && s.name == b.pickup_name)
            {
                *at_hospital.entry(b.pickup_name.as_str()).or_default() += 1;
            }
        }
        let most = at_hospital.values().max().copied().unwrap_or(0);
        assert!(most >= 10, "{at_hospital:?}");
        // Outside the window no hospital sees such a crowd of older passengers.
        let before = p
            .bookings
            .iter()
            .filter(|b| b.elderly && b.at < Duration::from_secs(25 * 60))
            .count();
        assert!(before < most, "{before} {most}");
    }

    #[test]
    fn a_run_starts_at_the_next_start_time_in_china() {
        let p = ScenarioSpec::new(ScenarioName::Rush, 1).plan(1);
        let now = 1_796_572_800_000 + 9 * 3_600_000; // 09:00 China time
        let s = p.start_ms_after(now);
        assert!(s > now && s - now < 24 * 3_600_000);
        assert_eq!(china_minute_of_day(s), 7 * 60);
        assert_eq!(s - now, 22 * 3_600_000);
    }
}
