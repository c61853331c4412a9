//! A seeded traffic simulator that drives the real services through gRPC, never around them.
//!
//! # Layout
//! - [`auth`]: logged-in sessions (Login, a bearer token on every call, Refresh before it
//!   ends).
//! - [`city`]: the simulated geography (central Chongqing's hospitals, residential
//!   compounds, shopping areas) and movement maths.
//! - [`svg`]: the pictures the demo writes (a map, and a chart of time to assign).
//! - [`calls`]: the 95128 call centre: calls from the phone switch, operators' seats that
//!   log in, answer, wrap up and get ready again, callers who give up.
//! - [`scarcity`]: the scarcity scenario (issue 14): fewer taxis than recurring trips
//!   between 7 and 8 am, on a stepped clock, and the share assigned by T−15.
//! - this module: the population (taxis, devices, callers), the taxis' behaviour, the
//!   callers' orders, and what the simulation observed.
//!
//! Taxis cruise, report their positions in batches over one gateway stream, answer offers
//! on their own dispatch stream after a human-like delay (most accept, some decline, a few
//! let them expire), drive to the pickup and carry the trip at city speed (sped up by
//! `speed_factor` so a short demo sees whole trips), and sometimes take a street hail.
//! Callers book through every channel: 95128 operators (after the phone switch's
//! `ClassifyCall` and the screen pop's `LookupCaller`), the voice menu, relatives, and
//! one-key devices; some book ahead, some cancel. Every random choice comes from a
//! generator seeded from `seed`, so a run can be repeated (timings still vary with the
//! machine).
//!
//! Every call carries a real credential ([`Principals`]): operators for the screen pop,
//! caller records, desk bookings and cancels; a fleet admin registers taxis and devices;
//! the terminal gateway reports positions, holds the taxis' dispatch streams and answers
//! their offers; the phone switch classifies calls and takes voice-menu bookings; each
//! one-key device logs in with its own key.

pub mod auth;
pub mod calls;
pub mod city;
pub mod scarcity;
pub mod svg;

use city::{SPOTS, SpotKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use taxi_proto::v1 as pb;
use taxi_proto::v1::driver_service_client::DriverServiceClient;
use taxi_proto::v1::fleet_service_client::FleetServiceClient;
use taxi_proto::v1::hotline_service_client::HotlineServiceClient;
use taxi_proto::v1::one_key_service_client::OneKeyServiceClient;
use taxi_proto::v1::stream_dispatches_response::Event;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

pub use auth::{Authed, Credential, Session};

/// The logged-in principals a simulation runs with.
#[derive(Debug, Clone)]
pub struct Principals {
    /// The call centre's operators (at least one): screen pops, caller records, desk and
    /// family bookings, cancels; their turns go round.
    pub operators: Vec<Session>,
    /// Registers taxis and provisions devices.
    pub fleet_admin: Session,
    /// The in-car terminal gateway: positions, dispatch streams and offer answers.
    pub gateway: Session,
    /// The phone switch: call classification and voice-menu bookings.
    pub phone_switch: Session,
}

impl Principals {
    /// The operator whose turn `n` is.
    fn operator(&self, n: usize) -> &Session {
        &self.operators[n % self.operators.len()]
    }
}

/// A channel to the services at `addr`: TLS trusting only the CA certificate(s) in
/// `ca_pem` when given (the server's certificate must name `addr`'s IP address), else
/// plain TCP.
pub async fn connect(addr: std::net::SocketAddr, ca_pem: Option<&str>) -> anyhow::Result<Channel> {
    let endpoint = match ca_pem {
        Some(ca) => Endpoint::from_shared(format!("https://{addr}"))?.tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca))
                .domain_name(addr.ip().to_string()),
        )?,
        None => Endpoint::from_shared(format!("http://{addr}"))?,
    };
    Ok(endpoint
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await?)
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Taxis on shift.
    pub taxis: usize,
    /// Orders per second (Poisson arrivals).
    pub rate_per_s: f64,
    /// Share of orders by older passengers.
    pub elderly_share: f64,
    /// Share of orders booked ahead.
    pub reservation_share: f64,
    /// Share of orders cancelled by their passengers.
    pub cancel_share: f64,
    /// How much faster than real time taxis move (a short demo still sees whole trips).
    pub speed_factor: f64,
    /// How often the gateway reports every taxi's position.
    pub report_every: Duration,
    /// One-key devices registered.
    pub devices: usize,
    /// The call centre's simulated calls (none by default).
    pub calls: calls::CallsConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            taxis: 300,
            rate_per_s: 2.0,
            elderly_share: 0.3,
            reservation_share: 0.05,
            cancel_share: 0.05,
            speed_factor: 30.0,
            report_every: Duration::from_secs(2),
            devices: 60,
            calls: calls::CallsConfig::default(),
        }
    }
}

/// What a simulated taxi is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Cruising, free.
    Cruising,
    /// Answering, or driving to, a pickup.
    ToPickup,
    /// Carrying a passenger (dispatched or hailed).
    Carrying,
}

/// One order the simulation made.
#[derive(Debug, Clone)]
pub struct Tracked {
    /// From an older passenger.
    pub elderly: bool,
    /// Booked ahead.
    pub reservation: bool,
    /// When it was created.
    pub created: Instant,
    /// How long until a taxi accepted it.
    pub assigned_after: Option<Duration>,
    /// Pickup.
    pub pickup: (f64, f64),
}

/// A point, (latitude, longitude), WGS-84.
pub type Point = (f64, f64);

/// What the simulation has seen so far.
#[derive(Debug, Default)]
pub struct Observed {
    /// Every taxi's position and phase.
    pub taxis: Mutex<HashMap<String, (Point, Phase)>>,
    /// Every order made, by id.
    pub orders: Mutex<HashMap<String, Tracked>>,
    /// Orders created, by channel name.
    pub by_channel: Mutex<HashMap<&'static str, u64>>,
    /// Offers received by the simulated drivers.
    pub offers: AtomicU64,
    /// Offers accepted.
    pub accepted: AtomicU64,
    /// Trips completed.
    pub completed: AtomicU64,
    /// Street hails carried.
    pub hails: AtomicU64,
    /// Bookings the services refused (should stay zero).
    pub refused: AtomicU64,
    /// Privacy numbers the simulated drivers were sent.
    pub privacy_numbers: AtomicU64,
    /// The call centre's calls.
    pub calls: Arc<calls::CallsObserved>,
}

impl Observed {
    /// Times to assign (ms), for older passengers and for others.
    pub fn assign_times(&self) -> (Vec<i64>, Vec<i64>) {
        let orders = self.orders.lock().expect("lock");
        let mut e = Vec::new();
        let mut o = Vec::new();
        for t in orders.values().filter(|t| !t.reservation) {
            if let Some(d) = t.assigned_after {
                if t.elderly { &mut e } else { &mut o }.push(d.as_millis() as i64);
            }
        }
        (e, o)
    }
}

/// A registered device, logged in with its own key.
#[derive(Debug, Clone)]
struct Device {
    id: String,
    secret: String,
    session: Session,
}

/// A registered caller with a home saved place.
#[derive(Debug, Clone)]
struct Caller {
    phone: String,
    elderly: bool,
}

/// The simulation: a population on the services at `channel`.
#[derive(Debug)]
pub struct Sim {
    principals: Principals,
    config: SimConfig,
    /// What it saw.
    pub observed: Arc<Observed>,
    taxis: Vec<(String, (f64, f64))>,
    devices: Vec<Device>,
    callers: Vec<Caller>,
}

/// The radius of the stands the simulation puts at hospitals and housing estates, metres.
pub const STAND_RADIUS_M: f64 = 300.0;

const COLOURS: &[&str] = &["白色", "黄色", "绿色", "蓝色", "银色"];

fn wgs(p: (f64, f64)) -> pb::LatLng {
    pb::LatLng {
        latitude: p.0,
        longitude: p.1,
        datum: pb::Datum::Wgs84 as i32,
    }
}

fn place(p: (f64, f64), address: &str) -> pb::Place {
    pb::Place {
        location: Some(wgs(p)),
        address: address.to_string(),
    }
}

fn resident_id(rng: &mut impl Rng, year: i32) -> String {
    let first17 = format!(
        "500103{year}{:02}{:02}{:03}",
        rng.random_range(1..=12),
        rng.random_range(1..=28),
        rng.random_range(0..1000)
    );
    let c = taxi_domain::resident_id::check_char(first17.as_bytes()).unwrap_or('0');
    format!("{first17}{c}")
}

impl Sim {
    /// Registers the population (taxis signed on, one-key devices and callers) as
    /// `principals`; each device logs in at `channel` with its key, its session kept fresh
    /// until `sessions_end`.
    pub async fn setup(
        channel: Channel,
        principals: Principals,
        config: SimConfig,
        sessions_end: CancellationToken,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !principals.operators.is_empty(),
            "the simulation needs an operator"
        );
        let mut rng = StdRng::seed_from_u64(config.seed);
        let mut fleet = FleetServiceClient::new(principals.fleet_admin.channel());
        let mut driver = DriverServiceClient::new(principals.gateway.channel());
        let mut onekey = OneKeyServiceClient::new(principals.fleet_admin.channel());
        let run = rng.random_range(0..90u32);
        let mut taxis = Vec::with_capacity(config.taxis);
        for i in 0..config.taxis {
            let letter = (b'A' + (i / 100_000) as u8 % 26) as char;
            let r = fleet
                .register_taxi(pb::RegisterTaxiRequest {
                    plate: format!("渝{letter}{:02}{:05}", run + 10, i % 100_000),
                    driver_name: format!(
                        "{}师傅",
                        ["王", "李", "张", "刘", "陈", "杨", "赵", "黄"][i % 8]
                    ),
                    vehicle_color: COLOURS[i % COLOURS.len()].to_string(),
                    wheelchair_accessible: rng.random_bool(0.05),
                    fleet_tags: if rng.random_bool(0.1) {
                        vec!["caring".into()]
                    } else {
                        vec![]
                    },
                    // The driver's side of the trips' privacy numbers.
                    driver_phone: format!("139{:08}", (run as usize * 100_000 + i) % 100_000_000),
                })
                .await;
            let Ok(r) = r else { continue };
            let id = r.into_inner().taxi.map(|t| t.taxi_id).unwrap_or_default();
            driver
                .sign_on(pb::SignOnRequest {
                    taxi_id: id.clone(),
                })
                .await?;
            let at = if rng.random_bool(0.5) {
                city::near(&SPOTS[rng.random_range(0..SPOTS.len())], 2000.0, &mut rng)
            } else {
                city::random_point(&mut rng)
            };
            taxis.push((id, at));
        }
        let residential: Vec<_> = SPOTS
            .iter()
            .filter(|s| s.kind == SpotKind::Residential)
            .collect();
        let mut callers = Vec::new();
        for i in 0..(config.devices * 3).max(30) {
            let elderly = i % 2 == 0;
            let phone = format!("13{}{:08}", 6 + i % 3, (run as usize) * 1_000_000 + i);
            let home_spot = residential[i % residential.len()];
            let home = city::near(home_spot, 500.0, &mut rng);
            let birth = if elderly {
                rng.random_range(1935..1962)
            } else {
                rng.random_range(1966..2004)
            };
            HotlineServiceClient::new(principals.operator(i).channel())
                .upsert_caller(pb::UpsertCallerRequest {
                    caller: Some(pb::CallerProfile {
                        phone: phone.clone(),
                        name: format!("乘客{i}"),
                        resident_id: if i % 4 == 2 {
                            String::new()
                        } else {
                            resident_id(&mut rng, birth)
                        },
                        elderly_flag: elderly && i % 4 == 2,
                        care_contacts: vec![format!("139{:08}", i)],
                        saved_places: vec![pb::SavedPlace {
                            name: "home".into(),
                            place: Some(place(home, home_spot.name)),
                        }],
                        needs: if elderly && i % 10 == 0 {
                            vec![pb::PassengerNeed::WalkingAid as i32]
                        } else {
                            vec![]
                        },
                        ..Default::default()
                    }),
                })
                .await?;
            callers.push(Caller { phone, elderly });
        }
        // Taxi stands (候客点) at the hospitals and housing estates: free taxis cruising
        // through queue there, and bookings picked up there go to the queue first.
        let mut stands = taxi_proto::v1::stand_service_client::StandServiceClient::new(
            principals.fleet_admin.channel(),
        );
        for (i, spot) in SPOTS
            .iter()
            .filter(|s| matches!(s.kind, SpotKind::Hospital | SpotKind::Residential))
            .enumerate()
        {
            let made = stands
                .create_stand(pb::CreateStandRequest {
                    stand: Some(pb::Stand {
                        stand_id: format!("sim-{run}-{i}"),
                        name: format!("{} 候客点", spot.name),
                        fence: Some(pb::stand::Fence::Circle(pb::StandCircle {
                            centre: Some(wgs((spot.lat, spot.lon))),
                            radius_meters: STAND_RADIUS_M,
                        })),
                        capacity: None,
                        hours: vec![],
                    }),
                })
                .await;
            if let Err(e) = made {
                tracing::warn!(code = ?e.code(), message = e.message(), "a stand was refused");
            }
        }
        let mut devices = Vec::new();
        for i in 0..config.devices {
            let home_spot = residential[i % residential.len()];
            // The server makes the device's id and secret (shown once, here).
            let made = onekey
                .register_device(pb::RegisterDeviceRequest {
                    owner_phone: format!("135{:08}", (run as usize) * 1_000_000 + i),
                    owner_name: format!("设备用户{i}"),
                    home: Some(place(
                        city::near(home_spot, 500.0, &mut rng),
                        home_spot.name,
                    )),
                    ..Default::default()
                })
                .await?
                .into_inner();
            let id = made.device.map(|d| d.device_id).unwrap_or_default();
            let secret = made.device_secret;
            let session = Session::login(
                channel.clone(),
                Credential::Key {
                    kind: pb::KeyKind::Device,
                    id: id.clone(),
                    secret: secret.clone(),
                },
                sessions_end.clone(),
            )
            .await?;
            devices.push(Device {
                id,
                secret,
                session,
            });
        }
        let observed = Arc::new(Observed::default());
        {
            let mut map = observed.taxis.lock().expect("lock");
            for (id, at) in &taxis {
                map.insert(id.clone(), (*at, Phase::Cruising));
            }
        }
        Ok(Self {
            principals,
            config,
            observed,
            taxis,
            devices,
            callers,
        })
    }

    /// How many taxis made it onto the road.
    pub fn taxi_count(&self) -> usize {
        self.taxis.len()
    }

    /// Runs until `stop`: the gateway, every taxi, and the callers.
    pub async fn run(&self, stop: CancellationToken) {
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(gateway(
            self.principals.gateway.channel(),
            self.observed.clone(),
            self.config.report_every,
            stop.clone(),
        )));
        // Let the first positions land before the first order.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for (i, (id, at)) in self.taxis.iter().enumerate() {
            let t = TaxiSim {
                id: id.clone(),
                at: *at,
                rng: StdRng::seed_from_u64(
                    self.config.seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                ),
                speed_mps: 8.0 * self.config.speed_factor,
                channel: self.principals.gateway.channel(),
                observed: self.observed.clone(),
            };
            tasks.push(tokio::spawn(t.run(stop.clone())));
        }
        tasks.push(tokio::spawn(calls::run(
            self.principals.clone(),
            self.config.calls.clone(),
            self.config.seed,
            self.callers
                .iter()
                .map(|c| (c.phone.clone(), c.elderly))
                .collect(),
            self.observed.calls.clone(),
            stop.clone(),
        )));
        tasks.push(tokio::spawn(callers(
            self.principals.clone(),
            self.config.clone(),
            self.devices.clone(),
            self.callers.clone(),
            self.observed.clone(),
            stop.clone(),
        )));
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// Reports every taxi's position over one long-lived client stream, like an in-car
/// terminal gateway, in batches of up to 1,000.
async fn gateway(
    channel: Authed,
    observed: Arc<Observed>,
    every: Duration,
    stop: CancellationToken,
) {
    let driver = DriverServiceClient::new(channel);
    while !stop.is_cancelled() {
        let (tx, rx) = tokio::sync::mpsc::channel::<pb::ReportPositionsRequest>(16);
        let call = {
            let mut d = driver.clone();
            tokio::spawn(async move {
                d.report_positions(tokio_stream::wrappers::ReceiverStream::new(rx))
                    .await
            })
        };
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.cancelled() => break,
            }
            let reports: Vec<pb::PositionReport> = observed
                .taxis
                .lock()
                .expect("lock")
                .iter()
                .map(|(id, (at, _))| pb::PositionReport {
                    taxi_id: id.clone(),
                    position: Some(wgs(*at)),
                    heading_degrees: 0.0,
                    speed_kmh: 30.0,
                    fix_time: None,
                })
                .collect();
            let mut failed = false;
            for chunk in reports.chunks(1000) {
                if tx
                    .send(pb::ReportPositionsRequest {
                        positions: chunk.to_vec(),
                    })
                    .await
                    .is_err()
                {
                    failed = true;
                    break;
                }
            }
            if failed {
                break;
            }
        }
        drop(tx);
        let _ = call.await;
        if !stop.is_cancelled() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

struct TaxiSim {
    id: String,
    at: (f64, f64),
    rng: StdRng,
    speed_mps: f64,
    channel: Authed,
    observed: Arc<Observed>,
}

enum Job {
    Cruise((f64, f64)),
    Answer {
        order: String,
        due: Instant,
        accept: bool,
        pickup: (f64, f64),
        dropoff: Option<(f64, f64)>,
    },
    ToPickup {
        order: String,
        pickup: (f64, f64),
        dropoff: Option<(f64, f64)>,
    },
    Trip {
        order: String,
        to: (f64, f64),
        km: f64,
    },
    Hail {
        to: (f64, f64),
        left: u32,
    },
}

fn point(p: &Option<pb::Place>) -> Option<(f64, f64)> {
    p.as_ref()
        .and_then(|p| p.location.as_ref())
        .map(|l| (l.latitude, l.longitude))
}

impl TaxiSim {
    fn set(&self, phase: Phase) {
        self.observed
            .taxis
            .lock()
            .expect("lock")
            .insert(self.id.clone(), (self.at, phase));
    }

    async fn run(mut self, stop: CancellationToken) {
        let mut d = DriverServiceClient::new(self.channel.clone());
        let mut stream = None;
        // The last event's seq: a reconnect resumes after it, as a real app does.
        let mut last_seq = String::new();
        let mut job = Job::Cruise(city::random_point(&mut self.rng));
        let tick_every = Duration::from_millis(250);
        let mut tick = tokio::time::interval(tick_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !stop.is_cancelled() {
            if stream.is_none() {
                match d
                    .stream_dispatches(pb::StreamDispatchesRequest {
                        taxi_id: self.id.clone(),
                        resume_after: last_seq.clone(),
                    })
                    .await
                {
                    Ok(s) => stream = Some(s.into_inner()),
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                }
            }
            let Some(s) = stream.as_mut() else { continue };
            let event = tokio::select! {
                m = s.message() => match m {
                    Ok(Some(m)) => {
                        if !m.seq.is_empty() {
                            last_seq = m.seq;
                        }
                        m.event
                    }
                    _ => { stream = None; continue; }
                },
                _ = tick.tick() => None,
                () = stop.cancelled() => return,
            };
            match event {
                Some(Event::Offer(o)) => {
                    self.observed.offers.fetch_add(1, Ordering::Relaxed);
                    if matches!(job, Job::Cruise(_)) {
                        // Read it, think, answer: most accept, some decline, a few let it expire.
                        let roll: f64 = self.rng.random();
                        let think = Duration::from_millis(self.rng.random_range(500..3000));
                        let pickup = point(&o.pickup).unwrap_or(self.at);
                        if roll < 0.95 {
                            job = Job::Answer {
                                order: o.order_id,
                                due: Instant::now() + think,
                                accept: roll < 0.85,
                                pickup,
                                dropoff: point(&o.dropoff),
                            };
                            self.set(Phase::ToPickup);
                        }
                    }
                }
                Some(Event::Assigned(o)) => {
                    let pickup = point(&o.pickup).unwrap_or(self.at);
                    job = Job::ToPickup {
                        order: o.order_id,
                        pickup,
                        dropoff: point(&o.dropoff),
                    };
                    self.set(Phase::ToPickup);
                }
                Some(Event::OfferWithdrawn(w)) => {
                    if matches!(&job, Job::Answer { order, .. } if *order == w.order_id) {
                        job = Job::Cruise(city::random_point(&mut self.rng));
                        self.set(Phase::Cruising);
                    }
                }
                Some(Event::OrderCancelled(c)) => {
                    let ours = match &job {
                        Job::Answer { order, .. } | Job::ToPickup { order, .. } => {
                            *order == c.order_id
                        }
                        _ => false,
                    };
                    if ours {
                        job = Job::Cruise(city::random_point(&mut self.rng));
                        self.set(Phase::Cruising);
                    }
                }
                // The cruising city's taxis are paired with no recurring trips.
                Some(Event::PairedTripChanged(_)) => {}
                Some(Event::PrivacyNumber(_)) => {
                    // The number the driver would call the passenger on.
                    self.observed
                        .privacy_numbers
                        .fetch_add(1, Ordering::Relaxed);
                }
                Some(Event::SignedOff(_)) => {
                    let _ = d
                        .sign_on(pb::SignOnRequest {
                            taxi_id: self.id.clone(),
                        })
                        .await;
                }
                None => job = self.step(job, &mut d, tick_every).await,
            }
        }
    }

    /// One tick of driving and of whatever the current job needs.
    async fn step(&mut self, job: Job, d: &mut DriverServiceClient<Authed>, tick: Duration) -> Job {
        let step_m = self.speed_mps * tick.as_secs_f64();
        let id = self.id.clone();
        match job {
            Job::Cruise(target) => {
                let (at, arrived) = city::step_toward(self.at, target, step_m * 0.6);
                self.at = at;
                self.set(Phase::Cruising);
                if self.rng.random_bool(0.0005)
                    && d.start_street_hail(pb::StartStreetHailRequest { taxi_id: id })
                        .await
                        .is_ok()
                {
                    self.observed.hails.fetch_add(1, Ordering::Relaxed);
                    self.set(Phase::Carrying);
                    return Job::Hail {
                        to: city::random_point(&mut self.rng),
                        left: 400,
                    };
                }
                if arrived {
                    Job::Cruise(city::random_point(&mut self.rng))
                } else {
                    Job::Cruise(target)
                }
            }
            Job::Answer {
                order,
                due,
                accept,
                pickup,
                dropoff,
            } => {
                if Instant::now() < due {
                    return Job::Answer {
                        order,
                        due,
                        accept,
                        pickup,
                        dropoff,
                    };
                }
                if accept {
                    let r = d
                        .accept_offer(pb::AcceptOfferRequest {
                            taxi_id: id,
                            order_id: order.clone(),
                        })
                        .await;
                    if r.is_ok() {
                        self.observed.accepted.fetch_add(1, Ordering::Relaxed);
                        if let Some(t) = self.observed.orders.lock().expect("lock").get_mut(&order)
                        {
                            t.assigned_after = Some(t.created.elapsed());
                        }
                        return Job::ToPickup {
                            order,
                            pickup,
                            dropoff,
                        };
                    }
                } else {
                    let _ = d
                        .decline_offer(pb::DeclineOfferRequest {
                            taxi_id: id,
                            order_id: order,
                            reason: "太远".into(),
                        })
                        .await;
                }
                self.set(Phase::Cruising);
                Job::Cruise(city::random_point(&mut self.rng))
            }
            Job::ToPickup {
                order,
                pickup,
                dropoff,
            } => {
                let (at, arrived) = city::step_toward(self.at, pickup, step_m);
                self.at = at;
                self.set(Phase::ToPickup);
                if !arrived {
                    return Job::ToPickup {
                        order,
                        pickup,
                        dropoff,
                    };
                }
                let ok = d
                    .arrive_at_pickup(pb::ArriveAtPickupRequest {
                        taxi_id: id.clone(),
                        order_id: order.clone(),
                    })
                    .await
                    .is_ok()
                    && d.start_trip(pb::StartTripRequest {
                        taxi_id: id,
                        order_id: order.clone(),
                    })
                    .await
                    .is_ok();
                if !ok {
                    self.set(Phase::Cruising);
                    return Job::Cruise(city::random_point(&mut self.rng));
                }
                let to = dropoff.unwrap_or_else(|| city::destination(&mut self.rng).0);
                self.set(Phase::Carrying);
                Job::Trip {
                    order,
                    to,
                    km: city::distance_m(self.at, to) / 1000.0,
                }
            }
            Job::Trip { order, to, km } => {
                let (at, arrived) = city::step_toward(self.at, to, step_m);
                self.at = at;
                self.set(Phase::Carrying);
                if !arrived {
                    return Job::Trip { order, to, km };
                }
                let fare = 1000 + (km * 1.3 * 250.0) as i64;
                if d.complete_trip(pb::CompleteTripRequest {
                    taxi_id: id,
                    order_id: order,
                    fare_cents: fare,
                    paid_by: 0,
                })
                .await
                .is_ok()
                {
                    self.observed.completed.fetch_add(1, Ordering::Relaxed);
                }
                self.set(Phase::Cruising);
                Job::Cruise(city::random_point(&mut self.rng))
            }
            Job::Hail { to, left } => {
                let (at, arrived) = city::step_toward(self.at, to, step_m);
                self.at = at;
                if arrived || left == 0 {
                    let _ = d
                        .end_street_hail(pb::EndStreetHailRequest { taxi_id: id })
                        .await;
                    self.set(Phase::Cruising);
                    return Job::Cruise(city::random_point(&mut self.rng));
                }
                Job::Hail { to, left: left - 1 }
            }
        }
    }
}

/// Callers: Poisson arrivals on every channel.
async fn callers(
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
                observed
                    .orders
                    .lock()
                    .expect("lock")
                    .entry(order.order_id.clone())
                    .or_insert(Tracked {
                        elderly: order.elderly,
                        reservation: order.reservation,
                        created,
                        assigned_after: None,
                        pickup,
                    });
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
