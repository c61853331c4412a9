//! Faults on the wire between the services and Redis, through the fault proxy: a
//! half-open (black-holed) path, resets and a slow link are found within seconds, health
//! follows, and dispatch and driver streams work again by themselves.
//!
//! These run on one server in both tiers: a cluster's nodes announce their own addresses,
//! so a proxy cannot sit in front of them.

use std::time::{Duration, Instant};
use taxi_proto::v1 as pb;
use taxi_tests::proxy::FaultProxy;
use taxi_tests::*;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// A city whose server reaches Redis only through a fault proxy.
async fn city_behind_proxy() -> (TestCity, FaultProxy) {
    let redis = TestRedis::single();
    let proxy = FaultProxy::start(redis.addr()).await;
    let city = TestCity::start_via(redis, &proxy.url(), fast_config()).await;
    (city, proxy)
}

async fn status(city: &TestCity, service: &str) -> ServingStatus {
    let r = HealthClient::new(city.channel())
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("health answers even when Redis does not")
        .into_inner();
    ServingStatus::try_from(r.status).expect("status")
}

/// Waits until every service (and the server as a whole) reports `want`; returns how long
/// it took, or panics after `bound`.
async fn health_becomes(city: &TestCity, want: ServingStatus, bound: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let mut all = status(city, "").await == want;
        for s in ["taxi.v1.DispatchService", "taxi.v1.HotlineService"] {
            all &= status(city, s).await == want;
        }
        if all {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < bound,
            "health did not become {want:?} within {bound:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Books until the service takes the order (it may answer UNAVAILABLE while it replaces
/// its connections), within `bound`.
async fn book_within(city: &TestCity, phone: &str, bound: Duration) -> pb::Order {
    let started = Instant::now();
    loop {
        let r = city
            .hotline()
            .create_booking(pb::CreateBookingRequest {
                caller_phone: phone.into(),
                passenger_name: "乘客".into(),
                pickup: Some(place(north_of_centre(0.0), "测试上车点")),
                channel: pb::Channel::Operator as i32,
                operator_id: SUPERVISOR.into(),
                request_id: format!("{phone}-1"),
                ..Default::default()
            })
            .await;
        match r {
            Ok(r) => return r.into_inner().order.expect("order"),
            Err(s) if s.code() == Code::Unavailable && started.elapsed() < bound => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(s) => panic!("booking did not work again within {bound:?}: {s:?}"),
        }
    }
}

#[tokio::test]
async fn a_black_holed_redis_path_is_found_in_seconds_and_everything_recovers_by_itself() {
    let (city, proxy) = city_behind_proxy().await;
    let mut driver = driver_at(&city, "渝A81001", north_of_centre(300.0)).await;
    assert_eq!(status(&city, "").await, ServingStatus::Serving);

    // Replies stop coming on every connection (the kernel still acknowledges).
    proxy.black_hole();
    let found = health_becomes(&city, ServingStatus::NotServing, Duration::from_secs(5)).await;
    eprintln!("black hole found after {found:?}");

    // A call in the meantime fails fast and honestly instead of hanging.
    let started = Instant::now();
    let r = city
        .hotline()
        .create_booking(booking_from_home("13800009999"))
        .await;
    assert_status(r, Code::Unavailable, "");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a call waited {:?}",
        started.elapsed()
    );

    // The path comes back for new connections only: the old ones stay dead, as a flow a
    // NAT forgot does. Everything must have been replaced.
    proxy.pass();
    let back = health_becomes(&city, ServingStatus::Serving, Duration::from_secs(5)).await;
    eprintln!("serving again after {back:?}");

    // Dispatch wakes up on a new connection and the driver's stream hears of the offer
    // through a new subscription.
    let order = book_within(&city, "13800001001", Duration::from_secs(5)).await;
    let offer = driver.offer(Duration::from_secs(5)).await;
    assert_eq!(offer.order_id, order.order_id);
}

#[tokio::test]
async fn reset_connections_are_replaced_and_the_next_offer_arrives() {
    let (city, proxy) = city_behind_proxy().await;
    let mut driver = driver_at(&city, "渝A81002", north_of_centre(300.0)).await;

    proxy.reset();
    let order = book_within(&city, "13800001002", Duration::from_secs(5)).await;
    let offer = driver.offer(Duration::from_secs(5)).await;
    assert_eq!(offer.order_id, order.order_id);
    assert_eq!(status(&city, "").await, ServingStatus::Serving);
}

#[tokio::test]
async fn a_slow_link_is_slow_but_not_down() {
    let (city, proxy) = city_behind_proxy().await;
    let mut driver = driver_at(&city, "渝A81003", north_of_centre(300.0)).await;

    // 150 ms each way: well inside the 1 s response timeout.
    proxy.delay(Duration::from_millis(150));
    let order = book_within(&city, "13800001003", Duration::from_secs(2)).await;
    let offer = driver.offer(Duration::from_secs(5)).await;
    assert_eq!(offer.order_id, order.order_id);
    // Nobody took it for an outage.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(status(&city, "").await, ServingStatus::Serving);
}
