//! Scenario c, screen pop & phone switch: 10,000 callers (a fifth with past orders) and
//! 1,000 calls a second, half `LookupCaller` as an operator, half `ClassifyCall` as the
//! phone switch, on a call-centre process without a dispatch engine; their latencies.

use super::env::{Env, Guard};
use super::report::{Figure, Target};
use futures::StreamExt;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use taxi_proto::v1 as pb;
use taxi_proto::v1::hotline_service_client::HotlineServiceClient;
use taxi_redis_process::Fsync;
use taxi_sim::Authed;

const SCENARIO: &str = "c. screen pop & phone switch";

pub(super) async fn hotline(quick: bool, fsync: Fsync) -> anyhow::Result<Vec<Figure>> {
    // A call-centre process: its 2,000 test orders have no taxi in this city, and a
    // dispatch engine in the same process would keep searching for them meanwhile.
    let env = Env::start(fsync, &["--dispatch-workers", "0"], Guard::Secure).await?;
    let callers = if quick { 200 } else { 10_000 };
    let phones: Vec<String> = (0..callers)
        .map(|i| format!("13{:09}", 200_000_000 + i))
        .collect();
    println!("  hotline: registering {callers} callers");
    futures::stream::iter(phones.iter().enumerate())
        .map(|(i, phone)| {
            let store = env.store.clone();
            async move {
                let p = taxi_store::callers::CallerProfile {
                    phone: phone.clone(),
                    name: "来电人".into(),
                    birth: chrono_like(i),
                    contacts: vec!["13900000000".into()],
                    places: vec![taxi_store::callers::SavedPlace {
                        name: "home".into(),
                        lat: 29.56,
                        lon: 106.55,
                        address: "家".into(),
                    }],
                    needs: vec![],
                    elderly_flag: i % 5 == 0,
                    notes: String::new(),
                    notify: Default::default(),
                };
                store.upsert_caller(&p).await
            }
        })
        .buffer_unordered(128)
        .collect::<Vec<_>>()
        .await;
    // A fifth of them have a few orders for the screen pop to show (set-up, straight
    // through the store like the callers: one operator's desk could not book 6,000
    // orders within its rate limit, and set-up is not measured).
    let home = taxi_store::orders::PlaceRec {
        at: taxi_domain::Coordinates::new(29.56, 106.55)?,
        address: "家".into(),
    };
    let now = env.store.now_ms();
    for phone in phones.iter().step_by(5).take(if quick { 20 } else { 2000 }) {
        for k in 0..3 {
            env.store
                .create_order(&taxi_store::orders::NewOrder {
                    channel: taxi_domain::booking::Channel::Operator,
                    phone: phone.clone(),
                    name: "来电人".into(),
                    pickup: home.clone(),
                    dropoff: None,
                    pickup_ms: now,
                    reservation: false,
                    release_ms: now,
                    elderly: None,
                    needs: vec![],
                    passengers: 1,
                    notes: String::new(),
                    payment: taxi_domain::booking::Payment::Cash,
                    operator: "bench".into(),
                    booker: String::new(),
                    device: String::new(),
                    priority: 0,
                    queue_score: now,
                    request_id: Some(format!("{phone}-{k}")),
                    dedupe_until_ms: None,
                })
                .await?;
        }
    }
    let rate = if quick { 200.0 } else { 1000.0 };
    let seconds = if quick { 2.0 } else { 10.0 };
    let plain = env.connections(4).await?;
    // The screen pop is the operator's; the classification the phone switch's.
    let (operator, switch) = (&env.principals.operators[0], &env.principals.phone_switch);
    let channels: Vec<(Authed, Authed)> = plain
        .iter()
        .map(|c| (operator.on(c.clone()), switch.on(c.clone())))
        .collect();
    let lookup = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let classify = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let mut rng = StdRng::seed_from_u64(5);
    let start = Instant::now();
    let total = (rate * seconds) as usize;
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        tokio::time::sleep_until((start + Duration::from_secs_f64(i as f64 / rate)).into()).await;
        let phone = if rng.random_bool(0.8) {
            phones[rng.random_range(0..phones.len())].clone()
        } else {
            format!("13{:09}", 900_000_000 + i)
        };
        let (op, sw) = channels[i % channels.len()].clone();
        let (mut h, mut s) = (HotlineServiceClient::new(op), HotlineServiceClient::new(sw));
        let (lookup, classify) = (lookup.clone(), classify.clone());
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            if i % 2 == 0 {
                if h.lookup_caller(pb::LookupCallerRequest { phone })
                    .await
                    .is_ok()
                {
                    let _ = lookup
                        .lock()
                        .expect("lock")
                        .record(t.elapsed().as_micros() as u64);
                }
            } else if s
                .classify_call(pb::ClassifyCallRequest {
                    calling_number: phone,
                })
                .await
                .is_ok()
            {
                let _ = classify
                    .lock()
                    .expect("lock")
                    .record(t.elapsed().as_micros() as u64);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let achieved = total as f64 / start.elapsed().as_secs_f64();
    let (l, c) = (
        lookup.lock().expect("lock").clone(),
        classify.lock().expect("lock").clone(),
    );
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let f = |name: &str, value: f64, unit: &'static str, target| {
        Figure::new(SCENARIO, name, value, unit, target)
    };
    Ok(vec![
        f("calls per second offered", achieved, "/s", None),
        f("LookupCaller p50", ms(&l, 0.5), "ms", None),
        f(
            "LookupCaller p99",
            ms(&l, 0.99),
            "ms",
            Some(Target::AtMost(5.0)),
        ),
        f("ClassifyCall p50", ms(&c, 0.5), "ms", None),
        f(
            "ClassifyCall p99",
            ms(&c, 0.99),
            "ms",
            Some(Target::AtMost(5.0)),
        ),
    ])
}

fn chrono_like(i: usize) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::from_ymd_opt(
        1940 + (i % 60) as i32,
        1 + (i % 12) as u32,
        1 + (i % 28) as u32,
    )
}
