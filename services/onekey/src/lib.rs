//! `taxi.v1.OneKeyService`: one-button devices for older people (register, press, status, cancel).

use taxi_domain::settings::Settings;
use taxi_proto::v1 as pb;
use taxi_proto::v1::one_key_service_server::{OneKeyService, OneKeyServiceServer};
use taxi_store::Store;
use tonic::{Request, Response, Status};

/// The service of one city.
#[derive(Debug, Clone)]
pub struct OneKey {
    #[allow(dead_code)]
    store: Store,
    #[allow(dead_code)]
    settings: Settings,
}

impl OneKey {
    /// The service over `store`.
    pub fn new(store: Store, settings: Settings) -> Self {
        Self { store, settings }
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> OneKeyServiceServer<Self> {
        OneKeyServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl OneKeyService for OneKey {
    async fn register_device(
        &self,
        _request: Request<pb::RegisterDeviceRequest>,
    ) -> Result<Response<pb::RegisterDeviceResponse>, Status> {
        Err(Status::unimplemented(
            "RegisterDevice is not implemented yet",
        ))
    }

    async fn press_button(
        &self,
        _request: Request<pb::PressButtonRequest>,
    ) -> Result<Response<pb::PressButtonResponse>, Status> {
        Err(Status::unimplemented("PressButton is not implemented yet"))
    }

    async fn get_device_status(
        &self,
        _request: Request<pb::GetDeviceStatusRequest>,
    ) -> Result<Response<pb::GetDeviceStatusResponse>, Status> {
        Err(Status::unimplemented(
            "GetDeviceStatus is not implemented yet",
        ))
    }

    async fn cancel_device_order(
        &self,
        _request: Request<pb::CancelDeviceOrderRequest>,
    ) -> Result<Response<pb::CancelDeviceOrderResponse>, Status> {
        Err(Status::unimplemented(
            "CancelDeviceOrder is not implemented yet",
        ))
    }
}
