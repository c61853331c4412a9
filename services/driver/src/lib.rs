//! `taxi.v1.DriverService`: what a driver's app (or an in-car terminal gateway) talks to.
//!
//! # Layout
//! - [`positions`]: checks one position report; the stream handler batches the good ones
//!   into the store and explains every refusal.
//! - [`hub`]: routes dispatch notifications to the driver streams of this process, in
//!   order per stream, and replays what a taxi holds when its stream (re)connects.
//! - this module: the tonic service: shifts, positions, street hails, offers and trip steps.
//!
//! Streams end on the server's shutdown signal, so a graceful shutdown is never held
//! open by a driver's phone.
//!
//! Who acts: every RPC acts for the taxi of the caller's credential ([`taxi_of`]): a
//! driver's token for its own taxi only (a `taxi_id` naming another is PERMISSION_DENIED,
//! nothing stored), the gateway's for any taxi of its city. A stream is authenticated once,
//! when it opens, and ends when the caller's session is revoked (`Caller::revoked`), not
//! when its access token expires.

pub mod hub;
pub mod positions;

use futures::StreamExt;
use taxi_auth::{Caller, Role};
use taxi_domain::settings::Settings;
use taxi_domain::taxi::TaxiEvent;
use taxi_domain::validate;
use taxi_edge::{ApiError, view};
use taxi_edge::{ApiResult, convert};
use taxi_proto::v1 as pb;
use taxi_proto::v1::driver_service_server::{DriverService, DriverServiceServer};
use taxi_store::dispatch::TripStep;
use taxi_store::feed::Seq;
use taxi_store::guarantee::{PairRefusal, PairState, PairedTrip};
use taxi_store::taxis::FixOutcome;
use taxi_store::{Store, StoreError};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

/// Most rejections described in a `ReportPositions` reply.
pub const MAX_REJECTIONS_LISTED: usize = 100;

/// The driver gateway of one city.
#[derive(Debug, Clone)]
pub struct Driver {
    store: Store,
    settings: Settings,
    shutdown: CancellationToken,
    hub: hub::Hub,
}

/// The taxi a call of `c` acts for, given the request's `field`: see
/// [`taxi_auth::Identity::acting_taxi`]. Another taxi than a driver's own is
/// PERMISSION_DENIED naming the field; a gateway that names none, INVALID_ARGUMENT.
pub fn taxi_of(c: &Caller, field: &str, requested: &str) -> ApiResult<String> {
    let taxi = c.identity.acting_taxi(requested).map_err(|why| match why {
        Some(why) => ApiError::denied(field, why),
        None => ApiError::invalid(field, "is required"),
    })?;
    Ok(validate::id(field, &taxi)?)
}

/// Highest fare accepted, in cents (10,000 yuan).
pub const MAX_FARE_CENTS: i64 = 1_000_000;

impl Driver {
    /// A driver gateway over `store` delivering through `hub`; its streams end when
    /// `shutdown` is cancelled.
    pub fn new(
        store: Store,
        settings: Settings,
        shutdown: CancellationToken,
        hub: hub::Hub,
    ) -> Self {
        Self {
            store,
            settings,
            shutdown,
            hub,
        }
    }

    fn ids(c: &Caller, taxi_id: &str, order_id: &str) -> ApiResult<(String, String)> {
        Ok((
            taxi_of(c, "taxi_id", taxi_id)?,
            validate::id("order_id", order_id)?,
        ))
    }

    async fn accept(
        &self,
        c: &Caller,
        r: pb::AcceptOfferRequest,
    ) -> ApiResult<pb::AcceptOfferResponse> {
        let (taxi, order) = Self::ids(c, &r.taxi_id, &r.order_id)?;
        let eta = view::eta_to_pickup(&self.store, &order, &taxi).await?;
        let accepted = self
            .store
            .accept_offer(&order, &taxi, eta, &self.settings.trip_watch)
            .await;
        if let Err(e) = accepted {
            return Err(self.refusal(c, &order, &taxi, e).await);
        }
        tracing::info!(taxi_id = %taxi, order_id = %order, eta, "offer accepted");
        let o = self.store.get_order(&order).await?;
        Ok(pb::AcceptOfferResponse {
            order: Some(view::order(&self.store, &o, true).await?),
        })
    }

    /// An offer answer the store refused: for a driver, PERMISSION_DENIED when the order
    /// is on offer and its taxi does not hold it (someone else's offer); else the store's
    /// reason (the gateway, answering late for a taxi, learns the offer moved on).
    /// Read only on the refusal path, so an accepted offer costs nothing more.
    async fn refusal(
        &self,
        c: &Caller,
        order: &str,
        taxi: &str,
        e: taxi_store::StoreError,
    ) -> ApiError {
        if c.identity.role == taxi_auth::Role::Driver
            && matches!(
                e,
                taxi_store::StoreError::OfferGone {
                    status: Some(taxi_domain::order::OrderStatus::Offered)
                }
            )
            && let Ok(held) = self.store.held_order(taxi).await
            && held.as_deref() != Some(order)
        {
            return ApiError::denied("order_id", "the offer is another taxi's");
        }
        e.into()
    }

    async fn decline(
        &self,
        c: &Caller,
        r: pb::DeclineOfferRequest,
    ) -> ApiResult<pb::DeclineOfferResponse> {
        let (taxi, order) = Self::ids(c, &r.taxi_id, &r.order_id)?;
        let reason = validate::text("reason", &r.reason, 100)?;
        if let Err(e) = self.store.decline_offer(&order, &taxi).await {
            return Err(self.refusal(c, &order, &taxi, e).await);
        }
        tracing::info!(taxi_id = %taxi, order_id = %order, %reason, "offer declined");
        Ok(pb::DeclineOfferResponse {})
    }

    /// A paired trip on the wire.
    fn paired_trip(t: &PairedTrip) -> pb::PairedTrip {
        let o = &t.order;
        pb::PairedTrip {
            order_id: o.id.clone(),
            pattern_id: t.pattern.clone(),
            pickup_time: Some(convert::timestamp(o.pickup_ms)),
            pickup: Some(convert::place_to(&o.pickup)),
            dropoff: o.dropoff.as_ref().map(convert::place_to),
            state: match t.state {
                PairState::Unconfirmed => pb::PairedTripState::Unconfirmed,
                PairState::Confirmed => pb::PairedTripState::Confirmed,
                PairState::Refused => pb::PairedTripState::Refused,
            } as i32,
            status: convert::order_status(o.status) as i32,
            passenger_name: o.name.clone(),
        }
    }

    /// The paired driver's answer to one coming trip.
    async fn answer_paired(
        &self,
        c: &Caller,
        taxi_id: &str,
        order_id: &str,
        confirm: bool,
    ) -> ApiResult<pb::PairedTrip> {
        let (taxi, order) = Self::ids(c, taxi_id, order_id)?;
        match self.store.answer_paired(&taxi, &order, confirm).await? {
            Ok(t) => {
                tracing::info!(taxi_id = %taxi, order_id = %order, confirm, "paired trip answered");
                Ok(Self::paired_trip(&t))
            }
            Err(PairRefusal::Dispatched(s)) => Err(ApiError::FailedPrecondition(format!(
                "order_id: the trip is already {} and can no longer be answered",
                s.code()
            ))),
            Err(_) => Err(ApiError::denied(
                "order_id",
                "is not a trip this taxi is paired with",
            )),
        }
    }

    async fn step(
        &self,
        c: &Caller,
        taxi_id: &str,
        order_id: &str,
        step: TripStep,
        fare: i64,
        paid: i32,
    ) -> ApiResult<pb::Order> {
        let (taxi, order) = Self::ids(c, taxi_id, order_id)?;
        let paid_by = if step == TripStep::Complete {
            if !(0..=MAX_FARE_CENTS).contains(&fare) {
                return Err(ApiError::invalid(
                    "fare_cents",
                    format!("must be 0 to {MAX_FARE_CENTS}"),
                ));
            }
            let o = self.store.get_order(&order).await?;
            Some(convert::payment_from("paid_by", paid, o.payment)?)
        } else {
            None
        };
        self.store
            .trip_step(
                &order,
                &taxi,
                step,
                fare,
                paid_by,
                &self.settings.trip_watch,
            )
            .await
            .map_err(|e| match e {
                // For a driver, an order its taxi does not hold is another's (or nobody's):
                // not a state it could wait out.
                StoreError::NotAssigned { order, taxi } if c.identity.role == Role::Driver => {
                    ApiError::denied(
                        "order_id",
                        format!("order {order} is not held by this driver's taxi {taxi}"),
                    )
                }
                e => e.into(),
            })?;
        tracing::info!(taxi_id = %taxi, order_id = %order, ?step, "trip step");
        let o = self.store.get_order(&order).await?;
        Ok(view::order(&self.store, &o, true).await?)
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> DriverServiceServer<Self> {
        DriverServiceServer::new(self)
    }

    async fn shift(&self, c: &Caller, taxi_id: &str, event: TaxiEvent) -> ApiResult<pb::Taxi> {
        let id = taxi_of(c, "taxi_id", taxi_id)?;
        let taxi = self.store.transition_taxi(&id, event).await?;
        tracing::info!(taxi_id = %id, state = ?taxi.state, audit = event.audit().code(), "taxi event");
        Ok(convert::taxi(&taxi))
    }

    async fn report(
        &self,
        c: &Caller,
        mut stream: Streaming<pb::ReportPositionsRequest>,
    ) -> Result<pb::ReportPositionsResponse, Status> {
        // A driver reports for its own taxi only (an empty id is its own); the gateway for
        // any, naming each.
        let own = (c.identity.role == Role::Driver).then(|| c.identity.id.clone());
        let mut reply = pb::ReportPositionsResponse::default();
        let mut index: u64 = 0;
        let reject = |reply: &mut pb::ReportPositionsResponse, r: pb::PositionRejection| {
            reply.rejected += 1;
            if reply.rejections.len() < MAX_REJECTIONS_LISTED {
                reply.rejections.push(r);
            }
        };
        loop {
            let message = tokio::select! {
                m = stream.next() => m,
                () = self.shutdown.cancelled() => break,
            };
            let Some(message) = message else { break };
            let mut message = message?;
            if let Some(own) = &own {
                // Checked for the whole message before any of it is stored.
                for (i, report) in message.positions.iter_mut().enumerate() {
                    if report.taxi_id.is_empty() {
                        report.taxi_id.clone_from(own);
                    } else if report.taxi_id != *own {
                        return Err(ApiError::denied(
                            format!("positions[{i}].taxi_id"),
                            format!("a driver reports only for its own taxi {own}; nothing in this message was stored"),
                        )
                        .into());
                    }
                }
            }
            let now = self.store.now_ms();
            let mut fixes = Vec::with_capacity(message.positions.len());
            let mut fix_index = Vec::with_capacity(message.positions.len());
            for (i, report) in message.positions.iter().enumerate() {
                let at = index + i as u64;
                if i >= positions::MAX_PER_MESSAGE {
                    reject(
                        &mut reply,
                        positions::rejection(
                            at,
                            report,
                            "positions",
                            "more than 1,000 reports in one message",
                        ),
                    );
                    continue;
                }
                match positions::check(report, now, &self.settings) {
                    Ok(fix) => {
                        fixes.push(fix);
                        fix_index.push(at);
                    }
                    Err(e) => reject(
                        &mut reply,
                        positions::rejection(at, report, &e.field, &e.reason),
                    ),
                }
            }
            index += message.positions.len() as u64;
            if fixes.is_empty() {
                continue;
            }
            let stored = self
                .store
                .report_positions(&fixes, self.settings.position_fresh.as_millis() as i64)
                .await;
            let outcomes = match stored {
                Ok(o) => o,
                Err(e) => {
                    // One message that could not be stored does not end the stream: its
                    // reports are answered as refused, and the next message is tried.
                    tracing::warn!(error = %e, reports = fixes.len(), "positions not stored");
                    let reason = match e {
                        taxi_store::StoreError::Unavailable(_) => {
                            "not stored: the data store is unavailable; send it again"
                        }
                        _ => "not stored: the data store failed; it has been logged",
                    };
                    for (fix, at) in fixes.iter().zip(fix_index) {
                        reject(
                            &mut reply,
                            pb::PositionRejection {
                                index: at,
                                taxi_id: fix.taxi_id.clone(),
                                field: "positions".into(),
                                reason: reason.into(),
                            },
                        );
                    }
                    continue;
                }
            };
            for ((fix, at), outcome) in fixes.iter().zip(fix_index).zip(outcomes) {
                let why = match outcome {
                    FixOutcome::Stored => {
                        reply.accepted += 1;
                        continue;
                    }
                    FixOutcome::UnknownTaxi => {
                        ("taxi_id", format!("taxi {} not found", fix.taxi_id))
                    }
                    FixOutcome::OffDuty => {
                        ("taxi_id", "the taxi is off duty; sign on first".to_string())
                    }
                    FixOutcome::Superseded => (
                        "fix_time",
                        "older than the taxi's last stored fix; ignored".to_string(),
                    ),
                };
                reject(
                    &mut reply,
                    pb::PositionRejection {
                        index: at,
                        taxi_id: fix.taxi_id.clone(),
                        field: why.0.to_string(),
                        reason: why.1,
                    },
                );
            }
        }
        reply.rejections.sort_by_key(|r| r.index);
        tracing::debug!(
            accepted = reply.accepted,
            rejected = reply.rejected,
            "position stream ended"
        );
        Ok(reply)
    }
}

#[tonic::async_trait]
impl DriverService for Driver {
    #[tracing::instrument(name = "SignOn", skip_all, fields(taxi_id = %request.get_ref().taxi_id))]
    async fn sign_on(
        &self,
        request: Request<pb::SignOnRequest>,
    ) -> Result<Response<pb::SignOnResponse>, Status> {
        let taxi = self
            .shift(
                taxi_auth::caller(&request)?,
                &request.get_ref().taxi_id,
                TaxiEvent::SignOn,
            )
            .await?;
        Ok(Response::new(pb::SignOnResponse { taxi: Some(taxi) }))
    }

    #[tracing::instrument(name = "SignOff", skip_all, fields(taxi_id = %request.get_ref().taxi_id))]
    async fn sign_off(
        &self,
        request: Request<pb::SignOffRequest>,
    ) -> Result<Response<pb::SignOffResponse>, Status> {
        let taxi = self
            .shift(
                taxi_auth::caller(&request)?,
                &request.get_ref().taxi_id,
                TaxiEvent::SignOff,
            )
            .await?;
        Ok(Response::new(pb::SignOffResponse { taxi: Some(taxi) }))
    }

    #[tracing::instrument(name = "ReportPositions", skip_all)]
    async fn report_positions(
        &self,
        request: Request<Streaming<pb::ReportPositionsRequest>>,
    ) -> Result<Response<pb::ReportPositionsResponse>, Status> {
        let c = taxi_auth::caller(&request)?.clone();
        Ok(Response::new(self.report(&c, request.into_inner()).await?))
    }

    type StreamDispatchesStream = std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<pb::StreamDispatchesResponse, Status>> + Send>,
    >;

    #[tracing::instrument(name = "StreamDispatches", skip_all, fields(taxi_id = %request.get_ref().taxi_id))]
    async fn stream_dispatches(
        &self,
        request: Request<pb::StreamDispatchesRequest>,
    ) -> Result<Response<Self::StreamDispatchesStream>, Status> {
        let c = taxi_auth::caller(&request)?.clone();
        let taxi = taxi_of(&c, "taxi_id", &request.get_ref().taxi_id)?;
        let resume_after = match request.get_ref().resume_after.as_str() {
            "" => None,
            text => Some(Seq::parse(text).ok_or_else(|| {
                ApiError::invalid(
                    "resume_after",
                    "must be the `seq` of an event this stream sent (<ms>-<n>)",
                )
            })?),
        };
        self.store.get_taxi(&taxi).await.map_err(ApiError::from)?;
        // Authenticated once, here: the stream outlives its access token, not its session.
        let revoked = async move { c.revoked().await };
        let rx = self
            .hub
            .open(&taxi, resume_after, self.shutdown.clone(), revoked);
        tracing::info!(taxi_id = %taxi, "driver stream opened");
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx).map(|sent| *sent),
        )))
    }

    #[tracing::instrument(name = "AcceptOffer", skip_all, fields(taxi_id = %r.get_ref().taxi_id, order_id = %r.get_ref().order_id))]
    async fn accept_offer(
        &self,
        r: Request<pb::AcceptOfferRequest>,
    ) -> Result<Response<pb::AcceptOfferResponse>, Status> {
        let c = taxi_auth::caller(&r)?.clone();
        Ok(Response::new(self.accept(&c, r.into_inner()).await?))
    }

    #[tracing::instrument(name = "DeclineOffer", skip_all, fields(taxi_id = %r.get_ref().taxi_id, order_id = %r.get_ref().order_id))]
    async fn decline_offer(
        &self,
        r: Request<pb::DeclineOfferRequest>,
    ) -> Result<Response<pb::DeclineOfferResponse>, Status> {
        let c = taxi_auth::caller(&r)?.clone();
        Ok(Response::new(self.decline(&c, r.into_inner()).await?))
    }

    #[tracing::instrument(name = "ArriveAtPickup", skip_all, fields(taxi_id = %r.get_ref().taxi_id, order_id = %r.get_ref().order_id))]
    async fn arrive_at_pickup(
        &self,
        r: Request<pb::ArriveAtPickupRequest>,
    ) -> Result<Response<pb::ArriveAtPickupResponse>, Status> {
        let c = taxi_auth::caller(&r)?.clone();
        let r = r.into_inner();
        let order = self
            .step(&c, &r.taxi_id, &r.order_id, TripStep::Arrive, 0, 0)
            .await?;
        Ok(Response::new(pb::ArriveAtPickupResponse {
            order: Some(order),
        }))
    }

    #[tracing::instrument(name = "StartTrip", skip_all, fields(taxi_id = %r.get_ref().taxi_id, order_id = %r.get_ref().order_id))]
    async fn start_trip(
        &self,
        r: Request<pb::StartTripRequest>,
    ) -> Result<Response<pb::StartTripResponse>, Status> {
        let c = taxi_auth::caller(&r)?.clone();
        let r = r.into_inner();
        let order = self
            .step(&c, &r.taxi_id, &r.order_id, TripStep::Start, 0, 0)
            .await?;
        Ok(Response::new(pb::StartTripResponse { order: Some(order) }))
    }

    #[tracing::instrument(name = "CompleteTrip", skip_all, fields(taxi_id = %r.get_ref().taxi_id, order_id = %r.get_ref().order_id))]
    async fn complete_trip(
        &self,
        r: Request<pb::CompleteTripRequest>,
    ) -> Result<Response<pb::CompleteTripResponse>, Status> {
        let c = taxi_auth::caller(&r)?.clone();
        let r = r.into_inner();
        let order = self
            .step(
                &c,
                &r.taxi_id,
                &r.order_id,
                TripStep::Complete,
                r.fare_cents,
                r.paid_by,
            )
            .await?;
        Ok(Response::new(pb::CompleteTripResponse {
            order: Some(order),
        }))
    }

    #[tracing::instrument(name = "StartStreetHail", skip_all, fields(taxi_id = %request.get_ref().taxi_id))]
    async fn start_street_hail(
        &self,
        request: Request<pb::StartStreetHailRequest>,
    ) -> Result<Response<pb::StartStreetHailResponse>, Status> {
        let taxi = self
            .shift(
                taxi_auth::caller(&request)?,
                &request.get_ref().taxi_id,
                TaxiEvent::StartStreetHail,
            )
            .await?;
        Ok(Response::new(pb::StartStreetHailResponse {
            taxi: Some(taxi),
        }))
    }

    #[tracing::instrument(name = "EndStreetHail", skip_all, fields(taxi_id = %request.get_ref().taxi_id))]
    async fn end_street_hail(
        &self,
        request: Request<pb::EndStreetHailRequest>,
    ) -> Result<Response<pb::EndStreetHailResponse>, Status> {
        let taxi = self
            .shift(
                taxi_auth::caller(&request)?,
                &request.get_ref().taxi_id,
                TaxiEvent::EndStreetHail,
            )
            .await?;
        Ok(Response::new(pb::EndStreetHailResponse {
            taxi: Some(taxi),
        }))
    }

    #[tracing::instrument(name = "ListPairedTrips", skip_all, fields(taxi_id = %r.get_ref().taxi_id))]
    async fn list_paired_trips(
        &self,
        r: Request<pb::ListPairedTripsRequest>,
    ) -> Result<Response<pb::ListPairedTripsResponse>, Status> {
        let c = taxi_auth::caller(&r)?.clone();
        let taxi = taxi_of(&c, "taxi_id", &r.get_ref().taxi_id)?;
        let trips = self
            .store
            .paired_trips(&taxi)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::ListPairedTripsResponse {
            trips: trips.iter().map(Self::paired_trip).collect(),
        }))
    }

    #[tracing::instrument(name = "ConfirmPairedTrip", skip_all, fields(taxi_id = %r.get_ref().taxi_id, order_id = %r.get_ref().order_id))]
    async fn confirm_paired_trip(
        &self,
        r: Request<pb::ConfirmPairedTripRequest>,
    ) -> Result<Response<pb::ConfirmPairedTripResponse>, Status> {
        let c = taxi_auth::caller(&r)?.clone();
        let r = r.into_inner();
        let trip = self
            .answer_paired(&c, &r.taxi_id, &r.order_id, true)
            .await?;
        Ok(Response::new(pb::ConfirmPairedTripResponse {
            trip: Some(trip),
        }))
    }

    #[tracing::instrument(name = "RefusePairedTrip", skip_all, fields(taxi_id = %r.get_ref().taxi_id, order_id = %r.get_ref().order_id))]
    async fn refuse_paired_trip(
        &self,
        r: Request<pb::RefusePairedTripRequest>,
    ) -> Result<Response<pb::RefusePairedTripResponse>, Status> {
        let c = taxi_auth::caller(&r)?.clone();
        let r = r.into_inner();
        let trip = self
            .answer_paired(&c, &r.taxi_id, &r.order_id, false)
            .await?;
        Ok(Response::new(pb::RefusePairedTripResponse {
            trip: Some(trip),
        }))
    }
}
