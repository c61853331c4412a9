//! The `caring-guarantee` scenario (issue 14; once named `scarcity`): a city morning with
//! fewer taxis than recurring trips between 7 and 8 am (China time), run through the real
//! services on a stepped clock, and what share of the trips the caring fleet's guarantee
//! covered by T−15.
//!
//! Seeded and stepped, never real time: the scenario moves the services' clock itself
//! ([`Stepper`]), a step at a time, and after each step lets the dispatch role act (it runs
//! on its own tasks) before the simulated drivers answer. Each older passenger has a
//! pattern with one trip that morning; some patterns are paired with a caring-fleet taxi
//! whose driver confirms the trip (or, now and then, refuses it). The simulated drivers
//! accept every offer, arrive at the pickup time, and finish the trip after its travel
//! time at city speed; then they wait at the drop-off for the next one.

use crate::city::{self, SPOTS};
use crate::{Principals, auth::Authed};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::time::Duration;
use taxi_domain::clock::{Clock, ManualClock, SteppedClock};
use taxi_domain::priority::china_date;
use taxi_domain::recurring::{Guarantee, china_instant_ms};
use taxi_proto::v1 as pb;
use taxi_proto::v1::driver_service_client::DriverServiceClient;
use taxi_proto::v1::fleet_service_client::FleetServiceClient;
use taxi_proto::v1::recurring_service_client::RecurringServiceClient;
use taxi_proto::v1::stream_dispatches_response::Event;
use tokio::sync::mpsc;

/// The services' clock, as the scenario steps it.
pub trait Stepper: Send + Sync {
    /// Now, epoch ms.
    fn now_ms(&self) -> i64;
    /// Moves the clock on by `by`.
    fn advance(&self, by: Duration);
}

impl Stepper for ManualClock {
    fn now_ms(&self) -> i64 {
        Clock::now_ms(self)
    }
    fn advance(&self, by: Duration) {
        ManualClock::advance(self, by);
    }
}

impl Stepper for SteppedClock {
    fn now_ms(&self) -> i64 {
        Clock::now_ms(self)
    }
    fn advance(&self, by: Duration) {
        SteppedClock::advance(self, by);
    }
}

/// The scenario's numbers.
#[derive(Debug, Clone)]
pub struct GuaranteeConfig {
    /// Every random choice comes from this seed.
    pub seed: u64,
    /// Taxis on duty (fewer than `trips`).
    pub taxis: usize,
    /// How many of them are in the caring fleet.
    pub caring: usize,
    /// Recurring trips with a pickup between 07:00 and 08:00.
    pub trips: usize,
    /// Share of the patterns paired with a caring-fleet taxi.
    pub paired_share: f64,
    /// Share of paired trips the driver refuses.
    pub refuse_share: f64,
    /// One step of the services' clock.
    pub step: Duration,
    /// City speed, km/h, for travel times.
    pub speed_kmh: f64,
    /// The guarantee the services run with (for the report's T−15).
    pub guarantee: Guarantee,
}

impl Default for GuaranteeConfig {
    fn default() -> Self {
        Self {
            seed: 14,
            taxis: 24,
            caring: 10,
            trips: 40,
            paired_share: 0.5,
            refuse_share: 0.2,
            step: Duration::from_secs(30),
            speed_kmh: 25.0,
            guarantee: Guarantee::default(),
        }
    }
}

/// What the scenario observed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GuaranteeReport {
    /// Recurring trips due that morning.
    pub due: usize,
    /// Of them, assigned (a driver accepted) before T−15.
    pub assigned_by_t15: usize,
    /// Assigned at or after T−15, or never.
    pub late: usize,
    /// Taxis on duty.
    pub taxis: usize,
    /// Trips completed by the simulated drivers.
    pub completed: usize,
    /// Confirmed and refused by paired drivers.
    pub confirmed: usize,
    /// Refused by paired drivers.
    pub refused: usize,
}

impl GuaranteeReport {
    /// The share assigned by T−15, 0 to 1 (1 when nothing was due).
    pub fn share(&self) -> f64 {
        if self.due == 0 {
            1.0
        } else {
            self.assigned_by_t15 as f64 / self.due as f64
        }
    }
}

impl std::fmt::Display for GuaranteeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "recurring trips due {}, assigned by T−15 {} ({:.1} %), late {}; {} taxis, {} trips completed; paired drivers confirmed {}, refused {}",
            self.due,
            self.assigned_by_t15,
            self.share() * 100.0,
            self.late,
            self.taxis,
            self.completed,
            self.confirmed,
            self.refused
        )
    }
}

/// The district of the morning (Jiangbei): older passengers' homes, and where they go
/// (a hospital, a shopping street), all within 4 km of each other, so a taxi that
/// dropped one passenger off is in reach of the next pickup.
const DISTRICT_HOMES: [&str; 2] = ["龙湖花园", "观音桥嘉陵小区"];
const DISTRICT_GOALS: [&str; 2] = ["重庆市人民医院", "观音桥步行街"];

/// One simulated taxi: where it is, where it waits between trips, what it holds.
#[derive(Debug)]
struct Cab {
    id: String,
    at: (f64, f64),
    base: (f64, f64),
    job: Option<Job>,
}

/// The trip a taxi holds.
#[derive(Debug)]
struct Job {
    order: String,
    pickup_ms: i64,
    end_ms: i64,
    to: (f64, f64),
    started: bool,
}

/// One recurring trip of the morning.
#[derive(Debug)]
struct Trip {
    pickup_ms: i64,
    from: (f64, f64),
    to: (f64, f64),
}

fn place(at: (f64, f64), address: &str) -> pb::Place {
    pb::Place {
        location: Some(pb::LatLng {
            latitude: at.0,
            longitude: at.1,
            datum: pb::Datum::Wgs84 as i32,
        }),
        address: address.into(),
    }
}

/// Runs the scenario against the services on `channel`'s server, whose clock is `clock`
/// (standing before the morning: the scenario steps it to 05:55 the next China day).
pub async fn run(
    principals: &Principals,
    clock: &dyn Stepper,
    cfg: &GuaranteeConfig,
) -> anyhow::Result<GuaranteeReport> {
    anyhow::ensure!(
        cfg.taxis >= 1 && cfg.caring <= cfg.taxis,
        "taxis: at least 1, caring at most all"
    );
    anyhow::ensure!(
        cfg.trips > cfg.taxis,
        "trips: more than taxis (the scenario is scarcity)"
    );
    anyhow::ensure!(
        !principals.operators.is_empty(),
        "the scenario needs an operator"
    );
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let gateway: Authed = principals.gateway.channel();
    let mut fleet = FleetServiceClient::new(principals.fleet_admin.channel());
    let mut driver = DriverServiceClient::new(gateway.clone());
    let mut ops = RecurringServiceClient::new(principals.operators[0].channel());
    let day = china_date(clock.now_ms()) + chrono::Duration::days(1);
    let spots = |names: &[&str]| -> Vec<&'static city::Spot> {
        SPOTS.iter().filter(|s| names.contains(&s.name)).collect()
    };
    let homes = spots(&DISTRICT_HOMES);
    let goals = spots(&DISTRICT_GOALS);
    anyhow::ensure!(
        homes.len() == DISTRICT_HOMES.len() && goals.len() == DISTRICT_GOALS.len(),
        "the district's places are in the city's list"
    );

    // The fleet: the first `caring` taxis are the caring fleet; all wait near homes.
    let mut cabs = Vec::with_capacity(cfg.taxis);
    for i in 0..cfg.taxis {
        let t = fleet
            .register_taxi(pb::RegisterTaxiRequest {
                plate: format!("渝S{:05}", (cfg.seed as usize * 1000 + i) % 100_000),
                driver_name: format!("{}师傅", ["王", "李", "张", "刘"][i % 4]),
                vehicle_color: "白色".into(),
                wheelchair_accessible: false,
                fleet_tags: if i < cfg.caring {
                    vec!["caring".into()]
                } else {
                    vec![]
                },
                driver_phone: String::new(),
            })
            .await?
            .into_inner()
            .taxi
            .ok_or_else(|| anyhow::anyhow!("RegisterTaxi returned no taxi"))?;
        driver
            .sign_on(pb::SignOnRequest {
                taxi_id: t.taxi_id.clone(),
            })
            .await?;
        let at = city::near(homes[i % homes.len()], 1000.0, &mut rng);
        cabs.push(Cab {
            id: t.taxi_id,
            at,
            base: at,
            job: None,
        });
    }

    // The passengers' patterns: one trip each, 07:00 to 08:00.
    let mut trips: HashMap<String, Trip> = HashMap::new();
    let mut report = GuaranteeReport {
        taxis: cfg.taxis,
        ..Default::default()
    };
    for k in 0..cfg.trips {
        let minute = (k * 60 / cfg.trips) as u32;
        let time = chrono::NaiveTime::from_hms_opt(7, minute, 0).expect("07:mm");
        let home = homes[rng.random_range(0..homes.len())];
        let goal = goals[rng.random_range(0..goals.len())];
        let from = city::near(home, 600.0, &mut rng);
        let to = city::near(goal, 300.0, &mut rng);
        let p = ops
            .create_pattern(pb::CreatePatternRequest {
                rules: Some(pb::PatternRules {
                    passenger_phone: format!(
                        "137{:08}",
                        (cfg.seed as usize * 10_000 + k) % 100_000_000
                    ),
                    passenger_name: format!("{}阿姨", ["陈", "杨", "赵", "黄"][k % 4]),
                    start_date: day.format("%Y-%m-%d").to_string(),
                    end_date: day.format("%Y-%m-%d").to_string(),
                    count: None,
                    schedule: Some(pb::RecurringSchedule {
                        weekdays: vec![chrono::Datelike::weekday(&day).number_from_monday()],
                        pickup_time: time.format("%H:%M").to_string(),
                        return_time: String::new(),
                        pickup: Some(place(from, home.name)),
                        dropoff: Some(place(to, goal.name)),
                        needs: vec![],
                    }),
                    skipped_dates: vec![],
                }),
            })
            .await?
            .into_inner()
            .pattern
            .ok_or_else(|| anyhow::anyhow!("CreatePattern returned no pattern"))?;
        let Some(order) = p.reservations.values().next().cloned() else {
            anyhow::bail!("pattern {} made no reservation", p.pattern_id);
        };
        trips.insert(
            order.clone(),
            Trip {
                pickup_ms: china_instant_ms(day, time),
                from,
                to,
            },
        );
        if cfg.caring > 0 && rng.random_bool(cfg.paired_share) {
            let taxi = cabs[k % cfg.caring].id.clone();
            ops.pair_driver(pb::PairDriverRequest {
                pattern_id: p.pattern_id.clone(),
                taxi_id: taxi.clone(),
            })
            .await?;
            if rng.random_bool(cfg.refuse_share) {
                driver
                    .refuse_paired_trip(pb::RefusePairedTripRequest {
                        taxi_id: taxi,
                        order_id: order,
                    })
                    .await?;
                report.refused += 1;
            } else {
                driver
                    .confirm_paired_trip(pb::ConfirmPairedTripRequest {
                        taxi_id: taxi,
                        order_id: order,
                    })
                    .await?;
                report.confirmed += 1;
            }
        }
    }
    report.due = trips.len();

    // Every taxi's dispatch stream, held by the gateway: offers come in on one channel.
    let (tx, mut offers) = mpsc::unbounded_channel::<(usize, String)>();
    let mut streams = Vec::new();
    for (i, cab) in cabs.iter().enumerate() {
        let mut s = driver
            .stream_dispatches(pb::StreamDispatchesRequest {
                taxi_id: cab.id.clone(),
                resume_after: String::new(),
            })
            .await?
            .into_inner();
        let tx = tx.clone();
        streams.push(tokio::spawn(async move {
            while let Ok(Some(m)) = s.message().await {
                if let Some(Event::Offer(o)) = m.event
                    && tx.send((i, o.order_id)).is_err()
                {
                    return;
                }
            }
        }));
    }

    // The morning, a step at a time, from 05:55 until every trip is over (or 09:30).
    let start = china_instant_ms(
        day,
        chrono::NaiveTime::from_hms_opt(5, 55, 0).expect("05:55"),
    );
    let end = china_instant_ms(
        day,
        chrono::NaiveTime::from_hms_opt(9, 30, 0).expect("09:30"),
    );
    anyhow::ensure!(
        clock.now_ms() < start,
        "the clock must stand before the morning"
    );
    clock.advance(Duration::from_millis((start - clock.now_ms()) as u64));
    let mut assigned: HashMap<String, i64> = HashMap::new();
    let m_per_ms = cfg.speed_kmh * 1000.0 / 3_600_000.0;
    while clock.now_ms() < end {
        clock.advance(cfg.step);
        let now = clock.now_ms();
        // Trip steps that fell due.
        for cab in cabs.iter_mut() {
            let Some(job) = cab.job.as_mut() else {
                continue;
            };
            if !job.started && now >= job.pickup_ms {
                driver
                    .arrive_at_pickup(pb::ArriveAtPickupRequest {
                        taxi_id: cab.id.clone(),
                        order_id: job.order.clone(),
                    })
                    .await?;
                driver
                    .start_trip(pb::StartTripRequest {
                        taxi_id: cab.id.clone(),
                        order_id: job.order.clone(),
                    })
                    .await?;
                job.started = true;
            }
            if job.started && now >= job.end_ms {
                driver
                    .complete_trip(pb::CompleteTripRequest {
                        taxi_id: cab.id.clone(),
                        order_id: job.order.clone(),
                        fare_cents: 2000,
                        paid_by: pb::PaymentMethod::Cash as i32,
                    })
                    .await?;
                cab.at = job.to;
                cab.job = None;
                report.completed += 1;
            }
        }
        // Idle taxis head back to where they wait, at city speed.
        let step_m = m_per_ms * cfg.step.as_millis() as f64;
        for cab in cabs.iter_mut().filter(|c| c.job.is_none()) {
            cab.at = city::step_toward(cab.at, cab.base, step_m).0;
        }
        // Every taxi where it is, fresh on the stepped clock.
        let positions = cabs
            .iter()
            .map(|c| pb::PositionReport {
                taxi_id: c.id.clone(),
                position: Some(pb::LatLng {
                    latitude: c.at.0,
                    longitude: c.at.1,
                    datum: pb::Datum::Wgs84 as i32,
                }),
                heading_degrees: 0.0,
                speed_kmh: 0.0,
                fix_time: Some(taxi_proto::Timestamp {
                    seconds: now.div_euclid(1000),
                    nanos: (now.rem_euclid(1000) * 1_000_000) as i32,
                }),
            })
            .collect();
        driver
            .report_positions(tokio_stream::iter(vec![pb::ReportPositionsRequest {
                positions,
            }]))
            .await?;
        // Let dispatch act on this step, and answer every offer, until quiet.
        let mut quiet = 0;
        while quiet < 3 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            let mut any = false;
            while let Ok((i, order)) = offers.try_recv() {
                any = true;
                let cab = &mut cabs[i];
                let Some(trip) = trips.get(&order) else {
                    continue;
                };
                if cab.job.is_some() {
                    continue;
                }
                let accepted = driver
                    .accept_offer(pb::AcceptOfferRequest {
                        taxi_id: cab.id.clone(),
                        order_id: order.clone(),
                    })
                    .await;
                if accepted.is_err() {
                    // Taken back meanwhile (another taxi, a cancellation): on.
                    continue;
                }
                assigned.entry(order.clone()).or_insert(now);
                let ride_ms = (city::distance_m(trip.from, trip.to) / m_per_ms) as i64;
                let reach_ms = (city::distance_m(cab.at, trip.from) / m_per_ms) as i64;
                let pickup_ms = trip.pickup_ms.max(now + reach_ms);
                cab.job = Some(Job {
                    order,
                    pickup_ms,
                    end_ms: pickup_ms + ride_ms.max(60_000),
                    to: trip.to,
                    started: false,
                });
            }
            quiet = if any { 0 } else { quiet + 1 };
        }
        if report.completed == trips.len() {
            break;
        }
    }
    for s in streams {
        s.abort();
    }
    for (order, trip) in &trips {
        match assigned.get(order) {
            Some(&at) if cfg.guarantee.met(trip.pickup_ms, at) => report.assigned_by_t15 += 1,
            _ => report.late += 1,
        }
    }
    Ok(report)
}
