//! The race test: 300 orders, 100 taxis, 4 dispatch workers in 2 processes of the real
//! binary, drivers that accept, decline, ignore and disconnect at random, passengers that
//! cancel. Afterwards the audit trail must show no order ever with two taxis and no taxi
//! ever with two orders, and every order must have ended COMPLETED, CANCELLED or
//! UNFULFILLED. It runs once with each matcher: greedy, and batched (issue 15), whose
//! two processes solve the same waiting orders at once and must still offer nothing twice.
//!
//! Every client holds a real credential: the drivers answer through the terminal gateway's
//! token, bookings and cancels are the harness supervisor's, and the separate dispatch
//! processes accept a login of their own and the tokens the in-process server issued
//! (one signing key per city, kept in Redis).

use rand::Rng;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use taxi_domain::audit::AuditKind;
use taxi_proto::v1 as pb;
use taxi_proto::v1::stream_dispatches_response::Event;
use taxi_tests::*;

const TAXIS: usize = 100;
const ORDERS: usize = 300;

struct Dispatcher(Child, u16);

impl Drop for Dispatcher {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dispatcher(redis_url: &str, matcher: &str) -> Dispatcher {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_taxi"))
        .args(["serve", "--role", "dispatch", "--dispatch-workers", "2"])
        .args(["--matcher", matcher, "--batch-window-ms", "1000"])
        .args([
            "--offer-timeout-ms",
            "700",
            "--retry-ms",
            "200",
            "--sweep-ms",
            "50",
        ])
        .args([
            "--max-offers",
            "8",
            "--max-dispatch-secs",
            "25",
            "--position-fresh-secs",
            "300",
        ])
        .env("TAXI_LISTEN", format!("127.0.0.1:{port}"))
        // Two processes on one host: not both on the default metrics port.
        .env("TAXI_METRICS_ADDR", "127.0.0.1:0")
        .env("TAXI_REDIS_URL", redis_url)
        .env("TAXI_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start a dispatch process");
    Dispatcher(child, port)
}

/// A channel to a dispatch process, once it listens.
async fn reach(d: &Dispatcher) -> tonic::transport::Channel {
    let endpoint =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", d.1)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match endpoint.connect().await {
            Ok(c) => return c,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "dispatch process never listened: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Logs in at a dispatch process and reads its stats; a token of the in-process server
/// works there too, and no token does not.
async fn logs_in_at(city: &TestCity, d: &Dispatcher) {
    use taxi_proto::v1::dispatch_service_client::DispatchServiceClient;
    let channel = reach(d).await;
    let own = login_password(channel.clone(), SUPERVISOR, SUPERVISOR_PASSWORD)
        .await
        .expect("the supervisor logs in at a dispatch process")
        .tokens
        .expect("tokens")
        .access_token;
    for token in [own.as_str(), city.principals.supervisor.as_str()] {
        DispatchServiceClient::new(bearer(channel.clone(), token))
            .get_dispatch_stats(pb::GetDispatchStatsRequest {})
            .await
            .expect("a token of the city works in every process");
    }
    let refused = DispatchServiceClient::new(channel)
        .get_dispatch_stats(pb::GetDispatchStatsRequest {})
        .await
        .expect_err("no token, no stats");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
}

/// One simulated driver (through the in-car terminal gateway's credential, which acts
/// for any taxi): answers offers at random until told to stop.
async fn drive(city_channel: Authed, taxi: String, stop: tokio_util::sync::CancellationToken) {
    use taxi_proto::v1::driver_service_client::DriverServiceClient;
    let mut d = DriverServiceClient::new(city_channel);
    while !stop.is_cancelled() {
        let Ok(stream) = d
            .stream_dispatches(pb::StreamDispatchesRequest {
                taxi_id: taxi.clone(),
                ..Default::default()
            })
            .await
        else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mut stream = stream.into_inner();
        loop {
            let msg = tokio::select! {
                m = stream.message() => m,
                () = stop.cancelled() => return,
            };
            let Ok(Some(msg)) = msg else { break };
            let order = match msg.event {
                Some(Event::Offer(o)) => o.order_id,
                Some(Event::SignedOff(_)) => {
                    let _ = d
                        .sign_on(pb::SignOnRequest {
                            taxi_id: taxi.clone(),
                        })
                        .await;
                    continue;
                }
                _ => continue,
            };
            let roll = rnd(0, 100);
            let think = Duration::from_millis(rnd(0, 150));
            tokio::time::sleep(think).await;
            if roll < 55 {
                let ids = (taxi.clone(), order.clone());
                if d.accept_offer(pb::AcceptOfferRequest {
                    taxi_id: ids.0.clone(),
                    order_id: ids.1.clone(),
                })
                .await
                .is_ok()
                {
                    // The trip; any step may fail if the passenger cancels meanwhile.
                    tokio::time::sleep(Duration::from_millis(rnd(0, 100))).await;
                    let _ = d
                        .arrive_at_pickup(pb::ArriveAtPickupRequest {
                            taxi_id: ids.0.clone(),
                            order_id: ids.1.clone(),
                        })
                        .await;
                    let _ = d
                        .start_trip(pb::StartTripRequest {
                            taxi_id: ids.0.clone(),
                            order_id: ids.1.clone(),
                        })
                        .await;
                    tokio::time::sleep(Duration::from_millis(rnd(0, 100))).await;
                    let _ = d
                        .complete_trip(pb::CompleteTripRequest {
                            taxi_id: ids.0,
                            order_id: ids.1,
                            fare_cents: 1500,
                            paid_by: 0,
                        })
                        .await;
                }
            } else if roll < 75 {
                let _ = d
                    .decline_offer(pb::DeclineOfferRequest {
                        taxi_id: taxi.clone(),
                        order_id: order,
                        reason: String::new(),
                    })
                    .await;
            } else if roll < 90 {
                // Ignore it: the offer times out.
            } else {
                // Lose the connection, come back a little later.
                tokio::time::sleep(Duration::from_millis(rnd(50, 400))).await;
                break;
            }
        }
    }
}

/// A random number in `lo..hi` (the thread-local generator never lives across an await).
fn rnd(lo: u64, hi: u64) -> u64 {
    rand::rng().random_range(lo..hi)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_orders_one_hundred_taxis_four_workers_two_processes() {
    race("greedy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_orders_one_hundred_taxis_two_batched_processes() {
    race("batched").await;
}

async fn race(matcher: &str) {
    let mut config = fast_config();
    config.settings.dispatch_workers = 0; // all dispatch happens in the two child processes
    config.settings.position_fresh = Duration::from_secs(300);
    let city = TestCity::start_with(config).await;
    let a = dispatcher(&city.redis.url(), matcher);
    let b = dispatcher(&city.redis.url(), matcher);
    logs_in_at(&city, &a).await;
    logs_in_at(&city, &b).await;

    // 100 taxis within about 2 km of the centre.
    let stop = tokio_util::sync::CancellationToken::new();
    let mut drivers = Vec::new();
    for i in 0..TAXIS {
        let (dn, de) = (((i * 37) % 41) as f64 - 20.0, ((i * 53) % 43) as f64 - 21.0);
        let at = wgs(
            CENTRE.0 + dn * 100.0 * DEG_PER_M,
            CENTRE.1 + de * 100.0 * DEG_PER_M * 1.15,
        );
        let taxi = taxi_at(&city, &format!("渝A{:05}", 20000 + i), at).await;
        drivers.push(tokio::spawn(drive(
            city.as_gateway(),
            taxi.taxi_id,
            stop.clone(),
        )));
    }

    // 300 orders over about 6 seconds; a tenth are cancelled by their passengers.
    let mut ids = Vec::new();
    let mut cancels = Vec::new();
    for i in 0..ORDERS {
        let (dn, de) = (((i * 29) % 31) as f64 - 15.0, ((i * 17) % 37) as f64 - 18.0);
        let at = wgs(
            CENTRE.0 + dn * 100.0 * DEG_PER_M,
            CENTRE.1 + de * 100.0 * DEG_PER_M * 1.15,
        );
        let phone = format!("138{:08}", 10_000_000 + i);
        if i % 7 == 0 {
            elderly_caller(&city, &phone).await;
        }
        let order = book_at(&city, &phone, at).await;
        if i % 10 == 3 {
            let mut h = city.hotline();
            let id = order.order_id.clone();
            cancels.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(rnd(0, 1500))).await;
                let _ = h
                    .cancel_order(pb::CancelOrderRequest {
                        order_id: id,
                        cancelled_by: pb::CancelledBy::Passenger as i32,
                        reason: "等不及了".into(),
                        operator_id: String::new(),
                    })
                    .await;
            }));
        }
        ids.push(order.order_id);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for c in cancels {
        c.await.unwrap();
    }

    // Every order ends.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut statuses: HashMap<i32, usize> = HashMap::new();
    loop {
        let orders = city.store.get_orders(&ids).await.unwrap();
        let open = orders.iter().filter(|o| o.status.is_active()).count();
        if open == 0 {
            for o in &orders {
                let code = match o.status {
                    taxi_domain::order::OrderStatus::Completed => 7,
                    taxi_domain::order::OrderStatus::Cancelled => 8,
                    taxi_domain::order::OrderStatus::Unfulfilled => 9,
                    other => panic!("order {} ended {other:?}", o.id),
                };
                *statuses.entry(code).or_default() += 1;
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} orders still open after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.cancel();
    for d in drivers {
        let _ = d.await;
    }
    eprintln!(
        "{matcher}: completed {:?}, cancelled {:?}, unfulfilled {:?}",
        statuses.get(&7),
        statuses.get(&8),
        statuses.get(&9)
    );
    assert!(
        statuses.get(&7).copied().unwrap_or(0) > ORDERS / 2,
        "most orders were completed: {statuses:?}"
    );

    // Replay the audit trail.
    let events = city.store.audit_trail_all().await.unwrap();
    let replayed = taxi_tests::invariants::replay(&events);
    let (counts, taxi_holds) = (replayed.counts, replayed.holding);
    eprintln!("events: {counts:?}");
    assert!(
        taxi_holds.is_empty(),
        "taxis still holding orders at the end: {taxi_holds:?}"
    );
    assert!(counts.get(&AuditKind::OfferExpired).copied().unwrap_or(0) > 0);
    assert!(counts.get(&AuditKind::OfferDeclined).copied().unwrap_or(0) > 0);
    // Redis agrees: no taxi holds an order.
    let held = city.store.held_orders().await.unwrap();
    assert!(held.is_empty(), "{held:?}");
    // The batched run really matched in batches (the greedy pass only takes what is left).
    let batch_offers = city.store.raw_stats().await.unwrap().counters.batch_offers;
    eprintln!("{matcher}: batch offers {batch_offers}");
    if matcher == "batched" {
        assert!(batch_offers > 0, "no offer came from a batch");
    } else {
        assert_eq!(batch_offers, 0);
    }
}
