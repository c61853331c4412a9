//! `taxi.v1.CallCentreService`: the call queue (ACD) of the 95128 line.
//!
//! # Layout
//! - this module: the handlers. Each checks its request (naming the field at fault),
//!   checks who may act for the seat, runs one store step (`taxi_store::callcentre`:
//!   the event and routing in one script) and maps a refusal to the error naming the
//!   field; nothing changes on a refusal.
//! - [`wire`]: call, seat, assignment and KPI views.
//!
//! Who calls: the phone switch sends call events and may set any seat; supervisors may do
//! everything; an operator sets and reads their own seat only (its id is their account).
//! Older callers are classified by the hotline's own code (`Hotline::classify_number`),
//! so the queue and `ClassifyCall` never disagree.

pub mod wire;

use taxi_auth::{Caller, Role};
use taxi_domain::callcentre::{self as cc, SeatEvent, SeatState};
use taxi_domain::settings::Settings;
use taxi_domain::validate::{self, Phone};
use taxi_edge::{ApiError, ApiResult, actor, convert};
use taxi_proto::v1 as pb;
use taxi_proto::v1::call_centre_service_server::{CallCentreService, CallCentreServiceServer};
use taxi_store::Store;
use taxi_store::callcentre::{CallStep, Refusal};
use tonic::{Request, Response, Status};

/// The call queue service of one city.
#[derive(Debug, Clone)]
pub struct CallCentre {
    store: Store,
    settings: Settings,
    hotline: taxi_hotline::Hotline,
}

fn limit(field: &str, value: u32, default: usize, max: usize) -> ApiResult<usize> {
    match value as usize {
        0 => Ok(default),
        n if n > max => Err(ApiError::invalid(field, format!("at most {max}"))),
        n => Ok(n),
    }
}

fn optional_dialect(field: &str, value: &str) -> ApiResult<String> {
    if value.trim().is_empty() {
        Ok(String::new())
    } else {
        Ok(cc::dialect(field, value)?)
    }
}

/// A refusal as the caller reads it: the field at fault and why. Nothing changed.
fn refused(r: Refusal, call: &str, seat: &str) -> ApiError {
    match r {
        Refusal::NoCall => {
            ApiError::NotFound(format!("call_id: no call {call} (send CallArrived first)"))
        }
        Refusal::NoSeat => ApiError::NotFound(format!(
            "seat_id: no seat {seat} (it must log in first: SetSeatState LOGGED_IN)"
        )),
        Refusal::CallState { state, event } => ApiError::FailedPrecondition(format!(
            "call_id: call {call} is {}; cannot {event} it",
            state.map(|s| s.name()).unwrap_or("in an unknown state")
        )),
        Refusal::SeatState { state, event } => ApiError::FailedPrecondition(format!(
            "seat_id: seat {seat} is {}; it cannot {}",
            state.map(|s| s.name()).unwrap_or("in an unknown state"),
            event.replace('_', " ")
        )),
        Refusal::OtherSeat { seat: other } => ApiError::FailedPrecondition(format!(
            "seat_id: call {call} is with seat {other}, not {seat}"
        )),
        Refusal::Unfit => ApiError::FailedPrecondition(format!(
            "seat_id: seat {seat} lacks a skill call {call} needs (dialect or supervisor)"
        )),
        Refusal::NoCallback => {
            ApiError::FailedPrecondition(format!("call_id: call {call} has no call-back"))
        }
    }
}

fn count_made(made: &[taxi_store::callcentre::Assignment]) {
    for a in made {
        let group = if a.elderly { "elderly" } else { "others" };
        metrics::counter!(taxi_metrics::CALLCENTRE_ASSIGNMENTS, "group" => group).increment(1);
    }
}

impl CallCentre {
    /// The service over `store`.
    pub fn new(store: Store, settings: Settings) -> Self {
        let hotline = taxi_hotline::Hotline::new(store.clone(), settings.clone());
        Self {
            store,
            settings,
            hotline,
        }
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> CallCentreServiceServer<Self> {
        CallCentreServiceServer::new(self)
    }

    /// The seat a caller may act for: an operator only their own; the switch and
    /// supervisors any.
    fn seat_for(by: &Caller, seat: &str) -> ApiResult<String> {
        let seat = validate::id("seat_id", seat)?;
        let who = &by.identity;
        match who.role {
            Role::PhoneSwitch | Role::Supervisor => Ok(seat),
            Role::Operator if who.id == seat => Ok(seat),
            Role::Operator => Err(ApiError::denied(
                "seat_id",
                format!("an operator acts for their own seat {} only", who.id),
            )),
            role => Err(ApiError::denied(
                "seat_id",
                format!("a {role} does not act for seats"),
            )),
        }
    }

    async fn arrived(&self, r: pb::CallArrivedRequest) -> ApiResult<pb::CallArrivedResponse> {
        let call = validate::id("call_id", &r.call_id)?;
        let phone = Phone::parse("calling_number", &r.calling_number)?;
        let dialect = optional_dialect("dialect", &r.dialect)?;
        let class = self.hotline.classify_number(&phone).await?;
        let head_start_ms = self.settings.elderly_head_start.as_millis() as i64;
        let step = CallStep::Arrive {
            phone: phone.as_str(),
            elderly: class.elderly,
            has_order: class.has_active_order,
            dialect: &dialect,
            supervisor: r.needs_supervisor,
            head_start_ms,
        };
        let out = self
            .store
            .call_event(&call, step)
            .await?
            .map_err(|e| refused(e, &call, ""))?;
        if !out.repeated {
            let group = if class.elderly { "elderly" } else { "others" };
            metrics::counter!(taxi_metrics::CALLCENTRE_CALLS, "group" => group).increment(1);
            tracing::info!(call_id = %call, elderly = class.elderly, "call queued");
        }
        count_made(&out.made);
        Ok(pb::CallArrivedResponse {
            call: out.call.as_ref().map(wire::call),
            priority: class.priority,
            assignments: out.made.iter().map(wire::assignment).collect(),
            repeated: out.repeated,
        })
    }

    async fn answered(&self, r: pb::CallAnsweredRequest) -> ApiResult<pb::CallAnsweredResponse> {
        let call = validate::id("call_id", &r.call_id)?;
        let seat = validate::id("seat_id", &r.seat_id)?;
        let out = self
            .store
            .call_event(&call, CallStep::Answer { seat: &seat })
            .await?
            .map_err(|e| refused(e, &call, &seat))?;
        if !out.repeated
            && let Some(c) = &out.call
        {
            let wait = c.answered_ms.unwrap_or(c.arrived_ms) - c.arrived_ms;
            let group = if c.elderly { "elderly" } else { "others" };
            metrics::counter!(taxi_metrics::CALLCENTRE_ANSWERED, "group" => group).increment(1);
            metrics::histogram!(taxi_metrics::CALLCENTRE_SPEED_OF_ANSWER, "group" => group)
                .record(wait as f64 / 1000.0);
        }
        Ok(pb::CallAnsweredResponse {
            call: out.call.as_ref().map(wire::call),
            repeated: out.repeated,
        })
    }

    async fn abandoned(&self, r: pb::CallAbandonedRequest) -> ApiResult<pb::CallAbandonedResponse> {
        let call = validate::id("call_id", &r.call_id)?;
        let out = self
            .store
            .call_event(&call, CallStep::Abandon)
            .await?
            .map_err(|e| refused(e, &call, ""))?;
        if !out.repeated
            && let Some(c) = &out.call
        {
            let group = if c.elderly { "elderly" } else { "others" };
            metrics::counter!(taxi_metrics::CALLCENTRE_ABANDONED, "group" => group).increment(1);
            if out.callback {
                metrics::counter!(taxi_metrics::CALLCENTRE_CALLBACKS_RAISED, "group" => group)
                    .increment(1);
                tracing::info!(call_id = %call, "abandoned call put on the call-back list");
            }
        }
        count_made(&out.made);
        Ok(pb::CallAbandonedResponse {
            call: out.call.as_ref().map(wire::call),
            callback_raised: out.callback,
            assignments: out.made.iter().map(wire::assignment).collect(),
            repeated: out.repeated,
        })
    }

    async fn transferred(
        &self,
        r: pb::CallTransferredRequest,
    ) -> ApiResult<pb::CallTransferredResponse> {
        let call = validate::id("call_id", &r.call_id)?;
        let seat = validate::id("seat_id", &r.seat_id)?;
        let dialect = optional_dialect("dialect", &r.dialect)?;
        let step = CallStep::Transfer {
            seat: &seat,
            dialect: &dialect,
            supervisor: r.needs_supervisor,
        };
        let out = self
            .store
            .call_event(&call, step)
            .await?
            .map_err(|e| refused(e, &call, &seat))?;
        count_made(&out.made);
        Ok(pb::CallTransferredResponse {
            call: out.call.as_ref().map(wire::call),
            assignments: out.made.iter().map(wire::assignment).collect(),
            repeated: out.repeated,
        })
    }

    async fn ended(&self, r: pb::CallEndedRequest) -> ApiResult<pb::CallEndedResponse> {
        let call = validate::id("call_id", &r.call_id)?;
        let seat = if r.seat_id.is_empty() {
            String::new()
        } else {
            validate::id("seat_id", &r.seat_id)?
        };
        let out = self
            .store
            .call_event(&call, CallStep::End { seat: &seat })
            .await?
            .map_err(|e| refused(e, &call, &seat))?;
        Ok(pb::CallEndedResponse {
            call: out.call.as_ref().map(wire::call),
            repeated: out.repeated,
        })
    }

    async fn set_seat(
        &self,
        by: &Caller,
        r: pb::SetSeatStateRequest,
    ) -> ApiResult<pb::SetSeatStateResponse> {
        let seat = Self::seat_for(by, &r.seat_id)?;
        let state = match pb::SeatState::try_from(r.state) {
            Ok(pb::SeatState::LoggedOut) => SeatState::LoggedOut,
            Ok(pb::SeatState::LoggedIn) => SeatState::LoggedIn,
            Ok(pb::SeatState::Ready) => SeatState::Ready,
            Ok(pb::SeatState::WrapUp) => SeatState::WrapUp,
            Ok(pb::SeatState::Break) => SeatState::Break,
            Ok(pb::SeatState::Busy) => {
                return Err(ApiError::invalid(
                    "state",
                    "BUSY is set by routing and answers, not requested",
                ));
            }
            Ok(pb::SeatState::Unspecified) => {
                return Err(ApiError::invalid(
                    "state",
                    "is required: LOGGED_IN, READY, WRAP_UP, BREAK or LOGGED_OUT",
                ));
            }
            Err(_) => {
                return Err(ApiError::invalid(
                    "state",
                    format!("unknown value {}", r.state),
                ));
            }
        };
        if r.dialects.len() > cc::MAX_SEAT_DIALECTS {
            return Err(ApiError::invalid(
                "dialects",
                format!("at most {}", cc::MAX_SEAT_DIALECTS),
            ));
        }
        let dialects = r
            .dialects
            .iter()
            .enumerate()
            .map(|(i, d)| cc::dialect(&format!("dialects[{i}]"), d))
            .collect::<Result<Vec<_>, _>>()?;
        // Logging in: the seat is an operator's or a supervisor's account, which must
        // exist and be enabled; a supervisor's seat takes calls that need one.
        let existing = self.store.seat_record(&seat).await?;
        let logging_in = existing
            .as_ref()
            .is_none_or(|s| s.state == SeatState::LoggedOut);
        let (event, supervisor) = if state == SeatState::LoggedIn && logging_in {
            let account = self.store.account(&seat).await?.filter(|a| !a.disabled);
            let role = account.as_ref().and_then(|a| Role::from_code(&a.role));
            match role {
                Some(Role::Operator) => (SeatEvent::LogIn, false),
                Some(Role::Supervisor) => (SeatEvent::LogIn, true),
                _ => {
                    return Err(ApiError::NotFound(format!(
                        "seat_id: no enabled operator or supervisor account {seat}"
                    )));
                }
            }
        } else {
            let event = SeatEvent::to_reach(state)
                .ok_or_else(|| ApiError::invalid("state", "BUSY is set by routing and answers"))?;
            (event, false)
        };
        let out = self
            .store
            .seat_event(&seat, event, &dialects, supervisor)
            .await?
            .map_err(|e| refused(e, "", &seat))?;
        if !out.repeated {
            tracing::info!(seat_id = %seat, state = state.name(), "seat state");
            actor::record(&self.store, by, "SetSeatState", &seat, state.name()).await;
        }
        count_made(&out.made);
        Ok(pb::SetSeatStateResponse {
            seat: out.seat.as_ref().map(wire::seat),
            assignments: out.made.iter().map(wire::assignment).collect(),
            repeated: out.repeated,
        })
    }

    async fn get_seat(&self, by: &Caller, r: pb::GetSeatRequest) -> ApiResult<pb::GetSeatResponse> {
        let seat = Self::seat_for(by, &r.seat_id)?;
        let s = self
            .store
            .seat_record(&seat)
            .await?
            .ok_or_else(|| refused(Refusal::NoSeat, "", &seat))?;
        let call = if s.call.is_empty() {
            None
        } else {
            self.store.call_record(&s.call).await?
        };
        Ok(pb::GetSeatResponse {
            seat: Some(wire::seat(&s)),
            call: call.as_ref().map(wire::call),
        })
    }

    async fn get_call(&self, r: pb::GetCallRequest) -> ApiResult<pb::GetCallResponse> {
        let call = validate::id("call_id", &r.call_id)?;
        let c = self
            .store
            .call_record(&call)
            .await?
            .ok_or_else(|| refused(Refusal::NoCall, &call, ""))?;
        Ok(pb::GetCallResponse {
            call: Some(wire::call(&c)),
        })
    }

    async fn assignments(
        &self,
        r: pb::ListAssignmentsRequest,
    ) -> ApiResult<pb::ListAssignmentsResponse> {
        let limit = limit("limit", r.limit, 100, 500)?;
        if !r.after.is_empty()
            && !r
                .after
                .split_once('-')
                .is_some_and(|(a, b)| a.parse::<u64>().is_ok() && b.parse::<u64>().is_ok())
        {
            return Err(ApiError::invalid(
                "after",
                "must be a `seq` from an earlier assignment",
            ));
        }
        let rows = self.store.assignments_after(&r.after, limit).await?;
        Ok(pb::ListAssignmentsResponse {
            assignments: rows.iter().map(wire::assignment).collect(),
        })
    }

    async fn stats(
        &self,
        r: pb::GetCallCentreStatsRequest,
    ) -> ApiResult<pb::GetCallCentreStatsResponse> {
        let at = match &r.time {
            Some(t) => convert::millis("time", t)?,
            None => self.store.now_ms(),
        };
        let (hour, day) = self.store.call_centre_counters(at).await?;
        let (waiting, ready) = self.store.queue_sizes().await?;
        Ok(pb::GetCallCentreStatsResponse {
            hour: Some(wire::period(&hour)),
            day: Some(wire::period(&day)),
            calls_waiting: waiting,
            seats_ready: ready,
        })
    }
}

#[tonic::async_trait]
impl CallCentreService for CallCentre {
    #[tracing::instrument(name = "CallArrived", skip_all, fields(call_id = %request.get_ref().call_id))]
    async fn call_arrived(
        &self,
        request: Request<pb::CallArrivedRequest>,
    ) -> Result<Response<pb::CallArrivedResponse>, Status> {
        Ok(Response::new(self.arrived(request.into_inner()).await?))
    }

    #[tracing::instrument(name = "CallAnswered", skip_all, fields(call_id = %request.get_ref().call_id, seat_id = %request.get_ref().seat_id))]
    async fn call_answered(
        &self,
        request: Request<pb::CallAnsweredRequest>,
    ) -> Result<Response<pb::CallAnsweredResponse>, Status> {
        Ok(Response::new(self.answered(request.into_inner()).await?))
    }

    #[tracing::instrument(name = "CallAbandoned", skip_all, fields(call_id = %request.get_ref().call_id))]
    async fn call_abandoned(
        &self,
        request: Request<pb::CallAbandonedRequest>,
    ) -> Result<Response<pb::CallAbandonedResponse>, Status> {
        Ok(Response::new(self.abandoned(request.into_inner()).await?))
    }

    #[tracing::instrument(name = "CallTransferred", skip_all, fields(call_id = %request.get_ref().call_id, seat_id = %request.get_ref().seat_id))]
    async fn call_transferred(
        &self,
        request: Request<pb::CallTransferredRequest>,
    ) -> Result<Response<pb::CallTransferredResponse>, Status> {
        Ok(Response::new(self.transferred(request.into_inner()).await?))
    }

    #[tracing::instrument(name = "CallEnded", skip_all, fields(call_id = %request.get_ref().call_id, seat_id = %request.get_ref().seat_id))]
    async fn call_ended(
        &self,
        request: Request<pb::CallEndedRequest>,
    ) -> Result<Response<pb::CallEndedResponse>, Status> {
        Ok(Response::new(self.ended(request.into_inner()).await?))
    }

    #[tracing::instrument(name = "SetSeatState", skip_all, fields(seat_id = %request.get_ref().seat_id))]
    async fn set_seat_state(
        &self,
        request: Request<pb::SetSeatStateRequest>,
    ) -> Result<Response<pb::SetSeatStateResponse>, Status> {
        let by = taxi_auth::caller(&request)?.clone();
        Ok(Response::new(
            self.set_seat(&by, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(name = "GetSeat", skip_all, fields(seat_id = %request.get_ref().seat_id))]
    async fn get_seat(
        &self,
        request: Request<pb::GetSeatRequest>,
    ) -> Result<Response<pb::GetSeatResponse>, Status> {
        let by = taxi_auth::caller(&request)?.clone();
        Ok(Response::new(
            CallCentre::get_seat(self, &by, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(name = "GetCall", skip_all, fields(call_id = %request.get_ref().call_id))]
    async fn get_call(
        &self,
        request: Request<pb::GetCallRequest>,
    ) -> Result<Response<pb::GetCallResponse>, Status> {
        Ok(Response::new(
            CallCentre::get_call(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(name = "ListAssignments", skip_all, fields(after = %request.get_ref().after))]
    async fn list_assignments(
        &self,
        request: Request<pb::ListAssignmentsRequest>,
    ) -> Result<Response<pb::ListAssignmentsResponse>, Status> {
        Ok(Response::new(self.assignments(request.into_inner()).await?))
    }

    #[tracing::instrument(name = "GetCallCentreStats", skip_all)]
    async fn get_call_centre_stats(
        &self,
        request: Request<pb::GetCallCentreStatsRequest>,
    ) -> Result<Response<pb::GetCallCentreStatsResponse>, Status> {
        Ok(Response::new(self.stats(request.into_inner()).await?))
    }
}
