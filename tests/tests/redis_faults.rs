//! Redis going away and coming back, under the services.

use std::time::{Duration, Instant};
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
