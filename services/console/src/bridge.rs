//! In-process gRPC: the console's JSON endpoints call the real services through the same
//! authorization layer a gRPC client meets, with the operator's access token and the
//! browser's address, so the policy table, scope, validation, field-named errors and the
//! operators' audit log are exactly the gRPC API's.
//!
//! `POST /console/api/rpc/<Service>/<Method>` takes the request message as JSON and
//! answers the response message as JSON, both in the proto3 JSON mapping with the
//! `.proto` field names (enums by name, 64-bit integers as strings, timestamps in RFC
//! 3339). Only the methods in [`EXPOSED`] are reachable this way.

use crate::Shared;
use crate::error::ApiError;
use crate::session;
use axum::Json;
use axum::extract::{Path, State};
use bytes::{Buf, BufMut, Bytes};
use http::{Extensions, HeaderMap};
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, SerializeOptions};
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::server::TcpConnectInfo;

/// The gRPC services behind the auth layer.
pub type Grpc = taxi_auth::layer::AuthService<tonic::service::Routes>;

/// The RPCs the page may call through `/console/api/rpc/...` (the policy table still
/// decides who may call each).
pub const EXPOSED: &[&str] = &[
    "taxi.v1.AuthService/WhoAmI",
    "taxi.v1.HotlineService/LookupCaller",
    "taxi.v1.HotlineService/UpsertCaller",
    "taxi.v1.HotlineService/CreateBooking",
    "taxi.v1.HotlineService/RepeatLastTrip",
    "taxi.v1.HotlineService/GetOrder",
    "taxi.v1.HotlineService/ListOrders",
    "taxi.v1.HotlineService/CancelOrder",
    "taxi.v1.HotlineService/ListAlerts",
    "taxi.v1.HotlineService/AcknowledgeAlert",
    "taxi.v1.HotlineService/ResolveAlert",
    "taxi.v1.HotlineService/GetAlert",
    "taxi.v1.DispatchService/ListPendingOrders",
    "taxi.v1.DispatchService/ListCallbacks",
    "taxi.v1.DispatchService/ResolveCallback",
    "taxi.v1.DispatchService/AssignOrder",
    "taxi.v1.DispatchService/GetDispatchStats",
    "taxi.v1.DispatchService/ListStuckOrders",
    "taxi.v1.DispatchService/RedispatchOrder",
    "taxi.v1.FleetService/GetTaxi",
    "taxi.v1.FleetService/ListNearbyTaxis",
    "taxi.v1.CallCentreService/GetCallCentreStats",
    "taxi.v1.CallCentreService/SetSeatState",
    "taxi.v1.CallCentreService/GetSeat",
];

/// The API's descriptors (with the well-known types they import).
static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(taxi_proto::FILE_DESCRIPTOR_SET)
        .expect("the API's file descriptor set decodes")
});

/// The method `<Service>/<Method>` of package `taxi.v1`, if exposed.
pub fn exposed_method(service: &str, method: &str) -> Option<MethodDescriptor> {
    let full = format!("{service}/{method}");
    if !EXPOSED.contains(&full.as_str()) {
        return None;
    }
    POOL.get_service_by_name(service)?
        .methods()
        .find(|m| m.name() == method)
}

/// Calls into the gRPC services of this process.
#[derive(Debug, Clone)]
pub struct Bridge {
    grpc: Grpc,
}

impl Bridge {
    /// A bridge to `grpc`.
    pub fn new(grpc: Grpc) -> Self {
        Self { grpc }
    }

    /// Calls `path` (`/taxi.v1.<Service>/<Method>`) with an encoded request; the token
    /// (if any) as the bearer credential, `peer` as the caller's address.
    pub async fn call_raw(
        &self,
        path: &str,
        body: Bytes,
        token: Option<&str>,
        peer: Option<SocketAddr>,
    ) -> Result<Bytes, Status> {
        let mut grpc = tonic::client::Grpc::new(self.grpc.clone());
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(format!("console bridge: {e}")))?;
        let mut req = tonic::Request::new(body);
        if let Some(token) = token {
            let value = format!("Bearer {token}")
                .parse()
                .map_err(|_| Status::unauthenticated("the session cookie is malformed"))?;
            req.metadata_mut().insert("authorization", value);
        }
        if let Some(peer) = peer {
            req.extensions_mut().insert(TcpConnectInfo {
                local_addr: None,
                remote_addr: Some(peer),
            });
        }
        let path = http::uri::PathAndQuery::try_from(path)
            .map_err(|_| Status::internal("console bridge: bad path"))?;
        Ok(grpc.unary(req, path, RawCodec).await?.into_inner())
    }

    /// A typed call.
    pub async fn call<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        path: &str,
        req: &Req,
        token: Option<&str>,
        peer: Option<SocketAddr>,
    ) -> Result<Resp, Status> {
        let reply = self
            .call_raw(path, Bytes::from(req.encode_to_vec()), token, peer)
            .await?;
        Resp::decode(reply).map_err(|e| Status::internal(format!("console bridge: {e}")))
    }
}

/// `POST /console/api/rpc/{service}/{method}`: one exposed RPC, JSON in and out.
pub(crate) async fn rpc(
    State(shared): State<Arc<Shared>>,
    Path((service, method)): Path<(String, String)>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    session::csrf(&headers)?;
    let token = session::access_token(&headers)?;
    let Some(desc) = exposed_method(&service, &method) else {
        return Err(ApiError::new(
            tonic::Code::NotFound,
            format!("{service}/{method} is not part of the console's API"),
        ));
    };
    let body = if body.is_empty() {
        Bytes::from_static(b"{}")
    } else {
        body
    };
    let mut de = serde_json::Deserializer::from_slice(&body);
    let request = DynamicMessage::deserialize(desc.input(), &mut de)
        .map_err(|e| ApiError::new(tonic::Code::InvalidArgument, format!("request: {e}")))?;
    let path = format!("/{service}/{method}");
    let reply = shared
        .bridge
        .call_raw(
            &path,
            Bytes::from(prost::Message::encode_to_vec(&request)),
            Some(&token),
            (shared.peer_of)(&extensions),
        )
        .await?;
    Ok(Json(to_json(desc.output(), reply)?))
}

/// A response message as JSON (every field, defaults included, proto field names).
pub fn to_json(
    desc: prost_reflect::MessageDescriptor,
    bytes: Bytes,
) -> Result<serde_json::Value, ApiError> {
    let message = DynamicMessage::decode(desc, bytes)
        .map_err(|e| ApiError::new(tonic::Code::Internal, e.to_string()))?;
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(false);
    message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| ApiError::new(tonic::Code::Internal, e.to_string()))
}

/// Passes protobuf bytes through unchanged: the bridge encodes and decodes itself.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exposed_method_exists_and_others_are_not_reachable() {
        for full in EXPOSED {
            let (service, method) = full.split_once('/').unwrap();
            assert!(exposed_method(service, method).is_some(), "{full}");
            // Every exposed RPC has a row in the one policy table.
            assert!(
                taxi_auth::policy::rule_for(&format!("/{full}")).is_some(),
                "{full} has no policy row"
            );
        }
        assert!(exposed_method("taxi.v1.AuthService", "CreateAccount").is_none());
        assert!(exposed_method("taxi.v1.DriverService", "AcceptOffer").is_none());
    }

    #[test]
    fn json_requests_follow_the_proto_field_names_and_refuse_unknown_fields() {
        let desc = exposed_method("taxi.v1.HotlineService", "LookupCaller").unwrap();
        let mut de = serde_json::Deserializer::from_slice(br#"{"phone":"13812345678"}"#);
        let m = DynamicMessage::deserialize(desc.input(), &mut de).unwrap();
        assert_eq!(
            m.get_field_by_name("phone").unwrap().as_str(),
            Some("13812345678")
        );
        let mut de = serde_json::Deserializer::from_slice(br#"{"fone":"1"}"#);
        assert!(DynamicMessage::deserialize(desc.input(), &mut de).is_err());
    }
}
