//! Batched matching end to end (issue 15): a city whose dispatch solves one assignment
//! every batch window, through real driver streams and bookings on a private Redis.
//!
//! Taxis sign on without a position and then report their positions in one message (one
//! atomic script), so every taxi of a scenario becomes free at the same instant and the
//! orders already waiting meet them in the same solve, whenever the window ticks.

use std::time::Duration;
use taxi_domain::settings::Matcher;
use taxi_proto::v1 as pb;
use taxi_tests::*;

const S: Duration = Duration::from_secs(1);

fn config(matcher: Matcher) -> taxi_server::ServerConfig {
    let mut c = fast_config();
    c.settings.matcher = matcher;
    c.settings.batch_window = Duration::from_millis(1_000);
    c
}

/// A taxi registered and signed on, with no position yet (so not matchable), and its
/// driver stream.
async fn signed_on(city: &TestCity, plate: &str, wheelchair: bool) -> DriverStream {
    let taxi = register_taxi_with(&mut city.fleet(), plate, wheelchair, &[]).await;
    city.driver()
        .sign_on(pb::SignOnRequest {
            taxi_id: taxi.taxi_id.clone(),
        })
        .await
        .expect("sign on");
    DriverStream::open(city, &taxi.taxi_id).await
}

/// Every taxi reports its position in one message: they become free together.
async fn appear(city: &TestCity, taxis: &[(&DriverStream, f64)]) {
    let reports = taxis
        .iter()
        .map(|(d, north_m)| report(&d.taxi_id, north_of_centre(*north_m), Duration::ZERO))
        .collect::<Vec<_>>();
    let r = send_positions(&mut city.driver(), reports).await;
    assert_eq!(r.accepted as usize, taxis.len(), "{r:?}");
}

async fn wheelchair_booking(city: &TestCity, phone: &str, north_m: f64) -> pb::Order {
    city.hotline()
        .create_booking(pb::CreateBookingRequest {
            caller_phone: phone.into(),
            pickup: Some(place(north_of_centre(north_m), "康复医院")),
            channel: pb::Channel::Operator as i32,
            operator_id: SUPERVISOR.into(),
            needs: vec![pb::PassengerNeed::Wheelchair as i32],
            ..Default::default()
        })
        .await
        .expect("book")
        .into_inner()
        .order
        .expect("order")
}

async fn batch_offers(city: &TestCity) -> u64 {
    city.store
        .raw_stats()
        .await
        .expect("stats")
        .counters
        .batch_offers
}

#[tokio::test]
async fn an_older_passenger_gets_the_contested_taxi() {
    let city = TestCity::start_with(config(Matcher::Batched)).await;
    let mut taxi = signed_on(&city, "渝A15001", false).await;
    // The ordinary passenger booked first and waits nearer the taxi-to-be.
    let ordinary = book_at(&city, "13800150001", north_of_centre(0.0)).await;
    elderly_caller(&city, "13900150001").await;
    let old = book_at(&city, "13900150001", north_of_centre(500.0)).await;
    assert!(old.elderly && !ordinary.elderly);
    // A window passes with both waiting and no taxi.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    appear(&city, &[(&taxi, 100.0)]).await;
    let offer = taxi.offer(3 * S).await;
    assert_eq!(offer.order_id, old.order_id);
    assert!(offer.elderly);
    let o = wait_order(&city, &ordinary.order_id, S, |_| true).await;
    assert_eq!(
        o.status,
        pb::OrderStatus::Pending as i32,
        "the other still waits"
    );
    assert_eq!(batch_offers(&city).await, 1);
}

#[tokio::test]
async fn the_crossing_case_costs_less_in_a_batch_than_greedy() {
    // o1 (booked first) at 0 m, o2 at 1,000 m; taxis at 400 m and −700 m. Greedy, in queue
    // order, gives o1 the taxi at 400 m and o2 the one 1.7 km away: 2.1 km in all. The
    // batch gives o1 the taxi at −700 m and o2 the one at 400 m: 1.3 km.
    let mut totals = Vec::new();
    for (matcher, plates) in [
        (Matcher::Greedy, ["渝A15011", "渝A15012"]),
        (Matcher::Batched, ["渝A15021", "渝A15022"]),
    ] {
        let city = TestCity::start_with(config(matcher)).await;
        let mut near = signed_on(&city, plates[0], false).await;
        let mut far = signed_on(&city, plates[1], false).await;
        let o1 = book_at(&city, "13800150011", north_of_centre(0.0)).await;
        let o2 = book_at(&city, "13800150012", north_of_centre(1_000.0)).await;
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        appear(&city, &[(&near, 400.0), (&far, -700.0)]).await;
        let (a, b) = (near.offer(3 * S).await, far.offer(3 * S).await);
        let total = a.distance_meters + b.distance_meters;
        match matcher {
            Matcher::Greedy => {
                assert_eq!((a.order_id, b.order_id), (o1.order_id, o2.order_id));
                assert_eq!(batch_offers(&city).await, 0);
            }
            Matcher::Batched => {
                assert_eq!((a.order_id, b.order_id), (o2.order_id, o1.order_id));
                assert_eq!(batch_offers(&city).await, 2);
            }
        }
        totals.push(total);
    }
    assert!((totals[0] as i64 - 2_100).abs() < 10, "greedy {totals:?}");
    assert!((totals[1] as i64 - 1_300).abs() < 10, "batched {totals:?}");
}

#[tokio::test]
async fn a_wheelchair_order_never_gets_a_plain_taxi() {
    let city = TestCity::start_with(config(Matcher::Batched)).await;
    let mut plain = signed_on(&city, "渝A15031", false).await;
    let mut accessible = signed_on(&city, "渝A15032", true).await;
    let first = wheelchair_booking(&city, "13800150031", 0.0).await;
    appear(&city, &[(&plain, 50.0), (&accessible, 2_500.0)]).await;
    assert_eq!(accessible.offer(3 * S).await.order_id, first.order_id);
    plain.no_offer(Duration::from_millis(300)).await;
    // The accessible taxi holds an offer now: a second wheelchair order waits, several
    // windows long, though a plain taxi is free 50 m away.
    let second = wheelchair_booking(&city, "13800150032", 0.0).await;
    plain.no_offer(Duration::from_millis(2_500)).await;
    let o = wait_order(&city, &second.order_id, S, |_| true).await;
    assert_eq!(o.status, pb::OrderStatus::Pending as i32);
    // An ordinary order gets the plain taxi at once.
    let ordinary = book_at(&city, "13800150033", north_of_centre(0.0)).await;
    assert_eq!(plain.offer(3 * S).await.order_id, ordinary.order_id);
}

/// The numbers the dispatch engine would pass for `fast_config`'s settings.
fn params() -> taxi_store::dispatch::DispatchParams {
    let s = fast_config().settings;
    taxi_store::dispatch::DispatchParams {
        fan_out: 1,
        radii_m: s.radii_m.clone(),
        elderly_extra_radius_m: s.elderly_extra_radius_m,
        elderly_extra_after_ms: s.elderly_extra_after.as_millis() as i64,
        caring_radius_m: s.caring_radius_m,
        fresh_ms: s.position_fresh.as_millis() as i64,
        offer_timeout_ms: s.offer_timeout.as_millis() as i64,
        max_offers: s.max_offers,
        max_age_ms: s.max_dispatch_time.as_millis() as i64,
        retry_ms: s.retry_interval.as_millis() as i64,
        head_start_ms: s.elderly_head_start.as_millis() as i64,
        max_missed: s.max_missed_offers,
    }
}

/// What a stale solve would offer is checked again in the script: an order already
/// offered, a taxi already holding an offer, a plain taxi for a wheelchair, a taxi that
/// declined the order: each refused, and nothing is offered twice. The batch read lists
/// only what may be offered.
#[tokio::test]
async fn a_stale_pair_is_refused_and_nothing_is_offered_twice() {
    use taxi_store::batch::PairOffer;
    let mut c = config(Matcher::Batched);
    c.settings.dispatch_workers = 0; // no batcher: the test is the only dispatcher
    let city = TestCity::start_with(c).await;
    let mut t1 = signed_on(&city, "渝A15041", false).await;
    let mut t2 = signed_on(&city, "渝A15042", false).await;
    let mut wc = signed_on(&city, "渝A15043", true).await;
    appear(&city, &[(&t1, 100.0), (&t2, 300.0), (&wc, 500.0)]).await;
    let o1 = book_at(&city, "13800150041", north_of_centre(0.0)).await;
    let owc = wheelchair_booking(&city, "13800150042", 0.0).await;

    let p = params();
    let problem = city.store.batch_problem(&p, 500, 16).await.unwrap();
    let listed = |order: &str| {
        let oi = problem.orders.iter().position(|o| o.id == order).unwrap();
        let mut ids: Vec<&str> = problem
            .candidates
            .iter()
            .filter(|c| c.order == oi)
            .map(|c| problem.taxis[c.taxi].id.as_str())
            .collect();
        ids.sort_unstable();
        ids
    };
    let mut all = vec![
        t1.taxi_id.as_str(),
        t2.taxi_id.as_str(),
        wc.taxi_id.as_str(),
    ];
    all.sort_unstable();
    assert_eq!(listed(&o1.order_id), all);
    assert_eq!(listed(&owc.order_id), vec![wc.taxi_id.as_str()]);
    let wo = problem
        .orders
        .iter()
        .find(|o| o.id == owc.order_id)
        .unwrap();
    assert!(wo.wheelchair && !wo.elderly);

    let offer = |order: &str, taxi: &str| {
        let (store, p, order, taxi) = (
            city.store.clone(),
            p.clone(),
            order.to_string(),
            taxi.to_string(),
        );
        async move { store.offer_pair(&p, &order, &taxi, 100.0).await.unwrap() }
    };
    assert!(matches!(
        offer(&o1.order_id, &t1.taxi_id).await,
        PairOffer::Offered { .. }
    ));
    assert_eq!(offer(&o1.order_id, &t2.taxi_id).await, PairOffer::Gone);
    assert_eq!(offer(&owc.order_id, &t1.taxi_id).await, PairOffer::Taken);
    assert_eq!(offer(&owc.order_id, &t2.taxi_id).await, PairOffer::Taken);
    assert!(matches!(
        offer(&owc.order_id, &wc.taxi_id).await,
        PairOffer::Offered { .. }
    ));
    assert_eq!(t1.offer(S).await.order_id, o1.order_id);
    assert_eq!(wc.offer(S).await.order_id, owc.order_id);
    t2.no_offer(Duration::from_millis(300)).await;

    // t1 declines: o1 waits again, and t1 is never paired with it again.
    city.driver()
        .decline_offer(pb::DeclineOfferRequest {
            taxi_id: t1.taxi_id.clone(),
            order_id: o1.order_id.clone(),
            reason: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(offer(&o1.order_id, &t1.taxi_id).await, PairOffer::Taken);
    let again = city.store.batch_problem(&p, 500, 16).await.unwrap();
    assert_eq!(again.orders.len(), 1, "only o1 waits");
    let t1_ix = again.taxis.iter().position(|t| t.id == t1.taxi_id);
    assert!(
        again.candidates.iter().all(|c| Some(c.taxi) != t1_ix),
        "the taxi that declined is not a candidate"
    );
    assert!(matches!(
        offer(&o1.order_id, &t2.taxi_id).await,
        PairOffer::Offered { .. }
    ));
    assert_eq!(t2.offer(S).await.order_id, o1.order_id);
    assert_eq!(batch_offers(&city).await, 3);
}
