//! The key schema of one city.
//!
//! Every key starts with the city's hash tag, `{c:<code>}`, so all of a city's keys hash
//! to one Redis Cluster slot: scripts may touch any of them, and a city moves whole.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{c}:taxi:<id>` | hash | plate, driver, color, wc (0/1), tags (csv), reg (ms) |
//! | `{c}:taxis:plates` | hash | plate → taxi id (uniqueness) |
//! | `{c}:taxis:state` | hash | taxi id → state code (`off`, `free`, ...) |
//! | `{c}:taxis:order` | hash | taxi id → the order it holds |
//! | `{c}:taxis:free` | geo | FREE taxis at their last position: the only index searched for matching |
//! | `{c}:taxis:pos` | geo | every on-duty taxi's last position |
//! | `{c}:taxis:fix` | zset | taxi id → time of its last fix (ms) |
//! | `{c}:taxis:motion` | hash | taxi id → `heading,speed` of its last fix |
//! | `{c}:taxis:wheelchair` | set | wheelchair-accessible taxis |
//! | `{c}:taxis:caring` | set | caring-fleet taxis |
//! | `{c}:seq:<name>` | string | id counters |
//! | `{c}:events` | stream | every transition: the audit trail and the feed for KPIs |

/// The keys of one city.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
    /// Prefix of per-taxi hashes, `{c}:taxi:`.
    pub taxi_prefix: String,
    /// `{c}:taxis:plates`.
    pub plates: String,
    /// `{c}:taxis:state`.
    pub taxi_states: String,
    /// `{c}:taxis:order`.
    pub taxi_orders: String,
    /// `{c}:taxis:free`.
    pub free: String,
    /// `{c}:taxis:pos`.
    pub positions: String,
    /// `{c}:taxis:fix`.
    pub fixes: String,
    /// `{c}:taxis:motion`.
    pub motion: String,
    /// `{c}:taxis:wheelchair`.
    pub wheelchair: String,
    /// `{c}:taxis:caring`.
    pub caring: String,
    /// `{c}:events`.
    pub events: String,
}

impl Keys {
    /// The keys of city `code`.
    pub fn new(code: &str) -> Self {
        let prefix = format!("{{c:{code}}}");
        let k = |s: &str| format!("{prefix}:{s}");
        Self {
            taxi_prefix: k("taxi:"),
            plates: k("taxis:plates"),
            taxi_states: k("taxis:state"),
            taxi_orders: k("taxis:order"),
            free: k("taxis:free"),
            positions: k("taxis:pos"),
            fixes: k("taxis:fix"),
            motion: k("taxis:motion"),
            wheelchair: k("taxis:wheelchair"),
            caring: k("taxis:caring"),
            events: k("events"),
            prefix,
        }
    }

    /// The hash tag every key starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{c}:taxi:<id>`.
    pub fn taxi(&self, id: &str) -> String {
        format!("{}{id}", self.taxi_prefix)
    }

    /// `{c}:seq:<name>`.
    pub fn seq(&self, name: &str) -> String {
        format!("{}:seq:{name}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_carries_the_city_hash_tag() {
        let k = Keys::new("500100");
        for key in [
            &k.plates,
            &k.taxi_states,
            &k.free,
            &k.positions,
            &k.fixes,
            &k.events,
            &k.taxi("T1"),
            &k.seq("taxi"),
        ] {
            assert!(key.starts_with("{c:500100}:"), "{key}");
        }
    }
}
