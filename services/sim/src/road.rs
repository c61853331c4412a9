//! The road-speed model: how long a drive takes in the simulated city. Pure: no I/O, no
//! clock of its own (the time of day is an input).
//!
//! A drive from `a` to `b` covers the straight-line distance times a detour factor (roads
//! wind, rivers need bridges), at a speed that depends on the time of day in China (slow in
//! the morning and evening peaks, fast at night) and on the weather (rain slows traffic).
//! Taxis move along the straight line, at the pace that makes them arrive when the road
//! would have got them there: `speed ÷ detour`.

use crate::city;
use std::time::Duration;

/// The weather the city drives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weather {
    /// Dry roads.
    Dry,
    /// Rain: every speed is [`RAIN_FACTOR`] of the dry one.
    Rain,
}

/// Rain's share of the dry speed.
pub const RAIN_FACTOR: f64 = 0.7;

/// Road distance over straight-line distance in central Chongqing (hills, two rivers).
pub const DEFAULT_DETOUR: f64 = 1.4;

/// Dry-road speed, km/h, by China time of day (hour and minute, 0..1440 minutes).
///
/// Night (22:00–06:00) 40; morning peak (07:00–09:30) 15; evening peak (17:00–19:30) 14;
/// the shoulders (06:00–07:00, 19:30–22:00) 28; the working day (09:30–17:00) 24.
pub fn dry_speed_kmh(minute_of_day: u32) -> f64 {
    match minute_of_day % 1440 {
        0..360 => 40.0,
        360..420 => 28.0,
        420..570 => 15.0,
        570..1020 => 24.0,
        1020..1170 => 14.0,
        1170..1320 => 28.0,
        _ => 40.0,
    }
}

/// The minute of the day in China (UTC+8) at epoch `ms`.
pub fn china_minute_of_day(ms: i64) -> u32 {
    ((ms.div_euclid(60_000) + 8 * 60).rem_euclid(1440)) as u32
}

/// The city's roads: a detour factor and the weather.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoadModel {
    /// Road distance over straight-line distance (≥ 1).
    pub detour: f64,
    /// The weather.
    pub weather: Weather,
}

impl Default for RoadModel {
    fn default() -> Self {
        Self {
            detour: DEFAULT_DETOUR,
            weather: Weather::Dry,
        }
    }
}

impl RoadModel {
    /// Road speed at epoch `at_ms`, metres per second.
    pub fn speed_mps(&self, at_ms: i64) -> f64 {
        let dry = dry_speed_kmh(china_minute_of_day(at_ms));
        let factor = match self.weather {
            Weather::Dry => 1.0,
            Weather::Rain => RAIN_FACTOR,
        };
        dry * factor / 3.6
    }

    /// The pace along the straight line, metres per second: road speed over the detour.
    pub fn straight_pace_mps(&self, at_ms: i64) -> f64 {
        self.speed_mps(at_ms) / self.detour.max(1.0)
    }

    /// Road metres between two points.
    pub fn road_m(&self, from: (f64, f64), to: (f64, f64)) -> f64 {
        city::distance_m(from, to) * self.detour.max(1.0)
    }

    /// How long the drive from `from` to `to` takes when it starts at `at_ms` (at the
    /// speed of that moment).
    pub fn travel_time(&self, from: (f64, f64), to: (f64, f64), at_ms: i64) -> Duration {
        Duration::from_secs_f64(self.road_m(from, to) / self.speed_mps(at_ms))
    }

    /// Drives from `from` toward `to` for `dt` starting at `at_ms`: the new point, whether
    /// it arrived, and the road metres driven.
    pub fn drive(
        &self,
        from: (f64, f64),
        to: (f64, f64),
        at_ms: i64,
        dt: Duration,
    ) -> ((f64, f64), bool, f64) {
        let step = self.straight_pace_mps(at_ms) * dt.as_secs_f64();
        let left = city::distance_m(from, to);
        let (at, arrived) = city::step_toward(from, to, step);
        (at, arrived, step.min(left) * self.detour.max(1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Epoch ms of `h:m` China time on some day.
    fn at(h: i64, m: i64) -> i64 {
        // 2026-12-07 00:00 China time is 2026-12-06 16:00 UTC.
        1_796_572_800_000 + (h * 60 + m) * 60_000
    }

    #[test]
    fn china_time_of_day() {
        assert_eq!(china_minute_of_day(at(0, 0)), 0);
        assert_eq!(china_minute_of_day(at(7, 30)), 450);
        assert_eq!(china_minute_of_day(at(23, 59)), 1439);
        assert_eq!(china_minute_of_day(at(24, 1)), 1);
        assert_eq!(china_minute_of_day(-60_000), 8 * 60 - 1);
    }

    #[test]
    fn peaks_are_slower_and_night_faster_than_the_working_day() {
        let r = RoadModel::default();
        let day = r.speed_mps(at(11, 0));
        let morning = r.speed_mps(at(8, 0));
        let evening = r.speed_mps(at(18, 0));
        let night = r.speed_mps(at(2, 0));
        assert!(morning < day && evening < day, "{morning} {evening} {day}");
        assert!(night > day);
        // Every minute of the day has a positive speed.
        for m in 0..1440 {
            assert!(dry_speed_kmh(m) > 0.0);
        }
        assert_eq!(dry_speed_kmh(419), 28.0);
        assert_eq!(dry_speed_kmh(420), 15.0);
        assert_eq!(dry_speed_kmh(1440 + 420), 15.0);
    }

    #[test]
    fn rain_slows_every_hour() {
        let dry = RoadModel::default();
        let rain = RoadModel {
            weather: Weather::Rain,
            ..dry
        };
        for h in 0..24 {
            let t = at(h, 15);
            assert!((rain.speed_mps(t) - dry.speed_mps(t) * RAIN_FACTOR).abs() < 1e-9);
        }
    }

    #[test]
    fn the_detour_makes_the_trip_longer_in_time() {
        let (a, b) = ((29.55, 106.50), (29.57, 106.52));
        let straight = RoadModel {
            detour: 1.0,
            weather: Weather::Dry,
        };
        let winding = RoadModel {
            detour: 1.5,
            ..straight
        };
        let t1 = straight.travel_time(a, b, at(11, 0)).as_secs_f64();
        let t2 = winding.travel_time(a, b, at(11, 0)).as_secs_f64();
        assert!((t2 / t1 - 1.5).abs() < 1e-9, "{t1} {t2}");
        // distance ÷ speed: about 2.9 km at 24 km/h is about 7 minutes.
        let d = city::distance_m(a, b);
        assert!((t1 - d / (24.0 / 3.6)).abs() < 1e-6);
        // A detour below 1 is treated as none.
        let short = RoadModel {
            detour: 0.5,
            ..straight
        };
        assert_eq!(
            short.travel_time(a, b, at(11, 0)),
            straight.travel_time(a, b, at(11, 0))
        );
    }

    #[test]
    fn driving_for_the_travel_time_arrives_and_not_before() {
        let r = RoadModel::default();
        let (a, b) = ((29.55, 106.50), (29.57, 106.52));
        let t0 = at(8, 0);
        let tt = r.travel_time(a, b, t0);
        let (p, arrived, road) = r.drive(a, b, t0, tt.mul_f64(0.9));
        assert!(!arrived);
        assert!((road - 0.9 * r.road_m(a, b)).abs() < 1.0, "{road}");
        assert!(city::distance_m(p, b) > 0.0);
        let (p, arrived, road) = r.drive(a, b, t0, tt + Duration::from_millis(1));
        assert!(arrived && p == b);
        assert!((road - r.road_m(a, b)).abs() < 1e-6);
    }
}
