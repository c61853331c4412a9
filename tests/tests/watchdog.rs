//! The trip watchdog: trips whose taxi never arrives (or whose passenger never boards)
//! are flagged for operators once per stage, and an operator can redispatch them.

use std::time::{Duration, Instant};
use taxi_domain::audit::AuditKind;
use taxi_proto::v1 as pb;
use taxi_proto::v1::stream_dispatches_response::Event;
use taxi_tests::*;
use tonic::Code;

const S: Duration = Duration::from_secs(1);
/// Past the default bounds (10 minutes to arrive for a taxi a few minutes away, 10
/// minutes to start once there).
const PAST_BOUND: Duration = Duration::from_secs(10 * 60 + 5);

/// A free taxi at `at` with a fix taken now by the city's clock (which tests step far
/// ahead of the system clock), and its dispatch stream.
async fn driver_now(city: &TestCity, plate: &str, at: pb::LatLng) -> DriverStream {
    let taxi = register_taxi(&mut city.fleet(), plate).await;
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

async fn stuck(city: &TestCity) -> pb::ListStuckOrdersResponse {
    city.dispatch()
        .list_stuck_orders(pb::ListStuckOrdersRequest { limit: 0 })
        .await
        .expect("list stuck orders")
        .into_inner()
}

/// Polls the stuck list until it holds `n` trips.
async fn wait_stuck(city: &TestCity, n: usize) -> pb::ListStuckOrdersResponse {
    let deadline = Instant::now() + 3 * S;
    loop {
        let list = stuck(city).await;
        if list.orders.len() == n {
            return list;
        }
        assert!(Instant::now() < deadline, "stuck list stayed {list:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// How many times the watchdog flagged `order`.
async fn flags(city: &TestCity, order: &str) -> usize {
    let trail = city.store.audit_trail_all().await.expect("audit trail");
    trail
        .iter()
        .filter(|e| e.kind == AuditKind::OrderStuck && e.field("order") == order)
        .count()
}

/// Lets the sweeper (every 50 ms in `fast_config`) run several passes.
async fn some_sweeps() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

async fn redispatch(
    city: &TestCity,
    order: &str,
    reason: &str,
) -> Result<pb::RedispatchOrderResponse, tonic::Status> {
    city.dispatch()
        .redispatch_order(pb::RedispatchOrderRequest {
            order_id: order.into(),
            operator_id: SUPERVISOR.into(),
            reason: reason.into(),
        })
        .await
        .map(|r| r.into_inner())
}

async fn accept(city: &TestCity, taxi: &str, order: &str) {
    city.driver()
        .accept_offer(pb::AcceptOfferRequest {
            taxi_id: taxi.into(),
            order_id: order.into(),
        })
        .await
        .expect("accept");
}

async fn arrive(city: &TestCity, taxi: &str, order: &str) -> Result<pb::Order, tonic::Status> {
    city.driver()
        .arrive_at_pickup(pb::ArriveAtPickupRequest {
            taxi_id: taxi.into(),
            order_id: order.into(),
        })
        .await
        .map(|r| r.into_inner().order.expect("order"))
}

#[tokio::test]
async fn a_taxi_that_never_arrives_is_flagged_once_and_an_operator_gives_the_order_to_another() {
    let city = TestCity::start_with(fast_config()).await;
    let mut first = driver_at(&city, "渝A70001", north_of_centre(300.0)).await;
    let order = book_at(&city, "13800007001", north_of_centre(0.0)).await;
    let id = order.order_id.clone();
    assert_eq!(first.offer(S).await.order_id, id);
    accept(&city, &first.taxi_id, &id).await;
    let queued_at = city.store.get_order(&id).await.unwrap().queue_score;

    // Just short of the bound: nothing to report.
    city.advance(PAST_BOUND - Duration::from_secs(10));
    some_sweeps().await;
    assert_eq!(stuck(&city).await.total, 0);
    // Past it: on the operators' list, at its stage.
    city.advance(Duration::from_secs(10));
    let list = wait_stuck(&city, 1).await;
    let trip = &list.orders[0];
    assert_eq!(trip.order.as_ref().unwrap().order_id, id);
    assert_eq!(trip.stage, pb::StuckStage::NotArrived as i32);
    assert_eq!(list.total, 1);
    // Once: later sweeps, however late it gets, do not raise it again.
    city.advance(PAST_BOUND);
    some_sweeps().await;
    assert_eq!(stuck(&city).await.total, 1);
    assert_eq!(flags(&city, &id).await, 1);

    // The operator redispatches: the silent driver is signed off and told; another
    // taxi gets the order, which kept its place in the queue.
    let mut second = driver_now(&city, "渝A70002", north_of_centre(600.0)).await;
    let done = redispatch(&city, &id, "司机电话无人接听").await.unwrap();
    assert_eq!(done.released_taxi_id, first.taxi_id);
    assert_eq!(done.released_taxi_state, pb::TaxiState::OffDuty as i32);
    // Back in dispatch (the engine may already have offered it by the time it is read).
    let status = done.order.unwrap().status;
    assert!(
        [
            pb::OrderStatus::Pending as i32,
            pb::OrderStatus::Offered as i32
        ]
        .contains(&status),
        "{status}"
    );
    assert_eq!(second.offer(S).await.order_id, id);
    let o = city.store.get_order(&id).await.unwrap();
    assert_eq!(o.queue_score, queued_at, "its original priority");
    let (mut withdrawn, mut signed_off) = (false, false);
    while let Some(e) = first.next(Duration::from_millis(300)).await {
        match e {
            Event::OfferWithdrawn(w) if w.order_id == id => {
                assert!(w.reason.contains("司机电话无人接听"), "{w:?}");
                withdrawn = true;
            }
            Event::SignedOff(_) => signed_off = true,
            _ => {}
        }
    }
    assert!(withdrawn && signed_off, "the first driver was told");
    assert_eq!(
        stuck(&city).await.total,
        0,
        "off the list once redispatched"
    );

    // The first taxi turns up late: refused, the order is not its any more.
    let late = arrive(&city, &first.taxi_id, &id).await;
    assert_status(late, Code::FailedPrecondition, "order_id");
    // The second one's trip goes on normally.
    accept(&city, &second.taxi_id, &id).await;
    let o = arrive(&city, &second.taxi_id, &id).await.unwrap();
    assert_eq!(o.status, pb::OrderStatus::Arrived as i32);
}

#[tokio::test]
async fn each_stage_is_flagged_once_and_a_taxi_at_the_door_is_freed_by_a_redispatch() {
    let city = TestCity::start_with(fast_config()).await;
    let mut taxi = driver_at(&city, "渝A70011", north_of_centre(300.0)).await;
    let order = book_at(&city, "13800007011", north_of_centre(0.0)).await;
    let id = order.order_id.clone();
    assert_eq!(taxi.offer(S).await.order_id, id);
    accept(&city, &taxi.taxi_id, &id).await;

    city.advance(PAST_BOUND);
    wait_stuck(&city, 1).await;
    // It arrives late: off the list, and the next stage is watched from now on.
    arrive(&city, &taxi.taxi_id, &id).await.unwrap();
    assert_eq!(stuck(&city).await.total, 0);
    city.advance(PAST_BOUND - Duration::from_secs(10));
    some_sweeps().await;
    assert_eq!(
        stuck(&city).await.total,
        0,
        "the boarding bound runs from arrival"
    );
    city.advance(Duration::from_secs(10));
    let list = wait_stuck(&city, 1).await;
    assert_eq!(list.orders[0].stage, pb::StuckStage::NotStarted as i32);
    city.advance(PAST_BOUND);
    some_sweeps().await;
    assert_eq!(flags(&city, &id).await, 2, "once per stage");

    // The passenger never came out: redispatched, the taxi is free where it stands (it
    // did its part) and is not offered this order again.
    let done = redispatch(&city, &id, "乘客未出现，重新派车")
        .await
        .unwrap();
    assert_eq!(done.released_taxi_state, pb::TaxiState::Free as i32);
    let mut signed_off = false;
    while let Some(e) = taxi.next(Duration::from_millis(300)).await {
        match e {
            Event::SignedOff(_) => signed_off = true,
            Event::Offer(o) => panic!("offered {} again", o.order_id),
            _ => {}
        }
    }
    assert!(!signed_off);
    let o = wait_order(&city, &id, S, |_| true).await;
    assert_eq!(o.status, pb::OrderStatus::Pending as i32);
    // Still matchable: a new order nearby goes to it.
    send_positions(
        &mut city.driver(),
        vec![city.report(&taxi.taxi_id, north_of_centre(300.0), Duration::ZERO)],
    )
    .await;
    let other = book_at(&city, "13800007012", north_of_centre(100.0)).await;
    assert_eq!(taxi.offer(S).await.order_id, other.order_id);
}

#[tokio::test]
async fn redispatch_refuses_what_is_not_a_stuck_trip_and_names_the_field_at_fault() {
    let city = TestCity::start_with(fast_config()).await;
    let waiting = book_at(&city, "13800007021", north_of_centre(0.0)).await;
    let r = redispatch(&city, &waiting.order_id, "再试一次").await;
    assert_status(r, Code::FailedPrecondition, "order_id");
    let r = redispatch(&city, "O0000000000ZZ", "再试一次").await;
    assert_status(r, Code::NotFound, "order_id");
    let r = redispatch(&city, &waiting.order_id, "").await;
    assert_status(r, Code::InvalidArgument, "reason");
    let r = redispatch(&city, &waiting.order_id, &"长".repeat(201)).await;
    assert_status(r, Code::InvalidArgument, "reason");
    let r = city
        .dispatch()
        .redispatch_order(pb::RedispatchOrderRequest {
            order_id: waiting.order_id.clone(),
            operator_id: "someone-else".into(),
            reason: "x".into(),
        })
        .await;
    assert_status(r, Code::PermissionDenied, "operator_id");
    let r = city
        .dispatch()
        .list_stuck_orders(pb::ListStuckOrdersRequest { limit: 501 })
        .await;
    assert_status(r, Code::InvalidArgument, "limit");
    let o = wait_order(&city, &waiting.order_id, S, |_| true).await;
    assert_eq!(o.status, pb::OrderStatus::Pending as i32, "nothing changed");
}
