//! Taxi stands (候客点, issue 14) end to end through real gRPC: the queues position ingest
//! keeps, stand-first offers, walk-up boardings, the KPIs, a one-key device's home stand,
//! and bad stands refused with the field named and nothing stored. The city's clock is
//! paused so arrival times and waits are exact.

use std::time::Duration;
use taxi_proto::v1 as pb;
use taxi_proto::v1::stand_service_client::StandServiceClient;
use taxi_tests::*;
use tonic::Code;

const S: Duration = Duration::from_secs(1);

fn stands(city: &TestCity) -> StandServiceClient<Authed> {
    StandServiceClient::new(city.as_supervisor())
}

/// A circular stand around the test city's centre.
fn circle(id: &str, radius_meters: f64, capacity: Option<u32>) -> pb::Stand {
    pb::Stand {
        stand_id: id.into(),
        name: format!("市第一人民医院 {id}"),
        fence: Some(pb::stand::Fence::Circle(pb::StandCircle {
            centre: Some(north_of_centre(0.0)),
            radius_meters,
        })),
        capacity,
        hours: vec![],
    }
}

async fn create(city: &TestCity, stand: pb::Stand) -> pb::StandStatus {
    stands(city)
        .create_stand(pb::CreateStandRequest { stand: Some(stand) })
        .await
        .expect("create stand")
        .into_inner()
        .stand
        .expect("stand")
}

async fn list(city: &TestCity) -> Vec<pb::StandStatus> {
    stands(city)
        .list_stands(pb::ListStandsRequest {})
        .await
        .expect("list stands")
        .into_inner()
        .stands
}

/// The queue of stand `id`, head first.
async fn queue(city: &TestCity, id: &str) -> Vec<String> {
    list(city)
        .await
        .into_iter()
        .find(|s| s.stand.as_ref().is_some_and(|d| d.stand_id == id))
        .map(|s| s.queue_taxi_ids)
        .unwrap_or_default()
}

/// A registered, signed-on taxi that has reported no position yet.
async fn signed_on(city: &TestCity, plate: &str) -> String {
    let taxi = register_taxi(&mut city.fleet(), plate).await;
    city.driver()
        .sign_on(pb::SignOnRequest {
            taxi_id: taxi.taxi_id.clone(),
        })
        .await
        .expect("sign on");
    taxi.taxi_id
}

/// Reports `taxi` at `north_m` metres north of the centre, fixed at `ms`.
async fn fix(city: &TestCity, taxi: &str, north_m: f64, ms: i64) {
    let r = send_positions(
        &mut city.driver(),
        vec![report_at(taxi, north_of_centre(north_m), ms)],
    )
    .await;
    assert_eq!(r.accepted, 1, "{r:?}");
}

async fn stats(city: &TestCity) -> pb::GetDispatchStatsResponse {
    city.dispatch()
        .get_dispatch_stats(pb::GetDispatchStatsRequest {})
        .await
        .expect("stats")
        .into_inner()
}

#[tokio::test]
async fn three_taxis_entering_a_stand_are_offered_its_pickups_in_arrival_order() {
    let city = TestCity::start_with(fast_config()).await;
    city.pause();
    create(&city, circle("east-gate", 100.0, None)).await;
    let t0 = city.now_ms() - 10_000;
    // Arrival order is not registration order, nor nearness to the pickup: the first to
    // arrive waits farthest from the centre, the last nearest.
    let a = signed_on(&city, "渝A10001").await;
    let b = signed_on(&city, "渝A10002").await;
    let c = signed_on(&city, "渝A10003").await;
    fix(&city, &b, 90.0, t0).await;
    fix(&city, &a, 50.0, t0 + 1_000).await;
    fix(&city, &c, 5.0, t0 + 2_000).await;
    // A free taxi outside the fence, nearer the pickup than the first in the queue.
    let outside = signed_on(&city, "渝A10004").await;
    fix(&city, &outside, -120.0, t0 + 3_000).await;

    let listed = list(&city).await;
    assert_eq!(listed.len(), 1);
    let st = &listed[0];
    assert_eq!(st.queue_taxi_ids, [b.clone(), a.clone(), c.clone()]);
    assert_eq!(st.queue_length, 3);
    assert!(st.open_now);
    assert_eq!(
        st.oldest_wait.as_ref().map(|d| d.seconds),
        Some(10),
        "the head has waited since its fix"
    );

    let mut streams = Vec::new();
    for t in [&b, &a, &c] {
        streams.push(DriverStream::open(&city, t).await);
    }
    for (i, stream) in streams.iter_mut().enumerate() {
        let order = book_at(&city, &format!("1380000100{i}"), north_of_centre(0.0)).await;
        let stored = city.store.get_order(&order.order_id).await.expect("order");
        assert_eq!(stored.stand, "east-gate", "the order records its stand");
        let offer = stream.offer(3 * S).await;
        assert_eq!(
            offer.order_id, order.order_id,
            "the head of the queue first"
        );
        drive_trip(&city, &stream.taxi_id, &order.order_id).await;
    }
    assert!(
        queue(&city, "east-gate").await.is_empty(),
        "each taxi left the queue with its offer"
    );
    assert_eq!(stats(&city).await.stand_offers, 3);
}

#[tokio::test]
async fn leaving_the_fence_or_free_leaves_the_queue_and_coming_back_joins_at_the_back() {
    let city = TestCity::start_with(fast_config()).await;
    city.pause();
    create(&city, circle("estate", 100.0, None)).await;
    let t0 = city.now_ms() - 10_000;
    let a = signed_on(&city, "渝A20001").await;
    let b = signed_on(&city, "渝A20002").await;
    let c = signed_on(&city, "渝A20003").await;
    fix(&city, &a, 10.0, t0).await;
    fix(&city, &b, 20.0, t0 + 1_000).await;
    fix(&city, &c, 30.0, t0 + 2_000).await;
    assert_eq!(
        queue(&city, "estate").await,
        [a.clone(), b.clone(), c.clone()]
    );
    // A moves a few metres inside the fence: it keeps its place.
    fix(&city, &a, 60.0, t0 + 3_000).await;
    assert_eq!(
        queue(&city, "estate").await,
        [a.clone(), b.clone(), c.clone()]
    );
    // A drives out of the fence: it leaves; back in, it joins at the back.
    fix(&city, &a, 150.0, t0 + 4_000).await;
    assert_eq!(queue(&city, "estate").await, [b.clone(), c.clone()]);
    fix(&city, &a, 10.0, t0 + 5_000).await;
    assert_eq!(
        queue(&city, "estate").await,
        [b.clone(), c.clone(), a.clone()]
    );
    // B takes a street hail while queued: it leaves, and that is a stand ride.
    city.driver()
        .start_street_hail(pb::StartStreetHailRequest { taxi_id: b.clone() })
        .await
        .expect("street hail");
    assert_eq!(queue(&city, "estate").await, [c.clone(), a.clone()]);
    assert_eq!(stats(&city).await.stand_rides, 1);
    // C signs off: it leaves.
    city.driver()
        .sign_off(pb::SignOffRequest { taxi_id: c.clone() })
        .await
        .expect("sign off");
    assert_eq!(queue(&city, "estate").await, [a.as_str()]);
    // A takes an order from elsewhere (the offer takes it off FREE): it leaves.
    let mut stream = DriverStream::open(&city, &a).await;
    let order = book_at(&city, "13800002001", north_of_centre(400.0)).await;
    assert_eq!(stream.offer(3 * S).await.order_id, order.order_id);
    assert!(queue(&city, "estate").await.is_empty());
    assert_eq!(
        city.store.get_order(&order.order_id).await.unwrap().stand,
        "",
        "a pickup outside every fence is no stand's"
    );
}

#[tokio::test]
async fn a_walk_up_boarding_moves_the_queue_on_and_counts_a_stand_ride() {
    let city = TestCity::start_with(fast_config()).await;
    city.pause();
    create(&city, circle("market", 80.0, None)).await;
    let t0 = city.now_ms() - 30_000;
    let a = signed_on(&city, "渝A30001").await;
    let b = signed_on(&city, "渝A30002").await;
    let c = signed_on(&city, "渝A30003").await;
    fix(&city, &a, 10.0, t0).await;
    fix(&city, &b, 20.0, t0 + 5_000).await;
    fix(&city, &c, 30.0, t0 + 6_000).await;

    // The attendant records a boarding: the head takes the passenger.
    let r = stands(&city)
        .record_boarding(pb::RecordBoardingRequest {
            stand_id: "market".into(),
            taxi_id: String::new(),
        })
        .await
        .expect("boarding")
        .into_inner();
    assert_eq!(r.taxi_id, a);
    assert_eq!(r.waited.map(|d| d.seconds), Some(30));
    let st = r.stand.expect("stand");
    assert_eq!(
        st.queue_taxi_ids,
        [b.clone(), c.clone()],
        "the queue moved on"
    );
    assert_eq!(st.oldest_wait.map(|d| d.seconds), Some(25));
    let taxi = city.store.get_taxi(&a).await.unwrap();
    assert_eq!(taxi.state, taxi_domain::taxi::TaxiState::Occupied);
    // A named taxi further back may board too.
    let r = stands(&city)
        .record_boarding(pb::RecordBoardingRequest {
            stand_id: "market".into(),
            taxi_id: c.clone(),
        })
        .await
        .expect("boarding")
        .into_inner();
    assert_eq!(r.taxi_id, c);
    assert_eq!(queue(&city, "market").await, [b.as_str()]);
    assert_eq!(stats(&city).await.stand_rides, 2);
    // A taxi that does not wait there, and a stand that does not exist, are refused.
    assert_status(
        stands(&city)
            .record_boarding(pb::RecordBoardingRequest {
                stand_id: "market".into(),
                taxi_id: a.clone(),
            })
            .await,
        Code::InvalidArgument,
        "taxi_id",
    );
    assert_status(
        stands(&city)
            .record_boarding(pb::RecordBoardingRequest {
                stand_id: "nowhere".into(),
                taxi_id: String::new(),
            })
            .await,
        Code::NotFound,
        "stand_id",
    );
    assert_eq!(stats(&city).await.stand_rides, 2, "refusals count nothing");
    // Deleting the stand empties its queue.
    stands(&city)
        .delete_stand(pb::DeleteStandRequest {
            stand_id: "market".into(),
        })
        .await
        .expect("delete");
    assert!(list(&city).await.is_empty());
    assert_eq!(city.store.queued_at(&b).await.unwrap(), None);
}

#[tokio::test]
async fn a_device_whose_home_is_a_stand_books_at_the_stand_and_its_queue_goes_first() {
    let city = TestCity::start_with(fast_config()).await;
    city.pause();
    // Room for one: the second taxi waits in the fence but not in the queue.
    create(&city, circle("clinic", 100.0, Some(1))).await;
    let t0 = city.now_ms() - 5_000;
    let queued = signed_on(&city, "渝A40001").await;
    let nearer = signed_on(&city, "渝A40002").await;
    fix(&city, &queued, 90.0, t0).await;
    fix(&city, &nearer, 2.0, t0 + 1_000).await;
    assert_eq!(queue(&city, "clinic").await, [queued.as_str()]);

    assert_status(
        city.onekey()
            .register_device(pb::RegisterDeviceRequest {
                owner_phone: "13900004001".into(),
                owner_name: "陈爷爷".into(),
                home_stand_id: "no-such-stand".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "home_stand_id",
    );
    let (_, _, mut device) = provision_device(
        &city,
        pb::RegisterDeviceRequest {
            owner_phone: "13900004001".into(),
            owner_name: "陈爷爷".into(),
            home_stand_id: "clinic".into(),
            ..Default::default()
        },
    )
    .await;
    let mut stream = DriverStream::open(&city, &queued).await;
    let mut other = DriverStream::open(&city, &nearer).await;
    let pressed = device
        .press_button(pb::PressButtonRequest {
            press: pb::PressType::Short as i32,
            ..Default::default()
        })
        .await
        .expect("press")
        .into_inner();
    let order = pressed.order.expect("order");
    let stored = city.store.get_order(&order.order_id).await.unwrap();
    assert_eq!(stored.stand, "clinic", "booked at the stand");
    assert_eq!(stream.offer(3 * S).await.order_id, order.order_id);
    other.no_offer(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn bad_stands_are_refused_naming_the_field_and_nothing_is_stored() {
    let city = TestCity::start().await;
    let at = |n: f64, e: f64| wgs(CENTRE.0 + n * DEG_PER_M, CENTRE.1 + e * DEG_PER_M);
    let polygon = |vertices: Vec<pb::LatLng>| pb::Stand {
        fence: Some(pb::stand::Fence::Polygon(pb::StandPolygon { vertices })),
        ..circle("bad", 100.0, None)
    };
    let cases = [
        (
            // A bow tie: its edges cross.
            polygon(vec![
                at(0.0, 0.0),
                at(50.0, 50.0),
                at(0.0, 50.0),
                at(50.0, 0.0),
            ]),
            "stand.fence.polygon",
            "crosses",
        ),
        (
            // Beijing, far outside Chongqing's service area.
            polygon(vec![
                wgs(39.9000, 116.4000),
                wgs(39.9005, 116.4000),
                wgs(39.9005, 116.4005),
            ]),
            "stand.fence.polygon[0]",
            "outside",
        ),
        (circle("bad", 5.0, None), "stand.fence.radius_meters", "5"),
        (circle("bad", 100.0, Some(0)), "stand.capacity", "0"),
        (
            pb::Stand {
                hours: vec!["25:00-26:00".into()],
                ..circle("bad", 100.0, None)
            },
            "stand.hours[0]",
            "HH:MM",
        ),
        (
            pb::Stand {
                fence: None,
                ..circle("bad", 100.0, None)
            },
            "stand.fence",
            "required",
        ),
    ];
    for (stand, field, why) in cases {
        let r = stands(&city)
            .create_stand(pb::CreateStandRequest { stand: Some(stand) })
            .await;
        match r {
            Ok(v) => panic!("{field}: accepted {v:?}"),
            Err(s) => {
                assert_eq!(s.code(), Code::InvalidArgument, "{field}: {}", s.message());
                assert!(s.message().contains(field), "{field}: {}", s.message());
                assert!(s.message().contains(why), "{field}: {}", s.message());
            }
        }
    }
    assert!(list(&city).await.is_empty(), "nothing was stored");
    assert!(city.store.get_stand("bad").await.unwrap().is_none());
    // A good one is stored; a second with its id, or an update of a bad shape, is refused
    // and the stored one stands unchanged.
    create(&city, circle("good", 100.0, Some(5))).await;
    assert_status(
        stands(&city)
            .create_stand(pb::CreateStandRequest {
                stand: Some(circle("good", 50.0, None)),
            })
            .await,
        Code::InvalidArgument,
        "stand.id",
    );
    assert_status(
        stands(&city)
            .update_stand(pb::UpdateStandRequest {
                stand: Some(circle("good", 5000.0, None)),
            })
            .await,
        Code::InvalidArgument,
        "stand.fence.radius_meters",
    );
    assert_status(
        stands(&city)
            .update_stand(pb::UpdateStandRequest {
                stand: Some(circle("unknown", 50.0, None)),
            })
            .await,
        Code::NotFound,
        "stand_id",
    );
    let listed = list(&city).await;
    assert_eq!(listed.len(), 1);
    let kept = listed[0].stand.clone().unwrap();
    assert_eq!(kept.capacity, Some(5));
    match kept.fence {
        Some(pb::stand::Fence::Circle(c)) => assert_eq!(c.radius_meters, 100.0),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_console_map_draws_each_stand_with_its_queue() {
    let city = TestCity::start_with(fast_config()).await;
    city.pause();
    create(&city, circle("gate", 100.0, None)).await;
    let a = signed_on(&city, "渝A50001").await;
    fix(&city, &a, 10.0, city.now_ms() - 120_000).await;
    let cookie = format!(
        "{}={}",
        taxi_console::session::ACCESS_COOKIE,
        city.principals.supervisor
    );
    let answer = http1::get(
        city.server.addr,
        "/console/api/map/stands",
        &[("Cookie", &cookie)],
    )
    .await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let g = answer.json();
    let f = &g["features"][0];
    assert_eq!(f["properties"]["stand_id"], "gate", "{g}");
    assert_eq!(f["properties"]["queue"], 1, "{g}");
    assert_eq!(f["properties"]["oldest_wait_s"], 120, "{g}");
    assert_eq!(f["properties"]["radius_m"], 100.0, "{g}");
    assert_eq!(f["geometry"]["type"], "Point", "{g}");
    let at = north_of_centre(0.0);
    let c = &f["geometry"]["coordinates"];
    assert!((c[0].as_f64().unwrap() - at.longitude).abs() < 1e-9, "{g}");
    assert!((c[1].as_f64().unwrap() - at.latitude).abs() < 1e-9, "{g}");
    // Without a session the map answers nothing.
    let refused = http1::get(city.server.addr, "/console/api/map/stands", &[]).await;
    assert_ne!(refused.status, 200);
}

/// The batched matcher leaves stand pickups to the greedy pass that follows each solve.
/// Before: a batch whose every order was left out (here the one stand pickup) sent Redis an
/// empty pipeline, failed as if Redis were out of reach, and the greedy pass never ran, so
/// the order was never offered.
#[tokio::test]
async fn with_the_batched_matcher_a_stand_pickup_goes_to_the_head_of_its_queue() {
    let mut config = fast_config();
    config.settings.matcher = taxi_domain::settings::Matcher::Batched;
    let city = TestCity::start_with(config).await;
    city.pause();
    create(&city, circle("east-gate", 100.0, None)).await;
    let t0 = city.now_ms() - 10_000;
    let a = signed_on(&city, "渝A10011").await;
    fix(&city, &a, 50.0, t0).await;
    let mut stream = DriverStream::open(&city, &a).await;
    let order = book_at(&city, "13800001011", north_of_centre(0.0)).await;
    assert_eq!(stream.offer(3 * S).await.order_id, order.order_id);
}

/// With the batched matcher, an older passenger booked at a stand (left to the greedy pass)
/// still keeps a taxi in her reach from an ordinary order booked after her: the batch does
/// not pair them, and the greedy pass serves her first. Before, the batch left her out of
/// its problem altogether and gave the ordinary order the taxi (the simulator counted it).
#[tokio::test]
async fn with_the_batched_matcher_a_stand_pickup_still_holds_back_an_ordinary_order_behind_it() {
    let mut config = fast_config();
    config.settings.matcher = taxi_domain::settings::Matcher::Batched;
    let city = TestCity::start_with(config).await;
    create(&city, circle("west-gate", 100.0, None)).await;
    elderly_caller(&city, "13900001021").await;
    let older = book_at(&city, "13900001021", north_of_centre(0.0)).await;
    let ordinary = book_at(&city, "13800001021", north_of_centre(2_000.0)).await;
    assert!(older.elderly && !ordinary.elderly);
    let deadline = std::time::Instant::now() + 3 * S;
    loop {
        let waiting = city.store.retrying_order_ids().await.unwrap();
        if waiting.contains(&older.order_id) && waiting.contains(&ordinary.order_id) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "both wait: {waiting:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A taxi appears 1.5 km from her and 0.5 km from the ordinary order.
    let t = signed_on(&city, "渝A10021").await;
    let mut stream = DriverStream::open(&city, &t).await;
    fix(&city, &t, 1_500.0, city.now_ms()).await;
    assert_eq!(stream.offer(3 * S).await.order_id, older.order_id);
}
