//! The call queue (ACD) of the 95128 line: calls, operators' seats, routing, the
//! call-backs of abandoned calls and the call centre's KPI counters.
//!
//! Every step is one run of `callcentre.lua` with every key declared (see `keys.rs`):
//! the event's transition, then routing (waiting calls to ready seats, older callers
//! first with the aging bound, the longest-idle fitting seat), atomically. The rules come
//! from `taxi_domain::callcentre` through the generated prelude. A step that is refused
//! changes nothing and says why ([`Refusal`]); a repeat of a step that already happened
//! answers as before with `repeated` set.

use crate::scripts::{CallCentreReply, CallCentreStep, Step};
use crate::{Store, StoreError};
use serde::{Deserialize, Deserializer};
use std::collections::HashMap;
use taxi_domain::callcentre::{self as cc, CallState, Counters, SeatEvent, SeatState};
use taxi_domain::followup::CallbackState;

fn num<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(f64::deserialize(d)? as i64)
}

fn opt_num<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.map(|v| v as i64))
}

fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(0.0) != 0.0)
}

fn call_state<'de, D: Deserializer<'de>>(d: D) -> Result<CallState, D::Error> {
    let s = String::deserialize(d)?;
    CallState::from_code(&s).ok_or_else(|| serde::de::Error::custom(format!("call state {s:?}")))
}

fn seat_state<'de, D: Deserializer<'de>>(d: D) -> Result<SeatState, D::Error> {
    let s = String::deserialize(d)?;
    SeatState::from_code(&s).ok_or_else(|| serde::de::Error::custom(format!("seat state {s:?}")))
}

fn callback_state<'de, D: Deserializer<'de>>(d: D) -> Result<Option<CallbackState>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.and_then(|s| CallbackState::from_code(&s)))
}

/// A call as stored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CallRecord {
    /// The switch's call id.
    #[serde(default)]
    pub id: String,
    /// Where it stands.
    #[serde(rename = "st", deserialize_with = "call_state")]
    pub state: CallState,
    /// The calling number.
    #[serde(rename = "ph", default)]
    pub phone: String,
    /// An older caller (as `ClassifyCall` says).
    #[serde(rename = "e", deserialize_with = "flag", default)]
    pub elderly: bool,
    /// The caller had an order in progress when the call arrived.
    #[serde(rename = "ord", deserialize_with = "flag", default)]
    pub had_order: bool,
    /// A dialect the seat must speak ("" for none).
    #[serde(rename = "dl", default)]
    pub dialect: String,
    /// Only a supervisor's seat may take it.
    #[serde(rename = "sup", deserialize_with = "flag", default)]
    pub supervisor: bool,
    /// Arrival (ms).
    #[serde(rename = "arr", deserialize_with = "num")]
    pub arrived_ms: i64,
    /// Queue score (ms; lower first).
    #[serde(rename = "q", deserialize_with = "num")]
    pub queue_score: i64,
    /// The seat it is offered to or answered by ("" while queued).
    #[serde(default)]
    pub seat: String,
    /// The seat that last transferred it.
    #[serde(rename = "tf", default)]
    pub transferred_by: String,
    /// Last offered (ms).
    #[serde(rename = "off", deserialize_with = "opt_num", default)]
    pub offered_ms: Option<i64>,
    /// First answered (ms).
    #[serde(rename = "ans", deserialize_with = "opt_num", default)]
    pub answered_ms: Option<i64>,
    /// Ended or abandoned (ms).
    #[serde(rename = "fin", deserialize_with = "opt_num", default)]
    pub finished_ms: Option<i64>,
    /// The call-back of an abandoned call, if one was raised.
    #[serde(rename = "cb", deserialize_with = "callback_state", default)]
    pub callback: Option<CallbackState>,
    /// Who resolved the call-back.
    #[serde(default)]
    pub cb_by: String,
    /// What came of the call-back.
    #[serde(default)]
    pub cb_outcome: String,
    /// When the call-back was resolved (ms).
    #[serde(deserialize_with = "opt_num", default)]
    pub cb_ms: Option<i64>,
}

/// A seat as stored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SeatRecord {
    /// The seat id (the operator's account).
    #[serde(default)]
    pub id: String,
    /// Where it stands.
    #[serde(rename = "st", deserialize_with = "seat_state")]
    pub state: SeatState,
    /// Dialects spoken.
    #[serde(
        rename = "dl",
        default,
        deserialize_with = "crate::scripts::codec::list"
    )]
    pub dialects: Vec<String>,
    /// A supervisor's seat.
    #[serde(rename = "sup", deserialize_with = "flag", default)]
    pub supervisor: bool,
    /// The call it holds ("" for none).
    #[serde(default)]
    pub call: String,
    /// Since when it is in its state (ms).
    #[serde(deserialize_with = "num", default)]
    pub since: i64,
    /// Ready since (ms), if it has been ready.
    #[serde(deserialize_with = "opt_num", default)]
    pub idle: Option<i64>,
}

/// A routing decision: the switch puts `call` through to `seat`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Assignment {
    /// The call.
    pub call: String,
    /// The seat.
    pub seat: String,
    /// An older caller.
    #[serde(deserialize_with = "flag", default)]
    pub elderly: bool,
    /// Its id in the assignment feed (a cursor for `assignments_after`).
    #[serde(default)]
    pub seq: String,
    /// When (ms).
    #[serde(rename = "ts", deserialize_with = "num", default)]
    pub at_ms: i64,
}

/// What a step did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// A repeat of a step that already happened: nothing changed.
    pub repeated: bool,
    /// The call after the step.
    pub call: Option<CallRecord>,
    /// The seat after the step.
    pub seat: Option<SeatRecord>,
    /// Routing decisions the step made.
    pub made: Vec<Assignment>,
    /// An abandonment raised a call-back.
    pub callback: bool,
}

/// Why a step was refused (nothing changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such call.
    NoCall,
    /// No such seat (it never logged in).
    NoSeat,
    /// The call's state does not allow the event.
    CallState {
        /// The call's state.
        state: Option<CallState>,
        /// The event's audit name.
        event: String,
    },
    /// The seat's state does not allow the event.
    SeatState {
        /// The seat's state.
        state: Option<SeatState>,
        /// The seat event's code.
        event: String,
    },
    /// The call is with another seat.
    OtherSeat {
        /// That seat.
        seat: String,
    },
    /// The seat lacks a skill the call needs.
    Unfit,
    /// The call has no call-back (it was not abandoned by an older caller or one with
    /// an order).
    NoCallback,
}

/// What a call event carries.
#[derive(Debug, Clone)]
pub enum CallStep<'a> {
    /// A call arrived.
    Arrive {
        /// The calling number.
        phone: &'a str,
        /// An older caller.
        elderly: bool,
        /// The caller has an order in progress.
        has_order: bool,
        /// Required dialect ("" for none).
        dialect: &'a str,
        /// Needs a supervisor.
        supervisor: bool,
        /// The older callers' head start (0: first come, first served).
        head_start_ms: i64,
    },
    /// A seat answered it.
    Answer {
        /// The seat.
        seat: &'a str,
    },
    /// The caller hung up while waiting.
    Abandon,
    /// Its seat sent it back to the queue with new needs.
    Transfer {
        /// The seat that had it.
        seat: &'a str,
        /// Required dialect ("" for none).
        dialect: &'a str,
        /// Needs a supervisor.
        supervisor: bool,
    },
    /// It ended.
    End {
        /// The seat that had it ("" for whoever).
        seat: &'a str,
    },
}

/// A period's counters for older callers and for others.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeriodCounters {
    /// The period's label (`YYYYMMDDHH` or `YYYYMMDD`).
    pub label: String,
    /// Older callers.
    pub elderly: Counters,
    /// Everyone else.
    pub others: Counters,
}

fn counters(map: &HashMap<String, i64>, g: &str) -> Counters {
    let get = |n: &str| map.get(&format!("{g}:{n}")).copied().unwrap_or(0).max(0) as u64;
    let prefix = format!("{g}:b");
    let bins = map
        .iter()
        .filter_map(|(k, v)| {
            let bin = k.strip_prefix(&prefix)?.parse::<u32>().ok()?;
            Some((bin, (*v).max(0) as u64))
        })
        .collect();
    Counters {
        arrived: get("arr"),
        answered: get("ans"),
        abandoned: get("abn"),
        answer_ms_sum: get("sum"),
        within_service_level: get("sl"),
        callbacks_raised: get("cbr"),
        callbacks_done: get("cbd"),
        callbacks_prompt: get("cbp"),
        bins,
    }
}

impl Store {
    async fn cc_step(
        &self,
        step: Step<'_>,
        phone: &str,
    ) -> Result<Result<Outcome, Refusal>, StoreError> {
        let call = CallCentreStep {
            step,
            period: cc::period_labels(self.now_ms()),
            phone: if phone.is_empty() { "-" } else { phone },
        };
        Ok(match self.call(&call).await? {
            CallCentreReply::Done {
                repeated,
                call,
                seat,
                made,
                callback,
            } => Ok(Outcome {
                repeated,
                call: call.map(|c| *c),
                seat: seat.map(|s| *s),
                made,
                callback,
            }),
            CallCentreReply::NoCall => Err(Refusal::NoCall),
            CallCentreReply::NoSeat => Err(Refusal::NoSeat),
            CallCentreReply::CallRefused { state, event } => Err(Refusal::CallState {
                state: CallState::from_code(&state),
                event,
            }),
            CallCentreReply::SeatRefused { state, event } => Err(Refusal::SeatState {
                state: SeatState::from_code(&state),
                event,
            }),
            CallCentreReply::OtherSeat { seat } => Err(Refusal::OtherSeat { seat }),
            CallCentreReply::Unfit => Err(Refusal::Unfit),
            CallCentreReply::NoCallback => Err(Refusal::NoCallback),
        })
    }

    /// One call event for call `id`, then routing.
    pub async fn call_event(
        &self,
        id: &str,
        event: CallStep<'_>,
    ) -> Result<Result<Outcome, Refusal>, StoreError> {
        match event {
            CallStep::Arrive {
                phone,
                elderly,
                has_order,
                dialect,
                supervisor,
                head_start_ms,
            } => {
                let step = Step::Arrive {
                    call: id,
                    phone,
                    elderly,
                    has_order,
                    dialect,
                    supervisor,
                    head_start_ms,
                };
                self.cc_step(step, phone).await
            }
            CallStep::Answer { seat } => self.cc_step(Step::Answer { call: id, seat }, "").await,
            CallStep::Abandon => {
                // The caller's number names the key of their active orders; it never
                // changes once the call arrived.
                let phone = self
                    .call_record(id)
                    .await?
                    .map(|c| c.phone)
                    .unwrap_or_default();
                self.cc_step(Step::Abandon { call: id }, &phone).await
            }
            CallStep::Transfer {
                seat,
                dialect,
                supervisor,
            } => {
                let step = Step::Transfer {
                    call: id,
                    seat,
                    dialect,
                    supervisor,
                };
                self.cc_step(step, "").await
            }
            CallStep::End { seat } => self.cc_step(Step::Finish { call: id, seat }, "").await,
        }
    }

    /// A seat event for seat `id` (skills apply when it logs in), then routing.
    pub async fn seat_event(
        &self,
        id: &str,
        event: SeatEvent,
        dialects: &[String],
        supervisor: bool,
    ) -> Result<Result<Outcome, Refusal>, StoreError> {
        let dialects = serde_json::to_string(dialects)
            .map_err(|e| StoreError::Internal(format!("dialects: {e}")))?;
        let step = Step::Seat {
            seat: id,
            event: event.code(),
            dialects,
            supervisor,
        };
        self.cc_step(step, "").await
    }

    /// An operator resolves the call-back of abandoned call `id`.
    pub async fn resolve_call_callback(
        &self,
        id: &str,
        operator: &str,
        outcome: &str,
    ) -> Result<Result<Outcome, Refusal>, StoreError> {
        let step = Step::Resolve {
            call: id,
            operator,
            outcome,
        };
        self.cc_step(step, "").await
    }

    /// A call's record.
    pub async fn call_record(&self, id: &str) -> Result<Option<CallRecord>, StoreError> {
        Ok(self.call_records(&[id.to_string()]).await?.pop().flatten())
    }

    /// Calls' records, in the order asked (`None` for an unknown id).
    pub async fn call_records(
        &self,
        ids: &[String],
    ) -> Result<Vec<Option<CallRecord>>, StoreError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let mut conn = self.conn.clone();
        let raw: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&self.keys.cc_calls)
            .arg(ids)
            .query_async(&mut conn)
            .await?;
        raw.into_iter()
            .zip(ids)
            .map(|(r, id)| {
                r.map(|text| {
                    let mut c: CallRecord = serde_json::from_str(&text)
                        .map_err(|e| StoreError::Internal(format!("call {id}: {e}")))?;
                    c.id = id.clone();
                    Ok(c)
                })
                .transpose()
            })
            .collect()
    }

    /// A seat's record.
    pub async fn seat_record(&self, id: &str) -> Result<Option<SeatRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let raw: Option<String> = redis::cmd("HGET")
            .arg(&self.keys.cc_seats)
            .arg(id)
            .query_async(&mut conn)
            .await?;
        raw.map(|text| {
            let mut s: SeatRecord = serde_json::from_str(&text)
                .map_err(|e| StoreError::Internal(format!("seat {id}: {e}")))?;
            s.id = id.to_string();
            Ok(s)
        })
        .transpose()
    }

    /// Every seat's record (the seats of one city are a few hundred at most).
    pub async fn seat_records(&self) -> Result<Vec<SeatRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let raw: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(&self.keys.cc_seats)
            .query_async(&mut conn)
            .await?;
        let mut out = Vec::with_capacity(raw.len());
        for (id, text) in raw {
            let mut s: SeatRecord = serde_json::from_str(&text)
                .map_err(|e| StoreError::Internal(format!("seat {id}: {e}")))?;
            s.id = id;
            out.push(s);
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Routing decisions after feed id `after` ("" from the oldest kept), at most `limit`.
    pub async fn assignments_after(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Assignment>, StoreError> {
        let rows = self
            .entries_after(&self.keys.cc_assignments, after, limit)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, f)| Assignment {
                call: f.get("call").cloned().unwrap_or_default(),
                seat: f.get("seat").cloned().unwrap_or_default(),
                elderly: f.get("elderly").is_some_and(|v| v == "1"),
                at_ms: f.get("ts").and_then(|v| v.parse().ok()).unwrap_or(0),
                seq,
            })
            .collect())
    }

    /// Calls waiting and seats ready now.
    pub async fn queue_sizes(&self) -> Result<(u64, u64), StoreError> {
        let mut conn = self.conn.clone();
        Ok(redis::pipe()
            .zcard(&self.keys.cc_queue)
            .zcard(&self.keys.cc_ready)
            .query_async(&mut conn)
            .await?)
    }

    /// The KPI counters of the hour and the day holding `at_ms`.
    pub async fn call_centre_counters(
        &self,
        at_ms: i64,
    ) -> Result<(PeriodCounters, PeriodCounters), StoreError> {
        let (hour, day) = cc::period_labels(at_ms);
        let mut conn = self.conn.clone();
        let (h, d): (HashMap<String, i64>, HashMap<String, i64>) = redis::pipe()
            .hgetall(self.keys.cc_kpi_hour(&hour))
            .hgetall(self.keys.cc_kpi_day(&day))
            .query_async(&mut conn)
            .await?;
        let period = |label: String, m: &HashMap<String, i64>| PeriodCounters {
            label,
            elderly: counters(m, "e"),
            others: counters(m, "o"),
        };
        Ok((period(hour, &h), period(day, &d)))
    }
}
