//! `callcentre.lua`: every step of the call queue (a call event, a seat change, resolving
//! an abandoned call's call-back), each followed by routing, in one script.

use super::{Call, Loaded, Scripts, json};
use crate::callcentre::{Assignment, CallRecord, SeatRecord};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// One step, with its own arguments.
#[derive(Debug)]
pub(crate) enum Step<'a> {
    Arrive {
        call: &'a str,
        phone: &'a str,
        elderly: bool,
        has_order: bool,
        dialect: &'a str,
        supervisor: bool,
        head_start_ms: i64,
    },
    Answer {
        call: &'a str,
        seat: &'a str,
    },
    Abandon {
        call: &'a str,
    },
    Transfer {
        call: &'a str,
        seat: &'a str,
        dialect: &'a str,
        supervisor: bool,
    },
    Finish {
        call: &'a str,
        seat: &'a str,
    },
    Seat {
        seat: &'a str,
        event: &'static str,
        dialects: String,
        supervisor: bool,
    },
    Resolve {
        call: &'a str,
        operator: &'a str,
        outcome: &'a str,
    },
}

/// A step of the call queue, with the keys it needs that depend on the moment and the
/// caller.
#[derive(Debug)]
pub(crate) struct CallCentreStep<'a> {
    pub(crate) step: Step<'a>,
    /// The period labels of now (hour, day).
    pub(crate) period: (String, String),
    /// The caller's number whose active orders an abandonment looks at ("-" for none).
    pub(crate) phone: &'a str,
}

/// What a step answered.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum CallCentreReply {
    Done {
        #[serde(rename = "repeat", default)]
        repeated: bool,
        #[serde(default)]
        call: Option<Box<CallRecord>>,
        #[serde(default)]
        seat: Option<Box<SeatRecord>>,
        #[serde(default, deserialize_with = "super::codec::list")]
        made: Vec<Assignment>,
        #[serde(default)]
        callback: bool,
    },
    NoCall,
    NoSeat,
    CallRefused {
        state: String,
        event: String,
    },
    SeatRefused {
        state: String,
        event: String,
    },
    OtherSeat {
        seat: String,
    },
    Unfit,
    NoCallback,
}

fn flag(b: bool) -> u8 {
    u8::from(b)
}

impl Call for CallCentreStep<'_> {
    type Reply = CallCentreReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.callcentre
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![
            k.cc_calls.clone(),
            k.cc_seats.clone(),
            k.cc_queue.clone(),
            k.cc_ready.clone(),
            k.cc_assignments.clone(),
            k.callbacks.clone(),
            k.events.clone(),
            k.cc_kpi_hour(&self.period.0),
            k.cc_kpi_day(&self.period.1),
            k.cc_ended.clone(),
            k.caller_active(self.phone),
        ]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        match &self.step {
            Step::Arrive {
                call,
                phone,
                elderly,
                has_order,
                dialect,
                supervisor,
                head_start_ms,
            } => {
                inv.arg("arrive")
                    .arg(*call)
                    .arg(*phone)
                    .arg(flag(*elderly))
                    .arg(flag(*has_order))
                    .arg(*dialect)
                    .arg(flag(*supervisor))
                    .arg(*head_start_ms);
            }
            Step::Answer { call, seat } => {
                inv.arg("answer").arg(*call).arg(*seat);
            }
            Step::Abandon { call } => {
                inv.arg("abandon").arg(*call);
            }
            Step::Transfer {
                call,
                seat,
                dialect,
                supervisor,
            } => {
                inv.arg("transfer")
                    .arg(*call)
                    .arg(*seat)
                    .arg(*dialect)
                    .arg(flag(*supervisor));
            }
            Step::Finish { call, seat } => {
                inv.arg("finish").arg(*call).arg(*seat);
            }
            Step::Seat {
                seat,
                event,
                dialects,
                supervisor,
            } => {
                inv.arg("seat")
                    .arg(*seat)
                    .arg(*event)
                    .arg(dialects.as_str())
                    .arg(flag(*supervisor));
            }
            Step::Resolve {
                call,
                operator,
                outcome,
            } => {
                inv.arg("resolve").arg(*call).arg(*operator).arg(*outcome);
            }
        }
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
