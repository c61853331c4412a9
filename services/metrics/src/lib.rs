//! The one list of the Prometheus metrics the services record: every name as a constant,
//! with its kind, its labels and its help text in [`ALL`].
//!
//! The recording code names metrics only through these constants, and the tests check the
//! dashboard in `deploy/grafana/` against [`ALL`] (`tests/tests/metrics.rs`), so a panel
//! cannot ask for a metric nobody records.
//!
//! # Labels
//! Every label has a bounded set of values (a gRPC method, a status code, a script, a
//! taxi state, `elderly` true/false, an outcome): never a taxi, order, device or caller id.
//! The label keys are the constants of [`label`].

/// The label keys.
pub mod label {
    /// The gRPC method (`/taxi.v1.HotlineService/CreateBooking`), or `other` for a path that is
    /// not one of the server's methods.
    pub const METHOD: &str = "method";
    /// The gRPC status code by name (`OK`, `NOT_FOUND`, ...).
    pub const CODE: &str = "code";
    /// A Lua script's name.
    pub const SCRIPT: &str = "script";
    /// `older` or `others`.
    pub const PRIORITY: &str = "priority";
    /// A taxi state's code.
    pub const STATE: &str = "state";
    /// `true` for an older passenger's order.
    pub const ELDERLY: &str = "elderly";
    /// What happened (each metric lists its values).
    pub const OUTCOME: &str = "outcome";
    /// The build's version.
    pub const VERSION: &str = "version";
    /// The build's git commit, or `unknown`.
    pub const GIT_SHA: &str = "git_sha";
}

/// RPCs answered, by method and code.
pub const RPC_REQUESTS: &str = "taxi_rpc_requests_total";
/// RPC latency until the response headers (a stream: until it opened).
pub const RPC_DURATION: &str = "taxi_rpc_duration_seconds";
/// Lua script latency, by script.
pub const REDIS_SCRIPT_DURATION: &str = "taxi_redis_script_duration_seconds";
/// Lua scripts that failed (Redis error, timeout, or a reply that did not decode), by script.
pub const REDIS_SCRIPT_ERRORS: &str = "taxi_redis_script_errors_total";
/// 1 while Redis answers this process's pings.
pub const REDIS_UP: &str = "taxi_redis_up";
/// Times Redis stopped answering this process.
pub const REDIS_OUTAGES: &str = "taxi_redis_outages_total";
/// Redis connections replaced after a failure, by connection.
pub const REDIS_CONNECTION_REPLACEMENTS: &str = "taxi_redis_connection_replacements_total";
/// Orders waiting for a taxi (queued or waiting for a retry), by priority (city-wide, sampled).
pub const ORDERS_WAITING: &str = "taxi_orders_waiting";
/// Taxis by state (city-wide, sampled).
pub const TAXIS: &str = "taxi_taxis";
/// Driver streams open on this process.
pub const DRIVER_STREAMS: &str = "taxi_driver_streams_open";
/// Offers, by outcome: `sent`, `accepted`, `declined`, `timed_out`.
pub const OFFERS: &str = "taxi_offers_total";
/// Release (or booking) to a taxi's acceptance, by elderly.
pub const TIME_TO_ASSIGN: &str = "taxi_time_to_assign_seconds";
/// Acceptance to the taxi's arrival at the pickup, by elderly.
pub const TIME_TO_PICKUP: &str = "taxi_time_to_pickup_seconds";
/// Orders that ended, by outcome: `fulfilled` (trip completed), `unfulfilled` (dispatch gave up).
pub const ORDERS_ENDED: &str = "taxi_orders_ended_total";
/// Stale-taxi janitor sweeps, by outcome: `ok` or `error`.
pub const JANITOR_SWEEPS: &str = "taxi_janitor_sweeps_total";
/// Taxis the janitor moved out of the free index (their fixes went stale).
pub const JANITOR_STALE_TAXIS: &str = "taxi_janitor_stale_taxis_total";
/// Always 1, labelled with the build's version and git commit.
pub const BUILD_INFO: &str = "taxi_build_info";
/// Notifications sent, by kind and channel.
pub const NOTIFY_SENT: &str = "taxi_notify_sent_total";
/// Notification sends that failed (to be retried).
pub const NOTIFY_FAILURES: &str = "taxi_notify_failures_total";
/// Notifications given up on (dead letters).
pub const NOTIFY_DEAD: &str = "taxi_notify_dead_total";
/// Calls handed to an operator seat, by group.
pub const CALLCENTRE_ASSIGNMENTS: &str = "taxi_callcentre_assignments_total";
/// Calls that entered the queue, by group.
pub const CALLCENTRE_CALLS: &str = "taxi_callcentre_calls_total";
/// Calls answered, by group.
pub const CALLCENTRE_ANSWERED: &str = "taxi_callcentre_answered_total";
/// Time from queueing to answer, by group.
pub const CALLCENTRE_SPEED_OF_ANSWER: &str = "taxi_callcentre_speed_of_answer_seconds";
/// Calls the caller hung up on while queued, by group.
pub const CALLCENTRE_ABANDONED: &str = "taxi_callcentre_abandoned_total";
/// Call-backs raised for abandoned calls, by group.
pub const CALLCENTRE_CALLBACKS_RAISED: &str = "taxi_callcentre_callbacks_raised_total";
/// Call-backs an operator resolved.
pub const CALLCENTRE_CALLBACKS_DONE: &str = "taxi_callcentre_callbacks_done_total";
/// Privacy numbers bound, by provider.
pub const PRIVACY_BOUND: &str = "taxi_privacy_numbers_bound_total";
/// Trips that got no privacy number, by reason.
pub const PRIVACY_UNAVAILABLE: &str = "taxi_privacy_numbers_unavailable_total";
/// Privacy numbers released.
pub const PRIVACY_RELEASED: &str = "taxi_privacy_numbers_released_total";

/// What kind of metric a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// A distribution (exported with buckets: `_bucket`, `_sum`, `_count`).
    Histogram,
}

/// One metric: its name, kind, labels and help text.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// The name (a constant of this crate).
    pub name: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// Its label keys.
    pub labels: &'static [&'static str],
    /// The `# HELP` line.
    pub help: &'static str,
}

use label::*;

const fn m(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
) -> Metric {
    Metric {
        name,
        kind,
        labels,
        help,
    }
}

/// Every metric the services record.
pub const ALL: &[Metric] = &[
    m(
        RPC_REQUESTS,
        Kind::Counter,
        &[METHOD, CODE],
        "RPCs answered, by method and gRPC code.",
    ),
    m(
        RPC_DURATION,
        Kind::Histogram,
        &[METHOD, CODE],
        "RPC latency to the response headers (a stream: until it opened), seconds.",
    ),
    m(
        REDIS_SCRIPT_DURATION,
        Kind::Histogram,
        &[SCRIPT],
        "Lua script latency (one round trip), seconds.",
    ),
    m(
        REDIS_SCRIPT_ERRORS,
        Kind::Counter,
        &[SCRIPT],
        "Lua scripts that failed or answered something unreadable.",
    ),
    m(
        REDIS_UP,
        Kind::Gauge,
        &[],
        "1 while Redis answers this process's pings.",
    ),
    m(
        REDIS_OUTAGES,
        Kind::Counter,
        &[],
        "Times Redis stopped answering this process.",
    ),
    m(
        REDIS_CONNECTION_REPLACEMENTS,
        Kind::Counter,
        &["connection"],
        "Redis connections replaced after a failure.",
    ),
    m(
        ORDERS_WAITING,
        Kind::Gauge,
        &[PRIORITY],
        "Orders waiting for a taxi, by priority (older, others); city-wide, sampled.",
    ),
    m(
        TAXIS,
        Kind::Gauge,
        &[STATE],
        "Taxis by state; city-wide, sampled.",
    ),
    m(
        DRIVER_STREAMS,
        Kind::Gauge,
        &[],
        "Driver dispatch streams open on this process.",
    ),
    m(
        OFFERS,
        Kind::Counter,
        &[OUTCOME],
        "Offers to taxis: sent, accepted, declined, timed_out.",
    ),
    m(
        TIME_TO_ASSIGN,
        Kind::Histogram,
        &[ELDERLY],
        "Order release to a taxi's acceptance, seconds, by elderly.",
    ),
    m(
        TIME_TO_PICKUP,
        Kind::Histogram,
        &[ELDERLY],
        "Acceptance to the taxi's arrival at the pickup, seconds, by elderly.",
    ),
    m(
        ORDERS_ENDED,
        Kind::Counter,
        &[OUTCOME],
        "Orders that ended: fulfilled (trip completed) or unfulfilled (dispatch gave up).",
    ),
    m(
        JANITOR_SWEEPS,
        Kind::Counter,
        &[OUTCOME],
        "Stale-taxi janitor sweeps: ok or error.",
    ),
    m(
        JANITOR_STALE_TAXIS,
        Kind::Counter,
        &[],
        "Taxis the janitor moved out of the free index.",
    ),
    m(
        BUILD_INFO,
        Kind::Gauge,
        &[VERSION, GIT_SHA],
        "Always 1: the build's version and git commit.",
    ),
    m(
        NOTIFY_SENT,
        Kind::Counter,
        &["kind", "channel"],
        "Notifications sent.",
    ),
    m(
        NOTIFY_FAILURES,
        Kind::Counter,
        &[],
        "Notification sends that failed (retried).",
    ),
    m(
        NOTIFY_DEAD,
        Kind::Counter,
        &[],
        "Notifications given up on (dead letters).",
    ),
    m(
        CALLCENTRE_ASSIGNMENTS,
        Kind::Counter,
        &["group"],
        "Calls handed to an operator seat.",
    ),
    m(
        CALLCENTRE_CALLS,
        Kind::Counter,
        &["group"],
        "Calls that entered the queue.",
    ),
    m(
        CALLCENTRE_ANSWERED,
        Kind::Counter,
        &["group"],
        "Calls answered.",
    ),
    m(
        CALLCENTRE_SPEED_OF_ANSWER,
        Kind::Histogram,
        &["group"],
        "Queueing to answer, seconds.",
    ),
    m(
        CALLCENTRE_ABANDONED,
        Kind::Counter,
        &["group"],
        "Calls abandoned while queued.",
    ),
    m(
        CALLCENTRE_CALLBACKS_RAISED,
        Kind::Counter,
        &["group"],
        "Call-backs raised for abandoned calls.",
    ),
    m(
        CALLCENTRE_CALLBACKS_DONE,
        Kind::Counter,
        &[],
        "Call-backs an operator resolved.",
    ),
    m(
        PRIVACY_BOUND,
        Kind::Counter,
        &["provider"],
        "Privacy numbers bound.",
    ),
    m(
        PRIVACY_UNAVAILABLE,
        Kind::Counter,
        &["reason"],
        "Trips that got no privacy number.",
    ),
    m(
        PRIVACY_RELEASED,
        Kind::Counter,
        &[],
        "Privacy numbers released.",
    ),
];

/// The metric named `name` as it appears in a scrape or a query: a histogram's
/// `_bucket`, `_sum` and `_count` series name it too.
pub fn find(series: &str) -> Option<&'static Metric> {
    ALL.iter().find(|m| {
        series == m.name
            || (m.kind == Kind::Histogram
                && ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| series.strip_suffix(s) == Some(m.name)))
    })
}

/// Registers every metric's help text with the installed recorder (call once, after
/// installing it).
pub fn describe() {
    for m in ALL {
        match m.kind {
            Kind::Counter => metrics::describe_counter!(m.name, m.help),
            Kind::Gauge => metrics::describe_gauge!(m.name, m.help),
            Kind::Histogram => metrics::describe_histogram!(m.name, m.help),
        }
    }
}

/// `"true"` or `"false"`, as a label value.
pub fn flag(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_prometheus_names_of_our_namespace() {
        let mut seen = HashSet::new();
        for m in ALL {
            assert!(seen.insert(m.name), "{} listed twice", m.name);
            assert!(m.name.starts_with("taxi_"), "{}", m.name);
            assert!(
                m.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                m.name
            );
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "{}",
                m.name
            );
            assert!(!m.help.is_empty());
        }
    }

    #[test]
    fn no_label_names_an_entity() {
        for m in ALL {
            for l in m.labels {
                assert!(!l.ends_with("id"), "{}: label {l}", m.name);
            }
        }
    }

    #[test]
    fn histogram_series_find_their_metric() {
        assert_eq!(
            find("taxi_time_to_assign_seconds_bucket").map(|m| m.name),
            Some(TIME_TO_ASSIGN)
        );
        assert_eq!(find(RPC_REQUESTS).map(|m| m.name), Some(RPC_REQUESTS));
        assert!(find("taxi_rpc_requests_total_bucket").is_none());
        assert!(find("taxi_made_up").is_none());
    }
}
