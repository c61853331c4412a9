//! Scenario b, dispatch latency: 20,000 and 100,000 taxis, half free, each reporting every
//! 4 s, and orders booked at 200/s next to probe drivers with an open dispatch stream;
//! order → offer latency on the stream, what dispatch costs Redis, and how much ingest
//! falls meanwhile. `dispatch_load` is also the burst and fan-out scenarios' engine.

use super::env::{AofSeen, AofWatch, Env, Guard, cpu_ms, delta, fleet, report, spot};
use super::report::{Figure, Target};
use futures::StreamExt;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use taxi_domain::taxi::TaxiEvent;
use taxi_proto::v1 as pb;
use taxi_proto::v1::driver_service_client::DriverServiceClient;
use taxi_proto::v1::hotline_service_client::HotlineServiceClient;
use taxi_proto::v1::stream_dispatches_response::Event;
use taxi_redis_process::Fsync;
use taxi_sim::Authed;
use tokio_util::sync::CancellationToken;

/// Probe drivers: taxis with an open dispatch stream. Each order is placed right next to
/// a probe that has had no order yet, so the nearest free taxi is that probe and the offer
/// is observed there. A probe serves one order and answers nothing: the offer is still
/// open when the scenario ends, so the measured path is exactly order → offer on the
/// stream, with no trip traffic mixed in.
struct Probes {
    idle: Mutex<Vec<(String, (f64, f64))>>,
    offered: Mutex<HashMap<String, Instant>>,
}

async fn open_probes(
    channels: &[Authed],
    probes: &[(String, (f64, f64))],
    p: Arc<Probes>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    for (i, (id, _)) in probes.iter().enumerate() {
        let mut d = DriverServiceClient::new(channels[i % channels.len()].clone());
        let mut s = d
            .stream_dispatches(pb::StreamDispatchesRequest {
                taxi_id: id.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        let (p, stop) = (p.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let m = tokio::select! { m = s.message() => m, () = stop.cancelled() => return };
                let Ok(Some(m)) = m else { return };
                if let Some(Event::Offer(o)) = m.event {
                    p.offered
                        .lock()
                        .expect("lock")
                        .entry(o.order_id)
                        .or_insert_with(Instant::now);
                }
            }
        });
    }
    Ok(())
}

/// One dispatch load: the fleet, the probes and the booking rate.
pub(super) struct DispatchLoad {
    pub taxis: usize,
    pub free_share: f64,
    pub probes: usize,
    pub rate: f64,
    pub seconds: f64,
    pub report_every: Option<Duration>,
    pub fsync: Fsync,
    pub guard: Guard,
}

/// What one dispatch load measured.
pub(super) struct DispatchResult {
    pub latencies: Histogram<u64>,
    pub missed: usize,
    pub orders: usize,
    pub ingest_base: f64,
    pub ingest_during: f64,
    pub geosearch_per_dispatch_us: f64,
    pub geosearch_calls_per_dispatch: f64,
    pub rss_mib: f64,
    /// Orders offered to their probe per second, from the first booking to the last offer.
    pub offers_per_s: f64,
    /// CPU milliseconds per order (server, load generator, Redis) while the orders were
    /// booked and offered: what each costs, whatever else the machine is doing.
    pub cpu_ms_per_order: [f64; 3],
    /// Taxis registered and signed on per second (the store's scripts, 128 at a time).
    pub registered_per_s: f64,
    /// Every taxi's first fix through `ReportPositions`, 8 streams at once: updates/s.
    pub first_fixes_per_s: f64,
    /// Redis `used_memory` growth per taxi once registered, signed on and with a fix.
    pub redis_bytes_per_taxi: f64,
    /// Redis `used_memory` at the end, bytes.
    pub redis_bytes: u64,
    /// What the AOF did while the orders were booked and offered.
    pub aof: AofSeen,
}

pub(super) async fn dispatch_load(l: DispatchLoad) -> anyhow::Result<DispatchResult> {
    // Probes never answer: offers must outlive the scenario, or early orders would expire
    // and be offered again before they are counted.
    let env = Env::start(l.fsync, &["--offer-timeout-ms", "120000"], l.guard).await?;
    println!("  dispatch ({:?}): registering {} taxis", l.guard, l.taxis);
    let memory_before = env.redis_used_memory().await?;
    let t = Instant::now();
    let ids = fleet(&env.store, l.taxis).await?;
    let registered_per_s = ids.len() as f64 / t.elapsed().as_secs_f64();
    let mut rng = StdRng::seed_from_u64(11);
    let places: Vec<(f64, f64)> = ids.iter().map(|_| spot(&mut rng)).collect();
    let plain = env.connections(8).await?;
    let channels = env.as_gateway(&plain);
    // Bookings come from the phone switch's voice menu: a service books at a service's
    // rate, where one operator's desk would be limited to a person's.
    let switch: Vec<Authed> = plain
        .iter()
        .map(|c| env.principals.phone_switch.on(c.clone()))
        .collect();
    // First positions, over every gateway stream at once, then the occupied half leaves
    // the free index by street hail.
    println!("  dispatch: first positions of {} taxis", ids.len());
    let t = Instant::now();
    let per = ids.len().div_ceil(channels.len()).max(1);
    let sends = ids
        .chunks(per)
        .zip(places.chunks(per))
        .zip(channels.iter())
        .map(|((ids, places), c)| {
            let mut d = DriverServiceClient::new(c.clone());
            let msgs: Vec<pb::ReportPositionsRequest> = ids
                .chunks(1000)
                .zip(places.chunks(1000))
                .map(|(i, p)| pb::ReportPositionsRequest {
                    positions: i.iter().zip(p).map(|(id, p)| report(id, *p)).collect(),
                })
                .collect();
            async move { d.report_positions(tokio_stream::iter(msgs)).await }
        });
    let accepted: u64 = futures::future::try_join_all(sends)
        .await?
        .into_iter()
        .map(|r| r.into_inner().accepted)
        .sum();
    let first_fixes_per_s = accepted as f64 / t.elapsed().as_secs_f64();
    let redis_bytes_per_taxi = env.redis_used_memory().await?.saturating_sub(memory_before) as f64
        / ids.len().max(1) as f64;
    let free_n = (l.taxis as f64 * l.free_share) as usize;
    futures::stream::iter(ids[free_n..].iter())
        .map(|id| {
            let s = env.store.clone();
            async move { s.transition_taxi(id, TaxiEvent::StartStreetHail).await }
        })
        .buffer_unordered(128)
        .collect::<Vec<_>>()
        .await;
    let stop = CancellationToken::new();
    // Background: every taxi reports every few seconds, paced, over 4 gateway streams.
    if let Some(every) = l.report_every {
        for (k, chunk) in ids.chunks(ids.len().div_ceil(4)).enumerate() {
            let chunk: Vec<(String, (f64, f64))> = chunk
                .iter()
                .cloned()
                .zip(places[k * ids.len().div_ceil(4)..].iter().copied())
                .collect();
            let mut d = DriverServiceClient::new(channels[1 + k].clone());
            let stop = stop.clone();
            tokio::spawn(async move {
                let (tx, rx) = tokio::sync::mpsc::channel(64);
                let call = tokio::spawn(async move {
                    d.report_positions(tokio_stream::wrappers::ReceiverStream::new(rx))
                        .await
                });
                let slices = (every.as_millis() / 100).max(1) as usize;
                let per_slice = chunk.len().div_ceil(slices);
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                'outer: loop {
                    for slice in chunk.chunks(per_slice) {
                        tokio::select! { _ = tick.tick() => {}, () = stop.cancelled() => break 'outer }
                        for b in slice.chunks(500) {
                            if tx
                                .send(pb::ReportPositionsRequest {
                                    positions: b.iter().map(|(id, p)| report(id, *p)).collect(),
                                })
                                .await
                                .is_err()
                            {
                                break 'outer;
                            }
                        }
                    }
                }
                drop(tx);
                let _ = call.await;
            });
        }
    }
    let ingest_rate = |env: &Env, window_ms: i64| {
        let store = env.store.clone();
        async move {
            let n = store.fixes_since(store.now_ms() - window_ms).await.ok()?;
            Some(n as f64 / (window_ms as f64 / 1000.0))
        }
    };
    let mut ingest_base = 0.0;
    if let Some(every) = l.report_every {
        tokio::time::sleep(every + Duration::from_secs(1)).await;
        ingest_base = ingest_rate(&env, every.as_millis() as i64)
            .await
            .unwrap_or(0.0);
    }
    let probes: Vec<(String, (f64, f64))> = ids
        .iter()
        .cloned()
        .zip(places.iter().copied())
        .take(l.probes.min(free_n))
        .collect();
    let p = Arc::new(Probes {
        idle: Mutex::new(probes.clone()),
        offered: Mutex::new(HashMap::new()),
    });
    open_probes(&channels, &probes, p.clone(), stop.clone()).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let aof = AofWatch::start(&env).await?;
    let before = env.commandstats().await?;
    let pids = [
        env.server.id().to_string(),
        "self".to_string(),
        env.redis.pid().map(|p| p.to_string()).unwrap_or_default(),
    ];
    let cpu_before: Vec<f64> = pids.iter().map(|p| cpu_ms(p)).collect();
    let created: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let total = (l.rate * l.seconds) as usize;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / l.rate);
        tokio::time::sleep_until(due.into()).await;
        let Some((_, at)) = ({
            let mut idle = p.idle.lock().expect("lock");
            let n = idle.len();
            if n == 0 {
                None
            } else {
                Some(idle.swap_remove(rng.random_range(0..n)))
            }
        }) else {
            continue;
        };
        let mut h = HotlineServiceClient::new(switch[i % switch.len()].clone());
        let created = created.clone();
        let pickup = (at.0 + 10.0 / 111_195.0, at.1);
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let r = h
                .create_booking(pb::CreateBookingRequest {
                    caller_phone: format!("13{:09}", 100_000_000 + i),
                    passenger_name: "压测".into(),
                    pickup: Some(pb::Place {
                        location: Some(pb::LatLng {
                            latitude: pickup.0,
                            longitude: pickup.1,
                            datum: pb::Datum::Wgs84 as i32,
                        }),
                        address: "压测点".into(),
                    }),
                    channel: pb::Channel::Ivr as i32,
                    ..Default::default()
                })
                .await;
            match r.map(|r| r.into_inner().order) {
                Ok(Some(o)) => {
                    created.lock().expect("lock").insert(o.order_id, t0);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(code = ?e.code(), message = e.message(), "a bench booking was refused"),
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ingest_during = match l.report_every {
        Some(every) => ingest_rate(&env, every.as_millis() as i64)
            .await
            .unwrap_or(0.0),
        None => 0.0,
    };
    let after = env.commandstats().await?;
    let cpu_after: Vec<f64> = pids.iter().map(|p| cpu_ms(p)).collect();
    let rss = env.rss_mib();
    let redis_bytes = env.redis_used_memory().await?;
    let aof = aof.seen().await?;
    stop.cancel();
    let mut hist = Histogram::<u64>::new(3)?;
    let created = created.lock().expect("lock").clone();
    let offered = p.offered.lock().expect("lock").clone();
    // Only orders whose first and only offer went to the probe measure the path; an order
    // whose nearest free taxi was another one is counted apart.
    let ids: Vec<String> = created.keys().cloned().collect();
    let mut first_offers: HashMap<String, u32> = HashMap::new();
    for chunk in ids.chunks(500) {
        for o in env.store.get_orders(chunk).await? {
            first_offers.insert(o.id.clone(), o.offers);
        }
    }
    let mut missed = 0;
    for (order, t0) in &created {
        match (offered.get(order), first_offers.get(order)) {
            (Some(t1), Some(1)) => {
                hist.record(t1.saturating_duration_since(*t0).as_micros() as u64)?
            }
            _ => missed += 1,
        }
    }
    let (gcalls, gusec) = delta(&before, &after, "geosearch");
    let orders = created.len().max(1);
    if std::env::var_os("TAXI_BENCH_REDIS_PROFILE").is_some() {
        let mut cmds: Vec<(String, u64, u64)> = after
            .keys()
            .map(|c| {
                let (n, us) = delta(&before, &after, c);
                (c.clone(), n, us)
            })
            .filter(|(_, n, _)| *n > 0)
            .collect();
        cmds.sort_by_key(|(_, _, us)| std::cmp::Reverse(*us));
        for (c, n, us) in cmds.iter().take(10) {
            println!(
                "    redis {c}: {:.2} calls and {:.1} µs per order",
                *n as f64 / orders as f64,
                *us as f64 / orders as f64
            );
        }
    }
    let offered_n = created.keys().filter(|o| offered.contains_key(*o)).count();
    let last_offer = created
        .keys()
        .filter_map(|o| offered.get(o))
        .max()
        .copied()
        .unwrap_or(start);
    let offers_per_s = offered_n as f64
        / last_offer
            .saturating_duration_since(start)
            .as_secs_f64()
            .max(1e-3);
    Ok(DispatchResult {
        latencies: hist,
        missed,
        orders: created.len(),
        ingest_base,
        ingest_during,
        geosearch_per_dispatch_us: gusec as f64 / orders as f64,
        geosearch_calls_per_dispatch: gcalls as f64 / orders as f64,
        rss_mib: rss,
        offers_per_s,
        cpu_ms_per_order: [0, 1, 2]
            .map(|i| (cpu_after[i] - cpu_before[i]) / created.len().max(1) as f64),
        registered_per_s,
        first_fixes_per_s,
        redis_bytes_per_taxi,
        redis_bytes,
        aof,
    })
}

pub(super) async fn dispatch(quick: bool, fsync: Fsync) -> anyhow::Result<Vec<Figure>> {
    let mut out = Vec::new();
    let sizes: &[usize] = if quick { &[1_000] } else { &[20_000, 100_000] };
    for &n in sizes {
        let r = dispatch_load(DispatchLoad {
            taxis: n,
            free_share: 0.5,
            probes: if quick { 100 } else { 3_000 },
            rate: if quick { 20.0 } else { 200.0 },
            seconds: if quick { 2.0 } else { 15.0 },
            fsync,
            report_every: Some(Duration::from_secs(4)),
            guard: Guard::Secure,
        })
        .await?;
        let k = if n >= 1000 {
            format!("{}k", n / 1000)
        } else {
            n.to_string()
        };
        let ms = |q: f64| r.latencies.value_at_quantile(q) as f64 / 1000.0;
        let f = |name: String, value: f64, unit: &'static str, target| {
            Figure::new("b. dispatch latency", name, value, unit, target)
        };
        out.push(f(
            format!("order → offer p50, {k} taxis"),
            ms(0.5),
            "ms",
            None,
        ));
        out.push(f(
            format!("order → offer p99, {k} taxis"),
            ms(0.99),
            "ms",
            Some(Target::AtMost(20.0)),
        ));
        out.push(f(
            format!("order → offer p999, {k} taxis"),
            ms(0.999),
            "ms",
            None,
        ));
        out.push(f(
            format!("orders created, {k}"),
            r.orders as f64,
            "orders",
            None,
        ));
        out.push(f(
            format!("  first offered to a taxi other than the probe, {k}"),
            r.missed as f64,
            "orders",
            None,
        ));
        out.push(f(
            format!("Redis GEOSEARCH time per dispatch, {k}"),
            r.geosearch_per_dispatch_us,
            "µs",
            None,
        ));
        out.push(f(
            format!("GEOSEARCH calls per dispatch, {k}"),
            r.geosearch_calls_per_dispatch,
            "",
            None,
        ));
        let fall = if r.ingest_base > 0.0 {
            1.0 - r.ingest_during / r.ingest_base
        } else {
            0.0
        };
        out.push(f(
            format!("ingest falls while dispatch runs, {k}"),
            fall * 100.0,
            "%",
            Some(Target::AtMost(10.0)),
        ));
        // Under `appendfsync always` an order waits for the disk: the tails follow it.
        out.push(f(
            format!("slowest AOF fsync while booking, {k}"),
            r.aof.slowest_fsync_ms,
            "ms",
            None,
        ));
        out.push(f(
            format!(
                "  seconds with an fsync over {} ms, {k}",
                AofWatch::THRESHOLD_MS
            ),
            r.aof.slow_fsync_seconds as f64,
            "s",
            None,
        ));
        out.push(f(
            format!("  AOF rewrites while booking, {k}"),
            r.aof.rewrites as f64,
            "",
            None,
        ));
        out.push(f(
            format!("server resident memory, {k}"),
            r.rss_mib,
            "MiB",
            None,
        ));
    }
    Ok(out)
}
