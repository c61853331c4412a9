//! The key schema of one city: every Redis key is built here and nowhere else.
//!
//! Every key starts with the city's hash tag, `{c:<code>}`, so all of a city's keys hash
//! to one Redis Cluster slot: a script's keys always share a slot, and a city moves whole
//! between shards. Scripts never build key names: they receive every key they touch in
//! KEYS, the city-wide ones as the block [`Keys::city_keys`] (bound by name in the
//! generated prelude, `K.<name>`), the per-entity ones after it.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{c}:taxi:<id>` | hash | plate, driver, phone (the driver's, if given: never shown to passengers), color, wc (0/1), tags (csv), reg (ms) |
//! | `{c}:taxis:plates` | hash | plate → taxi id (uniqueness) |
//! | `{c}:terminals` | hash | in-car terminal phone number (JT/T 808) → its taxi id; the taxi's hash holds `terminal` back |
//! | `{c}:terminals:auth` | hash | terminal phone number → `<salt>:<hash>` of the authentication code its last registration got |
//! | `{c}:taxis:state` | hash | taxi id → state code (`off`, `free`, ...) |
//! | `{c}:taxis:order` | hash | taxi id → the order it holds |
//! | `{c}:taxis:free` | geo | FREE taxis at their last position: the only index searched for matching |
//! | `{c}:taxis:pos` | geo | the last position of every taxi that is not in the free index (a position lives in exactly one of the two; the capability indexes below mirror part of the free one) |
//! | `{c}:taxis:fixms` | hash | taxi id → time of its last fix (ms; plus 0.5 while the taxi was in a stand queue after that fix: `report_positions.lua`). A hash, not a zset: every fix rewrites it, and only point reads need it (a zset's skiplist move cost as much as the GEOADD) |
//! | `{c}:taxis:wheelchair` | set | wheelchair-accessible taxis |
//! | `{c}:taxis:caring` | set | caring-fleet taxis |
//! | `{c}:taxis:free:wc` | geo | the free index's wheelchair-accessible taxis (searched for a wheelchair need) |
//! | `{c}:taxis:free:caring` | geo | the free index's caring-fleet taxis (searched for the caring ring) |
//! | `{c}:taxis:free:fix` | zset | the free index's taxis by a fix time (ms) no later than their last: when the janitor looks at them next |
//! | `{c}:taxis:missed` | hash | taxi → offers missed in a row |
//! | `{c}:taxis:count` | hash | state code → how many taxis are in it (kept with every state change) |
//! | `{c}:caller:<phone>` | hash | name, birth (YYYY-MM-DD, from the resident ID; the ID itself is never stored), flag, needs, contacts, places (JSON), notes, created, updated |
//! | `{c}:caller:<phone>:orders` | zset | the caller's orders by creation time |
//! | `{c}:caller:<phone>:active` | zset | the caller's orders not yet ended, by pickup time (exact: every ending removes it) |
//! | `{c}:caller:<phone>:devices` | set | the caller's one-key devices |
//! | `{c}:order:<id>` | hash | every field of an order (see `orders.rs`); `px` / `px_why`: its privacy number, or why it has none (`privacy.rs`); a recurring trip's `rpat`, `rocc`, `paired`, `caring_until`, `keep_until`, `pconf`, `pref_taxi`, `g_alert` (the caring fleet's guarantee, `guarantee.rs`) |
//! | `{c}:recurring:<id>` | string | a recurring-ride pattern (JSON: passenger, rules, paused from, cancelled, `ver` bumped by every change; `recurring.rs`); `create_order.lua` reads it to make an occurrence only from the current version |
//! | `{c}:recurring:<id>:made` | hash | occurrence key (`<id>:<YYYYMMDD>:<out\|ret>`) → the reservation made for it: the durable record that makes materialising idempotent (written by `create_order.lua` with the order; never expires) |
//! | `{c}:recurring:active` | set | patterns neither cancelled nor ended: what the materialiser walks |
//! | `{c}:caller:<phone>:recurring` | set | the passenger's patterns |
//! | `{c}:taxi:<id>:paired` | set | the recurring patterns the caring-fleet taxi is paired with (issue 14; `guarantee.rs`) |
//! | `{c}:stands` | hash | stand id → the stand (JSON: name, fence WGS-84, capacity, hours; checked before it is written; `stands.rs`) |
//! | `{c}:stands:ver` | string | bumped by every stand write: processes reload their copy of the stands when it moves |
//! | `{c}:stands:queue` | zset | every stand queue of the city, all scores 0, member `<stand>\|<joined ms, 15 digits>\|<taxi>`: one stand's queue is the lex range `[<stand>\|` .. `(<stand>}`, in arrival order (`report_positions.lua` joins, `lib.lua`'s `set_taxi_state` leaves) |
//! | `{c}:stands:taxi` | hash | taxi id → its member in `stands:queue` (at most one queue per taxi) |
//! | `{c}:order:<id>:tried` | set | taxis that declined or missed this order |
//! | `{c}:req:<scope>\|<request id>` | string | the order a booking's request id made (expires after a day); scope `d:<device>` or `p:<phone>` |
//! | `{c}:dispatch:pending` | zset | PENDING orders by queue score (enqueue time − elderly head start) |
//! | `{c}:dispatch:scheduled` | zset | SCHEDULED orders by the time they enter dispatch |
//! | `{c}:dispatch:offers` | zset | open offers (`order|taxi`) by deadline (ms) |
//! | `{c}:dispatch:retry` | zset | pending orders with no taxi in reach, by next attempt (ms, on a shared clock) |
//! | `{c}:dispatch:waiting` | zset | the orders in `dispatch:retry` by queue score (so they return in one step, and "who is ahead" is one range) |
//! | `{c}:dispatch:waiting:at` | geo | the pickups of the orders in `dispatch:retry` (which of them a taxi can reach) |
//! | `{c}:dispatch:waiting:info` | hash | order → `e\|w\|caring until\|reach m[\|extra reach m\|opens ms]` while it waits (elderly, wheelchair, its search's bounds; an older passenger's extra radius and when it opens); `<order>\|back` → the taxi an order was brought back for, until its next attempt; `<order>\|ceded` → a taxi it was brought back for that had already declined or missed it (never brought back for it again), until it leaves dispatch |
//! | `{c}:dispatch:callbacks` | zset | unfulfilled orders to call back, by time (resolved ones leave it) |
//! | `{c}:dispatch:watch` | zset | ACCEPTED and ARRIVED orders by the deadline of their stage (ms): the watchdog's index, kept by the scripts that make those transitions |
//! | `{c}:dispatch:stuck` | zset | orders the watchdog flagged (the taxi did not arrive, or the trip did not start, in time), by when: the operators' exception list |
//! | `{c}:dispatch:outages` | zset | periods (`start:end`, ms) dispatch could not reach Redis, by end; never overlapping |
//! | `{c}:orders:ended` | zset | finished orders (completed, cancelled, unfulfilled with the call-back resolved) by when they finished (ms): the retention pass deletes them, with their side keys and history entry, once older than the retention |
//! | `{c}:dispatch:wakeup` | list | order ids that wake blocked dispatch workers (a hint of the queue's head) |
//! | `{c}:drivers:feed` | stream | every notice for a driver stream, in order (`taxi`, `n` = JSON); the stream id is the notice's sequence id; capped at `StoreConfig::feed_len` entries (see `feed.rs`) |
//! | `{c}:stats` | hash | KPI counters: `total`, `elderly`, `ch:<channel>`, `n:<status>` (orders that reached it) and `n:<status>:e` (older passengers' of them), `offers`, ... |
//! | `{c}:stats:assign:<e\|o>`, `{c}:stats:pickup:<e\|o>` | lists | recent times to assign and to pickup (older passengers, others) |
//! | `{c}:cc:calls` | hash | call id → the call's record (JSON: state, number, older caller, needs, seat, times, call-back); ended ones are dropped a day after (`callcentre.lua`) |
//! | `{c}:cc:seats` | hash | seat id (the operator's account) → the seat's record (JSON: state, skills, call, idle since) |
//! | `{c}:cc:queue` | zset | waiting calls by queue score (arrival − head start for older callers) |
//! | `{c}:cc:ready` | zset | ready seats by when they became ready (longest idle first) |
//! | `{c}:cc:assignments` | stream | routing decisions for the phone switch (`call`, `seat`, `elderly`, `ts`), capped |
//! | `{c}:console:calls` | stream | calls the phone switch classified (`ph`, `known`, `e`, `ts`): what every console of the city pops, whichever process took the call; capped at about [`CONSOLE_CALLS_KEPT`](crate::console::CONSOLE_CALLS_KEPT) |
//! | `{c}:cc:ended` | zset | ended calls by when, for their clean-up |
//! | `{c}:cc:kpi:h:<YYYYMMDDHH>`, `{c}:cc:kpi:d:<YYYYMMDD>` | hash | the call centre's KPI counters of an hour and a day (China time), `e:`/`o:` (older callers, others); expire after 8 and 400 days |
//! | `{c}:privacy:bindings` | hash | order id → its trip's live privacy number binding (JSON: `x` the virtual number, `sub` the provider's subscription id, `taxi`, `provider`, `at`); released ones are removed (`privacy.rs`) |
//! | `{c}:privacy:release` | zset | bound orders whose trip ended, by when their number is released (ms, the store's clock) |
//! | `{c}:privacy:stats` | hash | `bound`, `unavailable`: privacy numbers bound, trips left without one |
//! | `{c}:privacy:pool` | zset | the built-in pool's virtual numbers by how many live bindings each holds (the least used is bound first) |
//! | `{c}:privacy:pool:parties` | hash | `<X>\|<phone>` → the subscription (order id) binding party `<phone>` on number `<X>`: the AXB rule, one live binding per number and party |
//! | `{c}:privacy:pool:subs` | hash | subscription (order id) → the pool's binding (JSON: `x`, `a`, `b`, `at`) |
//! | `{c}:device:<id>` | hash | owner, salted secret hash, home point, last alert |
//! | `{c}:alert:<id>` | hash | an emergency alert of a long press, or (`order` set, `device` empty) a recurring trip still without a taxi at T−15 (`guarantee_alert.lua`) |
//! | `{c}:alerts:open` / `{c}:alerts:all` | zset | alert ids by raise time: not yet acknowledged (nor resolved) / every alert kept |
//! | `{c}:alerts:resolved` | zset | resolved alerts by resolution time (ms), for the retention pass |
//! | `{c}:notifications` | stream | the notifications outbox: one entry per message to a passenger, a relative or a care contact (`kind`, `to`, `role`, `ch`, and the facts its text needs), XADDed by the script of the transition it tells; read by the consumer group `notify` (`outbox.rs`); trimmed by retention, never past a message still pending |
//! | `{c}:notify:retry` | zset | outbox entries whose delivery failed, by when they are tried again (ms, store clock) |
//! | `{c}:notify:attempts` | hash | outbox entry id → failed attempts so far (gone once delivered or dead) |
//! | `{c}:notify:dead` | zset | dead letters (outbox entry ids that failed every attempt) by when they died (ms) |
//! | `{c}:notify:dead:msg` | hash | dead letter id → JSON: the entry's fields, attempts, last error, when |
//! | `{c}:auth:key` | string | the token signing key (hex), made once when none is configured (`access.rs`) |
//! | `{c}:account:<username>` | hash | a person's account: role, argon2 PHC hash, name, disabled, failed logins, locked until (ms), created |
//! | `{c}:session:<sid>` | hash | a login session: role, id, passenger (relatives), refresh-token hash; expires with its refresh token |
//! | `{c}:sessions:<role>:<id>` | zset | the live sessions of one subject by expiry (ms); revoking the subject revokes them all; expired ones are dropped at every login, and the key expires with the last |
//! | `{c}:auth:revoked` | zset | revoked sessions (`sid:<sid>`) by when (ms); pruned once no access token of theirs can still be valid |
//! | `{c}:cred:<kind>:<id>` | hash | the key of a taxi, relative or service: salt, hash, role, passenger |
//! | `{c}:code:<kind>:<digest>` | string | a one-time code (taxi enrolment, relative grant) → what it is for; expires |
//! | `{c}:code-of:<kind>:<for>` | string | the digest of the one code still valid for `<for>` (a taxi's enrolment: a newer code or a revocation voids the older); expires with it |
//! | `{c}:relative:<id>` | hash | a relative's grant: passenger, name, phone, granted by, created |
//! | `{c}:seq:<name>` | string | id counters (alerts; taxi and order ids are random) |
//! | `{c}:events` | stream | every transition: the audit trail and the feed for KPIs |
//! | `{c}:oplog` | stream | the operators' audit log: every write by a person (`actor`, `role`, `action`, `target`, `at_ms`, `from`, `detail`, `prev`, `hash`), hash-chained (`taxi_domain::oplog`); kept for ever: nothing in the store trims or deletes it (operations export it) |
//! | `{c}:oplog:head` | hash | the audit log's last entry: `hash` and stream `id` (what an append chains to, and where `verify` expects the log to end) |

/// The keys of one city.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
    /// The values of [`Keys::city_keys`], in order, built once: every dispatch script
    /// call sends them.
    block: Vec<String>,
    /// `{c}:taxis:plates`.
    pub plates: String,
    /// `{c}:terminals`: an in-car terminal's phone number → its taxi.
    pub terminals: String,
    /// `{c}:terminals:auth`: a terminal's phone number → the hash of its authentication code.
    pub terminal_auth: String,
    /// `{c}:taxis:state`.
    pub taxi_states: String,
    /// `{c}:taxis:order`.
    pub taxi_orders: String,
    /// `{c}:taxis:free`.
    pub free: String,
    /// `{c}:taxis:pos`.
    pub positions: String,
    /// `{c}:taxis:fixms`.
    pub fixes: String,
    /// `{c}:taxis:wheelchair`.
    pub wheelchair: String,
    /// `{c}:taxis:caring`.
    pub caring: String,
    /// `{c}:taxis:free:wc`: the free index's wheelchair-accessible taxis.
    pub free_wheelchair: String,
    /// `{c}:taxis:free:caring`: the free index's caring-fleet taxis.
    pub free_caring: String,
    /// `{c}:taxis:free:fix`: the free index's taxis by when the janitor looks next.
    pub free_fixes: String,
    /// `{c}:taxis:missed`.
    pub missed: String,
    /// `{c}:taxis:count`: taxis per state, kept with every state change.
    pub state_counts: String,
    /// `{c}:events`.
    pub events: String,
    /// `{c}:dispatch:pending`.
    pub pending: String,
    /// `{c}:dispatch:scheduled`.
    pub scheduled: String,
    /// `{c}:dispatch:offers`: open offers by their deadline (ms), member `order|taxi`.
    pub offers: String,
    /// `{c}:dispatch:retry`.
    pub retry: String,
    /// `{c}:dispatch:waiting`: the orders waiting to retry, by queue score.
    pub waiting: String,
    /// `{c}:dispatch:waiting:at`: the pickups of the orders waiting to retry.
    pub waiting_at: String,
    /// `{c}:dispatch:waiting:info`: what a taxi must be, and how near, for each order
    /// waiting to retry; and the taxi each was last brought back for.
    pub waiting_info: String,
    /// `{c}:dispatch:callbacks`.
    pub callbacks: String,
    /// `{c}:dispatch:wakeup`.
    pub wakeup: String,
    /// `{c}:drivers:feed`: the durable notices for driver streams.
    pub feed: String,
    /// `{c}:dispatch:watch`: accepted and arrived orders by their stage's deadline.
    pub watch: String,
    /// `{c}:dispatch:stuck`: orders the watchdog flagged, by when.
    pub stuck: String,
    /// `{c}:dispatch:outages`: periods dispatch could not reach Redis.
    pub outages: String,
    /// `{c}:stats`.
    pub stats: String,
    /// `{c}:stands`: stand id → the stand (JSON).
    pub stands: String,
    /// `{c}:stands:ver`: bumped by every stand write.
    pub stands_version: String,
    /// `{c}:stands:queue`: every stand queue, lex-ordered members.
    pub stand_queues: String,
    /// `{c}:stands:taxi`: taxi → its member in the stand queues.
    pub stand_of: String,
    /// `{c}:stats:assign:e`.
    pub assign_elderly: String,
    /// `{c}:stats:assign:o`.
    pub assign_others: String,
    /// `{c}:stats:pickup:e`.
    pub pickup_elderly: String,
    /// `{c}:stats:pickup:o`.
    pub pickup_others: String,
    /// `{c}:alerts:open`.
    pub alerts_open: String,
    /// `{c}:alerts:all`.
    pub alerts_all: String,
    /// `{c}:alerts:resolved`: resolved alerts by resolution time.
    pub alerts_resolved: String,
    /// `{c}:orders:ended`: finished orders by when they finished, for retention.
    pub orders_ended: String,
    /// `{c}:notifications`: the notifications outbox.
    pub notifications: String,
    /// `{c}:notify:retry`: failed outbox entries by their next attempt.
    pub notify_retry: String,
    /// `{c}:notify:attempts`: failed attempts per outbox entry.
    pub notify_attempts: String,
    /// `{c}:notify:dead`: dead letters by when they died.
    pub notify_dead: String,
    /// `{c}:notify:dead:msg`: each dead letter's message.
    pub notify_dead_msgs: String,
    /// `{c}:oplog`: the operators' audit log, never trimmed.
    pub oplog: String,
    /// `{c}:oplog:head`: the audit log's last entry (hash and id).
    pub oplog_head: String,
    /// `{c}:cc:calls`: call records.
    pub cc_calls: String,
    /// `{c}:cc:seats`: seat records.
    pub cc_seats: String,
    /// `{c}:cc:queue`: waiting calls by queue score.
    pub cc_queue: String,
    /// `{c}:cc:ready`: ready seats by ready time.
    pub cc_ready: String,
    /// `{c}:cc:assignments`: routing decisions for the switch.
    pub cc_assignments: String,
    /// `{c}:cc:ended`: ended calls by when.
    pub cc_ended: String,
    /// `{c}:console:calls`: classified calls for the consoles.
    pub console_calls: String,
    /// `{c}:privacy:bindings`: live privacy-number bindings by order.
    pub privacy_bindings: String,
    /// `{c}:privacy:release`: bound orders by when their number is released.
    pub privacy_release: String,
    /// `{c}:privacy:stats`: privacy numbers bound, trips left without one.
    pub privacy_stats: String,
    /// `{c}:privacy:pool`: the built-in pool's numbers by live bindings.
    pub privacy_pool: String,
    /// `{c}:privacy:pool:parties`: `<X>|<phone>` → subscription.
    pub privacy_pool_parties: String,
    /// `{c}:privacy:pool:subs`: the pool's bindings by subscription.
    pub privacy_pool_subs: String,
}

impl Keys {
    /// The keys of city `code`.
    pub fn new(code: &str) -> Self {
        let prefix = format!("{{c:{code}}}");
        let k = |s: &str| format!("{prefix}:{s}");
        let mut keys = Self {
            plates: k("taxis:plates"),
            terminals: k("terminals"),
            terminal_auth: k("terminals:auth"),
            taxi_states: k("taxis:state"),
            taxi_orders: k("taxis:order"),
            free: k("taxis:free"),
            positions: k("taxis:pos"),
            fixes: k("taxis:fixms"),
            wheelchair: k("taxis:wheelchair"),
            caring: k("taxis:caring"),
            free_wheelchair: k("taxis:free:wc"),
            free_caring: k("taxis:free:caring"),
            free_fixes: k("taxis:free:fix"),
            missed: k("taxis:missed"),
            state_counts: k("taxis:count"),
            events: k("events"),
            pending: k("dispatch:pending"),
            scheduled: k("dispatch:scheduled"),
            offers: k("dispatch:offers"),
            retry: k("dispatch:retry"),
            waiting: k("dispatch:waiting"),
            waiting_at: k("dispatch:waiting:at"),
            waiting_info: k("dispatch:waiting:info"),
            callbacks: k("dispatch:callbacks"),
            wakeup: k("dispatch:wakeup"),
            feed: k("drivers:feed"),
            watch: k("dispatch:watch"),
            stuck: k("dispatch:stuck"),
            outages: k("dispatch:outages"),
            stats: k("stats"),
            stands: k("stands"),
            stands_version: k("stands:ver"),
            stand_queues: k("stands:queue"),
            stand_of: k("stands:taxi"),
            assign_elderly: k("stats:assign:e"),
            assign_others: k("stats:assign:o"),
            pickup_elderly: k("stats:pickup:e"),
            pickup_others: k("stats:pickup:o"),
            alerts_open: k("alerts:open"),
            alerts_all: k("alerts:all"),
            alerts_resolved: k("alerts:resolved"),
            orders_ended: k("orders:ended"),
            notifications: k("notifications"),
            notify_retry: k("notify:retry"),
            notify_attempts: k("notify:attempts"),
            notify_dead: k("notify:dead"),
            notify_dead_msgs: k("notify:dead:msg"),
            oplog: k("oplog"),
            oplog_head: k("oplog:head"),
            cc_calls: k("cc:calls"),
            cc_seats: k("cc:seats"),
            cc_queue: k("cc:queue"),
            cc_ready: k("cc:ready"),
            cc_assignments: k("cc:assignments"),
            cc_ended: k("cc:ended"),
            console_calls: k("console:calls"),
            privacy_bindings: k("privacy:bindings"),
            privacy_release: k("privacy:release"),
            privacy_stats: k("privacy:stats"),
            privacy_pool: k("privacy:pool"),
            privacy_pool_parties: k("privacy:pool:parties"),
            privacy_pool_subs: k("privacy:pool:subs"),
            prefix,
            block: vec![],
        };
        keys.block = keys
            .city_keys()
            .iter()
            .map(|(_, k)| k.to_string())
            .collect();
        keys
    }

    /// The city's keys as the dispatch scripts receive them first in KEYS.
    /// Keys earlier versions wrote that nothing reads any more: the retention pass
    /// unlinks them, so an upgraded city does not keep their memory.
    /// `{c}:taxis:fix` was the fix times as a zset, now the hash `{c}:taxis:fixms`.
    pub fn retired(&self) -> Vec<String> {
        vec![format!("{}:taxis:fix", self.prefix)]
    }

    pub(crate) fn city_block(&self) -> &[String] {
        &self.block
    }

    /// The hash tag every key starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis Cluster slot every key of the city hashes to: CRC16 (XMODEM) of the
    /// text inside the hash tag's braces, modulo 16384.
    pub fn slot(&self) -> u16 {
        let tag = self.prefix.trim_start_matches('{').trim_end_matches('}');
        crc16::State::<crc16::XMODEM>::calculate(tag.as_bytes()) % 16384
    }

    /// The city-wide keys the dispatch scripts receive first in KEYS, with the names the
    /// generated prelude binds them to (`K.<name>`). The order here is the order in KEYS.
    pub fn city_keys(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("states", self.taxi_states.as_str()),
            ("torders", &self.taxi_orders),
            ("free", &self.free),
            ("pos", &self.positions),
            ("fixes", &self.fixes),
            ("wheelchair", &self.wheelchair),
            ("caring", &self.caring),
            ("free_wc", &self.free_wheelchair),
            ("free_caring", &self.free_caring),
            ("free_fix", &self.free_fixes),
            ("missed", &self.missed),
            ("state_n", &self.state_counts),
            ("plates", &self.plates),
            ("pending", &self.pending),
            ("scheduled", &self.scheduled),
            ("offers", &self.offers),
            ("retry", &self.retry),
            ("waiting", &self.waiting),
            ("waiting_at", &self.waiting_at),
            ("waiting_info", &self.waiting_info),
            ("callbacks", &self.callbacks),
            ("wakeup", &self.wakeup),
            ("feed", &self.feed),
            ("events", &self.events),
            ("stats", &self.stats),
            ("assign_e", &self.assign_elderly),
            ("assign_o", &self.assign_others),
            ("pickup_e", &self.pickup_elderly),
            ("pickup_o", &self.pickup_others),
            ("watch", &self.watch),
            ("stuck", &self.stuck),
            ("outages", &self.outages),
            ("ended", &self.orders_ended),
            ("outbox", &self.notifications),
            ("stand_q", &self.stand_queues),
            ("stand_of", &self.stand_of),
        ]
    }

    /// `{c}:taxi:<id>`.
    pub fn taxi(&self, id: &str) -> String {
        format!("{}:taxi:{id}", self.prefix)
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

    /// `{c}:order:<id>:tried`.
    pub fn order_tried(&self, id: &str) -> String {
        format!("{}:order:{id}:tried", self.prefix)
    }

    /// `{c}:req:d:<device>|<request id>` for a device's booking, else
    /// `{c}:req:p:<phone>|<request id>`: a request id is the client's, so it is scoped to
    /// who books; another caller's 42 is another request. (`|` appears in no id, so two
    /// devices' scopes never run into each other.)
    pub fn request(&self, device: &str, phone: &str, request_id: &str) -> String {
        if device.is_empty() {
            format!("{}:req:p:{phone}|{request_id}", self.prefix)
        } else {
            format!("{}:req:d:{device}|{request_id}", self.prefix)
        }
    }

    /// `{c}:recurring:<id>`: a recurring-ride pattern (JSON).
    pub fn recurring(&self, id: &str) -> String {
        format!("{}:recurring:{id}", self.prefix)
    }

    /// `{c}:recurring:<id>:made`: occurrence key → the reservation made for it.
    pub fn recurring_made(&self, id: &str) -> String {
        format!("{}:recurring:{id}:made", self.prefix)
    }

    /// `{c}:recurring:active`: the patterns the materialiser walks.
    pub fn recurring_active(&self) -> String {
        format!("{}:recurring:active", self.prefix)
    }

    /// `{c}:taxi:<id>:paired`: the patterns a caring-fleet taxi is paired with.
    pub fn taxi_paired(&self, taxi: &str) -> String {
        format!("{}:taxi:{taxi}:paired", self.prefix)
    }

    /// `{c}:caller:<phone>:recurring`: the passenger's patterns.
    pub fn caller_recurring(&self, phone: &str) -> String {
        format!("{}:caller:{phone}:recurring", self.prefix)
    }

    /// `{c}:auth:key`: the token signing key when none is configured.
    pub fn auth_key(&self) -> String {
        format!("{}:auth:key", self.prefix)
    }

    /// `{c}:account:<username>`.
    pub fn account(&self, username: &str) -> String {
        format!("{}:account:{username}", self.prefix)
    }

    /// `{c}:session:<sid>`.
    pub fn session(&self, sid: &str) -> String {
        format!("{}:session:{sid}", self.prefix)
    }

    /// `{c}:sessions:<role>:<id>`.
    pub fn subject_sessions(&self, role: &str, id: &str) -> String {
        format!("{}:sessions:{role}:{id}", self.prefix)
    }

    /// `{c}:auth:revoked`.
    pub fn revoked(&self) -> String {
        format!("{}:auth:revoked", self.prefix)
    }

    /// `{c}:cred:<kind>:<id>`.
    pub fn credential(&self, kind: &str, id: &str) -> String {
        format!("{}:cred:{kind}:{id}", self.prefix)
    }

    /// `{c}:code:<kind>:<digest>`.
    pub fn one_time_code(&self, kind: &str, digest: &str) -> String {
        format!("{}:code:{kind}:{digest}", self.prefix)
    }

    /// `{c}:code-of:<kind>:<for>`.
    pub fn one_time_code_of(&self, kind: &str, value: &str) -> String {
        format!("{}:code-of:{kind}:{value}", self.prefix)
    }

    /// `{c}:relative:<id>`.
    pub fn relative(&self, id: &str) -> String {
        format!("{}:relative:{id}", self.prefix)
    }

    /// `{c}:device:<id>`.
    pub fn device(&self, id: &str) -> String {
        format!("{}:device:{id}", self.prefix)
    }

    /// `{c}:alert:<id>`.
    pub fn alert(&self, id: &str) -> String {
        format!("{}:alert:{id}", self.prefix)
    }

    /// `{c}:cc:kpi:h:<hour>`: the call centre's counters of one hour (`YYYYMMDDHH`).
    pub fn cc_kpi_hour(&self, hour: &str) -> String {
        format!("{}:cc:kpi:h:{hour}", self.prefix)
    }

    /// `{c}:cc:kpi:d:<day>`: the call centre's counters of one day (`YYYYMMDD`).
    pub fn cc_kpi_day(&self, day: &str) -> String {
        format!("{}:cc:kpi:d:{day}", self.prefix)
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
        let mut all: Vec<String> = k.city_keys().iter().map(|(_, v)| v.to_string()).collect();
        all.extend([
            k.alerts_open.clone(),
            k.alerts_all.clone(),
            k.alerts_resolved.clone(),
            k.notify_retry.clone(),
            k.notify_attempts.clone(),
            k.notify_dead.clone(),
            k.notify_dead_msgs.clone(),
            k.oplog.clone(),
            k.oplog_head.clone(),
            k.cc_calls.clone(),
            k.cc_seats.clone(),
            k.cc_queue.clone(),
            k.cc_ready.clone(),
            k.cc_assignments.clone(),
            k.cc_ended.clone(),
            k.console_calls.clone(),
            k.privacy_bindings.clone(),
            k.privacy_release.clone(),
            k.privacy_stats.clone(),
            k.privacy_pool.clone(),
            k.privacy_pool_parties.clone(),
            k.privacy_pool_subs.clone(),
            k.cc_kpi_hour("2026113009"),
            k.cc_kpi_day("20261130"),
            k.taxi("T1"),
            k.caller("13800138000"),
            k.caller_orders("13800138000"),
            k.caller_active("13800138000"),
            k.caller_devices("13800138000"),
            k.order("O1"),
            k.order_tried("O1"),
            k.request("", "13800138000", "r"),
            k.request("D1", "13800138000", "r"),
            k.device("D1"),
            k.alert("A1"),
            k.seq("taxi"),
            k.recurring("P1"),
            k.recurring_made("P1"),
            k.recurring_active(),
            k.caller_recurring("13800138000"),
            k.taxi_paired("T1"),
            k.stands.clone(),
            k.stands_version.clone(),
        ]);
        for key in &all {
            assert!(key.starts_with("{c:500100}:"), "{key}");
        }
        let unique: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(unique.len(), all.len(), "no two keys share a name");
    }

    #[test]
    fn slots_are_those_redis_computes() {
        // `CLUSTER KEYSLOT {c:500100}` and `CLUSTER KEYSLOT {c:110100}` on Redis 7.
        assert_eq!(Keys::new("500100").slot(), 8919);
        assert_eq!(Keys::new("110100").slot(), 3623);
    }

    #[test]
    fn city_block_names_are_unique() {
        let k = Keys::new("1");
        let names: std::collections::HashSet<_> = k.city_keys().iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), k.city_keys().len());
    }
}
