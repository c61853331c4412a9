//! Health, reflection, unimplemented RPCs and graceful shutdown of the in-process server.

use std::time::Duration;
use taxi_proto::v1 as pb;
use taxi_tests::*;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const SERVICES: [&str; 5] = [
    "taxi.v1.FleetService",
    "taxi.v1.DriverService",
    "taxi.v1.HotlineService",
    "taxi.v1.OneKeyService",
    "taxi.v1.DispatchService",
];

#[tokio::test]
async fn health_says_serving_for_every_service() {
    let city = TestCity::start().await;
    let mut health = HealthClient::new(city.channel());
    for service in std::iter::once("").chain(SERVICES) {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status, ServingStatus::Serving as i32, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "taxi.v1.Nope".into(),
        })
        .await;
    assert_eq!(unknown.unwrap_err().code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn reflection_lists_the_five_services_and_their_rpcs() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let city = TestCity::start().await;
    let mut client = ServerReflectionClient::new(city.channel());
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("unexpected reflection reply {resp:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for s in SERVICES {
        assert!(names.iter().any(|n| n == s), "{s} missing from {names:?}");
    }

    // The descriptor of a service holds its RPCs.
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "taxi.v1.DriverService".into(),
        )),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::FileDescriptorResponse(fd)) = resp.message_response else {
        panic!("unexpected reflection reply");
    };
    let bytes: Vec<u8> = fd.file_descriptor_proto.concat();
    let text = String::from_utf8_lossy(&bytes);
    for rpc in [
        "SignOn",
        "ReportPositions",
        "StreamDispatches",
        "StartStreetHail",
        "EndStreetHail",
    ] {
        assert!(text.contains(rpc), "{rpc} missing");
    }
}

#[tokio::test]
async fn shutdown_ends_open_position_streams_within_the_grace() {
    let city = TestCity::start().await;
    let taxi = taxi_at(&city, "渝A90001", north_of_centre(0.0)).await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut driver = city.driver();
    let call = tokio::spawn(async move {
        driver
            .report_positions(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    tx.send(pb::ReportPositionsRequest {
        positions: vec![report(&taxi.taxi_id, north_of_centre(10.0), Duration::ZERO)],
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The phone keeps its stream open; shutdown must not wait for it.
    let started = std::time::Instant::now();
    city.server.shutdown.cancel();
    let reply = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("stream ended")
        .unwrap()
        .expect("the stream got its summary");
    assert_eq!(reply.into_inner().accepted, 1);
    let TestCity { server, .. } = city;
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("server stopped")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(tx);
}
