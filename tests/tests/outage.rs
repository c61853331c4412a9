//! Time in a Redis outage does not count against waiting orders.

use std::time::{Duration, Instant};
use taxi_domain::audit::AuditKind;
use taxi_proto::v1 as pb;
use taxi_tests::*;
use tonic::Code;

const S: Duration = Duration::from_secs(1);

async fn status(city: &TestCity, order: &str) -> i32 {
    wait_order(city, order, S, |_| true).await.status
}

#[tokio::test]
async fn an_outage_longer_than_the_unfulfilled_bound_does_not_give_up_on_waiting_orders() {
    // Orders give up after 60 s in dispatch (`fast_config`).
    let mut city = TestCity::start_on(TestRedis::single(), fast_config()).await;
    // A taxi on shift but out of reach (no position yet): the orders wait for a retry.
    let taxi = register_taxi(&mut city.fleet(), "渝A71001").await;
    city.driver()
        .sign_on(pb::SignOnRequest {
            taxi_id: taxi.taxi_id.clone(),
        })
        .await
        .unwrap();
    let older = book_at(&city, "13800007101", north_of_centre(0.0)).await;
    city.advance(Duration::from_secs(50));
    let newer = book_at(&city, "13800007102", north_of_centre(50.0)).await;

    // Redis goes away for longer than the bound, by the city's clock.
    city.redis.stop();
    let deadline = Instant::now() + 5 * S;
    loop {
        let r = city
            .dispatch()
            .get_dispatch_stats(pb::GetDispatchStatsRequest {})
            .await;
        match r {
            Err(s) if s.code() == Code::Unavailable => break,
            _ => assert!(Instant::now() < deadline, "Redis never looked down"),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Let the dispatch engine notice too (it sweeps every 50 ms here).
    tokio::time::sleep(Duration::from_millis(300)).await;
    city.advance(Duration::from_secs(61));
    let back_at = city.now_ms();
    city.redis.start_again().expect("restart redis");

    // The engine records the outage, then attempts both orders again: both still wait.
    let deadline = Instant::now() + 10 * S;
    loop {
        let attempted = match (
            city.store.get_order(&older.order_id).await,
            city.store.get_order(&newer.order_id).await,
        ) {
            (Ok(a), Ok(b)) => a.updated_ms >= back_at && b.updated_ms >= back_at,
            _ => false,
        };
        if attempted {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the orders were never attempted again"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let trail = city.store.audit_trail_all().await.unwrap();
    let paused: Vec<_> = trail
        .iter()
        .filter(|e| e.kind == AuditKind::DispatchPaused)
        .collect();
    // The outage is on the trail, covering the time Redis was away (a failure seen as the
    // connections are replaced may add a blip of a few ms: harmless, it is merged).
    let covering = paused.iter().any(|e| {
        let (start, end) = (
            e.field("start").parse::<i64>().unwrap_or(i64::MAX),
            e.field("end").parse::<i64>().unwrap_or(0),
        );
        start <= back_at - 61_000 && end >= back_at
    });
    assert!(covering, "{paused:?}");
    for id in [&older.order_id, &newer.order_id] {
        assert_eq!(
            status(&city, id).await,
            pb::OrderStatus::Pending as i32,
            "{id}: the outage counted against it"
        );
    }

    // Let the engine settle on its new connections before the clock jumps: a call still in
    // flight on a connection from before the restart fails once, and the engine records
    // that blip from its last answer; recorded after a jump, it would span the jump.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Outside the outage the older order has now waited 50 s; 11 s more and it has
    // waited past the bound on its own: it gives up. The newer one has waited 11 s.
    city.advance(Duration::from_secs(11));
    let o = wait_order(&city, &older.order_id, 3 * S, |o| {
        o.status == pb::OrderStatus::Unfulfilled as i32
    })
    .await;
    assert_eq!(o.status, pb::OrderStatus::Unfulfilled as i32);
    assert_eq!(
        status(&city, &newer.order_id).await,
        pb::OrderStatus::Pending as i32
    );
    // And it is dispatched as soon as a taxi is in reach.
    send_positions(
        &mut city.driver(),
        vec![city.report(&taxi.taxi_id, north_of_centre(300.0), Duration::ZERO)],
    )
    .await;
    let mut stream = DriverStream::open(&city, &taxi.taxi_id).await;
    assert_eq!(stream.offer(3 * S).await.order_id, newer.order_id);
}
