//! Who counts as an older passenger, and how orders are ranked in the dispatch queue.
//!
//! The queue is a sorted set scored by `enqueue time - head start`, so an older
//! passenger's order goes ahead of ordinary orders created up to `head start` earlier,
//! and no ordinary order ever waits more than `head start` behind older passengers'
//! orders: priority with aging in one number, popped in O(log n).

use crate::resident_id::age_on;
use chrono::NaiveDate;

/// The age from which a passenger counts as older.
pub const ELDERLY_AGE: u32 = 60;

/// Why a passenger is treated as an older person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElderlyReason {
    /// The resident ID says 60 or more.
    ResidentIdAge,
    /// An operator flagged the caller.
    OperatorFlag,
    /// The caller owns a one-key device.
    OneKeyDevice,
}

impl ElderlyReason {
    /// The code stored in Redis.
    pub fn code(self) -> &'static str {
        match self {
            ElderlyReason::ResidentIdAge => "resident_id_age",
            ElderlyReason::OperatorFlag => "operator_flag",
            ElderlyReason::OneKeyDevice => "one_key_device",
        }
    }

    /// Parses a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        [
            ElderlyReason::ResidentIdAge,
            ElderlyReason::OperatorFlag,
            ElderlyReason::OneKeyDevice,
        ]
        .into_iter()
        .find(|r| r.code() == code)
    }
}

/// What is known about a passenger that bears on priority.
#[derive(Debug, Clone, Copy, Default)]
pub struct PassengerFacts {
    /// From the resident ID, if one is on file.
    pub birth_date: Option<NaiveDate>,
    /// An operator's flag.
    pub operator_flag: bool,
    /// Owns a one-key device, or this order comes from one.
    pub one_key_device: bool,
}

/// Whether the passenger is older, and the strongest reason: the ID's age first, then
/// the operator's flag, then the device.
pub fn elderly_reason(facts: &PassengerFacts, today: NaiveDate) -> Option<ElderlyReason> {
    if facts
        .birth_date
        .is_some_and(|b| age_on(b, today) >= ELDERLY_AGE)
    {
        return Some(ElderlyReason::ResidentIdAge);
    }
    if facts.operator_flag {
        return Some(ElderlyReason::OperatorFlag);
    }
    if facts.one_key_device {
        return Some(ElderlyReason::OneKeyDevice);
    }
    None
}

/// Dispatch priority: higher goes first.
pub fn priority(elderly: bool) -> i32 {
    if elderly { 1 } else { 0 }
}

/// The queue score of an order: lower pops first.
///
/// `head_start_ms` is how far ahead of ordinary orders an older passenger's order is
/// placed; it is also the bound on how long an ordinary order can be overtaken.
pub fn queue_score(enqueued_ms: i64, priority: i32, head_start_ms: i64) -> i64 {
    enqueued_ms - i64::from(priority.clamp(0, 1)) * head_start_ms
}

/// The `q`-quantile (0 to 1) of samples, by the nearest-rank method; `None` when empty.
pub fn quantile(samples: &mut [i64], q: f64) -> Option<i64> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let rank = (q.clamp(0.0, 1.0) * samples.len() as f64).ceil() as usize;
    Some(samples[rank.saturating_sub(1).min(samples.len() - 1)])
}

/// Today's date in China (UTC+8), for ages: a birthday starts at local midnight.
pub fn china_date(now_ms: i64) -> NaiveDate {
    let secs = now_ms.div_euclid(1000) + 8 * 3600;
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.date_naive())
        .unwrap_or_default()
}

/// Where a new order goes: its queue score if immediate, or the time it enters dispatch
/// if reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Dispatch priority.
    pub priority: i32,
    /// Queue score (immediate orders; lower pops first).
    pub queue_score: i64,
    /// When a reservation enters dispatch (ms).
    pub release_ms: i64,
}

/// Places an order created at `now_ms` for `pickup_ms`.
pub fn place_order(
    now_ms: i64,
    pickup_ms: i64,
    elderly: bool,
    head_start_ms: i64,
    lead_ms: i64,
) -> Placement {
    let priority = priority(elderly);
    Placement {
        priority,
        queue_score: queue_score(now_ms, priority, head_start_ms),
        release_ms: (pickup_ms - lead_ms).max(now_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn reasons_in_order_of_strength() {
        let today = d(2026, 11, 22);
        let old = Some(d(1950, 1, 1));
        let young = Some(d(1990, 1, 1));
        let f = |birth_date, operator_flag, one_key_device| PassengerFacts {
            birth_date,
            operator_flag,
            one_key_device,
        };
        assert_eq!(
            elderly_reason(&f(old, true, true), today),
            Some(ElderlyReason::ResidentIdAge)
        );
        assert_eq!(
            elderly_reason(&f(young, true, true), today),
            Some(ElderlyReason::OperatorFlag)
        );
        assert_eq!(
            elderly_reason(&f(None, false, true), today),
            Some(ElderlyReason::OneKeyDevice)
        );
        assert_eq!(elderly_reason(&f(young, false, false), today), None);
        assert_eq!(elderly_reason(&f(None, false, false), today), None);
        // Sixty on the day itself.
        assert_eq!(
            elderly_reason(&f(Some(d(1966, 11, 22)), false, false), today),
            Some(ElderlyReason::ResidentIdAge)
        );
        assert_eq!(
            elderly_reason(&f(Some(d(1966, 11, 23)), false, false), today),
            None
        );
    }

    #[test]
    fn china_date_turns_at_local_midnight() {
        // 2026-11-21 16:00 UTC is 2026-11-22 00:00 in China.
        let ms = chrono::NaiveDate::from_ymd_opt(2026, 11, 21)
            .unwrap()
            .and_hms_opt(16, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        assert_eq!(china_date(ms), d(2026, 11, 22));
        assert_eq!(china_date(ms - 1), d(2026, 11, 21));
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut v = vec![5, 1, 4, 2, 3];
        assert_eq!(quantile(&mut v, 0.5), Some(3));
        assert_eq!(quantile(&mut v, 0.9), Some(5));
        assert_eq!(quantile(&mut v, 0.0), Some(1));
        assert_eq!(quantile(&mut [], 0.5), None);
        let mut ten: Vec<i64> = (1..=10).collect();
        assert_eq!(quantile(&mut ten, 0.9), Some(9));
    }

    #[test]
    fn placement() {
        let p = place_order(1_000_000, 1_000_000, true, 90_000, 900_000);
        assert_eq!(
            p,
            Placement {
                priority: 1,
                queue_score: 910_000,
                release_ms: 1_000_000
            }
        );
        let r = place_order(0, 3_600_000, false, 90_000, 900_000);
        assert_eq!(r.release_ms, 2_700_000);
    }

    #[test]
    fn codes_round_trip() {
        for r in [
            ElderlyReason::ResidentIdAge,
            ElderlyReason::OperatorFlag,
            ElderlyReason::OneKeyDevice,
        ] {
            assert_eq!(ElderlyReason::from_code(r.code()), Some(r));
        }
    }

    #[test]
    fn older_passengers_overtake_but_only_within_the_head_start() {
        let head = 60_000;
        let ordinary = queue_score(1_000_000, priority(false), head);
        // An older passenger's order 59 s later still goes first...
        assert!(queue_score(1_059_000, priority(true), head) < ordinary);
        // ...but one 61 s later does not: the ordinary order has aged past it.
        assert!(queue_score(1_061_000, priority(true), head) > ordinary);
        // Within one priority, oldest first.
        assert!(queue_score(1, 0, head) < queue_score(2, 0, head));
    }
}
