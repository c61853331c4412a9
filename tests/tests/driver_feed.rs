//! The driver feed: every event carries a sequence id, a reconnecting driver resumes
//! from its last one and is told what it missed, and a slow stream loses nothing.

use std::time::Duration;
use taxi_proto::v1 as pb;
use taxi_proto::v1::stream_dispatches_response::Event;
use taxi_tests::*;
use tonic::Code;

async fn cancel(city: &TestCity, order_id: &str) {
    city.hotline()
        .cancel_order(pb::CancelOrderRequest {
            order_id: order_id.into(),
            cancelled_by: pb::CancelledBy::Passenger as i32,
            reason: "不需要了".into(),
            operator_id: String::new(),
        })
        .await
        .expect("cancel");
}

fn seq_of(text: &str) -> (u64, u64) {
    let (ms, n) = text.split_once('-').expect("seq is <ms>-<n>");
    (ms.parse().unwrap(), n.parse().unwrap())
}

#[tokio::test]
async fn a_driver_reconnecting_with_its_last_seq_is_told_what_it_missed_in_order() {
    let city = TestCity::start_with(fast_config()).await;
    let mut driver = driver_at(&city, "渝A82001", north_of_centre(200.0)).await;
    let first = book_at(&city, "13800002001", north_of_centre(0.0)).await;
    let offer = driver.offer(Duration::from_secs(5)).await;
    assert_eq!(offer.order_id, first.order_id);
    let resume_from = driver.last_seq.clone();
    assert!(!resume_from.is_empty(), "a live offer carries its seq");
    let taxi = driver.taxi_id.clone();

    // The app loses its connection; meanwhile the passenger cancels and a new order is
    // offered to the same taxi.
    drop(driver);
    cancel(&city, &first.order_id).await;
    let second = book_at(&city, "13800002002", north_of_centre(0.0)).await;
    wait_order(&city, &second.order_id, Duration::from_secs(5), |o| {
        o.status == pb::OrderStatus::Offered as i32
    })
    .await;

    let mut back = DriverStream::resume(&city, &taxi, &resume_from).await;
    let mut got = Vec::new();
    let mut last = seq_of(&resume_from);
    while let Some(m) = back.next_message(Duration::from_millis(800)).await {
        let s = seq_of(&m.seq);
        assert!(s > last, "seqs increase: {} after {last:?}", m.seq);
        last = s;
        got.push(m.event.expect("event"));
    }
    let withdrawn_first = got.iter().position(|e| match e {
        Event::OrderCancelled(c) => c.order_id == first.order_id,
        Event::OfferWithdrawn(w) => w.order_id == first.order_id,
        _ => false,
    });
    let offered_second = got
        .iter()
        .position(|e| matches!(e, Event::Offer(o) if o.order_id == second.order_id));
    let (Some(w), Some(o)) = (withdrawn_first, offered_second) else {
        panic!("missed something after {resume_from}: {got:?}");
    };
    assert!(w < o, "in the order it happened: {got:?}");
    assert!(
        !got.iter()
            .any(|e| matches!(e, Event::Offer(o) if o.order_id == first.order_id)),
        "nothing before the resume point is sent again: {got:?}"
    );
}

#[tokio::test]
async fn a_fresh_stream_is_sent_what_the_taxi_holds_without_a_seq() {
    let city = TestCity::start_with(fast_config()).await;
    let mut driver = driver_at(&city, "渝A82003", north_of_centre(200.0)).await;
    let order = book_at(&city, "13800002003", north_of_centre(0.0)).await;
    driver.offer(Duration::from_secs(5)).await;
    let mut again = DriverStream::open(&city, &driver.taxi_id).await;
    let m = again
        .next_message(Duration::from_secs(5))
        .await
        .expect("the open offer");
    assert!(m.seq.is_empty(), "a resync is not a notice: {m:?}");
    assert!(matches!(m.event, Some(Event::Offer(o)) if o.order_id == order.order_id));
}

#[tokio::test]
async fn a_malformed_resume_point_is_refused_by_name() {
    let city = TestCity::start().await;
    let taxi = register_taxi(&mut city.fleet(), "渝A82004").await;
    let r = city
        .driver()
        .stream_dispatches(pb::StreamDispatchesRequest {
            taxi_id: taxi.taxi_id,
            resume_after: "yesterday".into(),
        })
        .await;
    assert_status(r, Code::InvalidArgument, "resume_after");
}

#[tokio::test]
async fn resuming_from_a_trimmed_seq_sends_what_the_taxi_holds_now() {
    let city = TestCity::start_with(fast_config()).await;
    let mut driver = driver_at(&city, "渝A82005", north_of_centre(200.0)).await;
    let first = book_at(&city, "13800002005", north_of_centre(0.0)).await;
    assert_eq!(
        driver.offer(Duration::from_secs(5)).await.order_id,
        first.order_id
    );
    let resume_from = driver.last_seq.clone();
    let taxi = driver.taxi_id.clone();
    drop(driver);
    cancel(&city, &first.order_id).await;
    let second = book_at(&city, "13800002006", north_of_centre(0.0)).await;
    wait_order(&city, &second.order_id, Duration::from_secs(5), |o| {
        o.status == pb::OrderStatus::Offered as i32
    })
    .await;
    // The feed no longer reaches back to the resume point.
    city.store.trim_driver_feed(0).await.unwrap();

    let mut back = DriverStream::resume(&city, &taxi, &resume_from).await;
    let m = back
        .next_message(Duration::from_secs(5))
        .await
        .expect("what the taxi holds");
    assert!(m.seq.is_empty(), "a resync, not a replay: {m:?}");
    assert!(
        matches!(m.event, Some(Event::Offer(ref o)) if o.order_id == second.order_id),
        "{m:?}"
    );
}
