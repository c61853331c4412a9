//! The tunable numbers of a city's service, with the defaults DESIGN.md starts from.

use crate::geo::City;
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
        }
    }
}
