//! The tunable numbers of a city's service, with the defaults DESIGN.md starts from.

use crate::FieldError;
use crate::geo::City;
use crate::watchdog::TripWatch;
use std::time::Duration;

/// The numbers every service of one city works by.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The city served: its code, centre and service area.
    pub city: City,
    /// A position older than this is never matched or listed.
    pub position_fresh: Duration,
    /// A fix time further ahead of the server clock than this is refused.
    pub max_fix_ahead: Duration,
    /// How far ahead of ordinary orders an older passenger's order is queued; also the
    /// longest an ordinary order can be overtaken (priority aging).
    pub elderly_head_start: Duration,
    /// The earliest a reservation may be, from now.
    pub reservation_min_ahead: Duration,
    /// The latest a reservation may be, from now.
    pub reservation_max_ahead: Duration,
    /// How long before its pickup time a reservation enters dispatch.
    pub reservation_lead: Duration,
    /// A one-key press (or an IVR booking) returns an active order whose pickup time is
    /// within this window instead of booking a second taxi.
    pub duplicate_window: Duration,
    /// A device's own position is used only if its fix is at most this old.
    pub device_fix_max_age: Duration,
    /// How long an idempotency key (a booking's request id) is remembered.
    pub request_id_ttl: Duration,
    /// A long press within this time of an open alert of the same device returns that alert.
    pub alert_repeat_window: Duration,
    /// How long a driver has to answer an offer.
    pub offer_timeout: Duration,
    /// Search radii in metres, tried in order until an untried free taxi is found.
    pub radii_m: Vec<u32>,
    /// One more radius for older passengers' orders, searched after `radii_m`.
    pub elderly_extra_radius_m: u32,
    /// The extra radius opens only once an older passenger's order has waited this long
    /// in dispatch (issue 15): a taxi 8 km away is 20 minutes away, and a nearer one
    /// usually comes free sooner than that.
    pub elderly_extra_after: Duration,
    /// Older passengers are offered caring-fleet taxis within this radius first.
    pub caring_radius_m: u32,
    /// After this many offers an order is unfulfilled.
    pub max_offers: u32,
    /// After this long in dispatch an order is unfulfilled.
    pub max_dispatch_time: Duration,
    /// A taxi that lets this many offers in a row expire is signed off.
    pub max_missed_offers: u32,
    /// Sequential offers (one taxi at a time) or a broadcast to the N nearest.
    pub offer_mode: OfferMode,
    /// How orders meet taxis: one at a time in queue order, or in batches (issue 15).
    pub matcher: Matcher,
    /// How often the batched matcher solves (within [`BATCH_WINDOW_MS`]).
    pub batch_window: Duration,
    /// How long an order with no taxi in reach waits before the next search.
    pub retry_interval: Duration,
    /// Dispatch workers per process.
    pub dispatch_workers: usize,
    /// How often expired offers, due retries and due reservations are swept.
    pub sweep_interval: Duration,
    /// How long a taxi may take to reach the pickup, and a trip to start, before the
    /// watchdog alerts operators.
    pub trip_watch: TripWatch,
    /// How long finished work is kept after it finished: completed and cancelled orders,
    /// unfulfilled ones after their call-back was resolved, resolved alerts. Then the
    /// retention pass deletes it (and the order from its caller's history). Nothing
    /// unfinished ever expires.
    pub retention: Duration,
    /// How long records of the audit trail (`events`) and of the care contacts' feed
    /// (`notifications`) are kept.
    pub event_retention: Duration,
    /// How far ahead recurring rides are materialised as reservations (21 days).
    pub recurring_horizon: Duration,
    /// How often the materialiser passes over every active recurring pattern.
    pub recurring_interval: Duration,
    /// The caring fleet's guarantee for recurring trips (issue 14): when a trip is
    /// released to the caring fleet, opened to any taxi, and alerted on.
    pub guarantee: crate::recurring::Guarantee,
}

/// How an order is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferMode {
    /// One taxi at a time, nearest first.
    Sequential,
    /// The N nearest at once; the first to accept wins (the "grab" mode, JT/T 905).
    Broadcast(u32),
}

impl OfferMode {
    /// How many taxis one offer round reaches.
    pub fn fan_out(self) -> u32 {
        match self {
            OfferMode::Sequential => 1,
            OfferMode::Broadcast(n) => n.max(1),
        }
    }

    /// Parses `sequential` or `broadcast:N` (what [`std::fmt::Display`] prints).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "sequential" => Some(OfferMode::Sequential),
            t => {
                let n: u32 = t.strip_prefix("broadcast:")?.parse().ok()?;
                (1..=20).contains(&n).then_some(OfferMode::Broadcast(n))
            }
        }
    }
}

impl std::fmt::Display for OfferMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OfferMode::Sequential => f.write_str("sequential"),
            OfferMode::Broadcast(n) => write!(f, "broadcast:{n}"),
        }
    }
}

/// How a city's dispatch pairs orders with taxis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matcher {
    /// Each order in queue order takes its nearest qualifying taxi (the default).
    Greedy,
    /// Every batch window, one assignment over every waiting order and the free taxis
    /// near them (`crate::matching`); what it leaves is dispatched greedily.
    Batched,
}

impl Matcher {
    /// Parses `greedy` or `batched` (what [`std::fmt::Display`] prints); the error names
    /// the field `matcher`.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        match text.trim() {
            "greedy" => Ok(Matcher::Greedy),
            "batched" => Ok(Matcher::Batched),
            other => Err(FieldError::new(
                "matcher",
                format!("`{other}` is not `greedy` or `batched`"),
            )),
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Matcher::Greedy => "greedy",
            Matcher::Batched => "batched",
        })
    }
}

/// The batch windows a city may choose, ms: long enough to gather orders, short enough
/// that no passenger notices the wait.
pub const BATCH_WINDOW_MS: std::ops::RangeInclusive<u64> = 1_000..=2_000;

/// Checks a batch window given in ms; the error names the field `batch_window`.
pub fn batch_window(ms: u64) -> Result<Duration, FieldError> {
    if BATCH_WINDOW_MS.contains(&ms) {
        Ok(Duration::from_millis(ms))
    } else {
        Err(FieldError::new(
            "batch_window",
            format!(
                "{ms} ms is outside {}..={} ms",
                BATCH_WINDOW_MS.start(),
                BATCH_WINDOW_MS.end()
            ),
        ))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            city: City::builtin("500100").expect("Chongqing is built in"),
            position_fresh: Duration::from_secs(30),
            max_fix_ahead: Duration::from_secs(60),
            elderly_head_start: Duration::from_secs(90),
            reservation_min_ahead: Duration::from_secs(10 * 60),
            reservation_max_ahead: Duration::from_secs(7 * 24 * 3600),
            reservation_lead: Duration::from_secs(15 * 60),
            duplicate_window: Duration::from_secs(10 * 60),
            device_fix_max_age: Duration::from_secs(5 * 60),
            request_id_ttl: Duration::from_secs(24 * 3600),
            alert_repeat_window: Duration::from_secs(120),
            offer_timeout: Duration::from_secs(15),
            radii_m: vec![1000, 2000, 3000, 5000],
            elderly_extra_radius_m: 8000,
            elderly_extra_after: Duration::from_secs(60),
            caring_radius_m: 3000,
            max_offers: 5,
            max_dispatch_time: Duration::from_secs(180),
            max_missed_offers: 3,
            offer_mode: OfferMode::Sequential,
            matcher: Matcher::Greedy,
            batch_window: Duration::from_millis(1_500),
            retry_interval: Duration::from_secs(2),
            dispatch_workers: 2,
            sweep_interval: Duration::from_millis(200),
            trip_watch: TripWatch::default(),
            retention: Duration::from_secs(30 * 24 * 3600),
            event_retention: Duration::from_secs(30 * 24 * 3600),
            recurring_horizon: Duration::from_millis(crate::recurring::DEFAULT_HORIZON_MS as u64),
            recurring_interval: Duration::from_secs(60),
            guarantee: crate::recurring::Guarantee::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_parse_and_name_the_field() {
        assert_eq!(Matcher::parse("greedy"), Ok(Matcher::Greedy));
        assert_eq!(Matcher::parse(" batched "), Ok(Matcher::Batched));
        for m in [Matcher::Greedy, Matcher::Batched] {
            assert_eq!(Matcher::parse(&m.to_string()), Ok(m));
        }
        let e = Matcher::parse("hungarian").unwrap_err();
        assert_eq!(e.field, "matcher");
        assert!(e.reason.contains("hungarian"));
        assert_eq!(Settings::default().matcher, Matcher::Greedy);
    }

    #[test]
    fn batch_windows_are_one_to_two_seconds() {
        assert_eq!(
            Settings::default().batch_window,
            Duration::from_millis(1_500)
        );
        for ok in [1_000, 1_500, 2_000] {
            assert_eq!(batch_window(ok), Ok(Duration::from_millis(ok)));
        }
        for bad in [0, 999, 2_001, u64::MAX] {
            let e = batch_window(bad).unwrap_err();
            assert_eq!(e.field, "batch_window");
            assert!(e.reason.contains(&bad.to_string()), "{e}");
        }
    }

    #[test]
    fn offer_modes_parse() {
        assert_eq!(OfferMode::parse("sequential"), Some(OfferMode::Sequential));
        assert_eq!(
            OfferMode::parse("broadcast:3"),
            Some(OfferMode::Broadcast(3))
        );
        assert_eq!(OfferMode::parse("broadcast:0"), None);
        assert_eq!(OfferMode::parse("grab"), None);
        assert_eq!(OfferMode::Broadcast(3).fan_out(), 3);
        assert_eq!(OfferMode::Sequential.fan_out(), 1);
        for m in [OfferMode::Sequential, OfferMode::Broadcast(4)] {
            assert_eq!(OfferMode::parse(&m.to_string()), Some(m));
        }
    }
}
