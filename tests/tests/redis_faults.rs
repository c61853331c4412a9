//! Redis going away and coming back, under the services.

use std::time::{Duration, Instant};
use taxi_domain::clock::Clock;
use taxi_proto::v1 as pb;
use taxi_tests::*;
use tonic::Code;

#[tokio::test]
async fn calls_fail_fast_while_redis_is_down_and_work_again_after() {
    let mut city = TestCity::start_on(TestRedis::single(), Default::default()).await;
    let taxi = taxi_at(&city, "渝A80001", north_of_centre(100.0)).await;
    city.redis.stop();

    let mut fleet = city.fleet();
    for _ in 0..3 {
        let started = Instant::now();
        let r = fleet
            .get_taxi(pb::GetTaxiRequest {
                taxi_id: taxi.taxi_id.clone(),
            })
            .await;
        assert_status(r, Code::Unavailable, "unavailable");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "took {:?}",
            started.elapsed()
        );
    }
    let r = city
        .driver()
        .sign_off(pb::SignOffRequest {
            taxi_id: taxi.taxi_id.clone(),
        })
        .await;
    assert_eq!(r.unwrap_err().code(), Code::Unavailable);

    city.redis.start_again().expect("restart redis");
    let deadline = Instant::now() + Duration::from_secs(10);
    let got = loop {
        match fleet
            .get_taxi(pb::GetTaxiRequest {
                taxi_id: taxi.taxi_id.clone(),
            })
            .await
        {
            Ok(r) => break r.into_inner().taxi.unwrap(),
            Err(s) if s.code() == Code::Unavailable && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(s) => panic!("did not recover: {s:?}"),
        }
    };
    // The registration and the sign-on survived in the AOF.
    assert_eq!(got.plate, "渝A80001");
    assert_eq!(got.state, pb::TaxiState::Free as i32);
    // And writes work again without restarting the service.
    register_taxi(&mut city.fleet(), "渝A80002").await;
}

#[tokio::test]
async fn a_position_stream_survives_redis_going_away_and_its_next_batch_is_stored() {
    let mut city = TestCity::start_on(TestRedis::single(), Default::default()).await;
    let taxi = taxi_at(&city, "渝A80011", north_of_centre(100.0)).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::ReportPositionsRequest>(4);
    let mut driver = city.driver();
    let call = tokio::spawn(async move {
        driver
            .report_positions(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    let clock = city.clock.clone();
    let id = taxi.taxi_id.clone();
    let batch = move |north: f64| pb::ReportPositionsRequest {
        positions: vec![report_at(&id, north_of_centre(north), clock.now_ms())],
    };
    tx.send(batch(110.0)).await.unwrap();
    // Let the first batch land, then take Redis away under the open stream.
    tokio::time::sleep(Duration::from_millis(200)).await;
    city.redis.stop();
    tx.send(batch(120.0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    city.redis.start_again().expect("restart redis");
    // The first batch after Redis is back is stored.
    tx.send(batch(130.0)).await.unwrap();
    drop(tx);
    let summary = call
        .await
        .unwrap()
        .expect("the stream is answered, not aborted")
        .into_inner();
    assert_eq!(summary.accepted, 2, "{summary:?}");
    assert_eq!(summary.rejected, 1, "{summary:?}");
    let why = &summary.rejections[0];
    assert_eq!(why.index, 1);
    assert!(why.reason.contains("unavailable"), "{why:?}");
    let stored = city
        .fleet()
        .get_taxi(pb::GetTaxiRequest {
            taxi_id: taxi.taxi_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .taxi
        .unwrap();
    let at = stored.position.unwrap();
    assert!(
        (at.latitude - north_of_centre(130.0).latitude).abs() < 1e-5,
        "the last batch, within the geo index precision: {at:?} vs {:?}",
        north_of_centre(130.0)
    );
}

async fn nearby(city: &TestCity) -> usize {
    city.fleet()
        .list_nearby_taxis(pb::ListNearbyTaxisRequest {
            center: Some(north_of_centre(0.0)),
            radius_meters: 2000,
            limit: 10,
            wheelchair_accessible_only: false,
        })
        .await
        .expect("nearby")
        .into_inner()
        .taxis
        .len()
}

#[tokio::test]
async fn positions_stay_out_of_the_aof_and_after_a_restart_the_next_fix_brings_a_taxi_back() {
    let mut city = TestCity::start_on(TestRedis::single(), fast_config()).await;
    let taxi = taxi_at(&city, "渝A80021", north_of_centre(150.0)).await;
    let before = city.store.aof_bytes().await.unwrap();
    assert!(before > 0, "the AOF is on");
    // A thousand fixes change nothing on disk: no fsync waits for them.
    for i in 0..10 {
        let reports = (0..100)
            .map(|j| {
                report_at(
                    &taxi.taxi_id,
                    north_of_centre(150.0 + f64::from(i * 100 + j) * 0.1),
                    city.now_ms(),
                )
            })
            .collect();
        let r = send_positions(&mut city.driver(), reports).await;
        assert!(r.accepted >= 1, "{r:?}");
    }
    assert_eq!(city.store.aof_bytes().await.unwrap(), before);
    assert_eq!(nearby(&city).await, 1);

    // A restart keeps the taxi and its state, not its position: it is not matched on a
    // position nobody vouches for ...
    city.redis.restart().expect("restart redis");
    let deadline = Instant::now() + Duration::from_secs(10);
    let got = loop {
        match city
            .fleet()
            .get_taxi(pb::GetTaxiRequest {
                taxi_id: taxi.taxi_id.clone(),
            })
            .await
        {
            Ok(r) => break r.into_inner().taxi.unwrap(),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(s) => panic!("did not recover: {s:?}"),
        }
    };
    assert_eq!(got.state, pb::TaxiState::Free as i32);
    assert_eq!(nearby(&city).await, 0);
    // ... until its next fix, when it is offered the next order at once.
    let mut stream = DriverStream::open(&city, &taxi.taxi_id).await;
    send_positions(
        &mut city.driver(),
        vec![report(
            &taxi.taxi_id,
            north_of_centre(150.0),
            Duration::ZERO,
        )],
    )
    .await;
    assert_eq!(nearby(&city).await, 1);
    let order = book_at(&city, "13800008021", north_of_centre(0.0)).await;
    assert_eq!(
        stream.offer(Duration::from_secs(5)).await.order_id,
        order.order_id
    );
}
