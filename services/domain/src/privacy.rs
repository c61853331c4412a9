//! Privacy numbers (AXB): the rules a trip's virtual number follows, with no I/O.
//!
//! A passenger (A) and a driver (B) call each other through a virtual number (X) bound to
//! their trip. The usual rule of the carriers' AXB products, and of our own pool: a live
//! X is bound at most once per party, so whoever dials X is put through to exactly one
//! other person. One X may serve several trips at once when they share no party.
//!
//! This module holds what can be decided without Redis or a provider: which provider is
//! configured, the pool's numbers as configured (`17100000001-17100000020,17100000031`),
//! when a binding is released, and why a trip has no number (the operator-visible reason).

use crate::FieldError;
use crate::validate::Phone;
use std::time::Duration;

/// Which provider binds virtual numbers (`TAXI_PRIVACY_PROVIDER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProviderKind {
    /// No privacy numbers: drivers see the masked number only.
    #[default]
    Off,
    /// The built-in pool of numbers held in Redis (the demo, tests, a city's own numbers).
    Pool,
    /// Alibaba Cloud's Phone Number Protection (Dypls) AXB API.
    Aliyun,
}

impl ProviderKind {
    /// Every kind.
    pub const ALL: [ProviderKind; 3] =
        [ProviderKind::Off, ProviderKind::Pool, ProviderKind::Aliyun];

    /// Its name in configuration and in the binding records.
    pub fn code(self) -> &'static str {
        match self {
            ProviderKind::Off => "off",
            ProviderKind::Pool => "pool",
            ProviderKind::Aliyun => "aliyun",
        }
    }

    /// Parses a configured name.
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|k| k.code().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| FieldError::new(field, "must be one of pool, aliyun, off"))
    }
}

/// Most numbers a configured pool may hold (the binding script scans the pool).
pub const MAX_POOL_NUMBERS: usize = 10_000;

/// The longest release delay accepted: a number stays bound at most this long after a
/// trip ended (a lost item is usually reported within hours).
pub const MAX_RELEASE_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);

/// The default release delay: the passenger may still call the driver about a lost item.
pub const DEFAULT_RELEASE_DELAY: Duration = Duration::from_secs(30 * 60);

/// Parses a pool of virtual numbers: mobiles or landlines separated by commas, and
/// ranges of mobiles `first-last` (at most [`MAX_POOL_NUMBERS`] in all, no repeats).
pub fn parse_pool(field: &str, text: &str) -> Result<Vec<Phone>, FieldError> {
    let mut out: Vec<Phone> = Vec::new();
    for (i, part) in text.split(',').map(str::trim).enumerate() {
        if part.is_empty() {
            continue;
        }
        let item = format!("{field}[{i}]");
        match part
            .split_once('-')
            .filter(|(a, b)| a.len() == 11 && b.len() == 11)
        {
            Some((first, last)) => {
                let a = Phone::parse(&item, first)?;
                let b = Phone::parse(&item, last)?;
                let (x, y): (u64, u64) = (
                    a.as_str()
                        .parse()
                        .map_err(|_| FieldError::new(&item, "is not a range of mobiles"))?,
                    b.as_str()
                        .parse()
                        .map_err(|_| FieldError::new(&item, "is not a range of mobiles"))?,
                );
                if y < x {
                    return Err(FieldError::new(item, "ends before it starts"));
                }
                if (y - x) as usize >= MAX_POOL_NUMBERS {
                    return Err(FieldError::new(
                        item,
                        format!("holds more than {MAX_POOL_NUMBERS} numbers"),
                    ));
                }
                for n in x..=y {
                    out.push(Phone::parse(&item, &n.to_string())?);
                }
            }
            None => out.push(Phone::parse(&item, part)?),
        }
        if out.len() > MAX_POOL_NUMBERS {
            return Err(FieldError::new(
                field,
                format!("holds more than {MAX_POOL_NUMBERS} numbers"),
            ));
        }
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = out.iter().find(|p| !seen.insert(p.as_str().to_string())) {
        return Err(FieldError::new(
            field,
            format!("names {} twice", dup.as_str()),
        ));
    }
    Ok(out)
}

/// Checks a release delay.
pub fn release_delay(field: &str, delay: Duration) -> Result<Duration, FieldError> {
    if delay > MAX_RELEASE_DELAY {
        return Err(FieldError::new(field, "must be at most 7 days"));
    }
    Ok(delay)
}

/// When a binding of a trip that ended at `ended_ms` is released.
pub fn release_at(ended_ms: i64, delay: Duration) -> i64 {
    ended_ms.saturating_add(delay.as_millis() as i64)
}

/// Why a trip has no virtual number: shown to operators with the order; the driver sees
/// the passenger's masked number instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// Every number of the pool is already bound to a live trip of one of the parties.
    PoolExhausted,
    /// The taxi's driver has no phone number on file.
    NoDriverPhone,
    /// The provider refused or could not be reached (after retries).
    ProviderFailed,
}

impl Unavailable {
    /// Every reason.
    pub const ALL: [Unavailable; 3] = [
        Unavailable::PoolExhausted,
        Unavailable::NoDriverPhone,
        Unavailable::ProviderFailed,
    ];

    /// Its stored code.
    pub fn code(self) -> &'static str {
        match self {
            Unavailable::PoolExhausted => "pool_exhausted",
            Unavailable::NoDriverPhone => "no_driver_phone",
            Unavailable::ProviderFailed => "provider_failed",
        }
    }

    /// From a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.code() == code)
    }

    /// What operators read.
    pub fn explain(self) -> &'static str {
        match self {
            Unavailable::PoolExhausted => {
                "no privacy number free for this passenger and driver (pool exhausted): the driver sees the masked number"
            }
            Unavailable::NoDriverPhone => {
                "the driver's phone is not on file: no privacy number; the driver sees the masked number"
            }
            Unavailable::ProviderFailed => {
                "the privacy number provider failed: the driver sees the masked number"
            }
        }
    }
}

/// How many times a failed provider call is tried again before the trip is left without
/// a number, and the wait before try `n` (1-based): 1 s, 2 s, 4 s, ... capped at 30 s.
pub const PROVIDER_ATTEMPTS: u32 = 5;

/// The back-off before retry `n` of a provider call.
pub fn backoff(n: u32) -> Duration {
    let secs = 1u64 << n.saturating_sub(1).min(5);
    Duration::from_secs(secs.min(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_round_trip_and_others_are_refused() {
        for k in ProviderKind::ALL {
            assert_eq!(ProviderKind::parse("p", k.code()).unwrap(), k);
        }
        assert_eq!(
            ProviderKind::parse("p", " POOL ").unwrap(),
            ProviderKind::Pool
        );
        let e = ProviderKind::parse("TAXI_PRIVACY_PROVIDER", "twilio").unwrap_err();
        assert_eq!(e.field, "TAXI_PRIVACY_PROVIDER");
        assert!(e.reason.contains("pool, aliyun, off"));
        assert_eq!(ProviderKind::default(), ProviderKind::Off);
    }

    #[test]
    fn pools_take_numbers_and_ranges() {
        let p = parse_pool("pool", "17100000001-17100000003, 023-61234567,,17100000009").unwrap();
        let got: Vec<&str> = p.iter().map(Phone::as_str).collect();
        assert_eq!(
            got,
            [
                "17100000001",
                "17100000002",
                "17100000003",
                "023-61234567",
                "17100000009"
            ]
        );
        assert!(parse_pool("pool", "").unwrap().is_empty());
    }

    #[test]
    fn bad_pools_name_the_item() {
        let cases = [
            ("17100000001,1710000", "pool[1]", "mainland"),
            ("17100000003-17100000001", "pool[0]", "ends before"),
            ("17100000001-17100099999", "pool[0]", "more than"),
            ("17100000001,17100000001", "pool", "twice"),
            ("17100000001-17100000002,17100000002", "pool", "twice"),
        ];
        for (text, field, why) in cases {
            let e = parse_pool("pool", text).unwrap_err();
            assert_eq!(e.field, field, "{text}");
            assert!(e.reason.contains(why), "{text}: {}", e.reason);
        }
    }

    #[test]
    fn a_pool_is_bounded_in_total() {
        let text = "13000000000-13000009999,13100000000";
        let e = parse_pool("pool", text).unwrap_err();
        assert!(e.reason.contains("more than"), "{}", e.reason);
    }

    #[test]
    fn release_delays_are_bounded_and_added() {
        assert!(release_delay("d", Duration::from_secs(60)).is_ok());
        assert!(release_delay("d", MAX_RELEASE_DELAY).is_ok());
        let e = release_delay("d", MAX_RELEASE_DELAY + Duration::from_secs(1)).unwrap_err();
        assert_eq!(e.field, "d");
        assert_eq!(release_at(1_000, Duration::from_secs(2)), 3_000);
        assert_eq!(release_at(i64::MAX, Duration::from_secs(2)), i64::MAX);
    }

    #[test]
    fn reasons_round_trip_and_say_the_driver_sees_the_masked_number() {
        for u in Unavailable::ALL {
            assert_eq!(Unavailable::from_code(u.code()), Some(u));
            assert!(u.explain().contains("masked number"));
        }
        assert_eq!(Unavailable::from_code("x"), None);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let got: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
