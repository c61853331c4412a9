//! Long fault scenarios (each about a minute; they run side by side):
//! - 60 s of a busy city while Redis is killed and restarted twice and the services'
//!   path to it is black-holed for 10 s: every acknowledged order is accounted for, no
//!   order ever held two taxis, no taxi two orders, and no offer was lost;
//! - a driver stream that stops reading for 30 s misses nothing that still matters.
//!
//! Both run on one server (killed and restarted; behind the fault proxy) in either tier.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use taxi_proto::v1 as pb;
use taxi_proto::v1::driver_service_client::DriverServiceClient;
use taxi_proto::v1::stream_dispatches_response::Event;
use taxi_tests::proxy::FaultProxy;
use taxi_tests::*;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

const TAXIS: usize = 200;
const BOOKERS: usize = 4;
const RUN: Duration = Duration::from_secs(60);

/// A point on a ring around the centre (metres north and east).
fn spot(i: usize, radius_m: f64) -> pb::LatLng {
    let a = i as f64 * 2.399_963; // golden angle: spread evenly
    let r = radius_m * ((i % 97) as f64 / 97.0).sqrt();
    let c = north_of_centre(0.0);
    wgs(
        c.latitude + r * a.cos() / 111_320.0,
        c.longitude + r * a.sin() / (111_320.0 * c.latitude.to_radians().cos()),
    )
}

/// Whether a call failed only because the service could not reach Redis for now.
fn transient(s: &tonic::Status) -> bool {
    matches!(
        s.code(),
        Code::Unavailable | Code::DeadlineExceeded | Code::Unknown | Code::Cancelled
    )
}

/// What the clients saw.
#[derive(Debug, Default)]
struct Seen {
    /// Orders the service acknowledged, by request id.
    acknowledged: HashMap<String, String>,
    /// Booking attempts answered with a transient error (then retried, same request id).
    booking_retries: u64,
    /// The longest a booking took from first attempt to acknowledgement.
    slowest_booking: Duration,
    /// (order, taxi) of every offer a driver's stream delivered.
    offers: HashSet<(String, String)>,
    /// Trips the drivers completed.
    completed: u64,
}

/// Runs `step` until it succeeds, retrying transient failures, for at most `bound`.
async fn retrying<T, F, Fut>(bound: Duration, mut step: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let started = Instant::now();
    loop {
        match step().await {
            Err(s) if transient(&s) && started.elapsed() < bound => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            r => return r,
        }
    }
}

/// A driver: keeps its stream open (resuming after the last seq), answers offers, drives.
async fn driver(channel: Authed, taxi: String, seen: Arc<Mutex<Seen>>, stop: CancellationToken) {
    let mut d = DriverServiceClient::new(channel);
    let mut last_seq = String::new();
    while !stop.is_cancelled() {
        let opened = d
            .stream_dispatches(pb::StreamDispatchesRequest {
                taxi_id: taxi.clone(),
                resume_after: last_seq.clone(),
            })
            .await;
        let mut stream = match opened {
            Ok(s) => s.into_inner(),
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(300)).await;
                continue;
            }
        };
        loop {
            let m = tokio::select! {
                m = stream.message() => m,
                () = stop.cancelled() => return,
            };
            let Ok(Some(m)) = m else { break };
            if !m.seq.is_empty() {
                last_seq = m.seq;
            }
            let order = match m.event {
                Some(Event::Offer(o)) => {
                    seen.lock()
                        .unwrap()
                        .offers
                        .insert((o.order_id.clone(), taxi.clone()));
                    let accepted = retrying(Duration::from_secs(8), || {
                        let mut d = d.clone();
                        let r = pb::AcceptOfferRequest {
                            taxi_id: taxi.clone(),
                            order_id: o.order_id.clone(),
                        };
                        async move { d.accept_offer(r).await }
                    })
                    .await;
                    if accepted.is_err() {
                        continue; // expired, withdrawn or taken: fine
                    }
                    o.order_id
                }
                Some(Event::Assigned(o)) => o.order_id,
                _ => continue,
            };
            // Drive it: each step retried (idempotent for the taxi that holds it).
            tokio::time::sleep(Duration::from_millis(200)).await;
            let ids = (taxi.clone(), order.clone());
            let arrive = retrying(Duration::from_secs(10), || {
                let mut d = d.clone();
                let r = pb::ArriveAtPickupRequest {
                    taxi_id: ids.0.clone(),
                    order_id: ids.1.clone(),
                };
                async move { d.arrive_at_pickup(r).await.map(|_| ()) }
            })
            .await;
            let start = retrying(Duration::from_secs(10), || {
                let mut d = d.clone();
                let r = pb::StartTripRequest {
                    taxi_id: ids.0.clone(),
                    order_id: ids.1.clone(),
                };
                async move { d.start_trip(r).await.map(|_| ()) }
            })
            .await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let complete = retrying(Duration::from_secs(10), || {
                let mut d = d.clone();
                let r = pb::CompleteTripRequest {
                    taxi_id: ids.0.clone(),
                    order_id: ids.1.clone(),
                    fare_cents: 1800,
                    paid_by: 0,
                };
                async move { d.complete_trip(r).await.map(|_| ()) }
            })
            .await;
            if arrive.is_ok() && start.is_ok() && complete.is_ok() {
                seen.lock().unwrap().completed += 1;
            }
        }
    }
}

/// A booking client: books every 150 ms, retrying a transient failure with the same
/// request id, and records what was acknowledged.
async fn booker(channel: Authed, n: usize, seen: Arc<Mutex<Seen>>, stop: CancellationToken) {
    let mut hotline = taxi_proto::v1::hotline_service_client::HotlineServiceClient::new(channel);
    let mut i = 0usize;
    while !stop.is_cancelled() {
        i += 1;
        let request_id = format!("chaos-{n}-{i}");
        let req = pb::CreateBookingRequest {
            caller_phone: format!("1390{n}{:06}", i),
            passenger_name: "乘客".into(),
            pickup: Some(place(spot(n * 10_000 + i, 2500.0), "测试上车点")),
            channel: pb::Channel::Operator as i32,
            operator_id: String::new(),
            request_id: request_id.clone(),
            ..Default::default()
        };
        let started = Instant::now();
        let mut retries = 0;
        let answer = loop {
            match hotline.create_booking(req.clone()).await {
                Err(s) if transient(&s) && started.elapsed() < Duration::from_secs(30) => {
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                r => break r,
            }
        };
        {
            let mut s = seen.lock().unwrap();
            s.booking_retries += retries;
            if let Ok(r) = answer {
                let order = r.into_inner().order.expect("order").order_id;
                s.acknowledged.insert(request_id, order);
                s.slowest_booking = s.slowest_booking.max(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Reports every taxi's position every 2 s on one gateway stream (reopened after errors).
async fn positions(
    city_clock: Arc<taxi_domain::clock::SteppedClock>,
    channel: Authed,
    taxis: Vec<String>,
    stop: CancellationToken,
) {
    use taxi_domain::clock::Clock;
    let mut d = DriverServiceClient::new(channel);
    while !stop.is_cancelled() {
        let now = city_clock.now_ms();
        let batch = pb::ReportPositionsRequest {
            positions: taxis
                .iter()
                .enumerate()
                .map(|(i, t)| report_at(t, spot(i, 3000.0), now))
                .collect(),
        };
        let _ = d.report_positions(tokio_stream::iter(vec![batch])).await;
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
            () = stop.cancelled() => return,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_minute_of_kills_and_a_black_hole_loses_nothing_and_doubles_nothing() {
    let redis = TestRedis::single();
    let proxy = FaultProxy::start(redis.addr()).await;
    let mut config = fast_config();
    config.settings.offer_timeout = Duration::from_secs(5);
    config.settings.max_dispatch_time = Duration::from_secs(180);
    let mut city = TestCity::start_via(redis, &proxy.url(), config).await;

    let mut taxis = Vec::new();
    for i in 0..TAXIS {
        let t = taxi_at(&city, &format!("渝A9{i:04}"), spot(i, 3000.0)).await;
        taxis.push(t.taxi_id);
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop_booking = CancellationToken::new();
    let stop_driving = CancellationToken::new();
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(positions(
        city.clock.clone(),
        city.as_gateway(),
        taxis.clone(),
        stop_driving.clone(),
    )));
    for t in &taxis {
        tasks.push(tokio::spawn(driver(
            city.as_gateway(),
            t.clone(),
            seen.clone(),
            stop_driving.clone(),
        )));
    }
    let mut bookers = Vec::new();
    for n in 0..BOOKERS {
        // Each booking client on a connection of its own, as separate call-centre seats.
        let ch = Endpoint::from_shared(format!("http://{}", city.server.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        bookers.push(tokio::spawn(booker(
            bearer(ch, &city.principals.supervisor),
            n,
            seen.clone(),
            stop_booking.clone(),
        )));
    }

    // The faults: kill at 8 s (back at 11 s), black hole 20–30 s, kill at 40 s (back at 43 s).
    let began = Instant::now();
    let at = |s: u64| began + Duration::from_secs(s);
    tokio::time::sleep_until(at(8).into()).await;
    city.redis.kill();
    tokio::time::sleep_until(at(11).into()).await;
    city.redis.start_again().expect("restart redis");
    tokio::time::sleep_until(at(20).into()).await;
    proxy.black_hole();
    tokio::time::sleep_until(at(30).into()).await;
    proxy.pass();
    tokio::time::sleep_until(at(40).into()).await;
    city.redis.kill();
    tokio::time::sleep_until(at(43).into()).await;
    city.redis.start_again().expect("restart redis");
    tokio::time::sleep_until((began + RUN).into()).await;

    stop_booking.cancel();
    for b in bookers {
        b.await.unwrap();
    }
    // Let offers in flight reach their drivers, and trips under way end.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let offers_cutoff = city.now_ms() - 6_000;
    stop_driving.cancel();
    for t in tasks {
        let _ = t.await;
    }

    // Every acknowledged order is there.
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let mut statuses: HashMap<i32, usize> = HashMap::new();
    let mut hotline = city.hotline();
    for order in seen.acknowledged.values() {
        let o = hotline
            .get_order(pb::GetOrderRequest {
                order_id: order.clone(),
            })
            .await
            .unwrap_or_else(|s| panic!("acknowledged order {order} is gone: {s:?}"))
            .into_inner()
            .order
            .expect("order");
        *statuses.entry(o.status).or_default() += 1;
    }
    let distinct: HashSet<&String> = seen.acknowledged.values().collect();
    assert_eq!(
        distinct.len(),
        seen.acknowledged.len(),
        "one order per request"
    );
    let stored = order_count(&city).await;
    assert!(
        stored as usize >= seen.acknowledged.len(),
        "stored {stored} < acknowledged {}",
        seen.acknowledged.len()
    );

    // No order ever held two taxis, no taxi two orders.
    let events = city.store.audit_trail_all().await.unwrap();
    let replayed = invariants::replay(&events);
    // Redis agrees with the trail about who holds what now.
    let held = city.store.held_orders().await.unwrap();
    assert_eq!(held, replayed.holding, "the trail and the taxis agree");

    // No offer lost: every offer made (before the cut-off) reached its driver's stream.
    let made: Vec<&(String, String, i64)> = replayed
        .offers
        .iter()
        .filter(|(_, _, ts)| *ts < offers_cutoff)
        .collect();
    let lost: Vec<_> = made
        .iter()
        .filter(|(o, t, _)| !seen.offers.contains(&(o.clone(), t.clone())))
        .collect();
    eprintln!(
        "chaos: acknowledged {} orders (stored {stored}), booking retries {}, slowest booking {:?}, \
         statuses {statuses:?}, offers made {} delivered {} lost {}, trips completed {}, events {:?}",
        seen.acknowledged.len(),
        seen.booking_retries,
        seen.slowest_booking,
        made.len(),
        seen.offers.len(),
        lost.len(),
        seen.completed,
        replayed.counts
    );
    assert!(lost.is_empty(), "offers never delivered: {lost:?}");
    assert!(
        seen.acknowledged.len() > 300,
        "the city was busy: {} orders",
        seen.acknowledged.len()
    );
    assert!(
        seen.completed > 100,
        "trips were driven: {}",
        seen.completed
    );
}

/// A channel whose streams take only a few events before the client must read: so a
/// client that stops reading backs the server up within a few notices.
async fn tight_channel(city: &TestCity) -> Channel {
    Endpoint::from_shared(format!("http://{}", city.server.addr))
        .unwrap()
        .initial_stream_window_size(Some(2048))
        .initial_connection_window_size(Some(2048))
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_stream_that_stops_reading_for_30_s_misses_nothing_that_still_matters() {
    let mut config = fast_config();
    config.settings.offer_timeout = Duration::from_secs(120);
    let city = TestCity::start_with(config).await;
    let taxi = taxi_at(&city, "渝A83001", north_of_centre(200.0)).await;
    let mut stream =
        DriverServiceClient::new(bearer(tight_channel(&city).await, &city.principals.gateway))
            .stream_dispatches(pb::StreamDispatchesRequest {
                taxi_id: taxi.taxi_id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();

    // 300 orders offered to the taxi and cancelled while the app does not read: far more
    // than any queue between Redis and the app holds.
    let mut cancelled = Vec::new();
    for i in 0..300 {
        let o = book_at(&city, &format!("1380003{i:04}"), north_of_centre(0.0)).await;
        wait_order(&city, &o.order_id, Duration::from_secs(5), |o| {
            o.status == pb::OrderStatus::Offered as i32
        })
        .await;
        city.hotline()
            .cancel_order(pb::CancelOrderRequest {
                order_id: o.order_id.clone(),
                cancelled_by: pb::CancelledBy::Passenger as i32,
                reason: "不需要了".into(),
                operator_id: String::new(),
            })
            .await
            .unwrap();
        cancelled.push(o.order_id);
    }
    // And one that is still open when the app reads again.
    let open = book_at(&city, "13800040000", north_of_centre(0.0)).await;
    wait_order(&city, &open.order_id, Duration::from_secs(5), |o| {
        o.status == pb::OrderStatus::Offered as i32
    })
    .await;
    tokio::time::sleep(Duration::from_secs(30)).await;

    let mut offered = HashSet::new();
    let mut ended = HashSet::new();
    let mut last = (0u64, 0u64);
    let mut open_offer_seen = false;
    while let Ok(Ok(Some(m))) = tokio::time::timeout(Duration::from_secs(2), stream.message()).await
    {
        if !m.seq.is_empty() {
            let (ms, n) = m.seq.split_once('-').unwrap();
            let s = (ms.parse().unwrap(), n.parse().unwrap());
            assert!(s > last, "in order, once: {} after {last:?}", m.seq);
            last = s;
        }
        match m.event {
            Some(Event::Offer(o)) if o.order_id == open.order_id => open_offer_seen = true,
            Some(Event::Offer(o)) => {
                offered.insert(o.order_id);
            }
            Some(Event::OrderCancelled(c)) => {
                ended.insert(c.order_id);
            }
            Some(Event::OfferWithdrawn(w)) => {
                ended.insert(w.order_id);
            }
            _ => {}
        }
    }
    assert!(open_offer_seen, "the open offer reached the app");
    let missed: Vec<&String> = cancelled.iter().filter(|o| !ended.contains(*o)).collect();
    assert!(
        missed.is_empty(),
        "{} withdrawals missed, e.g. {:?}",
        missed.len(),
        missed.first()
    );
    assert_eq!(offered.len(), cancelled.len(), "every offer in its place");
}
