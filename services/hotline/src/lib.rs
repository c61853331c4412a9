//! `taxi.v1.HotlineService`: the 95128 call centre (screen pop, phone-switch priority, callers, bookings, orders, alerts).

use taxi_domain::settings::Settings;
use taxi_proto::v1 as pb;
use taxi_proto::v1::hotline_service_server::{HotlineService, HotlineServiceServer};
use taxi_store::Store;
use tonic::{Request, Response, Status};

/// The service of one city.
#[derive(Debug, Clone)]
pub struct Hotline {
    #[allow(dead_code)]
    store: Store,
    #[allow(dead_code)]
    settings: Settings,
}

impl Hotline {
    /// The service over `store`.
    pub fn new(store: Store, settings: Settings) -> Self {
        Self { store, settings }
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> HotlineServiceServer<Self> {
        HotlineServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl HotlineService for Hotline {
    async fn lookup_caller(
        &self,
        _request: Request<pb::LookupCallerRequest>,
    ) -> Result<Response<pb::LookupCallerResponse>, Status> {
        Err(Status::unimplemented("LookupCaller is not implemented yet"))
    }

    async fn classify_call(
        &self,
        _request: Request<pb::ClassifyCallRequest>,
    ) -> Result<Response<pb::ClassifyCallResponse>, Status> {
        Err(Status::unimplemented("ClassifyCall is not implemented yet"))
    }

    async fn upsert_caller(
        &self,
        _request: Request<pb::UpsertCallerRequest>,
    ) -> Result<Response<pb::UpsertCallerResponse>, Status> {
        Err(Status::unimplemented("UpsertCaller is not implemented yet"))
    }

    async fn create_booking(
        &self,
        _request: Request<pb::CreateBookingRequest>,
    ) -> Result<Response<pb::CreateBookingResponse>, Status> {
        Err(Status::unimplemented(
            "CreateBooking is not implemented yet",
        ))
    }

    async fn repeat_last_trip(
        &self,
        _request: Request<pb::RepeatLastTripRequest>,
    ) -> Result<Response<pb::RepeatLastTripResponse>, Status> {
        Err(Status::unimplemented(
            "RepeatLastTrip is not implemented yet",
        ))
    }

    async fn get_order(
        &self,
        _request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::GetOrderResponse>, Status> {
        Err(Status::unimplemented("GetOrder is not implemented yet"))
    }

    async fn list_orders(
        &self,
        _request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        Err(Status::unimplemented("ListOrders is not implemented yet"))
    }

    async fn cancel_order(
        &self,
        _request: Request<pb::CancelOrderRequest>,
    ) -> Result<Response<pb::CancelOrderResponse>, Status> {
        Err(Status::unimplemented("CancelOrder is not implemented yet"))
    }

    async fn list_alerts(
        &self,
        _request: Request<pb::ListAlertsRequest>,
    ) -> Result<Response<pb::ListAlertsResponse>, Status> {
        Err(Status::unimplemented("ListAlerts is not implemented yet"))
    }

    async fn acknowledge_alert(
        &self,
        _request: Request<pb::AcknowledgeAlertRequest>,
    ) -> Result<Response<pb::AcknowledgeAlertResponse>, Status> {
        Err(Status::unimplemented(
            "AcknowledgeAlert is not implemented yet",
        ))
    }
}
