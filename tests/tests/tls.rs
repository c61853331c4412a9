//! TLS on the listener: real handshakes (rustls on both sides) with throw-away
//! certificates, real gRPC, a real private Redis.

use std::sync::{Arc, Mutex};
use taxi_proto::v1 as pb;
use taxi_proto::v1::hotline_service_client::HotlineServiceClient;
use taxi_server::ServerConfig;
use taxi_server::tls::client_identity_of;
use taxi_tests::tls::{TestCa, connect, try_connect};
use taxi_tests::{TestCity, booking_from_home, caller_with_home, order_count};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Endpoint, Server};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

const PHONE: &str = "13800138000";

#[tokio::test]
async fn a_client_trusting_the_ca_books_and_reads_over_tls() {
    let ca = TestCa::new("taxi test CA");
    let city = TestCity::start_tls(ServerConfig::default(), &ca, None).await;
    caller_with_home(&city, PHONE, None).await;
    let order = city
        .hotline()
        .create_booking(booking_from_home(PHONE))
        .await
        .expect("booking over TLS")
        .into_inner()
        .order
        .expect("order");
    let read = city
        .hotline()
        .get_order(pb::GetOrderRequest {
            order_id: order.order_id.clone(),
        })
        .await
        .expect("read over TLS")
        .into_inner()
        .order
        .expect("order");
    assert_eq!(read.order_id, order.order_id);
    assert_eq!(order_count(&city).await, 1);
}

#[tokio::test]
async fn a_plain_text_client_to_the_tls_port_gets_nothing_and_stores_nothing() {
    let ca = TestCa::new("taxi test CA");
    let city = TestCity::start_tls(ServerConfig::default(), &ca, None).await;
    caller_with_home(&city, PHONE, None).await;
    let plain = async {
        let channel = Endpoint::from_shared(format!("http://{}", city.server.addr))
            .expect("endpoint")
            .connect()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        HotlineServiceClient::new(channel)
            .create_booking(booking_from_home(PHONE))
            .await
    };
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), plain)
        .await
        .expect("a plain client is answered (by a closed connection), not left hanging");
    assert!(
        result.is_err(),
        "a plain-text booking went through: {result:?}"
    );
    assert_eq!(order_count(&city).await, 0);
}

#[tokio::test]
async fn a_client_trusting_another_ca_refuses_the_server() {
    let ca = TestCa::new("taxi test CA");
    let city = TestCity::start_tls(ServerConfig::default(), &ca, None).await;
    let stranger = TestCa::new("someone else's CA");
    let err = try_connect(city.server.addr, stranger.client_tls())
        .await
        .expect_err("a server certificate from an untrusted CA was accepted");
    let text = format!("{err:?}");
    assert!(text.contains("UnknownIssuer"), "{text}");
}

#[tokio::test]
async fn with_a_client_ca_a_service_certificate_is_accepted_and_a_strangers_refused() {
    let ca = TestCa::new("taxi test CA");
    let services = TestCa::new("taxi services CA");
    let city = TestCity::start_tls(ServerConfig::default(), &ca, Some(&services)).await;
    // The city's own clients present no certificate (as a driver's app): still served.
    caller_with_home(&city, PHONE, None).await;

    let switch = services.client("phone-switch");
    let channel = connect(
        city.server.addr,
        ca.client_tls().identity(switch.identity()),
    )
    .await;
    // The certificate names the phone switch, which books on the voice menu.
    HotlineServiceClient::new(channel)
        .create_booking(pb::CreateBookingRequest {
            channel: pb::Channel::Ivr as i32,
            operator_id: String::new(),
            ..booking_from_home(PHONE)
        })
        .await
        .expect("a service certificate signed by the client CA is accepted");
    assert_eq!(order_count(&city).await, 1);

    // Signed by a CA the server does not know: TLS 1.3 lets the client finish first, so
    // the refusal (the server's alert) arrives on the first call, before any request is
    // read.
    let rogue = TestCa::new("rogue CA").client("phone-switch");
    let refused = async {
        let channel = try_connect(city.server.addr, ca.client_tls().identity(rogue.identity()))
            .await
            .map_err(|e| tonic::Status::unavailable(format!("{e:?}")))?;
        HotlineServiceClient::new(channel)
            .create_booking(booking_from_home(PHONE))
            .await
    };
    let result = refused.await;
    assert!(
        result.is_err(),
        "a certificate from an unknown CA was accepted: {result:?}"
    );
    assert_eq!(
        order_count(&city).await,
        1,
        "the refused call stored nothing"
    );
}

/// `client_identity` on the extensions of requests that came through real handshakes,
/// with the TLS configuration `taxi_server::run` serves with; the server records what
/// it returned for each request.
#[tokio::test]
async fn client_identity_is_the_verified_certificates_common_name() {
    let ca = TestCa::new("taxi test CA");
    let services = TestCa::new("taxi services CA");
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let record = {
        let seen = seen.clone();
        move |request: tonic::Request<()>| {
            seen.lock()
                .expect("seen")
                .push(client_identity_of(&request));
            Ok(request)
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (_reporter, health) = tonic_health::server::health_reporter();
    let server = Server::builder()
        .tls_config(ca.server_settings(Some(&services)).server_tls_config())
        .expect("tls")
        .layer(tonic::service::InterceptorLayer::new(record))
        .add_service(health)
        .serve_with_incoming(TcpIncoming::from(listener));
    let server = tokio::spawn(server);

    for (certificate, want) in [
        (Some(services.client("phone-switch")), Some("phone-switch")),
        (None, None),
    ] {
        let mut tls = ca.client_tls();
        if let Some(c) = &certificate {
            tls = tls.identity(c.identity());
        }
        let status = HealthClient::new(connect(addr, tls).await)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .expect("health")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32);
        let got = seen.lock().expect("seen").pop().expect("one request seen");
        assert_eq!(got.as_deref(), want);
    }
    server.abort();
}
