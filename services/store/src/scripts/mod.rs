//! The Lua scripts and their typed Rust faces: one type per script, with named
//! arguments and a reply enum, so no caller reads a reply by position.
//!
//! Every script file starts with `#!lua` (Redis 7 then checks, on a Cluster, that it
//! touches only keys of the slot it declared) and names its KEYS and ARGV in a header;
//! it receives every key it touches in KEYS. At load a script becomes: its shebang line,
//! the generated [`prelude`], `lib.lua` for the city family, then its body. Replies are
//! JSON objects tagged by `kind`, decoded into each script's reply enum.
//! `redis::Script` loads a script by SHA and reloads it after a Redis restart.

pub(crate) mod prelude;

mod accept_offer;
mod ack_alert;
mod assign_order;
mod callcentre;
mod cancel_order;
mod create_order;
mod decline_offer;
mod expire_offer;
mod flag_stuck;
mod give_up;
mod guarantee;
mod holding;
mod nearby_free;
mod offer_order;
mod offer_pair;
mod oplog_append;
mod outbox;
mod pending_page;
mod privacy;
mod raise_alert;
mod record_outage;
mod redispatch_order;
mod register_device;
mod register_taxi;
mod release_reservation;
mod report_positions;
mod requeue_due;
mod resolve;
mod stands;
mod sweep_stale;
mod taxi_transition;
mod trim;
mod trip_step;

pub(crate) use accept_offer::AcceptOffer;
pub(crate) use ack_alert::{AckAlert, AckAlertReply};
pub(crate) use assign_order::{AssignOrder, AssignOrderReply};
pub(crate) use callcentre::{CallCentreReply, CallCentreStep, Step};
pub(crate) use cancel_order::{CancelOrder, CancelOrderReply};
pub(crate) use create_order::{CreateOrder, CreateOrderReply};
pub(crate) use decline_offer::DeclineOffer;
pub(crate) use expire_offer::ExpireOffer;
pub(crate) use flag_stuck::FlagStuck;
pub(crate) use give_up::GiveUp;
pub(crate) use guarantee::{GuaranteeAlert, GuaranteeAlertReply, PairedAnswer, PairedAnswerReply};
pub(crate) use holding::{Holding, HoldingReply};
pub(crate) use nearby_free::NearbyFree;
pub(crate) use offer_order::{OfferOrder, Outcome};
pub(crate) use offer_pair::{OfferPair, OfferPairReply};
pub(crate) use oplog_append::{OplogAppend, OplogAppendReply};
pub use outbox::OutboxFailReply;
pub(crate) use outbox::{
    OutboxFail, OutboxReplay, OutboxReplayReply, OutboxTake, OutboxTakeReply, OutboxTrim,
};
pub(crate) use pending_page::PendingPage;
pub(crate) use privacy::{
    PoolBind, PoolBindReply, PoolSync, PoolSyncReply, PoolUnbind, PoolUnbindReply, Record,
    RecordReply, Release, ReleaseReply, Unavailable, UnavailableReply,
};
pub(crate) use raise_alert::{RaiseAlert, RaiseAlertReply};
pub(crate) use record_outage::{RecordOutage, RecordOutageReply};
pub(crate) use redispatch_order::{RedispatchOrder, RedispatchReply};
pub(crate) use register_device::{RegisterDevice, RegisterDeviceReply};
pub(crate) use register_taxi::{RegisterTaxi, RegisterTaxiReply};
pub(crate) use release_reservation::ReleaseReservation;
pub(crate) use report_positions::ReportPositions;
pub(crate) use requeue_due::RequeueDue;
pub(crate) use resolve::{ResolveAlert, ResolveCallback, ResolveReply};
pub(crate) use stands::{StandBoard, StandBoardReply, StandOp, StandWrite, StandWriteReply};
pub(crate) use sweep_stale::SweepStale;
pub(crate) use taxi_transition::{TaxiTransition, TaxiTransitionReply};
pub(crate) use trim::{TrimAlerts, TrimOrders};
pub(crate) use trip_step::{TripStepCall, TripStepReply};

/// The reply of a driver's answer to an offer (`accept_offer.lua`, `decline_offer.lua`).
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum AnswerReply {
    /// Done (an acceptance also names the time to assign it measured; a retry does not).
    Done {
        #[serde(flatten)]
        took: Took,
    },
    /// No such order.
    Missing,
    /// The offer is no longer open.
    Gone {
        #[serde(default, deserialize_with = "codec::opt_order_status")]
        status: Option<taxi_domain::order::OrderStatus>,
    },
}

/// A latency a script measured and sampled (`lib.lua`'s `sample`): the time to assign or
/// to pickup, and whether the order is an older passenger's. Absent fields: nothing measured.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
pub(crate) struct Took {
    #[serde(default)]
    pub(crate) waited_ms: Option<f64>,
    #[serde(default)]
    pub(crate) elderly: bool,
    /// This call made the transition (`trip_step`; a retry's reply says nothing).
    #[serde(default)]
    pub(crate) first: bool,
}

impl Took {
    /// Records the measured latency, if any, in the histogram `name`.
    pub(crate) fn record(self, name: &'static str) {
        if let Some(ms) = self.waited_ms {
            metrics::histogram!(name, taxi_metrics::label::ELDERLY => taxi_metrics::flag(self.elderly))
                .record(ms.max(0.0) / 1000.0);
        }
    }
}

/// The reply of a sweep step (`expire_offer`, `release_reservation`, `give_up`): done, or nothing to do any more.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum StepReply {
    /// Done.
    Done,
    /// Nothing to do: not due, or no longer in the state the step needs.
    #[serde(alias = "kept")]
    Gone,
}

use crate::keys::Keys;
use crate::{Store, StoreError};
use prelude::Family;
use redis::{Script, ScriptInvocation};
use serde::de::DeserializeOwned;

/// One script's typed face: its keys, its arguments, its reply.
pub(crate) trait Call {
    /// What the script answers.
    type Reply;
    /// The loaded script.
    fn script(scripts: &Scripts) -> &Loaded;
    /// The script's own KEYS (after the city's, for the city family).
    fn keys(&self, k: &Keys) -> Vec<String>;
    /// The script's own ARGV (after the family's).
    fn args(&self, inv: &mut ScriptInvocation<'_>);
    /// Reads the reply: by default a JSON object tagged by `kind`.
    fn decode(value: redis::Value) -> Result<Self::Reply, String>;
}

/// Decodes a JSON reply.
pub(crate) fn json<T: DeserializeOwned>(value: redis::Value) -> Result<T, String> {
    let text: String = redis::from_redis_value(value).map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| format!("{text:?}: {e}"))
}

const LIB: &str = include_str!("../lua/lib.lua");

/// One loaded script.
pub(crate) struct Loaded {
    name: &'static str,
    family: Family,
    script: Script,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded").field("name", &self.name).finish()
    }
}

/// The text of a script as Redis runs it.
pub(crate) fn assemble(name: &str, family: Family, source: &str) -> String {
    let (shebang, body) = source
        .split_once('\n')
        .filter(|(first, _)| first.starts_with("#!lua"))
        .unwrap_or_else(|| panic!("{name}.lua must start with a #!lua line"));
    let lib = match family {
        Family::City => LIB.split_once('\n').map(|(_, rest)| rest).unwrap_or(LIB),
        Family::Own => "",
    };
    let code = format!("{lib}\n{body}");
    format!("{shebang}\n{}{code}", prelude::prelude(family, &code))
}

impl Loaded {
    fn new(name: &'static str, family: Family, source: &str) -> Self {
        Self {
            name,
            family,
            script: Script::new(&assemble(name, family, source)),
        }
    }

    /// An invocation with what the family passes first: `NOW` (and, for the city family,
    /// the city's keys and the driver feed's length cap).
    pub(crate) fn call(&self, store: &Store) -> ScriptInvocation<'_> {
        let mut inv = self.script.prepare_invoke();
        if self.family == Family::City {
            for key in store.keys.city_block() {
                inv.key(key);
            }
        }
        inv.arg(store.now_ms());
        if self.family == Family::City {
            inv.arg(store.config().feed_len);
        }
        inv
    }
}

macro_rules! scripts {
    ($($name:ident: $family:ident),* $(,)?) => {
        /// Every script, loaded once per process.
        pub(crate) struct Scripts {
            $(pub(crate) $name: Loaded,)*
        }

        impl std::fmt::Debug for Scripts {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("Scripts").finish_non_exhaustive()
            }
        }

        impl Scripts {
            /// The scripts of this process, assembled once (assembling scans every
            /// script's text for the prelude entries it names).
            pub(crate) fn shared() -> std::sync::Arc<Self> {
                static SCRIPTS: std::sync::OnceLock<std::sync::Arc<Scripts>> =
                    std::sync::OnceLock::new();
                SCRIPTS
                    .get_or_init(|| std::sync::Arc::new(Self::new()))
                    .clone()
            }

            fn new() -> Self {
                Self {
                    $($name: Loaded::new(
                        stringify!($name),
                        Family::$family,
                        include_str!(concat!("../lua/", stringify!($name), ".lua")),
                    ),)*
                }
            }
        }

        /// Every script's name and text as Redis runs it (for tests that lint them).
        pub fn assembled() -> Vec<(&'static str, String)> {
            vec![$((
                stringify!($name),
                assemble(
                    stringify!($name),
                    Family::$family,
                    include_str!(concat!("../lua/", stringify!($name), ".lua")),
                ),
            ),)*]
        }
    };
}

scripts! {
    register_taxi: Own,
    report_positions: Own,
    nearby_free: Own,
    sweep_stale: Own,
    register_device: Own,
    raise_alert: Own,
    ack_alert: Own,
    pending_page: Own,
    holding: Own,
    taxi_transition: City,
    create_order: Own,
    offer_order: City,
    offer_pair: City,
    give_up: City,
    accept_offer: City,
    decline_offer: City,
    expire_offer: City,
    release_reservation: City,
    requeue_due: City,
    trip_step: City,
    assign_order: City,
    cancel_order: City,
    flag_stuck: City,
    redispatch_order: City,
    paired_answer: City,
    guarantee_alert: City,
    record_outage: City,
    resolve_callback: City,
    resolve_alert: Own,
    trim_orders: Own,
    trim_alerts: Own,
    oplog_append: Own,
    callcentre: Own,
    outbox_take: Own,
    outbox_fail: Own,
    outbox_replay: Own,
    outbox_trim: Own,
    privacy_pool_bind: Own,
    privacy_pool_unbind: Own,
    privacy_pool_sync: Own,
    privacy_record: Own,
    privacy_release: Own,
    privacy_unavailable: Own,
    stand_write: Own,
    stand_board: City,
}

impl Store {
    /// The invocation of `call`, keys and arguments in place.
    pub(crate) fn invocation<'a, C: Call>(&'a self, call: &C) -> ScriptInvocation<'a> {
        let loaded = C::script(&self.scripts);
        let mut inv = loaded.call(self);
        for key in call.keys(&self.keys) {
            inv.key(key);
        }
        call.args(&mut inv);
        inv
    }

    /// Runs a script on the shared connection and reads its reply.
    pub(crate) async fn call<C: Call>(&self, call: &C) -> Result<C::Reply, StoreError> {
        let mut conn = self.conn.clone();
        self.call_on(&mut conn, call).await
    }

    /// Runs a script on `conn` and reads its reply.
    pub(crate) async fn call_on<C: Call>(
        &self,
        conn: &mut crate::conn::Conn,
        call: &C,
    ) -> Result<C::Reply, StoreError> {
        // The one place every script runs: its latency and failures, by script name (a
        // bounded label: the scripts of this crate).
        let name = C::script(&self.scripts).name;
        let inv = self.invocation(call);
        let started = std::time::Instant::now();
        let value: Result<redis::Value, _> = inv.invoke_async(conn).await;
        metrics::histogram!(taxi_metrics::REDIS_SCRIPT_DURATION, taxi_metrics::label::SCRIPT => name)
            .record(started.elapsed().as_secs_f64());
        let decoded = value.map_err(StoreError::from).and_then(|v| {
            C::decode(v).map_err(|e| StoreError::Internal(format!("{name} replied {e}")))
        });
        if decoded.is_err() {
            metrics::counter!(taxi_metrics::REDIS_SCRIPT_ERRORS, taxi_metrics::label::SCRIPT => name)
                .increment(1);
        }
        decoded
    }
}

/// Decoders for the codes scripts put in their replies.
pub(crate) mod codec {
    use serde::{Deserialize, Deserializer, de::Error};
    use taxi_domain::order::OrderStatus;
    use taxi_domain::taxi::TaxiState;

    /// An order status code.
    pub(crate) fn order_status<'de, D: Deserializer<'de>>(d: D) -> Result<OrderStatus, D::Error> {
        let s = String::deserialize(d)?;
        OrderStatus::from_code(&s).ok_or_else(|| D::Error::custom(format!("status {s:?}")))
    }

    /// An order status code, or nothing.
    pub(crate) fn opt_order_status<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OrderStatus>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        Ok(s.and_then(|s| OrderStatus::from_code(&s)))
    }

    /// A taxi state code; a taxi with no state is off duty.
    pub(crate) fn taxi_state<'de, D: Deserializer<'de>>(d: D) -> Result<TaxiState, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        Ok(s.and_then(|s| TaxiState::from_code(&s))
            .unwrap_or(TaxiState::OffDuty))
    }

    /// A list, which Lua's cjson encodes as `{}` when it is empty.
    pub(crate) fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Vec<T>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either<T> {
            List(Vec<T>),
            Empty {},
        }
        Ok(match Either::deserialize(d)? {
            Either::List(v) => v,
            Either::Empty {} => Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lua's `unpack` fails past about 8,000 items ("too many results to unpack"): a
    /// script hands a list of taxis, ids or fixes to a command through the prelude's
    /// chunking `mcall`, never through `unpack`. The one exception is a record's field
    /// list (`unpack(fields)`), whose length the Rust caller fixes.
    #[test]
    fn no_script_unpacks_a_list_of_unbounded_length() {
        for (name, _) in assembled() {
            let path = format!("{}/src/lua/{name}.lua", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(path).expect("script file");
            for line in text.lines().filter(|l| !l.trim_start().starts_with("--")) {
                let unbounded = line
                    .match_indices("unpack(")
                    .any(|(i, _)| !line[i..].starts_with("unpack(fields)"));
                assert!(!unbounded, "{name}.lua unpacks a list; use mcall: {line}");
            }
        }
        assert!(
            !LIB.contains("unpack("),
            "lib.lua unpacks a list; use mcall"
        );
    }

    #[test]
    fn every_script_is_declared_and_free_of_state_literals() {
        let states: Vec<&str> = taxi_domain::order::OrderStatus::ALL
            .iter()
            .map(|s| s.code())
            .chain(taxi_domain::taxi::TaxiState::ALL.iter().map(|s| s.code()))
            .collect();
        let mut sources = vec![("lib", LIB.to_string())];
        for (name, _) in assembled() {
            let path = format!("{}/src/lua/{name}.lua", env!("CARGO_MANIFEST_DIR"));
            sources.push((name, std::fs::read_to_string(path).expect("script file")));
        }
        for (name, text) in sources {
            assert!(
                text.starts_with("#!lua"),
                "{name}.lua must start with #!lua"
            );
            for line in text.lines().filter(|l| !l.trim_start().starts_with("--")) {
                for s in &states {
                    for quote in ['\'', '"'] {
                        let literal = format!("{quote}{s}{quote}");
                        assert!(
                            !line.contains(&literal),
                            "{name}.lua names state {literal} by a literal: {line}"
                        );
                    }
                }
                assert!(
                    !line.contains("..") || !line.contains("'{c:"),
                    "{name}.lua builds a key: {line}"
                );
            }
        }
    }
}
