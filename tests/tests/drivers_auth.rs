//! Drivers and taxis (issue 11): a fleet admin's registration gives a one-time enrolment
//! code, the driver's app trades it for the taxi's key and logs in with it; a driver acts
//! for its own taxi only; revoking a taxi ends its open stream within 2 s, on this server
//! and on another; an expired access token never ends a stream; taxi ids are random; a
//! driver sees masked numbers only.

use std::time::{Duration, Instant};
use taxi_proto::v1 as pb;
use taxi_proto::v1::auth_service_client::AuthServiceClient;
use taxi_proto::v1::driver_service_client::DriverServiceClient;
use taxi_proto::v1::fleet_service_client::FleetServiceClient;
use taxi_proto::v1::hotline_service_client::HotlineServiceClient;
use taxi_proto::v1::stream_dispatches_response::Event;
use taxi_server::ServerConfig;
use taxi_tests::*;
use tonic::Code;
use tonic::transport::Channel;

/// A taxi the fleet registered and the driver's app enrolled and logged in.
#[derive(Debug)]
struct Enrolled {
    id: String,
    secret: String,
    tokens: pb::Tokens,
}

async fn register(city: &TestCity, plate: &str) -> pb::RegisterTaxiResponse {
    city.fleet()
        .register_taxi(pb::RegisterTaxiRequest {
            plate: plate.into(),
            driver_name: "王建国".into(),
            vehicle_color: "白色".into(),
            ..Default::default()
        })
        .await
        .expect("register taxi")
        .into_inner()
}

async fn enrol(channel: Channel, code: &str) -> Result<pb::EnrolTaxiResponse, tonic::Status> {
    AuthServiceClient::new(channel)
        .enrol_taxi(pb::EnrolTaxiRequest {
            enrolment_code: code.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn taxi_login(channel: Channel, id: &str, secret: &str) -> Result<pb::Tokens, tonic::Status> {
    AuthServiceClient::new(channel)
        .login(pb::LoginRequest {
            credential: Some(pb::login_request::Credential::Key(pb::KeyCredential {
                kind: pb::KeyKind::Taxi as i32,
                id: id.into(),
                secret: secret.into(),
            })),
        })
        .await
        .map(|r| r.into_inner().tokens.expect("tokens"))
}

async fn enrolled(city: &TestCity, plate: &str) -> Enrolled {
    let r = register(city, plate).await;
    let id = r.taxi.expect("taxi").taxi_id;
    let e = enrol(city.channel(), &r.enrolment_code)
        .await
        .expect("enrol");
    assert_eq!(e.taxi_id, id);
    let tokens = taxi_login(city.channel(), &id, &e.secret)
        .await
        .expect("login");
    Enrolled {
        id,
        secret: e.secret,
        tokens,
    }
}

fn driver_with(city: &TestCity, token: &str) -> DriverServiceClient<Authed> {
    DriverServiceClient::new(city.as_token(token))
}

impl Enrolled {
    fn driver(&self, city: &TestCity) -> DriverServiceClient<Authed> {
        driver_with(city, &self.tokens.access_token)
    }
}

/// Signs the driver's own taxi on and reports it at `at`, all with its own token and
/// without naming the taxi (the token says which).
async fn on_duty_at(city: &TestCity, t: &Enrolled, at: pb::LatLng) {
    t.driver(city)
        .sign_on(pb::SignOnRequest::default())
        .await
        .expect("sign on");
    let r = send_positions(
        &mut t.driver(city),
        vec![city.report("", at, Duration::ZERO)],
    )
    .await;
    assert_eq!(r.accepted, 1, "{r:?}");
}

async fn open_stream(
    driver: &mut DriverServiceClient<Authed>,
    taxi_id: &str,
) -> Result<tonic::Streaming<pb::StreamDispatchesResponse>, tonic::Status> {
    driver
        .stream_dispatches(pb::StreamDispatchesRequest {
            taxi_id: taxi_id.into(),
            resume_after: String::new(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// The next offer on `s` within `wait` (skipping other events).
async fn next_offer(
    s: &mut tonic::Streaming<pb::StreamDispatchesResponse>,
    wait: Duration,
) -> pb::Offer {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.message()).await {
            Ok(Ok(Some(pb::StreamDispatchesResponse {
                event: Some(Event::Offer(o)),
                ..
            }))) => return o,
            Ok(Ok(Some(_))) => continue,
            other => panic!("no offer within {wait:?}: {other:?}"),
        }
    }
}

/// Waits for `s` to end with a status; how long it took and the status.
async fn ending(
    s: &mut tonic::Streaming<pb::StreamDispatchesResponse>,
    wait: Duration,
) -> (Duration, tonic::Status) {
    let started = Instant::now();
    loop {
        let left = wait.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, s.message()).await {
            Ok(Err(status)) => return (started.elapsed(), status),
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) => panic!("the stream ended without a status"),
            Err(_) => panic!("the stream was still open after {wait:?}"),
        }
    }
}

async fn taxi_state(city: &TestCity, id: &str) -> taxi_domain::taxi::TaxiState {
    city.store.get_taxi(id).await.expect("taxi").state
}

#[tokio::test]
async fn a_registered_taxi_enrols_once_and_its_driver_logs_in_with_the_key() {
    let city = TestCity::start().await;
    let r = register(&city, "渝A11001").await;
    let taxi = r.taxi.expect("taxi");
    // Random 128-bit ids: `T` and 26 base-32 characters, never a counter.
    assert_eq!(taxi.taxi_id.len(), 27, "{}", taxi.taxi_id);
    assert!(taxi.taxi_id.starts_with('T'));
    assert!(!taxi.taxi_id[1..].chars().all(|c| c.is_ascii_digit()));
    let second = register(&city, "渝A11002").await.taxi.expect("taxi");
    assert_ne!(second.taxi_id, taxi.taxi_id);
    assert!(r.enrolment_code_expire_time.is_some());

    // The app trades the code for the taxi's key, then logs in for short-lived tokens.
    let e = enrol(city.channel(), &r.enrolment_code)
        .await
        .expect("enrol");
    assert_eq!(e.taxi_id, taxi.taxi_id);
    assert!(e.secret.len() >= 32);
    let tokens = taxi_login(city.channel(), &e.taxi_id, &e.secret)
        .await
        .expect("login");
    assert!(!tokens.refresh_token.is_empty());
    let who = AuthServiceClient::new(city.as_token(&tokens.access_token))
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .expect("who am i")
        .into_inner()
        .principal
        .expect("principal");
    assert_eq!(who.role, pb::Role::Driver as i32);
    assert_eq!(who.id, taxi.taxi_id);

    // A used code, an unknown one, a wrong secret: UNAUTHENTICATED.
    let used = enrol(city.channel(), &r.enrolment_code).await;
    assert_eq!(used.expect_err("used").code(), Code::Unauthenticated);
    let unknown = enrol(city.channel(), "ABCD-EFGH-JKMN-PQRS").await;
    assert_eq!(unknown.expect_err("unknown").code(), Code::Unauthenticated);
    let wrong = taxi_login(
        city.channel(),
        &e.taxi_id,
        "0123456789abcdef0123456789abcdef",
    )
    .await;
    assert_eq!(wrong.expect_err("wrong").code(), Code::Unauthenticated);

    // The driver works its own taxi without naming it.
    let mut driver = driver_with(&city, &tokens.access_token);
    let on = driver
        .sign_on(pb::SignOnRequest::default())
        .await
        .expect("sign on")
        .into_inner()
        .taxi
        .expect("taxi");
    assert_eq!(on.taxi_id, taxi.taxi_id);
    let own = FleetServiceClient::new(city.as_token(&tokens.access_token))
        .get_taxi(pb::GetTaxiRequest::default())
        .await
        .expect("own taxi")
        .into_inner()
        .taxi
        .expect("taxi");
    assert_eq!(own.taxi_id, taxi.taxi_id);

    // A new phone: a new code enrols again, and the old key and its sessions stop working.
    let code = city
        .access()
        .issue_enrolment_code(pb::IssueEnrolmentCodeRequest {
            taxi_id: taxi.taxi_id.clone(),
        })
        .await
        .expect("new code")
        .into_inner()
        .enrolment_code;
    let again = enrol(city.channel(), &code).await.expect("enrol again");
    assert_ne!(again.secret, e.secret);
    let old = taxi_login(city.channel(), &e.taxi_id, &e.secret).await;
    assert_eq!(old.expect_err("old key").code(), Code::Unauthenticated);
    let old_token = driver.sign_off(pb::SignOffRequest::default()).await;
    assert_eq!(
        old_token.expect_err("old token").code(),
        Code::Unauthenticated
    );
    taxi_login(city.channel(), &again.taxi_id, &again.secret)
        .await
        .expect("the new key logs in");

    // Only a fleet admin or supervisor registers taxis: not a driver, not a stranger.
    let by_driver = FleetServiceClient::new(city.as_token(&tokens.access_token))
        .register_taxi(pb::RegisterTaxiRequest {
            plate: "渝A11003".into(),
            driver_name: "假司机".into(),
            ..Default::default()
        })
        .await;
    assert!(by_driver.is_err());
    let anonymous = FleetServiceClient::new(city.channel())
        .register_taxi(pb::RegisterTaxiRequest {
            plate: "渝A11003".into(),
            driver_name: "假司机".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(
        anonymous.expect_err("no credential").code(),
        Code::Unauthenticated
    );
}

#[tokio::test]
async fn a_driver_cannot_take_another_taxis_offer_and_the_offer_stays_open() {
    let city = TestCity::start_with(fast_config()).await;
    let mine = enrolled(&city, "渝A12001").await;
    let thief = enrolled(&city, "渝A12002").await;
    on_duty_at(&city, &mine, north_of_centre(100.0)).await;
    on_duty_at(&city, &thief, north_of_centre(3_000.0)).await;
    let mut stream = open_stream(&mut mine.driver(&city), "")
        .await
        .expect("own stream");
    let order = book_at(&city, "13800012001", north_of_centre(0.0)).await;
    let offer = next_offer(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(offer.order_id, order.order_id);

    // The other driver names the offered taxi: refused, naming the field.
    let mut d = thief.driver(&city);
    let r = d
        .accept_offer(pb::AcceptOfferRequest {
            taxi_id: mine.id.clone(),
            order_id: order.order_id.clone(),
        })
        .await;
    assert_status(r, Code::PermissionDenied, "taxi_id");
    let r = d
        .decline_offer(pb::DeclineOfferRequest {
            taxi_id: mine.id.clone(),
            order_id: order.order_id.clone(),
            reason: String::new(),
        })
        .await;
    assert_status(r, Code::PermissionDenied, "taxi_id");
    let r = d
        .sign_off(pb::SignOffRequest {
            taxi_id: mine.id.clone(),
        })
        .await;
    assert_status(r, Code::PermissionDenied, "taxi_id");
    // For its own taxi: the offer is another taxi's, refused as such; nothing changes.
    let r = d
        .accept_offer(pb::AcceptOfferRequest {
            taxi_id: String::new(),
            order_id: order.order_id.clone(),
        })
        .await;
    assert_status(r, Code::PermissionDenied, "another taxi's");
    let r = d
        .decline_offer(pb::DeclineOfferRequest {
            taxi_id: String::new(),
            order_id: order.order_id.clone(),
            reason: String::new(),
        })
        .await;
    assert_status(r, Code::PermissionDenied, "another taxi's");

    let o = city.store.get_order(&order.order_id).await.expect("order");
    assert_eq!(o.status, taxi_domain::order::OrderStatus::Offered);
    assert_eq!(
        city.store
            .open_offer(&mine.id)
            .await
            .expect("offer")
            .map(|o| o.0),
        Some(order.order_id.clone())
    );
    assert_eq!(
        taxi_state(&city, &thief.id).await,
        taxi_domain::taxi::TaxiState::Free
    );

    // The right taxi still takes it; the other cannot step the trip.
    let accepted = mine
        .driver(&city)
        .accept_offer(pb::AcceptOfferRequest {
            taxi_id: mine.id.clone(),
            order_id: order.order_id.clone(),
        })
        .await
        .expect("the offered taxi accepts")
        .into_inner()
        .order
        .expect("order");
    assert_eq!(accepted.taxi.expect("taxi").taxi_id, mine.id);
    let r = d
        .arrive_at_pickup(pb::ArriveAtPickupRequest {
            taxi_id: String::new(),
            order_id: order.order_id.clone(),
        })
        .await;
    assert_status(r, Code::PermissionDenied, "order_id");
    let r = d
        .arrive_at_pickup(pb::ArriveAtPickupRequest {
            taxi_id: mine.id.clone(),
            order_id: order.order_id.clone(),
        })
        .await;
    assert_status(r, Code::PermissionDenied, "taxi_id");
    let o = city.store.get_order(&order.order_id).await.expect("order");
    assert_eq!(o.status, taxi_domain::order::OrderStatus::Accepted);
}

#[tokio::test]
async fn a_driver_reports_streams_and_reads_only_its_own_taxi() {
    let city = TestCity::start().await;
    let mine = enrolled(&city, "渝A13001").await;
    let other = enrolled(&city, "渝A13002").await;
    on_duty_at(&city, &other, north_of_centre(500.0)).await;
    mine.driver(&city)
        .sign_on(pb::SignOnRequest::default())
        .await
        .expect("sign on");
    let before = city.store.get_taxi(&other.id).await.expect("taxi").position;

    // One message with its own report and another taxi's: refused whole, nothing stored.
    let msg = pb::ReportPositionsRequest {
        positions: vec![
            city.report(&mine.id, north_of_centre(10.0), Duration::ZERO),
            city.report(&other.id, north_of_centre(9_000.0), Duration::ZERO),
        ],
    };
    let r = mine
        .driver(&city)
        .report_positions(tokio_stream::iter(vec![msg]))
        .await;
    assert_status(r, Code::PermissionDenied, "positions[1].taxi_id");
    assert_eq!(
        city.store.get_taxi(&mine.id).await.expect("taxi").position,
        None
    );
    assert_eq!(
        city.store.get_taxi(&other.id).await.expect("taxi").position,
        before
    );

    // Another taxi's dispatches and record: refused, naming the field.
    let r = open_stream(&mut mine.driver(&city), &other.id).await;
    assert_status(r, Code::PermissionDenied, "taxi_id");
    let r = FleetServiceClient::new(city.as_token(&mine.tokens.access_token))
        .get_taxi(pb::GetTaxiRequest {
            taxi_id: other.id.clone(),
        })
        .await;
    assert_status(r, Code::PermissionDenied, "taxi_id");
    // A driver's token is not a fleet or operator credential.
    let r = FleetServiceClient::new(city.as_token(&mine.tokens.access_token))
        .list_nearby_taxis(pb::ListNearbyTaxisRequest {
            center: Some(north_of_centre(0.0)),
            ..Default::default()
        })
        .await;
    assert_eq!(r.expect_err("nearby").code(), Code::PermissionDenied);

    // Its own, named or not, is fine; the gateway still acts for any taxi.
    let r = send_positions(
        &mut mine.driver(&city),
        vec![city.report(&mine.id, north_of_centre(10.0), Duration::ZERO)],
    )
    .await;
    assert_eq!(r.accepted, 1, "{r:?}");
    let r = send_positions(
        &mut city.driver(),
        vec![city.report(&other.id, north_of_centre(600.0), Duration::ZERO)],
    )
    .await;
    assert_eq!(r.accepted, 1, "{r:?}");
    let r = city.driver().sign_off(pb::SignOffRequest::default()).await;
    assert_status(r, Code::InvalidArgument, "taxi_id");
}

#[tokio::test]
async fn revoking_a_taxi_ends_its_stream_within_two_seconds_and_a_new_code_works() {
    let city = TestCity::start().await;
    let t = enrolled(&city, "渝A14001").await;
    on_duty_at(&city, &t, north_of_centre(100.0)).await;
    let mut stream = open_stream(&mut t.driver(&city), "").await.expect("stream");

    city.access()
        .revoke_taxi(pb::RevokeTaxiRequest {
            taxi_id: t.id.clone(),
        })
        .await
        .expect("revoke");
    let (took, status) = ending(&mut stream, Duration::from_secs(2)).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("revoked"), "{status:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");

    // The taxi stops taking offers, its token and key are dead.
    assert_eq!(
        taxi_state(&city, &t.id).await,
        taxi_domain::taxi::TaxiState::OffDuty
    );
    let r = t.driver(&city).sign_on(pb::SignOnRequest::default()).await;
    assert_eq!(r.expect_err("revoked token").code(), Code::Unauthenticated);
    let r = taxi_login(city.channel(), &t.id, &t.secret).await;
    assert_eq!(r.expect_err("revoked key").code(), Code::Unauthenticated);
    let r = AuthServiceClient::new(city.channel())
        .refresh(pb::RefreshRequest {
            refresh_token: t.tokens.refresh_token.clone(),
        })
        .await;
    assert_eq!(
        r.expect_err("revoked session").code(),
        Code::Unauthenticated
    );

    // A new enrolment code brings the taxi back.
    let code = city
        .access()
        .issue_enrolment_code(pb::IssueEnrolmentCodeRequest {
            taxi_id: t.id.clone(),
        })
        .await
        .expect("code")
        .into_inner()
        .enrolment_code;
    let e = enrol(city.channel(), &code).await.expect("enrol");
    let tokens = taxi_login(city.channel(), &e.taxi_id, &e.secret)
        .await
        .expect("login");
    driver_with(&city, &tokens.access_token)
        .sign_on(pb::SignOnRequest::default())
        .await
        .expect("signs on again");
}

/// A taxi has at most one enrolment code that works: a newer code voids the older, and
/// revoking the taxi voids the one outstanding (a code read off a lost phone's screen
/// must not bring the taxi back).
#[tokio::test]
async fn an_older_or_revoked_enrolment_code_no_longer_enrols() {
    let city = TestCity::start().await;
    let r = register(&city, "渝A14101").await;
    let issue = || async {
        city.access()
            .issue_enrolment_code(pb::IssueEnrolmentCodeRequest {
                taxi_id: r.taxi.as_ref().expect("taxi").taxi_id.clone(),
            })
            .await
            .expect("code")
            .into_inner()
            .enrolment_code
    };
    // Superseded: the registration's code, then a newer one.
    let newer = issue().await;
    let old = enrol(city.channel(), &r.enrolment_code).await;
    assert_eq!(
        old.expect_err("superseded code").code(),
        Code::Unauthenticated
    );
    // Revoked: a code issued, then the taxi revoked before it was used.
    city.access()
        .revoke_taxi(pb::RevokeTaxiRequest {
            taxi_id: r.taxi.as_ref().expect("taxi").taxi_id.clone(),
        })
        .await
        .expect("revoke");
    let revoked = enrol(city.channel(), &newer).await;
    assert_eq!(
        revoked.expect_err("code of a revoked taxi").code(),
        Code::Unauthenticated
    );
    // A code issued after the revocation works, once.
    let fresh = issue().await;
    enrol(city.channel(), &fresh).await.expect("enrol");
    let again = enrol(city.channel(), &fresh).await;
    assert_eq!(again.expect_err("used code").code(), Code::Unauthenticated);
}

#[tokio::test]
async fn revoking_a_taxi_ends_its_stream_on_another_server_within_two_seconds() {
    let city = TestCity::start().await;
    let other = TestServer::start(
        &city.redis.url(),
        ServerConfig {
            auth: harness_auth(),
            ..ServerConfig::default()
        },
        city.clock.clone(),
    )
    .await;
    let there = connect(other.addr).await;
    let t = enrolled(&city, "渝A15001").await;
    let mut driver = DriverServiceClient::new(bearer(there, &t.tokens.access_token));
    driver
        .sign_on(pb::SignOnRequest::default())
        .await
        .expect("the other server knows the token");
    let mut stream = open_stream(&mut driver, "").await.expect("stream there");

    // Revoked through the first server; the second learns it from Redis.
    city.access()
        .revoke_taxi(pb::RevokeTaxiRequest {
            taxi_id: t.id.clone(),
        })
        .await
        .expect("revoke");
    let (took, status) = ending(&mut stream, Duration::from_secs(2)).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    let r = driver.sign_on(pb::SignOnRequest::default()).await;
    assert_eq!(r.expect_err("revoked there").code(), Code::Unauthenticated);
    other.stop().await;
}

#[tokio::test]
async fn an_access_token_expiring_mid_stream_never_breaks_the_trip() {
    let mut config = fast_config();
    config.auth = taxi_auth::AuthSettings {
        access_ttl: Duration::from_secs(60),
        ..harness_auth()
    };
    let city = TestCity::start_with(config).await;
    let t = enrolled(&city, "渝A16001").await;
    on_duty_at(&city, &t, north_of_centre(100.0)).await;
    let mut stream = open_stream(&mut t.driver(&city), "").await.expect("stream");

    // The access token (and the harness's) expires; the stream stays open.
    city.advance(Duration::from_secs(61));
    let r = t
        .driver(&city)
        .report_positions(tokio_stream::iter(vec![pb::ReportPositionsRequest {
            positions: vec![city.report("", north_of_centre(100.0), Duration::ZERO)],
        }]))
        .await;
    assert_eq!(r.expect_err("expired").code(), Code::Unauthenticated);

    // Refresh rotates: a new access token, and the old refresh token no longer works.
    let mut auth = AuthServiceClient::new(city.channel());
    let fresh = auth
        .refresh(pb::RefreshRequest {
            refresh_token: t.tokens.refresh_token.clone(),
        })
        .await
        .expect("refresh")
        .into_inner()
        .tokens
        .expect("tokens");
    assert_ne!(fresh.refresh_token, t.tokens.refresh_token);
    let again = auth
        .refresh(pb::RefreshRequest {
            refresh_token: t.tokens.refresh_token.clone(),
        })
        .await;
    assert_eq!(again.expect_err("rotated").code(), Code::Unauthenticated);

    let mut driver = driver_with(&city, &fresh.access_token);
    let r = send_positions(
        &mut driver,
        vec![city.report("", north_of_centre(100.0), Duration::ZERO)],
    )
    .await;
    assert_eq!(r.accepted, 1, "{r:?}");

    // An order booked after the expiry reaches the stream opened before it.
    let supervisor = login_password(city.channel(), SUPERVISOR, SUPERVISOR_PASSWORD)
        .await
        .expect("supervisor")
        .tokens
        .expect("tokens")
        .access_token;
    let order = HotlineServiceClient::new(city.as_token(&supervisor))
        .create_booking(pb::CreateBookingRequest {
            caller_phone: "13800016001".into(),
            passenger_name: "乘客".into(),
            pickup: Some(place(north_of_centre(0.0), "测试上车点")),
            channel: pb::Channel::Operator as i32,
            operator_id: String::new(),
            ..Default::default()
        })
        .await
        .expect("book")
        .into_inner()
        .order
        .expect("order");
    let offer = next_offer(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(offer.order_id, order.order_id);
    driver
        .accept_offer(pb::AcceptOfferRequest {
            taxi_id: String::new(),
            order_id: order.order_id.clone(),
        })
        .await
        .expect("accept with the refreshed token");
    let arrived = driver
        .arrive_at_pickup(pb::ArriveAtPickupRequest {
            taxi_id: String::new(),
            order_id: order.order_id.clone(),
        })
        .await
        .expect("arrive")
        .into_inner()
        .order
        .expect("order");
    assert_eq!(arrived.status, pb::OrderStatus::Arrived as i32);
}

#[tokio::test]
async fn a_driver_reads_only_masked_numbers_and_no_care_contacts() {
    let city = TestCity::start_with(fast_config()).await;
    let phone = "13800017001";
    let care = "13900001111";
    caller_with_home(&city, phone, Some("19480312")).await;
    let t = enrolled(&city, "渝A17001").await;
    on_duty_at(&city, &t, north_of_centre(600.0)).await;
    let mut stream = open_stream(&mut t.driver(&city), "").await.expect("stream");
    let order = city
        .hotline()
        .create_booking(booking_from_home(phone))
        .await
        .expect("book")
        .into_inner()
        .order
        .expect("order");
    let offer = next_offer(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(offer.order_id, order.order_id);
    assert!(offer.elderly);
    assert_eq!(offer.passenger_phone_masked, "138****7001");
    let mut driver = t.driver(&city);
    let accepted = driver
        .accept_offer(pb::AcceptOfferRequest {
            taxi_id: String::new(),
            order_id: order.order_id.clone(),
        })
        .await
        .expect("accept")
        .into_inner();
    // What a reconnecting app is sent (the order its taxi holds) is built the same way.
    let mut again = open_stream(&mut t.driver(&city), "").await.expect("stream");
    let held = tokio::time::timeout(Duration::from_secs(5), again.message())
        .await
        .expect("in time")
        .expect("ok")
        .expect("an event");
    assert!(matches!(held.event, Some(Event::Assigned(_))), "{held:?}");
    let arrived = driver
        .arrive_at_pickup(pb::ArriveAtPickupRequest {
            taxi_id: String::new(),
            order_id: order.order_id.clone(),
        })
        .await
        .expect("arrive")
        .into_inner();
    let own = FleetServiceClient::new(city.as_token(&t.tokens.access_token))
        .get_taxi(pb::GetTaxiRequest::default())
        .await
        .expect("own taxi")
        .into_inner();
    let everything = format!("{offer:?} {accepted:?} {arrived:?} {held:?} {own:?}");
    assert!(everything.contains("138****7001"), "{everything}");
    assert!(
        !everything.contains(phone),
        "a full number reached a driver: {everything}"
    );
    assert!(
        !everything.contains(care),
        "a care contact reached a driver: {everything}"
    );
}
