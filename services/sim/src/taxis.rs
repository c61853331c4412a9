//! The taxis' behaviour: cruising, answering offers after a human-like delay (most accept,
//! some decline, a few let them expire), driving to the pickup, carrying the trip, and the
//! odd street hail.

use crate::auth::Authed;
use crate::city;
use crate::gateway::{epoch_ms, point};
use crate::road::RoadModel;
use crate::{Observed, Phase};
use rand::Rng;
use rand::rngs::StdRng;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use taxi_domain::clock::Clock;
use taxi_proto::v1 as pb;
use taxi_proto::v1::driver_service_client::DriverServiceClient;
use taxi_proto::v1::stream_dispatches_response::Event;
use tokio_util::sync::CancellationToken;

pub(crate) struct TaxiSim {
    pub(crate) id: String,
    pub(crate) at: (f64, f64),
    pub(crate) rng: StdRng,
    /// The services' clock: the road model's time of day, and how far a tick drives.
    pub(crate) clock: Arc<dyn Clock>,
    /// How long drives take.
    pub(crate) road: RoadModel,
    /// How much faster than the road model the taxi drives (a short real-time demo).
    pub(crate) speed_factor: f64,
    /// The clock when it last moved.
    pub(crate) last_ms: i64,
    /// How often (real time) it drives on.
    pub(crate) tick: Duration,
    /// Whether it takes street hails.
    pub(crate) hails: bool,
    pub(crate) channel: Authed,
    pub(crate) observed: Arc<Observed>,
}

enum Job {
    Cruise((f64, f64)),
    Answer {
        order: String,
        /// When the driver answers (the services' clock, epoch ms).
        due: i64,
        accept: bool,
        pickup: (f64, f64),
        dropoff: Option<(f64, f64)>,
        /// The offer's ETA, seconds.
        eta_s: u32,
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

impl TaxiSim {
    fn set(&self, phase: Phase) {
        self.observed
            .taxis
            .lock()
            .expect("lock")
            .insert(self.id.clone(), (self.at, phase));
    }

    pub(crate) async fn run(mut self, stop: CancellationToken) {
        let mut d = DriverServiceClient::new(self.channel.clone());
        let mut stream = None;
        // The last event's seq: a reconnect resumes after it, as a real app does.
        let mut last_seq = String::new();
        let mut job = Job::Cruise(city::random_point(&mut self.rng));
        let mut tick = tokio::time::interval(self.tick);
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
                    self.observed.offered(
                        &o.order_id,
                        self.clock.now_ms(),
                        epoch_ms(&o.expire_time),
                        &self.id,
                        self.at,
                    );
                    if matches!(job, Job::Cruise(_)) {
                        // Read it, think, answer: most accept, some decline, a few let it expire.
                        let roll: f64 = self.rng.random();
                        let think = self.rng.random_range(500..3000i64);
                        let pickup = point(&o.pickup).unwrap_or(self.at);
                        if roll < 0.95 {
                            job = Job::Answer {
                                order: o.order_id,
                                due: self.clock.now_ms() + think,
                                accept: roll < 0.85,
                                pickup,
                                dropoff: point(&o.dropoff),
                                eta_s: o.eta_seconds,
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
                None => job = self.step(job, &mut d).await,
            }
        }
    }

    /// One tick of driving and of whatever the current job needs.
    async fn step(&mut self, job: Job, d: &mut DriverServiceClient<Authed>) -> Job {
        // How long it drove since the last tick, on the services' clock, at the road
        // model's pace for this time of day and weather.
        let now = self.clock.now_ms();
        let dt =
            Duration::from_millis((now - self.last_ms).max(0) as u64).mul_f64(self.speed_factor);
        self.last_ms = now;
        let road = self.road;
        let drive = |from, to, dt| road.drive(from, to, now, dt);
        let id = self.id.clone();
        match job {
            Job::Cruise(target) => {
                // Cruising looks for passengers: slower than through traffic.
                let (at, arrived, m) = drive(self.at, target, dt.mul_f64(0.6));
                self.at = at;
                self.observed.drove_empty(m);
                self.set(Phase::Cruising);
                if self.hails
                    && self.rng.random_bool(0.0005)
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
                eta_s,
            } => {
                if self.clock.now_ms() < due {
                    return Job::Answer {
                        order,
                        due,
                        accept,
                        pickup,
                        dropoff,
                        eta_s,
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
                            let now = self.clock.now_ms();
                            t.assigned_ms = Some(now);
                            t.taxi_at_assign = Some(self.at);
                            t.eta_at_assign_s = Some(
                                self.road
                                    .travel_time(self.at, pickup, now)
                                    .div_f64(self.speed_factor.max(1e-9))
                                    .as_secs_f64(),
                            );
                            t.offer_eta_s = Some(f64::from(eta_s));
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
                let (at, arrived, m) = drive(self.at, pickup, dt);
                self.at = at;
                self.observed.drove_empty(m);
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
                if let Some(t) = self.observed.orders.lock().expect("lock").get_mut(&order) {
                    t.picked_up_ms = Some(self.clock.now_ms());
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
                let (at, arrived, _) = drive(self.at, to, dt);
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
                let (at, arrived, _) = drive(self.at, to, dt);
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
