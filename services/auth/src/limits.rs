//! Per-identity rate limits (token buckets through `governor`), answered with
//! RESOURCE_EXHAUSTED and a retry hint.
//!
//! The buckets live in each process: behind a load balancer a caller spread over `n`
//! processes gets up to `n` times the rate. That bounds abuse (a stolen credential cannot
//! flood the queue) without a Redis round trip on every booking.

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::time::Duration;

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Bookings (new and repeated).
    Booking,
    /// One-key button presses.
    Press,
    /// Caller profile writes.
    CallerUpsert,
    /// Login attempts, per credential name (also per peer address).
    Login,
}

/// A rate: `burst` at once, then one every `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// How many may come at once.
    pub burst: u32,
    /// One more every this long.
    pub per: Duration,
}

impl Rate {
    /// `burst` at once, refilled at `per_minute` a minute.
    pub const fn per_minute(burst: u32, per_minute: u32) -> Rate {
        Rate {
            burst,
            per: Duration::from_millis(60_000 / per_minute as u64),
        }
    }
}

/// The rates of a city, by limit and by whether the caller is a service (a phone switch
/// books for every caller of the voice menu, so it gets a service's rate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rates {
    /// Bookings by a person (operator) or a relative.
    pub booking: Rate,
    /// Bookings by a service (the phone switch's voice menu).
    pub service_booking: Rate,
    /// Presses of one device.
    pub press: Rate,
    /// Caller writes by one operator.
    pub caller_upsert: Rate,
    /// Logins per credential name and per peer address.
    pub login: Rate,
}

impl Default for Rates {
    fn default() -> Self {
        Self {
            // An operator books about one trip a minute; a burst of 20 covers a busy spell.
            booking: Rate::per_minute(20, 30),
            service_booking: Rate::per_minute(2_000, 600_000),
            // A device: a few presses (a short one, a cancel, a retry), not a stream.
            press: Rate::per_minute(5, 6),
            caller_upsert: Rate::per_minute(20, 30),
            login: Rate::per_minute(10, 10),
        }
    }
}

/// The limiters of one process.
#[derive(Debug)]
pub struct Limiters {
    booking: DefaultKeyedRateLimiter<String>,
    service_booking: DefaultKeyedRateLimiter<String>,
    press: DefaultKeyedRateLimiter<String>,
    caller_upsert: DefaultKeyedRateLimiter<String>,
    login: DefaultKeyedRateLimiter<String>,
}

fn limiter(rate: Rate) -> DefaultKeyedRateLimiter<String> {
    let burst = NonZeroU32::new(rate.burst.max(1)).expect("at least one");
    let quota = Quota::with_period(rate.per.max(Duration::from_micros(1)))
        .expect("a positive period")
        .allow_burst(burst);
    RateLimiter::keyed(quota)
}

impl Limiters {
    /// Limiters with these rates.
    pub fn new(rates: &Rates) -> Self {
        Self {
            booking: limiter(rates.booking),
            service_booking: limiter(rates.service_booking),
            press: limiter(rates.press),
            caller_upsert: limiter(rates.caller_upsert),
            login: limiter(rates.login),
        }
    }

    /// Counts one call of `key` against `limit`; `Err(wait)` when over it.
    pub fn check(&self, limit: Limit, service: bool, key: &str) -> Result<(), Duration> {
        let l = match (limit, service) {
            (Limit::Booking, true) => &self.service_booking,
            (Limit::Booking, false) => &self.booking,
            (Limit::Press, _) => &self.press,
            (Limit::CallerUpsert, _) => &self.caller_upsert,
            (Limit::Login, _) => &self.login,
        };
        // `check_key` needs an owned key only when the key is new.
        match l.check_key(&key.to_string()) {
            Ok(()) => Ok(()),
            Err(not_until) => Err(not_until.wait_time_from(DefaultClock::default().now())),
        }
    }

    /// Forgets idle keys (call now and then so the maps stay small).
    pub fn shrink(&self) {
        for l in [
            &self.booking,
            &self.service_booking,
            &self.press,
            &self.caller_upsert,
            &self.login,
        ] {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_caller_waits_and_others_do_not() {
        let l = Limiters::new(&Rates::default());
        for _ in 0..5 {
            l.check(Limit::Press, false, "device:D1").unwrap();
        }
        let wait = l.check(Limit::Press, false, "device:D1").unwrap_err();
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        l.check(Limit::Press, false, "device:D2").unwrap();
    }

    #[test]
    fn services_book_at_a_service_rate() {
        let l = Limiters::new(&Rates::default());
        for _ in 0..100 {
            l.check(Limit::Booking, true, "phone-switch:ivr").unwrap();
        }
        for _ in 0..20 {
            l.check(Limit::Booking, false, "operator:li").unwrap();
        }
        assert!(l.check(Limit::Booking, false, "operator:li").is_err());
    }
}
