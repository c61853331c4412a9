//! The call queue as Redis runs it, against the domain's rules: `callcentre.lua`'s routing
//! gives the same (call, seat) pairs as `taxi_domain::callcentre::route` on the same
//! waiting calls and ready seats, for many random mixes of priorities, idle times and
//! skills; and every seat event in every seat state does what `SeatEvent::apply` says.

use std::sync::Arc;
use std::time::Duration;

use taxi_domain::callcentre::{
    self as cc, Needs, ReadySeat, SeatEvent, SeatState, Skills, Waiting,
};
use taxi_domain::clock::{Clock, ManualClock};
use taxi_redis_process::{RedisCluster, RedisProcess};
use taxi_store::callcentre::{CallStep, Refusal};
use taxi_store::{Store, StoreConfig};

const START_MS: i64 = 1_750_000_000_000;

enum TestRedis {
    Single(RedisProcess),
    Cluster(RedisCluster),
}

impl TestRedis {
    fn start() -> Self {
        if std::env::var("TAXI_TEST_REDIS").is_ok_and(|v| v == "cluster") {
            TestRedis::Cluster(RedisCluster::start_temporary(3).expect("redis cluster"))
        } else {
            TestRedis::Single(RedisProcess::start_temporary().expect("redis-server"))
        }
    }

    fn url(&self) -> String {
        match self {
            TestRedis::Single(r) => r.url(),
            TestRedis::Cluster(c) => c.url(),
        }
    }
}

fn city(redis: &TestRedis, case: usize) -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at(START_MS));
    let config = StoreConfig::new(redis.url(), format!("8{case:04}")).with_clock(clock.clone());
    (Store::connect(config).expect("store"), clock)
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

const DIALECTS: [&str; 3] = ["", "yue", "cq"];

/// Routing runs after every event, so the comparison is step by step: random calls
/// arrive (older or not, needing a dialect or a supervisor or not) and random seats
/// (random skills) become ready, on a stepped clock; after each event the script's
/// decisions equal `route` over the calls waiting and the seats ready just before, plus
/// the event.
#[tokio::test]
async fn the_scripts_routing_is_the_domains() {
    let redis = TestRedis::start();
    let mut rng = Rng(0x5eed);
    for case in 0..25 {
        let (store, clock) = city(&redis, case);
        let head_start = 90_000;
        let mut waiting: Vec<Waiting> = Vec::new();
        let mut ready: Vec<ReadySeat> = Vec::new();
        let mut seats: Vec<(String, Skills)> = Vec::new();
        for s in 0..(1 + rng.below(6)) {
            let skills = Skills {
                dialects: DIALECTS[1..]
                    .iter()
                    .filter(|_| rng.below(2) == 0)
                    .map(|d| d.to_string())
                    .collect(),
                supervisor: rng.below(4) == 0,
            };
            let id = format!("s{s}");
            store
                .seat_event(&id, SeatEvent::LogIn, &skills.dialects, skills.supervisor)
                .await
                .unwrap()
                .unwrap();
            seats.push((id, skills));
        }
        for step in 0..30 {
            clock.advance(Duration::from_millis(rng.below(40_000)));
            let now = clock.now_ms();
            let (made, expected) = if rng.below(3) == 0 {
                // A seat not ready becomes ready (or a busy one ends its call first).
                let (id, skills) = seats[rng.below(seats.len() as u64) as usize].clone();
                let rec = store.seat_record(&id).await.unwrap().unwrap();
                if rec.state == SeatState::Ready {
                    continue;
                }
                if rec.state == SeatState::Busy {
                    let call = rec.call.clone();
                    store
                        .call_event(&call, CallStep::Answer { seat: &id })
                        .await
                        .unwrap()
                        .unwrap();
                    store
                        .call_event(&call, CallStep::End { seat: &id })
                        .await
                        .unwrap()
                        .unwrap();
                }
                ready.push(ReadySeat {
                    id: id.clone(),
                    idle_since_ms: now,
                    skills,
                });
                let expected = cc::route(&waiting, &ready);
                let out = store
                    .seat_event(&id, SeatEvent::Ready, &[], false)
                    .await
                    .unwrap()
                    .unwrap();
                (out.made, expected)
            } else {
                let id = format!("c{case}-{step}");
                let elderly = rng.below(3) == 0;
                let needs = Needs {
                    dialect: Some(DIALECTS[rng.below(3) as usize])
                        .filter(|d| !d.is_empty())
                        .map(str::to_string),
                    supervisor: rng.below(6) == 0,
                };
                waiting.push(Waiting {
                    id: id.clone(),
                    score: cc::queue_score(now, elderly, head_start),
                    needs: needs.clone(),
                });
                let expected = cc::route(&waiting, &ready);
                let step = CallStep::Arrive {
                    phone: "13800138000",
                    elderly,
                    has_order: false,
                    dialect: needs.dialect.as_deref().unwrap_or(""),
                    supervisor: needs.supervisor,
                    head_start_ms: head_start,
                };
                (
                    store.call_event(&id, step).await.unwrap().unwrap().made,
                    expected,
                )
            };
            let got: Vec<(String, String)> = made
                .iter()
                .map(|a| (a.call.clone(), a.seat.clone()))
                .collect();
            assert_eq!(got, expected, "case {case} step {step}");
            waiting.retain(|w| !got.iter().any(|(c, _)| c == &w.id));
            ready.retain(|s| !got.iter().any(|(_, seat)| seat == &s.id));
        }
    }
}

/// Every seat event the operator or switch may ask for, in every state a seat can be
/// brought to, through the script: done where the domain allows it (the seat is then in
/// the target state), a repeat where it is already there, refused otherwise with the seat
/// unchanged. A ringing seat may leave (its call waits again).
#[tokio::test]
async fn seat_events_do_what_the_domain_says() {
    let redis = TestRedis::start();
    let requested = [
        SeatEvent::Ready,
        SeatEvent::NotReady,
        SeatEvent::Break,
        SeatEvent::WrapUp,
        SeatEvent::LogOut,
    ];
    let mut case = 100;
    let mut wrong = Vec::new();
    for from in SeatState::ALL {
        for event in requested {
            case += 1;
            let (store, _clock) = city(&redis, case);
            let seat = "s";
            // Bring the seat to `from`.
            store
                .seat_event(seat, SeatEvent::LogIn, &[], false)
                .await
                .unwrap()
                .unwrap();
            let go = |e: SeatEvent| {
                let store = store.clone();
                async move {
                    store
                        .seat_event(seat, e, &[], false)
                        .await
                        .unwrap()
                        .unwrap()
                }
            };
            let mut ringing = false;
            match from {
                SeatState::LoggedOut => {
                    go(SeatEvent::LogOut).await;
                }
                SeatState::LoggedIn => {}
                SeatState::Ready => {
                    go(SeatEvent::Ready).await;
                }
                SeatState::Busy => {
                    go(SeatEvent::Ready).await;
                    let arrive = CallStep::Arrive {
                        phone: "13800138000",
                        elderly: false,
                        has_order: false,
                        dialect: "",
                        supervisor: false,
                        head_start_ms: 0,
                    };
                    store.call_event("c", arrive).await.unwrap().unwrap();
                    ringing = true;
                }
                SeatState::WrapUp => {
                    go(SeatEvent::WrapUp).await;
                }
                SeatState::Break => {
                    go(SeatEvent::Break).await;
                }
            }
            let before = store.seat_record(seat).await.unwrap().unwrap();
            assert_eq!(before.state, from, "brought to {from:?}");
            let got = store.seat_event(seat, event, &[], false).await.unwrap();
            let after = store.seat_record(seat).await.unwrap().unwrap();
            let effective_from = if ringing && event.leaves_ringing() {
                SeatState::Ready
            } else {
                from
            };
            let ok = match (&got, event.apply(effective_from)) {
                (Ok(out), _) if out.repeated => event.already_done(from) && after == before,
                (Ok(_), Ok(to)) => after.state == to,
                (Err(Refusal::SeatState { .. }), Err(_)) => {
                    !event.already_done(from) && after == before
                }
                _ => false,
            };
            if !ok {
                wrong.push(format!(
                    "{event:?} from {from:?}: {got:?}, now {:?}",
                    after.state
                ));
            }
            if ringing && event.leaves_ringing() {
                let c = store.call_record("c").await.unwrap().unwrap();
                if c.state != cc::CallState::Queued {
                    wrong.push(format!(
                        "{event:?} while ringing left the call {:?}",
                        c.state
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
