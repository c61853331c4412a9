//! Wire views of the call queue's records and KPIs.

use taxi_domain::callcentre::{CallState, Counters, SeatState};
use taxi_domain::followup::CallbackState;
use taxi_edge::convert::timestamp;
use taxi_proto::v1 as pb;
use taxi_store::callcentre::{Assignment, CallRecord, PeriodCounters, SeatRecord};

fn duration(ms: i64) -> taxi_proto::Duration {
    let ms = ms.max(0);
    taxi_proto::Duration {
        seconds: ms / 1000,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
}

/// A call's state on the wire.
pub fn call_state(s: CallState) -> pb::CallState {
    match s {
        CallState::Queued => pb::CallState::Queued,
        CallState::Offered => pb::CallState::Offered,
        CallState::Answered => pb::CallState::Answered,
        CallState::Abandoned => pb::CallState::Abandoned,
        CallState::Ended => pb::CallState::Ended,
    }
}

/// A seat's state on the wire.
pub fn seat_state(s: SeatState) -> pb::SeatState {
    match s {
        SeatState::LoggedOut => pb::SeatState::LoggedOut,
        SeatState::LoggedIn => pb::SeatState::LoggedIn,
        SeatState::Ready => pb::SeatState::Ready,
        SeatState::Busy => pb::SeatState::Busy,
        SeatState::WrapUp => pb::SeatState::WrapUp,
        SeatState::Break => pb::SeatState::Break,
    }
}

/// A call (number in full: the switch and operators).
pub fn call(c: &CallRecord) -> pb::CallInfo {
    pb::CallInfo {
        call_id: c.id.clone(),
        calling_number: c.phone.clone(),
        state: call_state(c.state) as i32,
        elderly: c.elderly,
        had_active_order: c.had_order,
        seat_id: c.seat.clone(),
        dialect: c.dialect.clone(),
        needs_supervisor: c.supervisor,
        arrived_time: Some(timestamp(c.arrived_ms)),
        answered_time: c.answered_ms.map(timestamp),
        finished_time: c.finished_ms.map(timestamp),
        speed_of_answer: c.answered_ms.map(|a| duration(a - c.arrived_ms)),
        callback: match c.callback {
            None => pb::CallbackState::Unspecified,
            Some(CallbackState::Open) => pb::CallbackState::Open,
            Some(CallbackState::Resolved) => pb::CallbackState::Resolved,
        } as i32,
    }
}

/// A seat.
pub fn seat(s: &SeatRecord) -> pb::Seat {
    pb::Seat {
        seat_id: s.id.clone(),
        state: seat_state(s.state) as i32,
        dialects: s.dialects.clone(),
        supervisor: s.supervisor,
        call_id: s.call.clone(),
        state_time: Some(timestamp(s.since)),
    }
}

/// A routing decision.
pub fn assignment(a: &Assignment) -> pb::Assignment {
    pb::Assignment {
        call_id: a.call.clone(),
        seat_id: a.seat.clone(),
        elderly: a.elderly,
        seq: a.seq.clone(),
        assigned_time: Some(timestamp(a.at_ms)),
    }
}

/// One group's KPIs.
pub fn kpis(c: &Counters) -> pb::CallKpis {
    let k = c.kpis();
    pb::CallKpis {
        arrived: c.arrived,
        answered: c.answered,
        abandoned: c.abandoned,
        answer_rate: k.answer_rate,
        abandon_rate: k.abandon_rate,
        average_speed_of_answer: Some(duration(k.mean_answer_ms)),
        p90_speed_of_answer: Some(duration(k.p90_answer_ms)),
        median_speed_of_answer: Some(duration(k.median_answer_ms)),
        service_level: k.service_level,
        callbacks_raised: c.callbacks_raised,
        callbacks_done: c.callbacks_done,
        callbacks_within_15_min_share: k.callbacks_prompt_share,
    }
}

/// A period's KPIs, older callers against others.
pub fn period(p: &PeriodCounters) -> pb::CallCentrePeriod {
    pb::CallCentrePeriod {
        label: p.label.clone(),
        elderly: Some(kpis(&p.elderly)),
        others: Some(kpis(&p.others)),
    }
}
