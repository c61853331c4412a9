//! How long credentials live and when logins lock: each default defined once, here.

use crate::limits::Rates;
use std::time::Duration;

/// The identity settings of a city.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// How long an access token is accepted (`TAXI_ACCESS_TOKEN_TTL_S`).
    pub access_ttl: Duration,
    /// How long a person's session lasts before logging in again (a shift and a half).
    pub person_session: Duration,
    /// How long a taxi's, device's, relative's or service's session lasts without use;
    /// each refresh extends it.
    pub key_session: Duration,
    /// Failed logins in a row that lock an account.
    pub max_failures: u32,
    /// How long a locked account stays locked.
    pub lockout: Duration,
    /// How long a taxi's enrolment code may be used.
    pub enrolment_code_ttl: Duration,
    /// How long a relative's grant code may be used.
    pub grant_code_ttl: Duration,
    /// Rate limits.
    pub rates: Rates,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(15 * 60),
            person_session: Duration::from_secs(12 * 3600),
            key_session: Duration::from_secs(30 * 24 * 3600),
            max_failures: 5,
            lockout: Duration::from_secs(15 * 60),
            enrolment_code_ttl: Duration::from_secs(24 * 3600),
            grant_code_ttl: Duration::from_secs(7 * 24 * 3600),
            rates: Rates::default(),
        }
    }
}
