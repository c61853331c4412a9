//! The callers: Poisson arrivals booking through every channel (95128 operators after the
//! phone switch's `ClassifyCall` and the screen pop's `LookupCaller`, the voice menu,
//! relatives, one-key devices); some book ahead, some cancel.

use crate::city::{self, SPOTS, SpotKind};
use crate::gateway::{Principals, epoch_ms, place, point};
use crate::population::{Caller, Device, SimConfig};
use crate::scenario::Plan;
use crate::{Observed, Tracked};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use taxi_proto::v1 as pb;
use taxi_proto::v1::hotline_service_client::HotlineServiceClient;
use taxi_proto::v1::one_key_service_client::OneKeyServiceClient;
use tokio_util::sync::CancellationToken;

/// Callers: Poisson arrivals on every channel.
pub(crate) async fn run(
    principals: Principals,
    config: SimConfig,
    devices: Vec<Device>,
    callers: Vec<Caller>,
    observed: Arc<Observed>,
    stop: CancellationToken,
) {
    let mut rng = StdRng::seed_from_u64(config.seed.wrapping_add(7));
    let elderly: Vec<&Caller> = callers.iter().filter(|c| c.elderly).collect();
    let others: Vec<&Caller> = callers.iter().filter(|c| !c.elderly).collect();
    let mut n: u64 = 0;
    while !stop.is_cancelled() {
        let gap = -rng.random::<f64>().max(1e-9).ln() / config.rate_per_s.max(0.001);
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs_f64(gap.min(30.0))) => {}
            () = stop.cancelled() => return,
        }
        n += 1;
        let operator = principals.operator(n as usize);
        let mut hotline = HotlineServiceClient::new(operator.channel());
        let mut switch = HotlineServiceClient::new(principals.phone_switch.channel());
        let is_elderly = rng.random_bool(config.elderly_share);
        let reservation = rng.random_bool(config.reservation_share);
        let cancel_after = rng
            .random_bool(config.cancel_share)
            .then(|| Duration::from_millis(rng.random_range(1000..8000)));
        let (dest, dest_name) = if is_elderly && rng.random_bool(0.6) {
            let h: Vec<_> = SPOTS
                .iter()
                .filter(|s| s.kind == SpotKind::Hospital)
                .collect();
            let s = h[rng.random_range(0..h.len())];
            (city::near(s, 100.0, &mut rng), s.name.to_string())
        } else {
            city::destination(&mut rng)
        };
        let pickup_time = reservation.then(|| taxi_proto::Timestamp {
            seconds: (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
                + rng.random_range(900..3600)) as i64,
            nanos: 0,
        });
        let kind = rng.random_range(0..100u32);
        let created = Instant::now();
        let created_ms = config.clock.now_ms();
        let result: Result<(pb::Order, &'static str), tonic::Status> =
            if is_elderly && !reservation && kind < 50 && !devices.is_empty() {
                let dev = &devices[rng.random_range(0..devices.len())];
                OneKeyServiceClient::new(dev.session.channel())
                    .press_button(pb::PressButtonRequest {
                        device_id: dev.id.clone(),
                        device_secret: dev.secret.clone(),
                        press: pb::PressType::Short as i32,
                        ..Default::default()
                    })
                    .await
                    .map(|r| (r.into_inner().order.unwrap_or_default(), "one-key"))
            } else {
                let pool = if is_elderly { &elderly } else { &others };
                let caller = pool[rng.random_range(0..pool.len())];
                let (channel_kind, name) = match kind {
                    0..60 => (pb::Channel::Operator, "95128 operator"),
                    60..80 => (pb::Channel::Ivr, "voice menu"),
                    _ => (pb::Channel::FamilyProxy, "family proxy"),
                };
                // The phone switch and the screen pop come first, as on a real call.
                let _ = switch
                    .classify_call(pb::ClassifyCallRequest {
                        calling_number: caller.phone.clone(),
                    })
                    .await;
                let _ = hotline
                    .lookup_caller(pb::LookupCallerRequest {
                        phone: caller.phone.clone(),
                    })
                    .await;
                let from_home = rng.random_bool(0.5) || channel_kind == pb::Channel::Ivr;
                let (pickup, pickup_name) = city::destination(&mut rng);
                // The voice menu books as the phone switch; a person at the desk as
                // themselves.
                let mut booker = if channel_kind == pb::Channel::Ivr {
                    switch.clone()
                } else {
                    hotline.clone()
                };
                booker
                    .create_booking(pb::CreateBookingRequest {
                        caller_phone: caller.phone.clone(),
                        pickup_saved_place: if from_home {
                            "home".into()
                        } else {
                            String::new()
                        },
                        pickup: (!from_home).then(|| place(pickup, &pickup_name)),
                        dropoff: Some(place(dest, &dest_name)),
                        pickup_time,
                        channel: channel_kind as i32,
                        operator_id: if channel_kind == pb::Channel::Operator {
                            operator.id().to_string()
                        } else {
                            String::new()
                        },
                        booker_phone: if channel_kind == pb::Channel::FamilyProxy {
                            "13988887777".into()
                        } else {
                            String::new()
                        },
                        request_id: format!("sim-{}-{n}", config.seed),
                        ..Default::default()
                    })
                    .await
                    .map(|r| (r.into_inner().order.unwrap_or_default(), name))
            };
        match result {
            Ok((order, name)) => {
                *observed
                    .by_channel
                    .lock()
                    .expect("lock")
                    .entry(name)
                    .or_default() += 1;
                let pickup = point(&order.pickup).unwrap_or((0.0, 0.0));
                let created_ms = epoch_ms(&order.create_time).unwrap_or(created_ms);
                observed.booked(
                    &order.order_id,
                    Tracked {
                        elderly: order.elderly,
                        reservation: order.reservation,
                        created,
                        assigned_after: None,
                        pickup,
                        created_ms,
                        ..Default::default()
                    },
                );
                if let Some(after) = cancel_after {
                    // The passenger calls back and an operator cancels: the operator is
                    // who the credential says, so the cancel is theirs.
                    let mut h = hotline.clone();
                    let operator_id = operator.id().to_string();
                    tokio::spawn(async move {
                        tokio::time::sleep(after).await;
                        let _ = h
                            .cancel_order(pb::CancelOrderRequest {
                                order_id: order.order_id,
                                cancelled_by: pb::CancelledBy::Operator as i32,
                                reason: "乘客不需要了".into(),
                                operator_id,
                            })
                            .await;
                    });
                }
            }
            Err(e) => {
                observed.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(code = ?e.code(), message = e.message(), "a simulated booking was refused");
            }
        }
    }
}

/// Callers of a planned scenario: each booking at its time on the services' clock (from
/// when this starts), at the 95128 desk, by a registered caller of its class, with its
/// pickup and drop-off.
pub(crate) async fn run_plan(
    principals: Principals,
    config: SimConfig,
    plan: Arc<Plan>,
    callers: Vec<Caller>,
    observed: Arc<Observed>,
    stop: CancellationToken,
) {
    let clock = config.clock.clone();
    let start = clock.now_ms();
    *observed.started_ms.lock().expect("lock") = Some(start);
    let elderly: Vec<&Caller> = callers.iter().filter(|c| c.elderly).collect();
    let others: Vec<&Caller> = callers.iter().filter(|c| !c.elderly).collect();
    for (n, b) in plan.bookings.iter().enumerate() {
        let due = start + b.at.as_millis() as i64;
        loop {
            let left = due - clock.now_ms();
            if left <= 0 {
                break;
            }
            let real = Duration::from_millis(left as u64)
                .div_f64(config.time_factor.max(1e-3))
                .min(Duration::from_millis(200));
            tokio::select! {
                () = tokio::time::sleep(real) => {}
                () = stop.cancelled() => return,
            }
        }
        let pool = if b.elderly { &elderly } else { &others };
        let Some(caller) = (!pool.is_empty()).then(|| pool[n % pool.len()]) else {
            continue;
        };
        let operator = principals.operator(n);
        let created = Instant::now();
        let created_ms = clock.now_ms();
        let r = HotlineServiceClient::new(operator.channel())
            .create_booking(pb::CreateBookingRequest {
                caller_phone: caller.phone.clone(),
                pickup: Some(place(b.pickup, &b.pickup_name)),
                dropoff: Some(place(b.dropoff, &b.dropoff_name)),
                channel: pb::Channel::Operator as i32,
                operator_id: operator.id().to_string(),
                request_id: format!("plan-{}-{n}", plan.seed),
                ..Default::default()
            })
            .await;
        match r {
            Ok(r) => {
                let order = r.into_inner().order.unwrap_or_default();
                // When the services made it: two bookings sent at once from two tasks reach
                // them in either order, so the caller's clock before the call is not it.
                let created_ms = epoch_ms(&order.create_time).unwrap_or(created_ms);
                *observed
                    .by_channel
                    .lock()
                    .expect("lock")
                    .entry("95128 operator")
                    .or_default() += 1;
                observed.booked(
                    &order.order_id,
                    Tracked {
                        elderly: order.elderly,
                        reservation: order.reservation,
                        created,
                        pickup: point(&order.pickup).unwrap_or(b.pickup),
                        created_ms,
                        ..Default::default()
                    },
                );
            }
            Err(e) => {
                observed.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(code = ?e.code(), message = e.message(), "a planned booking was refused");
            }
        }
    }
}
