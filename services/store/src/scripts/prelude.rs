//! The Lua prelude every script is loaded with, generated from the domain and the key
//! schema, so no script spells a state, an event's rule, an audit name or a key.
//!
//! - `OS.<code>` / `TS.<code>`: order statuses and taxi states ([`OrderStatus::ALL`],
//!   [`TaxiState::ALL`]).
//! - `ORDER.<event>` / `TAXI.<event>`: `{from = ',<code>,<code>,', to = <code>,
//!   audit = <name>, done = ',<code>,'}` for every event (`lib.lua`'s `may` reads `from`,
//!   `already` reads `done`: the statuses in which a driver's retried step is done) ([`OrderEvent::ALL`], [`TaxiEvent::ALL`]).
//! - `AUDIT.<name>`: the audit kinds that are not transitions ([`AuditKind::ALL`]).
//! - `ALERT.<event>` / `CALLBACK.<event>` (same shape) and `ALS.<code>` / `CBS.<code>`: how operators
//!   close alerts and call-backs ([`AlertEvent::ALL`], [`CallbackEvent::ALL`], [`AlertState::ALL`], [`CallbackState::ALL`]).
//! - `NOTICE.<kind>`: the kinds of notice a driver stream receives ([`NoticeKind::ALL`]).
//! - `MSG.<kind>`, `RCPT.<role>`, `NCH.<channel>`: the notifications outbox's message
//!   kinds, recipients and channels ([`MessageKind::ALL`], [`Recipient::ALL`],
//!   [`NotifyChannel::ALL`]).
//! - `NOW` (ARGV\[1\]) and `reply(kind, fields)`, which encodes a script's typed reply.
//! - `mcall(cmd, key, items[, flag])` (if the script names it): a multi-member command
//!   (with an optional flag such as `NX` before the items) over a list of any length, sent in calls of at most [`MCALL_CHUNK`] arguments, because
//!   Lua's `unpack` fails past about 8,000 ("too many results to unpack"). A list that
//!   fits one call is sent as is and its reply returned as Redis gave it, not copied into
//!   a new table: the copies cost the position script about a third of its time.
//! - For the city family (scripts that share `lib.lua`): `K.<name>` bound to the city's
//!   keys, which come first in KEYS ([`Keys::city_keys`]), `FEED_MAX` (ARGV\[2\]: the
//!   driver feed's length cap), and
//!   `own_keys()` / `own_args()` for what follows.
//!
//! Only the entries a script names are built (all of a table's if it indexes the table by
//! a value): building them costs every call, about 10 µs of Redis time for all of them.

use crate::feed::NoticeKind;
use crate::keys::Keys;
use std::fmt::Write;
use taxi_domain::audit::AuditKind;
use taxi_domain::callcentre::{self as cc, CallEvent, CallState, SeatEvent, SeatState};
use taxi_domain::followup::{AlertEvent, AlertState, CallbackEvent, CallbackState};
use taxi_domain::notify::{Channel as NotifyChannel, MessageKind, Recipient};
use taxi_domain::order::{OrderEvent, OrderStatus};
use taxi_domain::taxi::{TaxiEvent, TaxiState};

/// The most list items one `mcall` passes to one command: far below the Lua stack's
/// limit on `unpack` (about 8,000), and a multiple of 2 and 3, so (score, member) pairs
/// and (lon, lat, member) triples are never split.
pub(crate) const MCALL_CHUNK: usize = 3_000;

/// Which arguments a script receives before its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// KEYS and ARGV are the script's own, after `NOW` in ARGV\[1\].
    Own,
    /// The city's keys come first in KEYS and `NOW`, `FEED_MAX` first in ARGV; the script
    /// is loaded with `lib.lua`.
    City,
}

/// The source states of an event as `',a,b,'`: one string instead of a table per event,
/// since the tables are built on every call.
fn set_of<'a>(codes: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = codes.collect();
    format!("',{},'", items.join(","))
}

/// Whether the script needs `table.entry`: it names it, or it indexes the table by a
/// value (`table[...]`), which may be any entry.
fn wants(body: &str, table: &str, entry: &str) -> bool {
    if body.contains(&format!("{table}[")) {
        return true;
    }
    let needle = format!("{table}.{entry}");
    body.match_indices(&needle).any(|(i, _)| {
        let after = body[i + needle.len()..].chars().next();
        !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

fn code_table(body: &str, name: &str, codes: impl Iterator<Item = &'static str>) -> String {
    let items: Vec<String> = codes
        .filter(|c| wants(body, name, c))
        .map(|c| format!("{c} = '{c}'"))
        .collect();
    format!("local {name} = {{{}}}\n", items.join(", "))
}

/// One event's rule, as the prelude states it.
struct Rule {
    code: &'static str,
    from: Vec<&'static str>,
    to: &'static str,
    audit: &'static str,
    /// Statuses in which a retry of the step by the holder is already done.
    done: Vec<&'static str>,
}

fn event_table(body: &str, name: &str, rules: Vec<Rule>) -> String {
    let mut out = format!("local {name} = {{\n");
    for r in rules.into_iter().filter(|r| wants(body, name, r.code)) {
        let _ = writeln!(
            out,
            "  {} = {{from = {}, to = '{}', audit = '{}', done = {}}},",
            r.code,
            set_of(r.from.into_iter()),
            r.to,
            r.audit,
            set_of(r.done.into_iter()),
        );
    }
    out.push_str("}\n");
    out
}

fn mentions(body: &str, table: &str) -> bool {
    body.contains(&format!("{table}.")) || body.contains(&format!("{table}["))
}

/// The prelude for a script whose text (library included) is `body`.
pub(crate) fn prelude(family: Family, body: &str) -> String {
    let mut out =
        String::from("-- Generated by taxi-store from taxi-domain and keys.rs; not edited.\n");
    if mentions(body, "OS") {
        out += &code_table(body, "OS", OrderStatus::ALL.iter().map(|s| s.code()));
    }
    if mentions(body, "TS") {
        out += &code_table(body, "TS", TaxiState::ALL.iter().map(|s| s.code()));
    }
    if mentions(body, "ORDER") {
        let rules = OrderEvent::ALL.map(|e| Rule {
            code: e.code(),
            from: e.allowed_from().iter().map(|s| s.code()).collect(),
            to: e.target().code(),
            audit: e.audit().code(),
            done: OrderStatus::ALL
                .into_iter()
                .filter(|s| e.already_done(*s))
                .map(|s| s.code())
                .collect(),
        });
        out += &event_table(body, "ORDER", rules.into());
    }
    if mentions(body, "TAXI") {
        let rules = TaxiEvent::ALL.map(|e| Rule {
            code: e.code(),
            from: e.allowed_from().iter().map(|s| s.code()).collect(),
            to: e.target().code(),
            audit: e.audit().code(),
            done: vec![],
        });
        out += &event_table(body, "TAXI", rules.into());
    }
    if mentions(body, "ALS") {
        out += &code_table(body, "ALS", AlertState::ALL.iter().map(|s| s.code()));
    }
    if mentions(body, "CBS") {
        out += &code_table(body, "CBS", CallbackState::ALL.iter().map(|s| s.code()));
    }
    if mentions(body, "ALERT") {
        let rules = AlertEvent::ALL.map(|e| Rule {
            code: e.code(),
            from: e.allowed_from().iter().map(|s| s.code()).collect(),
            to: e.target().code(),
            audit: e.audit().code(),
            done: AlertState::ALL
                .into_iter()
                .filter(|s| e.already_done(*s))
                .map(|s| s.code())
                .collect(),
        });
        out += &event_table(body, "ALERT", rules.into());
    }
    if mentions(body, "CALLBACK") {
        let rules = CallbackEvent::ALL.map(|e| Rule {
            code: e.code(),
            from: e.allowed_from().iter().map(|s| s.code()).collect(),
            to: e.target().code(),
            audit: e.audit().code(),
            done: CallbackState::ALL
                .into_iter()
                .filter(|s| e.already_done(*s))
                .map(|s| s.code())
                .collect(),
        });
        out += &event_table(body, "CALLBACK", rules.into());
    }
    out += &callcentre_tables(body);
    if mentions(body, "AUDIT") {
        out += &code_table(body, "AUDIT", AuditKind::ALL.iter().map(|k| k.code()));
    }
    if mentions(body, "MSG") {
        out += &code_table(body, "MSG", MessageKind::ALL.iter().map(|k| k.code()));
    }
    if mentions(body, "RCPT") {
        out += &code_table(body, "RCPT", Recipient::ALL.iter().map(|r| r.code()));
    }
    if mentions(body, "NCH") {
        out += &code_table(body, "NCH", NotifyChannel::ALL.iter().map(|c| c.code()));
    }
    if mentions(body, "NOTICE") {
        out += &code_table(body, "NOTICE", NoticeKind::ALL.iter().map(|k| k.code()));
    }
    out += "local NOW = tonumber(ARGV[1])\n";
    if body.contains("mcall(") {
        let _ = write!(
            out,
            "local function mcall(cmd, key, items, flag)\n  local n = #items\n  if n == 0 then return {{}} end\n  if n <= {MCALL_CHUNK} then\n    local r\n    if flag then r = redis.call(cmd, key, flag, unpack(items))\n    else r = redis.call(cmd, key, unpack(items)) end\n    if type(r) == 'table' then return r end\n    return {{}}\n  end\n  local out = {{}}\n  for i = 1, n, {MCALL_CHUNK} do\n    local last = math.min(i + {last}, n)\n    local r\n    if flag then r = redis.call(cmd, key, flag, unpack(items, i, last))\n    else r = redis.call(cmd, key, unpack(items, i, last)) end\n    if type(r) == 'table' then for j = 1, #r do out[#out + 1] = r[j] end end\n  end\n  return out\nend\n",
            last = MCALL_CHUNK - 1
        );
    }
    out += "local function reply(kind, fields)\n  fields = fields or {}\n  fields.kind = kind\n  return cjson.encode(fields)\nend\n";
    match family {
        Family::Own => {
            out += "local function own_keys() return unpack(KEYS) end\n";
            out += "local function own_args() return unpack(ARGV, 2) end\n";
        }
        Family::City => {
            // Names only: the keys themselves arrive in KEYS with every call.
            let keys = Keys::new("_");
            let names = keys.city_keys();
            out += "local K = {";
            for (i, (name, _)) in names.iter().enumerate() {
                let _ = write!(
                    out,
                    "{}{name} = KEYS[{}]",
                    if i > 0 { ", " } else { "" },
                    i + 1
                );
            }
            out += "}\n";
            let _ = writeln!(out, "local CITY_KEYS = {}", names.len());
            out += "local FEED_MAX = ARGV[2]\n";
            out += "local function own_keys() return unpack(KEYS, CITY_KEYS + 1) end\n";
            out += "local function own_args() return unpack(ARGV, 3) end\n";
        }
    }
    out
}

/// The call queue's tables (`CST`, `SST`, `CALLEV`, `SEATEV`) and constants (`CC`), from
/// `taxi_domain::callcentre`.
fn callcentre_tables(body: &str) -> String {
    let mut out = String::new();
    if mentions(body, "CST") {
        out += &code_table(body, "CST", CallState::ALL.iter().map(|s| s.code()));
    }
    if mentions(body, "SST") {
        out += &code_table(body, "SST", SeatState::ALL.iter().map(|s| s.code()));
    }
    if mentions(body, "CALLEV") {
        let rules = CallEvent::ALL.map(|e| Rule {
            code: e.code(),
            from: e.allowed_from().iter().map(|s| s.code()).collect(),
            to: e.target().code(),
            audit: e.audit().code(),
            done: CallState::ALL
                .into_iter()
                .filter(|s| e.already_done(*s))
                .map(|s| s.code())
                .collect(),
        });
        out += &event_table(body, "CALLEV", rules.into());
    }
    if mentions(body, "SEATEV") {
        let rules = SeatEvent::ALL.map(|e| Rule {
            code: e.code(),
            from: e.allowed_from().iter().map(|s| s.code()).collect(),
            to: e.target().code(),
            audit: e.audit().code(),
            done: SeatState::ALL
                .into_iter()
                .filter(|s| e.already_done(*s))
                .map(|s| s.code())
                .collect(),
        });
        out += &event_table(body, "SEATEV", rules.into());
    }
    if mentions(body, "CC") {
        let edges: Vec<String> = (0..=cc::answer_bin(i64::MAX))
            .map(|b| cc::bin_upper_ms(b).to_string())
            .collect();
        let leaving = set_of(
            SeatEvent::ALL
                .into_iter()
                .filter(|e| e.leaves_ringing())
                .map(|e| e.code()),
        );
        let _ = writeln!(
            out,
            "local CC = {{SERVICE_LEVEL_MS = {}, CALLBACK_PROMPT_MS = {}, SCAN_CALLS = {}, SCAN_SEATS = {}, KEEP_MS = {}, ASSIGNMENTS_MAX = {}, CALLBACK_PREFIX = '{}', KPI_HOUR_KEEP_MS = {}, KPI_DAY_KEEP_MS = {}, LEAVES_RINGING = {leaving}, BIN_EDGES = {{{}}}}}",
            cc::SERVICE_LEVEL_MS,
            cc::CALLBACK_PROMPT_MS,
            cc::ROUTE_SCAN_CALLS,
            cc::ROUTE_SCAN_SEATS,
            cc::ENDED_CALL_KEEP_MS,
            cc::ASSIGNMENTS_KEPT,
            cc::CALLBACK_PREFIX,
            cc::KPI_KEEP_MS.0,
            cc::KPI_KEEP_MS.1,
            edges.join(", "),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prelude_carries_the_domain_rules() {
        let p = prelude(Family::City, "ORDER[e] TAXI[e] OS[s] TS[s] AUDIT. NOTICE.");
        assert!(
            p.contains("accept = {from = ',offered,', to = 'accepted', audit = 'offer_accepted', done = ',accepted,arrived,on_trip,completed,'}")
        );
        assert!(p.contains("off = 'off'"));
        assert!(p.contains("K = {states = KEYS[1]"));
        // Tables a script does not mention are not built, nor entries it does not name.
        let small = prelude(Family::Own, "return 1");
        assert!(!small.contains("local ORDER"));
        assert!(small.contains("own_keys"));
        let one = prelude(
            Family::Own,
            "if may(ORDER.accept, s) then return OS.offered_x end",
        );
        assert!(one.contains("accept = {") && !one.contains("cancel = {"));
        assert!(
            !one.contains("offered = 'offered'"),
            "OS.offered_x is not OS.offered"
        );
        let all = prelude(Family::Own, "local e = TAXI[code]");
        assert!(all.contains("sign_on = {") && all.contains("complete_trip = {"));
    }

    /// `mcall` against a real Redis with lists far past what `unpack` takes at once:
    /// every item reaches Redis and every reply comes back, in order.
    #[tokio::test]
    async fn mcall_sends_lists_of_any_length() {
        let redis = taxi_redis_process::RedisProcess::start_temporary().expect("redis-server");
        let client = redis::Client::open(redis.url()).expect("client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let body = "local n = tonumber(ARGV[2])\n\
            local pairs_, ids = {}, {}\n\
            for i = 1, n do pairs_[#pairs_ + 1] = i; pairs_[#pairs_ + 1] = 'm' .. i; ids[i] = 'm' .. i end\n\
            ids[n + 1] = 'missing'\n\
            mcall('ZADD', KEYS[1], pairs_)\n\
            mcall('ZADD', KEYS[1], {0, 'm1', 1, 'extra'}, 'NX')\n\
            local scores = mcall('ZMSCORE', KEYS[1], ids)\n\
            local sum = 0\n\
            for i = 1, n do sum = sum + tonumber(scores[i]) end\n\
            return {redis.call('ZCARD', KEYS[1]), #scores, sum, scores[n + 1] == false and 1 or 0}";
        // n members and `extra` (NX added it but left m1's score alone); n + 1 scores
        // read back, in order, the last one missing.
        let script = format!("{}{body}", prelude(Family::Own, body));
        let n: i64 = 10_001;
        let got: Vec<i64> = redis::Script::new(&script)
            .key("{t}:z")
            .arg(0)
            .arg(n)
            .invoke_async(&mut conn)
            .await
            .expect("script");
        assert_eq!(got, vec![n + 1, n + 1, n * (n + 1) / 2, 1]);
    }
}
