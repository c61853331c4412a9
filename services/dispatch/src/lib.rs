//! `taxi.v1.DispatchService and the matching engine`: workers, offers, call-backs, manual assignment, KPIs.

use taxi_domain::settings::Settings;
use taxi_proto::v1 as pb;
use taxi_proto::v1::dispatch_service_server::{DispatchService, DispatchServiceServer};
use taxi_store::Store;
use tonic::{Request, Response, Status};

/// The service of one city.
#[derive(Debug, Clone)]
pub struct Dispatch {
    #[allow(dead_code)]
    store: Store,
    #[allow(dead_code)]
    settings: Settings,
}

impl Dispatch {
    /// The service over `store`.
    pub fn new(store: Store, settings: Settings) -> Self {
        Self { store, settings }
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> DispatchServiceServer<Self> {
        DispatchServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl DispatchService for Dispatch {
    async fn list_pending_orders(
        &self,
        _request: Request<pb::ListPendingOrdersRequest>,
    ) -> Result<Response<pb::ListPendingOrdersResponse>, Status> {
        Err(Status::unimplemented(
            "ListPendingOrders is not implemented yet",
        ))
    }

    async fn list_callbacks(
        &self,
        _request: Request<pb::ListCallbacksRequest>,
    ) -> Result<Response<pb::ListCallbacksResponse>, Status> {
        Err(Status::unimplemented(
            "ListCallbacks is not implemented yet",
        ))
    }

    async fn assign_order(
        &self,
        _request: Request<pb::AssignOrderRequest>,
    ) -> Result<Response<pb::AssignOrderResponse>, Status> {
        Err(Status::unimplemented("AssignOrder is not implemented yet"))
    }

    async fn get_dispatch_stats(
        &self,
        _request: Request<pb::GetDispatchStatsRequest>,
    ) -> Result<Response<pb::GetDispatchStatsResponse>, Status> {
        Err(Status::unimplemented(
            "GetDispatchStats is not implemented yet",
        ))
    }
}
