//! The population: what to simulate ([`SimConfig`]), the taxis registered and signed on,
//! the callers and one-key devices set up, the stands, and setting them all going.

use crate::auth::{Credential, Session};
use crate::city::{self, SPOTS, SpotKind};
use crate::gateway::{Principals, place, wgs};
use crate::road::RoadModel;
use crate::scenario::Plan;
use crate::{Observed, Phase, calls};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::Duration;
use taxi_domain::clock::{Clock, SystemClock};
use taxi_proto::v1 as pb;
use taxi_proto::v1::driver_service_client::DriverServiceClient;
use taxi_proto::v1::fleet_service_client::FleetServiceClient;
use taxi_proto::v1::hotline_service_client::HotlineServiceClient;
use taxi_proto::v1::one_key_service_client::OneKeyServiceClient;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

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
    /// How much faster than the road model taxis drive (a short real-time demo still sees
    /// whole trips; 1 when the services' clock itself runs fast).
    pub speed_factor: f64,
    /// The services' clock: what the taxis drive and the drivers think by.
    pub clock: Arc<dyn Clock>,
    /// How long drives take.
    pub road: RoadModel,
    /// How many times faster than real time `clock` runs (for the simulation's own waits).
    pub time_factor: f64,
    /// How often (real time) each taxi drives on and checks its job.
    pub tick: Duration,
    /// Whether cruising taxis take street hails now and then.
    pub hails: bool,
    /// A planned scenario: its taxis' starts and its bookings replace the random ones
    /// (the Poisson callers, devices' presses and cancels are then off).
    pub plan: Option<Arc<Plan>>,
    /// How often the gateway reports every taxi's position.
    pub report_every: Duration,
    /// One-key devices registered.
    pub devices: usize,
    /// The call centre's simulated calls (none by default).
    pub calls: calls::CallsConfig,
    /// Emergency alerts from the devices (none by default).
    pub alerts: crate::alerts::AlertsConfig,
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
            clock: Arc::new(SystemClock),
            road: RoadModel::default(),
            time_factor: 1.0,
            tick: Duration::from_millis(250),
            hails: true,
            plan: None,
            report_every: Duration::from_secs(2),
            devices: 60,
            calls: calls::CallsConfig::default(),
            alerts: crate::alerts::AlertsConfig::default(),
        }
    }
}

/// A registered device, logged in with its own key.
#[derive(Debug, Clone)]
pub(crate) struct Device {
    pub(crate) id: String,
    pub(crate) secret: String,
    pub(crate) session: Session,
}

/// A registered caller with a home saved place.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) phone: String,
    pub(crate) elderly: bool,
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
        let count = config.plan.as_ref().map_or(config.taxis, |p| p.taxis.len());
        for i in 0..count {
            let planned = config.plan.as_ref().map(|p| p.taxis[i].clone());
            let (wheelchair, caring) = match &planned {
                Some(t) => (t.wheelchair, t.caring),
                None => (rng.random_bool(0.05), rng.random_bool(0.1)),
            };
            let letter = (b'A' + (i / 100_000) as u8 % 26) as char;
            let r = fleet
                .register_taxi(pb::RegisterTaxiRequest {
                    plate: format!("渝{letter}{:02}{:05}", run + 10, i % 100_000),
                    driver_name: format!(
                        "{}师傅",
                        ["王", "李", "张", "刘", "陈", "杨", "赵", "黄"][i % 8]
                    ),
                    vehicle_color: COLOURS[i % COLOURS.len()].to_string(),
                    wheelchair_accessible: wheelchair,
                    fleet_tags: if caring {
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
            let at = match planned {
                Some(t) => t.at,
                None if rng.random_bool(0.5) => {
                    city::near(&SPOTS[rng.random_range(0..SPOTS.len())], 2000.0, &mut rng)
                }
                None => city::random_point(&mut rng),
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
                // Under sixty whatever today's date: the services must not count them older.
                rng.random_range(1970..2004)
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
        tasks.push(tokio::spawn(crate::gateway::report_positions(
            self.principals.gateway.channel(),
            self.observed.clone(),
            self.config.report_every,
            stop.clone(),
        )));
        // Let the first positions land before the first order.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for (i, (id, at)) in self.taxis.iter().enumerate() {
            let t = crate::taxis::TaxiSim {
                id: id.clone(),
                at: *at,
                rng: StdRng::seed_from_u64(
                    self.config.seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                ),
                clock: self.config.clock.clone(),
                road: self.config.road,
                speed_factor: self.config.speed_factor,
                last_ms: self.config.clock.now_ms(),
                tick: self.config.tick,
                hails: self.config.hails,
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
        tasks.push(tokio::spawn(crate::alerts::run(
            self.principals.clone(),
            self.config.alerts,
            self.config.seed,
            self.devices.clone(),
            self.observed.alerts.clone(),
            stop.clone(),
        )));
        match &self.config.plan {
            Some(plan) => tasks.push(tokio::spawn(crate::callers::run_plan(
                self.principals.clone(),
                self.config.clone(),
                plan.clone(),
                self.callers.clone(),
                self.observed.clone(),
                stop.clone(),
            ))),
            None => tasks.push(tokio::spawn(crate::callers::run(
                self.principals.clone(),
                self.config.clone(),
                self.devices.clone(),
                self.callers.clone(),
                self.observed.clone(),
                stop.clone(),
            ))),
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}
