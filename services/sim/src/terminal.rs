//! In-car terminals (JT/T 808 / 905) as the demo runs some of its taxis: each connects to
//! the terminal gateway over TCP, registers with its plate, authenticates with the code it
//! got, reports its position every few seconds, and answers the 905 order flow as a
//! driver would: grabs most broadcasts after a moment's thought, drives to the pickup once
//! it gets the details, carries the trip and reports it completed (0x0B07).

use crate::city;
use crate::road::RoadModel;
use futures::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use taxi_domain::clock::Clock;
use taxi_jtt808::message::{
    Authenticate, Location, LocationBatch, Register, Time, register_result, status,
};
use taxi_jtt808::{Body, Codec, Header, Packet};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

/// One simulated terminal taxi.
#[derive(Debug, Clone)]
pub struct TerminalTaxi {
    /// Its taxi id (bound to `phone` by the fleet admin).
    pub taxi_id: String,
    /// Its plate (what it registers with).
    pub plate: String,
    /// The terminal's SIM number.
    pub phone: String,
}

/// What the terminals did.
#[derive(Debug, Default)]
pub struct TerminalsObserved {
    /// Terminals authenticated.
    pub online: AtomicU64,
    /// Order broadcasts (0x8B00) received.
    pub offers: AtomicU64,
    /// Grabs won (0x8B01 received after a grab).
    pub won: AtomicU64,
    /// Grabs lost (0x8B09 after a grab).
    pub lost: AtomicU64,
    /// Trips completed (0x0B07 answered OK).
    pub completed: AtomicU64,
    /// Location frames sent.
    pub locations: AtomicU64,
}

/// How the terminals run.
#[derive(Debug, Clone)]
pub struct TerminalsConfig {
    /// The gateway.
    pub gateway: SocketAddr,
    /// The services' clock.
    pub clock: Arc<dyn Clock>,
    /// How drives take.
    pub road: RoadModel,
    /// How much faster than the road model they drive.
    pub speed_factor: f64,
    /// How often each reports its position.
    pub report_every: Duration,
    /// Seed of their choices.
    pub seed: u64,
}

enum Job {
    Cruise((f64, f64)),
    /// Thinking until `due_ms`, then grabbing; once `sent`, waiting for the answer until
    /// `due_ms` (then back to cruising: no answer is no order).
    Grab {
        id: u32,
        due_ms: i64,
        sent: bool,
    },
    ToPickup {
        id: u32,
        pickup: (f64, f64),
    },
    Trip {
        id: u32,
        to: (f64, f64),
    },
}

/// Runs `taxis` as terminals until `stop`.
pub async fn run(
    taxis: Vec<TerminalTaxi>,
    config: TerminalsConfig,
    observed: Arc<TerminalsObserved>,
    stop: CancellationToken,
) {
    let mut tasks = Vec::new();
    for (i, t) in taxis.into_iter().enumerate() {
        let rng = StdRng::seed_from_u64(config.seed ^ (i as u64 + 1).wrapping_mul(0x5851_F42D));
        tasks.push(tokio::spawn(one(
            t,
            config.clone(),
            rng,
            observed.clone(),
            stop.clone(),
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
}

struct Wire {
    io: Framed<TcpStream, Codec>,
    phone: String,
    serial: u16,
}

impl Wire {
    async fn send(&mut self, body: Body) -> bool {
        self.serial = self.serial.wrapping_add(1);
        let header = Header::new(body.id(), &self.phone, self.serial);
        self.io.send(Packet { header, body }).await.is_ok()
    }

    /// The next frame within `wait` (`None` on silence; `Some(None)` when closed).
    async fn next(&mut self, wait: Duration) -> Option<Option<Body>> {
        match tokio::time::timeout(wait, self.io.next()).await {
            Err(_) => None,
            Ok(Some(Ok(Ok(p)))) => Some(Some(p.body)),
            Ok(Some(Ok(Err(_)))) => None,
            Ok(_) => Some(None),
        }
    }
}

/// Connects, registers and authenticates.
/// Connects terminal `t` to the gateway, registers with its plate and authenticates with
/// the code it got; the connection, ready for locations (`None` if any step failed).
/// The bench's terminals log in this way too.
pub async fn log_in(t: &TerminalTaxi, gateway: SocketAddr) -> Option<Framed<TcpStream, Codec>> {
    login(t, gateway).await.map(|w| w.io)
}

async fn login(t: &TerminalTaxi, gateway: SocketAddr) -> Option<Wire> {
    let io = Framed::new(TcpStream::connect(gateway).await.ok()?, Codec::default());
    let mut w = Wire {
        io,
        phone: t.phone.clone(),
        serial: 0,
    };
    w.send(Body::Register(Register {
        province: 50,
        city: 100,
        maker: "SIM01".into(),
        model: "TAXI-SIM".into(),
        terminal_id: t.phone.chars().rev().take(7).collect(),
        plate_color: 2,
        plate: t.plate.clone(),
    }))
    .await;
    let code = loop {
        match w.next(Duration::from_secs(5)).await?? {
            Body::RegisterReply(r) if r.result == register_result::OK => break r.auth_code,
            Body::RegisterReply(_) => return None,
            _ => {}
        }
    };
    w.send(Body::Authenticate(Authenticate {
        auth_code: code,
        imei: "860000000000000".into(),
        software: "sim".into(),
    }))
    .await;
    loop {
        if let Body::PlatformReply(r) = w.next(Duration::from_secs(5)).await?? {
            return (r.result == 0).then_some(w);
        }
    }
}

async fn one(
    t: TerminalTaxi,
    c: TerminalsConfig,
    mut rng: StdRng,
    observed: Arc<TerminalsObserved>,
    stop: CancellationToken,
) {
    let mut at = city::random_point(&mut rng);
    let Some(mut w) = login(&t, c.gateway).await else {
        tracing::warn!(taxi = %t.taxi_id, "a simulated terminal could not log in");
        return;
    };
    observed.online.fetch_add(1, Ordering::Relaxed);
    let mut job = Job::Cruise(city::random_point(&mut rng));
    let mut last_ms = c.clock.now_ms();
    let mut last_report = 0i64;
    let tick = Duration::from_millis(250);
    while !stop.is_cancelled() {
        let frame = tokio::select! {
            f = w.next(tick) => f,
            () = stop.cancelled() => return,
        };
        match frame {
            Some(None) => return,
            Some(Some(Body::OrderOffer(o))) => {
                observed.offers.fetch_add(1, Ordering::Relaxed);
                if matches!(job, Job::Cruise(_)) && rng.random_bool(0.85) {
                    job = Job::Grab {
                        id: o.business_id,
                        due_ms: c.clock.now_ms() + rng.random_range(500..2500),
                        sent: false,
                    };
                }
            }
            Some(Some(Body::OrderDetails(d))) => {
                observed.won.fetch_add(1, Ordering::Relaxed);
                job = Job::ToPickup {
                    id: d.business_id,
                    pickup: (d.latitude, d.longitude),
                };
            }
            Some(Some(Body::OrderCancelled(x))) => {
                let ours = match &job {
                    Job::Grab { id, .. } | Job::ToPickup { id, .. } => *id == x.business_id,
                    _ => false,
                };
                if ours {
                    if matches!(job, Job::Grab { .. }) {
                        observed.lost.fetch_add(1, Ordering::Relaxed);
                    }
                    job = Job::Cruise(city::random_point(&mut rng));
                }
            }
            Some(Some(_)) | None => {}
        }
        // Drive on.
        let now = c.clock.now_ms();
        let dt = Duration::from_millis((now - last_ms).max(0) as u64).mul_f64(c.speed_factor);
        last_ms = now;
        job = match job {
            Job::Cruise(target) => {
                let (next, arrived, _) = c.road.drive(at, target, now, dt.mul_f64(0.6));
                at = next;
                if arrived {
                    Job::Cruise(city::random_point(&mut rng))
                } else {
                    Job::Cruise(target)
                }
            }
            Job::Grab {
                id,
                due_ms,
                sent: false,
            } if now >= due_ms => {
                w.send(Body::Grab(id)).await;
                // The answer (details or "taken") arrives as a frame.
                Job::Grab {
                    id,
                    due_ms: now + 10_000,
                    sent: true,
                }
            }
            Job::Grab {
                sent: true, due_ms, ..
            } if now >= due_ms => Job::Cruise(city::random_point(&mut rng)),
            g @ Job::Grab { .. } => g,
            Job::ToPickup { id, pickup } => {
                let (next, arrived, _) = c.road.drive(at, pickup, now, dt);
                at = next;
                if arrived {
                    Job::Trip {
                        id,
                        to: city::destination(&mut rng).0,
                    }
                } else {
                    Job::ToPickup { id, pickup }
                }
            }
            Job::Trip { id, to } => {
                let (next, arrived, _) = c.road.drive(at, to, now, dt);
                at = next;
                if arrived {
                    w.send(Body::OrderCompleted(id)).await;
                    observed.completed.fetch_add(1, Ordering::Relaxed);
                    Job::Cruise(city::random_point(&mut rng))
                } else {
                    Job::Trip { id, to }
                }
            }
        };
        if now - last_report >= c.report_every.as_millis() as i64 {
            last_report = now;
            let fix = Location {
                alarm: 0,
                status: status::FIXED,
                latitude: at.0,
                longitude: at.1,
                altitude: 250,
                speed: 300,
                direction: 0,
                time: Time::from_unix_ms(now),
                extra: vec![],
            };
            let body = if rng.random_bool(0.1) {
                // Now and then a batch, as terminals send after a gap in coverage.
                Body::LocationBatch(LocationBatch {
                    kind: 0,
                    items: vec![fix],
                })
            } else {
                Body::Location(fix)
            };
            if !w.send(body).await {
                return;
            }
            observed.locations.fetch_add(1, Ordering::Relaxed);
        }
    }
}
