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
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            city: City::builtin("500100").expect("Chongqing is built in"),
            position_fresh: Duration::from_secs(30),
            max_fix_ahead: Duration::from_secs(60),
        }
    }
}
