//! `taxi.v1.DriverService`: what a driver's app (or an in-car terminal gateway) talks to.
//!
//! # Layout
//! - [`positions`]: checks one position report; the stream handler batches the good ones
//!   into the store and explains every refusal.
//! - this module: the tonic service: shifts, positions, street hails, and the dispatch
//!   steps (offers, trip) served from the dispatch engine.
//!
//! Streams end on the server's shutdown signal, so a graceful shutdown is never held
//! open by a driver's phone.

pub mod positions;

use futures::StreamExt;
use taxi_domain::settings::Settings;
use taxi_domain::taxi::TaxiEvent;
use taxi_domain::validate;
use taxi_edge::{ApiResult, convert};
use taxi_proto::v1 as pb;
use taxi_proto::v1::driver_service_server::{DriverService, DriverServiceServer};
use taxi_store::Store;
use taxi_store::taxis::FixOutcome;
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
}

impl Driver {
    /// A driver gateway over `store`; its streams end when `shutdown` is cancelled.
    pub fn new(store: Store, settings: Settings, shutdown: CancellationToken) -> Self {
        Self {
            store,
            settings,
            shutdown,
        }
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> DriverServiceServer<Self> {
        DriverServiceServer::new(self)
    }

    async fn shift(&self, taxi_id: &str, event: TaxiEvent, kind: &str) -> ApiResult<pb::Taxi> {
        let id = validate::id("taxi_id", taxi_id)?;
        let taxi = self.store.transition_taxi(&id, event, kind).await?;
        tracing::info!(taxi_id = %id, state = ?taxi.state, "{kind}");
        Ok(convert::taxi(&taxi))
    }

    async fn report(
        &self,
        mut stream: Streaming<pb::ReportPositionsRequest>,
    ) -> Result<pb::ReportPositionsResponse, Status> {
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
            let message = message?;
            let now = taxi_store::now_ms();
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
            let outcomes = self
                .store
                .report_positions(&fixes)
                .await
                .map_err(taxi_edge::ApiError::from)?;
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

fn unimplemented<T>(what: &str) -> Result<T, Status> {
    Err(Status::unimplemented(format!(
        "{what} is not implemented yet"
    )))
}

#[tonic::async_trait]
impl DriverService for Driver {
    #[tracing::instrument(name = "SignOn", skip_all, fields(taxi_id = %request.get_ref().taxi_id))]
    async fn sign_on(
        &self,
        request: Request<pb::SignOnRequest>,
    ) -> Result<Response<pb::SignOnResponse>, Status> {
        let taxi = self
            .shift(&request.get_ref().taxi_id, TaxiEvent::SignOn, "signed_on")
            .await?;
        Ok(Response::new(pb::SignOnResponse { taxi: Some(taxi) }))
    }

    #[tracing::instrument(name = "SignOff", skip_all, fields(taxi_id = %request.get_ref().taxi_id))]
    async fn sign_off(
        &self,
        request: Request<pb::SignOffRequest>,
    ) -> Result<Response<pb::SignOffResponse>, Status> {
        let taxi = self
            .shift(&request.get_ref().taxi_id, TaxiEvent::SignOff, "signed_off")
            .await?;
        Ok(Response::new(pb::SignOffResponse { taxi: Some(taxi) }))
    }

    #[tracing::instrument(name = "ReportPositions", skip_all)]
    async fn report_positions(
        &self,
        request: Request<Streaming<pb::ReportPositionsRequest>>,
    ) -> Result<Response<pb::ReportPositionsResponse>, Status> {
        Ok(Response::new(self.report(request.into_inner()).await?))
    }

    type StreamDispatchesStream = std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<pb::StreamDispatchesResponse, Status>> + Send>,
    >;

    async fn stream_dispatches(
        &self,
        _request: Request<pb::StreamDispatchesRequest>,
    ) -> Result<Response<Self::StreamDispatchesStream>, Status> {
        unimplemented("StreamDispatches")
    }

    async fn accept_offer(
        &self,
        _r: Request<pb::AcceptOfferRequest>,
    ) -> Result<Response<pb::AcceptOfferResponse>, Status> {
        unimplemented("AcceptOffer")
    }

    async fn decline_offer(
        &self,
        _r: Request<pb::DeclineOfferRequest>,
    ) -> Result<Response<pb::DeclineOfferResponse>, Status> {
        unimplemented("DeclineOffer")
    }

    async fn arrive_at_pickup(
        &self,
        _r: Request<pb::ArriveAtPickupRequest>,
    ) -> Result<Response<pb::ArriveAtPickupResponse>, Status> {
        unimplemented("ArriveAtPickup")
    }

    async fn start_trip(
        &self,
        _r: Request<pb::StartTripRequest>,
    ) -> Result<Response<pb::StartTripResponse>, Status> {
        unimplemented("StartTrip")
    }

    async fn complete_trip(
        &self,
        _r: Request<pb::CompleteTripRequest>,
    ) -> Result<Response<pb::CompleteTripResponse>, Status> {
        unimplemented("CompleteTrip")
    }

    #[tracing::instrument(name = "StartStreetHail", skip_all, fields(taxi_id = %request.get_ref().taxi_id))]
    async fn start_street_hail(
        &self,
        request: Request<pb::StartStreetHailRequest>,
    ) -> Result<Response<pb::StartStreetHailResponse>, Status> {
        let taxi = self
            .shift(
                &request.get_ref().taxi_id,
                TaxiEvent::StartStreetHail,
                "street_hail_started",
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
                &request.get_ref().taxi_id,
                TaxiEvent::EndStreetHail,
                "street_hail_ended",
            )
            .await?;
        Ok(Response::new(pb::EndStreetHailResponse {
            taxi: Some(taxi),
        }))
    }
}
