//! Privacy numbers (AXB) with the built-in pool, through real gRPC and a real Redis: a
//! number is bound when a taxi accepts, the driver is given only it (never the
//! passenger's real number), it is released a configured time after the trip by the
//! stepped clock and bound again afterwards, trips that share a party never share a
//! number (also under a race), and a trip the pool cannot serve still works, with the
//! masked number and a reason operators see.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use taxi_privacy::PrivacySettings;
use taxi_proto::v1 as pb;
use taxi_proto::v1::stream_dispatches_response::Event;
use taxi_server::ServerConfig;
use taxi_tests::*;

const DELAY: Duration = Duration::from_secs(300);

fn config(pool: &[&str]) -> ServerConfig {
    let mut c = fast_config();
    c.privacy = PrivacySettings::pool(pool, DELAY);
    c
}

/// A free taxi whose driver has phone `phone` (empty: none on file), reporting at `at`
/// by the city's clock, with its dispatch stream open.
async fn driver_with_phone(
    city: &TestCity,
    plate: &str,
    phone: &str,
    at: pb::LatLng,
) -> DriverStream {
    let taxi = city
        .fleet()
        .register_taxi(pb::RegisterTaxiRequest {
            plate: plate.into(),
            driver_name: "王建国".into(),
            vehicle_color: "白色".into(),
            driver_phone: phone.into(),
            ..Default::default()
        })
        .await
        .expect("register taxi")
        .into_inner()
        .taxi
        .expect("taxi");
    city.driver()
        .sign_on(pb::SignOnRequest {
            taxi_id: taxi.taxi_id.clone(),
        })
        .await
        .expect("sign on");
    let r = send_positions(
        &mut city.driver(),
        vec![city.report(&taxi.taxi_id, at, Duration::ZERO)],
    )
    .await;
    assert_eq!(r.accepted, 1, "{r:?}");
    DriverStream::open(city, &taxi.taxi_id).await
}

/// Everything a driver's app is sent or answered, as text, to look for a real number.
#[derive(Debug, Default)]
struct Seen(Vec<String>);

impl Seen {
    fn add(&mut self, x: &impl std::fmt::Debug) {
        self.0.push(format!("{x:?}"));
    }

    #[track_caller]
    fn never_contains(&self, real: &str) {
        for text in &self.0 {
            assert!(!text.contains(real), "a driver was sent {real}: {text}");
        }
    }
}

/// Waits for the offer of `order`, accepts it, and waits for the privacy number notice
/// (`None` if none comes within `wait`). Records what the driver saw.
async fn accept(
    city: &TestCity,
    d: &mut DriverStream,
    order: &str,
    seen: &mut Seen,
    wait: Duration,
) -> (pb::Order, Option<pb::PrivacyNumber>) {
    let offer = d.offer(Duration::from_secs(5)).await;
    assert_eq!(offer.order_id, order);
    seen.add(&offer);
    let accepted = city
        .driver()
        .accept_offer(pb::AcceptOfferRequest {
            taxi_id: d.taxi_id.clone(),
            order_id: order.into(),
        })
        .await
        .expect("accept")
        .into_inner()
        .order
        .expect("order");
    seen.add(&accepted);
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(m) = d.next_message(left).await else {
            return (accepted, None);
        };
        seen.add(&m);
        if let Some(Event::PrivacyNumber(p)) = m.event {
            assert_eq!(p.order_id, order);
            return (accepted, Some(p));
        }
    }
}

async fn operator_view(city: &TestCity, order: &str) -> pb::Order {
    city.hotline()
        .get_order(pb::GetOrderRequest {
            order_id: order.into(),
        })
        .await
        .expect("get order")
        .into_inner()
        .order
        .expect("order")
}

async fn step(city: &TestCity, taxi: &str, order: &str, seen: &mut Seen) -> pb::Order {
    let mut d = city.driver();
    let ids = || (taxi.to_string(), order.to_string());
    let (t, o) = ids();
    let a = d
        .arrive_at_pickup(pb::ArriveAtPickupRequest {
            taxi_id: t,
            order_id: o,
        })
        .await
        .expect("arrive")
        .into_inner();
    seen.add(&a);
    let (t, o) = ids();
    let s = d
        .start_trip(pb::StartTripRequest {
            taxi_id: t,
            order_id: o,
        })
        .await
        .expect("start")
        .into_inner();
    seen.add(&s);
    s.order.expect("order")
}

async fn complete(city: &TestCity, taxi: &str, order: &str, seen: &mut Seen) {
    let c = city
        .driver()
        .complete_trip(pb::CompleteTripRequest {
            taxi_id: taxi.into(),
            order_id: order.into(),
            fare_cents: 2350,
            paid_by: 0,
        })
        .await
        .expect("complete")
        .into_inner();
    seen.add(&c);
}

async fn stats(city: &TestCity) -> pb::GetDispatchStatsResponse {
    city.dispatch()
        .get_dispatch_stats(pb::GetDispatchStatsRequest::default())
        .await
        .expect("stats")
        .into_inner()
}

#[tokio::test]
async fn a_number_is_bound_at_assignment_and_the_driver_sees_only_it() {
    let city = TestCity::start_with(config(&["17100000001", "17100000002"])).await;
    let passenger = "13800009001";
    let driver_phone = "13900009001";
    let mut d = driver_with_phone(&city, "渝A93001", driver_phone, north_of_centre(200.0)).await;
    let order = book_at(&city, passenger, north_of_centre(0.0)).await;
    let mut seen = Seen::default();
    let (accepted, number) = accept(
        &city,
        &mut d,
        &order.order_id,
        &mut seen,
        Duration::from_secs(5),
    )
    .await;
    let number = number
        .expect("the driver is told the trip's privacy number")
        .number;
    assert!(
        ["17100000001", "17100000002"].contains(&number.as_str()),
        "{number}"
    );
    assert_ne!(
        accepted.passenger_phone, passenger,
        "masked: {}",
        accepted.passenger_phone
    );

    // The trip view the driver gets from each step carries the number, masked phone.
    let on_trip = step(&city, &d.taxi_id, &order.order_id, &mut seen).await;
    assert_eq!(on_trip.privacy_number, number);
    assert_eq!(on_trip.passenger_phone, "138****9001");
    assert!(on_trip.privacy_number_unavailable.is_empty());

    // Operators see both; the pool holds A = passenger, B = driver on X.
    let op = operator_view(&city, &order.order_id).await;
    assert_eq!(op.privacy_number, number);
    assert_eq!(op.passenger_phone, passenger);
    let sub = format!("{}:{}", order.order_id, d.taxi_id);
    let held = city
        .store
        .privacy_pool_subscription(&sub)
        .await
        .unwrap()
        .expect("the pool holds the binding");
    assert_eq!(
        (held.x.as_str(), held.a.as_str(), held.b.as_str()),
        (number.as_str(), passenger, driver_phone)
    );

    complete(&city, &d.taxi_id, &order.order_id, &mut seen).await;
    seen.never_contains(passenger);
    let s = stats(&city).await;
    assert_eq!(
        (
            s.privacy_numbers_bound,
            s.privacy_numbers_live,
            s.privacy_numbers_unavailable
        ),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn the_number_is_released_after_the_delay_by_the_clock_and_bound_again() {
    let city = TestCity::start_with(config(&["17100000011"])).await;
    let passenger = "13800009011";
    let mut seen = Seen::default();
    let mut d1 = driver_with_phone(&city, "渝A93011", "13900009011", north_of_centre(200.0)).await;
    let first = book_at(&city, passenger, north_of_centre(0.0)).await;
    let (_, n1) = accept(
        &city,
        &mut d1,
        &first.order_id,
        &mut seen,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(n1.expect("bound").number, "17100000011");
    step(&city, &d1.taxi_id, &first.order_id, &mut seen).await;
    complete(&city, &d1.taxi_id, &first.order_id, &mut seen).await;

    // Scheduled DELAY after the trip ended, by the city's clock.
    let ended = city.now_ms();
    let deadline = Instant::now() + Duration::from_secs(5);
    let due = loop {
        if let Some(at) = city
            .store
            .privacy_release_time(&first.order_id)
            .await
            .unwrap()
        {
            break at;
        }
        assert!(Instant::now() < deadline, "no release was scheduled");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert!(
        (due - ended - DELAY.as_millis() as i64).abs() < 5_000,
        "due {due}, ended {ended}"
    );
    // Not before: the passenger may still call about a lost item.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        operator_view(&city, &first.order_id).await.privacy_number,
        "17100000011"
    );

    city.advance(DELAY + Duration::from_secs(1));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !operator_view(&city, &first.order_id)
        .await
        .privacy_number
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the number was not released");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        city.store.privacy_pool_numbers().await.unwrap(),
        vec![("17100000011".to_string(), 0)]
    );
    assert_eq!(
        city.store.privacy_binding(&first.order_id).await.unwrap(),
        None
    );

    // The same passenger's next trip, with another driver, gets the number again.
    let mut d2 = driver_with_phone(&city, "渝A93012", "13900009012", north_of_centre(300.0)).await;
    let second = book_at(&city, passenger, north_of_centre(0.0)).await;
    let (_, n2) = accept(
        &city,
        &mut d2,
        &second.order_id,
        &mut seen,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(n2.expect("bound again").number, "17100000011");
    seen.never_contains(passenger);
    let s = stats(&city).await;
    assert_eq!((s.privacy_numbers_bound, s.privacy_numbers_live), (2, 1));
}

#[tokio::test]
async fn a_cancelled_trip_releases_its_number_after_the_delay() {
    let city = TestCity::start_with(config(&["17100000021"])).await;
    let mut seen = Seen::default();
    let mut d = driver_with_phone(&city, "渝A93021", "13900009021", north_of_centre(200.0)).await;
    let order = book_at(&city, "13800009021", north_of_centre(0.0)).await;
    let (_, n) = accept(
        &city,
        &mut d,
        &order.order_id,
        &mut seen,
        Duration::from_secs(5),
    )
    .await;
    assert!(n.is_some());
    city.hotline()
        .cancel_order(pb::CancelOrderRequest {
            order_id: order.order_id.clone(),
            cancelled_by: pb::CancelledBy::Passenger as i32,
            reason: "不需要了".into(),
            operator_id: String::new(),
        })
        .await
        .expect("cancel");
    let deadline = Instant::now() + Duration::from_secs(5);
    while city
        .store
        .privacy_release_time(&order.order_id)
        .await
        .unwrap()
        .is_none()
    {
        assert!(Instant::now() < deadline, "no release was scheduled");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    city.advance(DELAY + Duration::from_secs(1));
    let deadline = Instant::now() + Duration::from_secs(5);
    while city
        .store
        .privacy_binding(&order.order_id)
        .await
        .unwrap()
        .is_some()
    {
        assert!(Instant::now() < deadline, "the number was not released");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        city.store.privacy_pool_numbers().await.unwrap(),
        vec![("17100000021".to_string(), 0)]
    );
}

#[tokio::test]
async fn trips_that_share_a_party_never_share_a_number_and_others_may() {
    let city = TestCity::start_with(config(&["17100000031", "17100000032"])).await;
    let mut seen = Seen::default();
    let p = "13800009031";
    // One passenger, two taxis at once (an operator may book a second taxi).
    let mut d1 = driver_with_phone(&city, "渝A93031", "13900009031", north_of_centre(200.0)).await;
    let o1 = book_at(&city, p, north_of_centre(0.0)).await;
    let (_, x1) = accept(
        &city,
        &mut d1,
        &o1.order_id,
        &mut seen,
        Duration::from_secs(5),
    )
    .await;
    let mut d2 = driver_with_phone(&city, "渝A93032", "13900009032", north_of_centre(200.0)).await;
    let o2 = book_at(&city, p, north_of_centre(0.0)).await;
    let (_, x2) = accept(
        &city,
        &mut d2,
        &o2.order_id,
        &mut seen,
        Duration::from_secs(5),
    )
    .await;
    let (x1, x2) = (x1.expect("first").number, x2.expect("second").number);
    assert_ne!(x1, x2, "one passenger, two live trips: two numbers");

    // Another passenger and driver share no party with either: a number already in use
    // serves them too (whoever dials it is still put through to one person).
    let mut d3 = driver_with_phone(&city, "渝A93033", "13900009033", north_of_centre(200.0)).await;
    let o3 = book_at(&city, "13800009032", north_of_centre(0.0)).await;
    let (_, x3) = accept(
        &city,
        &mut d3,
        &o3.order_id,
        &mut seen,
        Duration::from_secs(5),
    )
    .await;
    let x3 = x3.expect("a disjoint trip shares a number").number;
    assert!([&x1, &x2].contains(&&x3));
}

/// Many bindings racing over a small pool, through the store's real scripts: no number
/// is ever bound twice to one party, and releases return numbers.
#[tokio::test]
async fn racing_binds_never_give_one_party_a_number_twice() {
    let city = TestCity::start().await;
    let pool: Vec<String> = (0..8).map(|i| format!("1710000004{i}")).collect();
    city.store.privacy_pool_sync(&pool).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let store = city.store.clone();
        tasks.push(tokio::spawn(async move {
            let a = format!("138000{:05}", i % 13);
            let b = format!("139000{:05}", i % 17);
            let sub = format!("O{i}:T{i}");
            let r = store.privacy_pool_bind(&sub, &a, &b).await.unwrap();
            (sub, a, b, r)
        }));
    }
    let mut live: Vec<(String, String, String, String)> = Vec::new();
    let mut exhausted = 0;
    for t in tasks {
        match t.await.unwrap() {
            (sub, a, b, taxi_store::privacy::PoolBound::Bound(x)) => live.push((sub, a, b, x)),
            (_, _, _, taxi_store::privacy::PoolBound::Exhausted) => exhausted += 1,
        }
    }
    let mut parties: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (_, a, b, x) in &live {
        let on_x = parties.entry(x.as_str()).or_default();
        assert!(on_x.insert(a.as_str()), "{a} holds {x} twice");
        assert!(on_x.insert(b.as_str()), "{b} holds {x} twice");
    }
    // 13 passengers, 17 drivers: a party holds at most one binding per number, so at most
    // 8 × 13 bindings in all; every one that fits was made.
    assert!(
        !live.is_empty() && exhausted > 0,
        "{} bound, {exhausted} exhausted",
        live.len()
    );
    let counts: u64 = city
        .store
        .privacy_pool_numbers()
        .await
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum();
    assert_eq!(counts as usize, live.len());
    for (sub, ..) in &live {
        assert!(city.store.privacy_pool_unbind(sub).await.unwrap());
        assert!(
            !city.store.privacy_pool_unbind(sub).await.unwrap(),
            "released once"
        );
    }
    assert!(
        city.store
            .privacy_pool_numbers()
            .await
            .unwrap()
            .iter()
            .all(|(_, n)| *n == 0)
    );
}

#[tokio::test]
async fn an_exhausted_pool_leaves_the_trip_working_with_the_masked_number_and_a_reason() {
    let city = TestCity::start_with(config(&["17100000051"])).await;
    let mut seen = Seen::default();
    let p = "13800009051";
    let mut d1 = driver_with_phone(&city, "渝A93051", "13900009051", north_of_centre(200.0)).await;
    let o1 = book_at(&city, p, north_of_centre(0.0)).await;
    let (_, x1) = accept(
        &city,
        &mut d1,
        &o1.order_id,
        &mut seen,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(x1.expect("bound").number, "17100000051");

    // The same passenger's second live trip: the one number is theirs already.
    let mut d2 = driver_with_phone(&city, "渝A93052", "13900009052", north_of_centre(200.0)).await;
    let o2 = book_at(&city, p, north_of_centre(0.0)).await;
    let (accepted, x2) = accept(
        &city,
        &mut d2,
        &o2.order_id,
        &mut seen,
        Duration::from_secs(1),
    )
    .await;
    assert!(x2.is_none(), "no number to tell: {x2:?}");
    assert_eq!(accepted.passenger_phone, "138****9051");
    let deadline = Instant::now() + Duration::from_secs(5);
    let op = loop {
        let op = operator_view(&city, &o2.order_id).await;
        if !op.privacy_number_unavailable.is_empty() {
            break op;
        }
        assert!(Instant::now() < deadline, "operators were not told why");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert!(op.privacy_number.is_empty());
    assert!(
        op.privacy_number_unavailable.contains("pool exhausted"),
        "{}",
        op.privacy_number_unavailable
    );
    // The trip goes on; the driver's views keep the masked number and no reason.
    let on_trip = step(&city, &d2.taxi_id, &o2.order_id, &mut seen).await;
    assert_eq!(on_trip.passenger_phone, "138****9051");
    assert!(on_trip.privacy_number.is_empty() && on_trip.privacy_number_unavailable.is_empty());

    // A driver with no phone on file: no number either, and the reason says so.
    let mut d3 = driver_with_phone(&city, "渝A93053", "", north_of_centre(200.0)).await;
    let o3 = book_at(&city, "13800009052", north_of_centre(0.0)).await;
    let (_, x3) = accept(
        &city,
        &mut d3,
        &o3.order_id,
        &mut seen,
        Duration::from_secs(1),
    )
    .await;
    assert!(x3.is_none());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !operator_view(&city, &o3.order_id)
        .await
        .privacy_number_unavailable
        .contains("not on file")
    {
        assert!(Instant::now() < deadline, "operators were not told why");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    complete(&city, &d2.taxi_id, &o2.order_id, &mut seen).await;
    seen.never_contains(p);
    seen.never_contains("13800009052");
    let s = stats(&city).await;
    assert_eq!(
        (s.privacy_numbers_bound, s.privacy_numbers_unavailable),
        (1, 2)
    );
}

#[tokio::test]
async fn a_bad_driver_phone_is_refused_by_name_and_nothing_is_stored() {
    let city = TestCity::start().await;
    let r = city
        .fleet()
        .register_taxi(pb::RegisterTaxiRequest {
            plate: "渝A93061".into(),
            driver_name: "王建国".into(),
            vehicle_color: "白色".into(),
            driver_phone: "12345".into(),
            ..Default::default()
        })
        .await;
    assert_status(r, tonic::Code::InvalidArgument, "driver_phone");
    // The plate is still free: nothing was stored.
    let ok = city
        .fleet()
        .register_taxi(pb::RegisterTaxiRequest {
            plate: "渝A93061".into(),
            driver_name: "王建国".into(),
            vehicle_color: "白色".into(),
            driver_phone: "+86 139 0000 9061".into(),
            ..Default::default()
        })
        .await;
    assert!(ok.is_ok(), "{ok:?}");
}

#[tokio::test]
async fn a_redispatched_trip_gives_its_number_back_and_the_next_taxi_gets_one() {
    let city = TestCity::start_with(config(&["17100000071"])).await;
    let mut seen = Seen::default();
    let p = "13800009071";
    let mut d1 = driver_with_phone(&city, "渝A93071", "13900009071", north_of_centre(200.0)).await;
    let order = book_at(&city, p, north_of_centre(0.0)).await;
    let (_, x1) = accept(
        &city,
        &mut d1,
        &order.order_id,
        &mut seen,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(x1.expect("bound").number, "17100000071");
    // The next taxi is there before the trip is taken back from the first.
    let mut d2 = driver_with_phone(&city, "渝A93072", "13900009072", north_of_centre(300.0)).await;
    city.dispatch()
        .redispatch_order(pb::RedispatchOrderRequest {
            order_id: order.order_id.clone(),
            operator_id: SUPERVISOR.into(),
            reason: "司机未到".into(),
        })
        .await
        .expect("redispatch");
    // The pool's only number is the passenger's again, now with the second driver: the
    // first binding was released at once.
    let (_, x2) = accept(
        &city,
        &mut d2,
        &order.order_id,
        &mut seen,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(x2.expect("bound again").number, "17100000071");
    let b = city
        .store
        .privacy_binding(&order.order_id)
        .await
        .unwrap()
        .expect("bound");
    assert_eq!(b.taxi, d2.taxi_id);
    let sub = format!("{}:{}", order.order_id, d2.taxi_id);
    let held = city
        .store
        .privacy_pool_subscription(&sub)
        .await
        .unwrap()
        .expect("held");
    assert_eq!(held.b, "13900009072");
    let old = format!("{}:{}", order.order_id, d1.taxi_id);
    assert_eq!(
        city.store.privacy_pool_subscription(&old).await.unwrap(),
        None
    );
    seen.never_contains(p);
}

/// At least once: records a worker took from the trail and never acknowledged (it died)
/// are claimed by another once idle.
#[tokio::test]
async fn records_a_dead_worker_left_are_claimed_by_another() {
    let city = TestCity::start().await;
    let group = "privacy-test";
    city.store.trail_group(group).await.unwrap();
    city.store.trail_group(group).await.unwrap(); // made once; again is fine
    book_at(&city, "13800009081", north_of_centre(0.0)).await;
    let taken = city
        .store
        .trail_group_read(group, "dead", 10)
        .await
        .unwrap();
    assert!(!taken.is_empty(), "the booking's records reach the group");
    assert!(
        city.store
            .trail_group_read(group, "alive", 10)
            .await
            .unwrap()
            .is_empty(),
        "handed to one consumer"
    );
    let claimed = city
        .store
        .trail_group_claim(group, "alive", Duration::ZERO, 10)
        .await
        .unwrap();
    let ids = |v: &[taxi_store::audit::Delivered]| {
        v.iter().map(|d| d.id().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&claimed), ids(&taken));
    let acked: Vec<String> = ids(&claimed);
    let refs: Vec<&str> = acked.iter().map(String::as_str).collect();
    city.store.trail_group_ack(group, &refs).await.unwrap();
    assert!(
        city.store
            .trail_group_claim(group, "other", Duration::ZERO, 10)
            .await
            .unwrap()
            .is_empty(),
        "acknowledged records are done"
    );
}

#[tokio::test]
async fn a_driver_stream_opened_after_the_binding_is_sent_the_number_with_the_trip() {
    let city = TestCity::start_with(config(&["17100000091"])).await;
    let mut seen = Seen::default();
    let mut d = driver_with_phone(&city, "渝A93091", "13900009091", north_of_centre(200.0)).await;
    let order = book_at(&city, "13800009091", north_of_centre(0.0)).await;
    let (_, x) = accept(
        &city,
        &mut d,
        &order.order_id,
        &mut seen,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(x.expect("bound").number, "17100000091");
    // The app restarts without its last seq: what the taxi holds comes with the number.
    let mut again = DriverStream::open(&city, &d.taxi_id).await;
    match again.next(Duration::from_secs(5)).await {
        Some(Event::Assigned(o)) => {
            assert_eq!(o.order_id, order.order_id);
            assert_eq!(o.privacy_number, "17100000091");
            assert_eq!(o.passenger_phone_masked, "138****9091");
        }
        other => panic!("{other:?}"),
    }
}
