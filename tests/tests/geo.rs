//! Exact capability matching and bounded geo work in a crowded city: capable taxis are
//! found behind any number of ordinary ones, nearby searches stay bounded with thousands
//! of free taxis, and the janitor covers every free taxi however many others there are.

use futures::StreamExt;
use std::time::{Duration, Instant};
use taxi_domain::Coordinates;
use taxi_domain::taxi::TaxiEvent;
use taxi_proto::v1 as pb;
use taxi_store::taxis::{CARING_TAG, Fix, FixOutcome, NewTaxi};
use taxi_tests::*;

const S: Duration = Duration::from_secs(1);

/// More ordinary taxis than one page (64) of the old filtered search.
const CROWD: usize = 75;

/// `CROWD` ordinary free taxis between 100 and 700 m north of the centre, through the API.
async fn ordinary_crowd(city: &TestCity) {
    let mut fleet = city.fleet();
    let mut driver = city.driver();
    let mut reports = vec![];
    for i in 0..CROWD {
        let taxi = register_taxi(&mut fleet, &format!("渝A6{i:04}")).await;
        driver
            .sign_on(pb::SignOnRequest {
                taxi_id: taxi.taxi_id.clone(),
            })
            .await
            .expect("sign on");
        let north = 100.0 + 600.0 * i as f64 / CROWD as f64;
        reports.push(city.report(&taxi.taxi_id, north_of_centre(north), Duration::ZERO));
    }
    let r = send_positions(&mut driver, reports).await;
    assert_eq!(r.accepted as usize, CROWD, "{r:?}");
}

/// A free taxi with capabilities at `at`, its dispatch stream open.
async fn capable_driver_at(
    city: &TestCity,
    plate: &str,
    wheelchair: bool,
    tags: &[&str],
    at: pb::LatLng,
) -> DriverStream {
    let taxi = register_taxi_with(&mut city.fleet(), plate, wheelchair, tags).await;
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

#[tokio::test]
async fn a_wheelchair_order_reaches_the_accessible_taxi_behind_many_ordinary_ones() {
    let city = TestCity::start_with(fast_config()).await;
    ordinary_crowd(&city).await;
    let mut wc = capable_driver_at(&city, "渝A07001", true, &[], north_of_centre(800.0)).await;
    let order = city
        .hotline()
        .create_booking(pb::CreateBookingRequest {
            caller_phone: "13800000070".into(),
            pickup: Some(place(north_of_centre(0.0), "医院门口")),
            channel: pb::Channel::Operator as i32,
            operator_id: SUPERVISOR.into(),
            needs: vec![pb::PassengerNeed::Wheelchair as i32],
            ..Default::default()
        })
        .await
        .expect("book")
        .into_inner()
        .order
        .expect("order");
    let offer = wc.offer(S).await;
    assert_eq!(offer.order_id, order.order_id);
    assert!((offer.distance_meters as i64 - 800).abs() <= 5, "{offer:?}");
}

#[tokio::test]
async fn an_older_passenger_gets_the_caring_taxi_behind_many_ordinary_ones() {
    let city = TestCity::start_with(fast_config()).await;
    ordinary_crowd(&city).await;
    // In the first ring (1 km), where the caring fleet comes first, behind the whole crowd.
    let mut caring = capable_driver_at(
        &city,
        "渝A07002",
        false,
        &["caring"],
        north_of_centre(900.0),
    )
    .await;
    elderly_caller(&city, "13900000070").await;
    let old = book_at(&city, "13900000070", north_of_centre(0.0)).await;
    let offer = caring.offer(S).await;
    assert_eq!(offer.order_id, old.order_id);
    assert!(offer.elderly);
}

/// An older passenger who needs a wheelchair: within a ring, the caring fleet's accessible
/// taxis come first, found behind the crowd, a nearer accessible taxi outside the fleet and
/// a nearer caring taxi that is not accessible.
#[tokio::test]
async fn an_older_wheelchair_user_gets_the_accessible_caring_taxi_first() {
    let city = TestCity::start_with(fast_config()).await;
    ordinary_crowd(&city).await;
    let mut caring_only = capable_driver_at(
        &city,
        "渝A07005",
        false,
        &["caring"],
        north_of_centre(800.0),
    )
    .await;
    let mut accessible_only =
        capable_driver_at(&city, "渝A07006", true, &[], north_of_centre(900.0)).await;
    let mut both =
        capable_driver_at(&city, "渝A07007", true, &["caring"], north_of_centre(950.0)).await;
    elderly_caller(&city, "13900000071").await;
    let order = city
        .hotline()
        .create_booking(pb::CreateBookingRequest {
            caller_phone: "13900000071".into(),
            pickup: Some(place(north_of_centre(0.0), "小区门口")),
            channel: pb::Channel::Operator as i32,
            operator_id: SUPERVISOR.into(),
            needs: vec![pb::PassengerNeed::Wheelchair as i32],
            ..Default::default()
        })
        .await
        .expect("book")
        .into_inner()
        .order
        .expect("order");
    let offer = both.offer(S).await;
    assert_eq!(offer.order_id, order.order_id);
    caring_only.no_offer(Duration::from_millis(200)).await;
    accessible_only.no_offer(Duration::from_millis(200)).await;
}

/// Registers `n` taxis through the store (thousands in a second or two), signs them on
/// and reports them on a grid of 10 m steps north and east of the centre, each fix
/// `age` old; returns their ids.
async fn crowd_through_the_store(city: &TestCity, n: usize, age: Duration) -> Vec<String> {
    let ids: Vec<String> = futures::stream::iter(0..n)
        .map(|i| {
            let store = city.store.clone();
            async move {
                let taxi = NewTaxi {
                    plate: format!("渝B{i:05}"),
                    driver_name: "李师傅".into(),
                    color: "白色".into(),
                    driver_phone: String::new(),
                    wheelchair: false,
                    tags: vec![],
                };
                let id = store.register_taxi(&taxi).await.expect("register").id;
                let on = store.transition_taxi(&id, TaxiEvent::SignOn).await;
                on.expect("sign on");
                id
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let fix_ms = city.now_ms() - age.as_millis() as i64;
    let fixes: Vec<Fix> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| Fix {
            taxi_id: id.clone(),
            at: Coordinates::new(
                CENTRE.0 + (i % 100) as f64 * 10.0 * DEG_PER_M,
                CENTRE.1 + (i / 100) as f64 * 10.0 * DEG_PER_M,
            )
            .expect("in range"),
            fix_ms,
        })
        .collect();
    let fresh_ms = 30_000;
    let out = city.store.report_positions(&fixes, fresh_ms).await;
    assert!(
        out.expect("report")
            .iter()
            .all(|o| *o == FixOutcome::Stored)
    );
    ids
}

/// Before: the search grew its page until it unpacked more than Lua can (INTERNAL, "too
/// many results to unpack") after holding Redis for as long as the city was big.
#[tokio::test]
async fn nearby_wheelchair_search_over_thousands_of_free_taxis_is_bounded() {
    let city = TestCity::start().await;
    crowd_through_the_store(&city, 8_500, Duration::ZERO).await;
    let wc = register_taxi_with(&mut city.fleet(), "渝A07003", true, &[]).await;
    city.driver()
        .sign_on(pb::SignOnRequest {
            taxi_id: wc.taxi_id.clone(),
        })
        .await
        .expect("sign on");
    send_positions(
        &mut city.driver(),
        vec![city.report(&wc.taxi_id, north_of_centre(2500.0), Duration::ZERO)],
    )
    .await;
    let list = |limit, wheelchair_accessible_only| {
        let mut fleet = city.fleet();
        async move {
            fleet
                .list_nearby_taxis(pb::ListNearbyTaxisRequest {
                    center: Some(wgs(CENTRE.0, CENTRE.1)),
                    radius_meters: 3000,
                    limit,
                    wheelchair_accessible_only,
                })
                .await
                .map(|r| r.into_inner().taxis)
        }
    };
    let accessible = list(5, true).await.expect("wheelchair search");
    let ids: Vec<&str> = accessible.iter().map(|t| t.taxi_id.as_str()).collect();
    assert_eq!(ids, vec![wc.taxi_id.as_str()]);
    assert!(accessible[0].wheelchair_accessible);
    // The largest page allowed: full, nearest first.
    let all = list(200, false).await.expect("search");
    assert_eq!(all.len(), 200);
    assert!(
        all.windows(2)
            .all(|w| w[0].distance_meters <= w[1].distance_meters)
    );
}

/// Before: the janitor read the 5,000 oldest fixes of the whole city; with more taxis off
/// duty (whose old fixes come first), a stale free taxi was never reached and stayed in
/// the free index.
#[tokio::test]
async fn the_janitor_covers_a_city_of_more_than_five_thousand_taxis() {
    let city = TestCity::start().await;
    let off_duty = crowd_through_the_store(&city, 5_200, Duration::from_secs(600)).await;
    futures::stream::iter(off_duty)
        .for_each_concurrent(64, |id| {
            let store = city.store.clone();
            async move {
                let off = store.transition_taxi(&id, TaxiEvent::SignOff).await;
                off.expect("sign off");
            }
        })
        .await;
    let mut fleet = city.fleet();
    let capable = register_taxi_with(&mut fleet, "渝A07004", true, &[CARING_TAG]).await;
    let id = capable.taxi_id;
    city.driver()
        .sign_on(pb::SignOnRequest {
            taxi_id: id.clone(),
        })
        .await
        .expect("sign on");
    send_positions(
        &mut city.driver(),
        vec![city.report(&id, north_of_centre(300.0), Duration::ZERO)],
    )
    .await;
    let indexes = city.store.free_indexes().await.expect("indexes");
    assert_eq!(indexes.free, vec![id.clone()]);
    assert_eq!(indexes.wheelchair, vec![id.clone()]);
    assert_eq!(indexes.caring, vec![id.clone()]);

    // Its fix goes stale; the janitor (every second) takes it out of every free index.
    city.advance(Duration::from_secs(31));
    let deadline = Instant::now() + Duration::from_secs(5);
    while city.store.position_index(&id).await.expect("index") != (false, true) {
        assert!(
            Instant::now() < deadline,
            "the stale free taxi is still in the free index"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let indexes = city.store.free_indexes().await.expect("indexes");
    assert!(
        indexes.free.is_empty()
            && indexes.wheelchair.is_empty()
            && indexes.caring.is_empty()
            && indexes.fixes.is_empty(),
        "{indexes:?}"
    );
}
