//! The 95128 call centre, simulated through `CallCentreService`: calls arrive from the
//! phone switch (older callers among them, by the registry's own verdict), the
//! operators' seats log in, get ready, answer what routing gives them, talk, wrap up and
//! get ready again, and some callers give up waiting.
//!
//! Who does what is who would in a real centre: the switch (its own credential) reports
//! arrivals, answers, hang-ups and ends; each seat's state is set by its own operator.
//! Times are in real seconds scaled by [`CallsConfig::speed`], so a one-minute demo sees
//! dozens of calls.

use crate::Principals;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use taxi_proto::v1 as pb;
use taxi_proto::v1::call_centre_service_client::CallCentreServiceClient;
use tokio_util::sync::CancellationToken;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct CallsConfig {
    /// Calls per second (Poisson arrivals); 0 simulates none.
    pub rate_per_s: f64,
    /// Mean seconds a caller waits before hanging up (exponential).
    pub patience_s: f64,
    /// Mean seconds a seat talks (exponential, at least a second).
    pub talk_s: f64,
    /// Seconds a seat wraps up after a call.
    pub wrap_up_s: f64,
    /// Seconds a ringing seat takes to pick up.
    pub ring_s: f64,
}

impl Default for CallsConfig {
    fn default() -> Self {
        Self {
            rate_per_s: 0.0,
            patience_s: 6.0,
            talk_s: 3.0,
            wrap_up_s: 0.5,
            ring_s: 0.3,
        }
    }
}

/// What the simulated switch saw.
#[derive(Debug, Default)]
pub struct CallsObserved {
    /// Calls that reached the queue.
    pub arrived: AtomicU64,
    /// Calls a seat answered.
    pub answered: AtomicU64,
    /// Callers who hung up waiting.
    pub abandoned: AtomicU64,
    /// Calls the service refused (should be 0).
    pub refused: AtomicU64,
}

/// Runs the call centre until `stop`: seats log in and get ready, then calls arrive.
/// `callers` are the population's numbers with whether the registry knows them as older.
pub(crate) async fn run(
    principals: Principals,
    config: CallsConfig,
    seed: u64,
    callers: Vec<(String, bool)>,
    observed: Arc<CallsObserved>,
    stop: CancellationToken,
) {
    if config.rate_per_s <= 0.0 || callers.is_empty() {
        return;
    }
    let switch = CallCentreServiceClient::new(principals.phone_switch.channel());
    let mut seats = Vec::new();
    for (i, op) in principals.operators.iter().enumerate() {
        let seat = Seat {
            id: op.id().to_string(),
            own: CallCentreServiceClient::new(op.channel()),
            switch: switch.clone(),
            config: config.clone(),
            rng: StdRng::seed_from_u64(seed ^ 0xC0FF_EE00 ^ i as u64),
            observed: observed.clone(),
        };
        seats.push(tokio::spawn(seat.run(stop.clone())));
    }
    // Seats are ready before the first call.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut rng = StdRng::seed_from_u64(seed ^ 0xCA11);
    let mut n = 0u64;
    while !stop.is_cancelled() {
        let gap = -rng.random::<f64>().max(1e-9).ln() / config.rate_per_s;
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(Duration::from_secs_f64(gap.min(60.0))) => {}
        }
        n += 1;
        let (number, _) = &callers[rng.random_range(0..callers.len())];
        let call = Caller {
            id: format!("sim-{seed}-{n}"),
            number: number.clone(),
            patience: Duration::from_secs_f64(
                -rng.random::<f64>().max(1e-9).ln() * config.patience_s,
            ),
            switch: switch.clone(),
            observed: observed.clone(),
        };
        tokio::spawn(call.run(stop.clone()));
    }
    for s in seats {
        let _ = s.await;
    }
    // Leave the seats logged out, as operators going home would.
    for op in &principals.operators {
        let _ = CallCentreServiceClient::new(op.channel())
            .set_seat_state(pb::SetSeatStateRequest {
                seat_id: op.id().to_string(),
                state: pb::SeatState::LoggedOut as i32,
                dialects: vec![],
            })
            .await;
    }
}

/// One caller: arrives, waits, and hangs up if no seat answered within its patience.
struct Caller {
    id: String,
    number: String,
    patience: Duration,
    switch: CallCentreServiceClient<crate::auth::Authed>,
    observed: Arc<CallsObserved>,
}

impl Caller {
    async fn run(mut self, stop: CancellationToken) {
        let arrived = self
            .switch
            .call_arrived(pb::CallArrivedRequest {
                call_id: self.id.clone(),
                calling_number: self.number.clone(),
                dialect: String::new(),
                needs_supervisor: false,
            })
            .await;
        if arrived.is_err() {
            self.observed.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.observed.arrived.fetch_add(1, Ordering::Relaxed);
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(self.patience) => {}
        }
        let state = self
            .switch
            .get_call(pb::GetCallRequest {
                call_id: self.id.clone(),
            })
            .await
            .ok()
            .and_then(|r| r.into_inner().call)
            .map(|c| c.state);
        if state == Some(pb::CallState::Queued as i32)
            || state == Some(pb::CallState::Offered as i32)
        {
            // Answered meanwhile: the service refuses the hang-up, and that is fine.
            if self
                .switch
                .call_abandoned(pb::CallAbandonedRequest {
                    call_id: self.id.clone(),
                })
                .await
                .is_ok()
            {
                self.observed.abandoned.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// One operator's seat.
struct Seat {
    id: String,
    /// The operator's own client (seat states).
    own: CallCentreServiceClient<crate::auth::Authed>,
    /// The switch's (answers and ends, as the switch sees the handset).
    switch: CallCentreServiceClient<crate::auth::Authed>,
    config: CallsConfig,
    rng: StdRng,
    observed: Arc<CallsObserved>,
}

impl Seat {
    async fn set(&mut self, state: pb::SeatState) -> bool {
        self.own
            .set_seat_state(pb::SetSeatStateRequest {
                seat_id: self.id.clone(),
                state: state as i32,
                dialects: vec![],
            })
            .await
            .is_ok()
    }

    async fn run(mut self, stop: CancellationToken) {
        if !self.set(pb::SeatState::LoggedIn).await || !self.set(pb::SeatState::Ready).await {
            self.observed.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        while !stop.is_cancelled() {
            // Routing gives this seat a call: it rings here.
            let seat = self
                .own
                .get_seat(pb::GetSeatRequest {
                    seat_id: self.id.clone(),
                })
                .await
                .ok()
                .and_then(|r| r.into_inner().seat);
            let ringing = seat
                .filter(|s| s.state == pb::SeatState::Busy as i32 && !s.call_id.is_empty())
                .map(|s| s.call_id);
            let Some(call) = ringing else {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
                continue;
            };
            self.pause(self.config.ring_s).await;
            let answered = self
                .switch
                .call_answered(pb::CallAnsweredRequest {
                    call_id: call.clone(),
                    seat_id: self.id.clone(),
                })
                .await;
            if answered.is_ok() {
                self.observed.answered.fetch_add(1, Ordering::Relaxed);
                let talk = (-self.rng.random::<f64>().max(1e-9).ln() * self.config.talk_s).max(1.0);
                self.pause(talk).await;
                let _ = self
                    .switch
                    .call_ended(pb::CallEndedRequest {
                        call_id: call,
                        seat_id: self.id.clone(),
                    })
                    .await;
                // Wrap-up (the call's end put the seat there), then ready again.
                self.pause(self.config.wrap_up_s).await;
            }
            // The caller hung up while it rang, or the call ended: ready for the next.
            self.set(pb::SeatState::Ready).await;
        }
    }

    async fn pause(&mut self, secs: f64) {
        tokio::time::sleep(Duration::from_secs_f64(secs.max(0.0))).await;
    }
}
