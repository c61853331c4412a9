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
//! | `{c}:taxis:pos` | geo | the last position of every taxi that is not in the free index (a position lives in exactly one of the two) |
//! | `{c}:taxis:fix` | zset | taxi id → time of its last fix (ms) |
//! | `{c}:taxis:wheelchair` | set | wheelchair-accessible taxis |
//! | `{c}:taxis:caring` | set | caring-fleet taxis |
//! | `{c}:caller:<phone>` | hash | name, birth (YYYY-MM-DD, from the resident ID; the ID itself is never stored), flag, needs, contacts, places (JSON), notes, created, updated |
//! | `{c}:caller:<phone>:orders` | zset | the caller's orders by creation time |
//! | `{c}:caller:<phone>:active` | zset | the caller's orders not yet ended, by pickup time |
//! | `{c}:caller:<phone>:devices` | set | the caller's one-key devices |
//! | `{c}:order:<id>` | hash | every field of an order (see `orders.rs`) |
//! | `{c}:req:<request id>` | string | the order a booking's request id made (expires after a day) |
//! | `{c}:dispatch:pending` | zset | PENDING orders by queue score (enqueue time − elderly head start) |
//! | `{c}:dispatch:scheduled` | zset | SCHEDULED orders by the time they enter dispatch |
//! | `{c}:dispatch:offers` | zset | open offers (`order|taxi`) by deadline (ms) |
//! | `{c}:dispatch:retry` | zset | pending orders with no taxi in reach, by next attempt (ms, on a shared clock) |
//! | `{c}:dispatch:callbacks` | zset | unfulfilled orders to call back, by time |
//! | `{c}:dispatch:wakeup` | list | tokens that wake blocked dispatch workers |
//! | `{c}:dispatch:notify` | pub/sub channel | `taxi|kind|order|reason` for driver streams |
//! | `{c}:order:<id>:tried` | set | taxis that declined or missed this order |
//! | `{c}:taxis:missed` | hash | taxi → offers missed in a row |
//! | `{c}:stats`, `{c}:stats:<kind>:<e|o>` | hash, lists | KPI counters and recent latency samples |
//! | `{c}:device:<id>` | hash | owner, salted secret hash, home point, last alert |
//! | `{c}:alert:<id>` | hash | an emergency alert of a long press |
//! | `{c}:alerts:open` / `{c}:alerts:all` | zset | alert ids by raise time |
//! | `{c}:notifications` | stream | messages for passengers' care contacts (an SMS gateway's feed) |
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
    /// `{c}:taxis:wheelchair`.
    pub wheelchair: String,
    /// `{c}:taxis:caring`.
    pub caring: String,
    /// `{c}:events`.
    pub events: String,
    /// `{c}:dispatch:pending`.
    pub pending: String,
    /// `{c}:dispatch:scheduled`.
    pub scheduled: String,
    /// `{c}:dispatch:offers`: open offers by their deadline (ms), member `order|taxi`.
    pub offers: String,
    /// `{c}:alerts:open`.
    pub alerts_open: String,
    /// `{c}:alerts:all`.
    pub alerts_all: String,
    /// `{c}:notifications`.
    pub notifications: String,
    /// The prefix scripts build per-entity keys from: `{c}:`.
    pub entity_prefix: String,
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
            wheelchair: k("taxis:wheelchair"),
            caring: k("taxis:caring"),
            events: k("events"),
            pending: k("dispatch:pending"),
            scheduled: k("dispatch:scheduled"),
            offers: k("dispatch:offers"),
            alerts_open: k("alerts:open"),
            alerts_all: k("alerts:all"),
            notifications: k("notifications"),
            entity_prefix: k(""),
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

    /// `{c}:caller:<phone>`.
    pub fn caller(&self, phone: &str) -> String {
        format!("{}:caller:{phone}", self.prefix)
    }

    /// `{c}:caller:<phone>:orders`.
    pub fn caller_orders(&self, phone: &str) -> String {
        format!("{}:caller:{phone}:orders", self.prefix)
    }

    /// `{c}:caller:<phone>:active`.
    pub fn caller_active(&self, phone: &str) -> String {
        format!("{}:caller:{phone}:active", self.prefix)
    }

    /// `{c}:caller:<phone>:devices`.
    pub fn caller_devices(&self, phone: &str) -> String {
        format!("{}:caller:{phone}:devices", self.prefix)
    }

    /// `{c}:order:<id>`.
    pub fn order(&self, id: &str) -> String {
        format!("{}:order:{id}", self.prefix)
    }

    /// `{c}:req:<request id>`.
    pub fn request(&self, request_id: &str) -> String {
        format!("{}:req:{request_id}", self.prefix)
    }

    /// `{c}:device:<id>`.
    pub fn device(&self, id: &str) -> String {
        format!("{}:device:{id}", self.prefix)
    }

    /// `{c}:alert:<id>`.
    pub fn alert(&self, id: &str) -> String {
        format!("{}:alert:{id}", self.prefix)
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
