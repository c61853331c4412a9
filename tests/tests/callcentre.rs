//! The call queue (ACD) through real gRPC clients: routing against first-come-first-served
//! on a paused clock, racing answers, bad input, call-backs of abandoned calls, KPIs.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::time::Duration;
use taxi_domain::audit::AuditKind;
use taxi_proto::v1 as pb;
use taxi_proto::v1::call_centre_service_client::CallCentreServiceClient;
use taxi_server::ServerConfig;
use taxi_tests::{
    Authed, SUPERVISOR, TestCity, assert_status, book_at, elderly_caller, north_of_centre,
};
use tonic::Code;

type Cc = CallCentreServiceClient<Authed>;

/// Logs `n` seats in (accounts `<prefix>1..n`) and makes them ready, one second apart so
/// their idle order is known. Returns their ids.
async fn ready_seats(city: &TestCity, prefix: &str, n: usize) -> Vec<String> {
    let names: Vec<String> = (1..=n).map(|i| format!("{prefix}{i}")).collect();
    city.seat_accounts(&names, false).await;
    let mut cc = city.callcentre();
    for name in &names {
        set_seat(&mut cc, name, pb::SeatState::LoggedIn).await;
    }
    for name in &names {
        set_seat(&mut cc, name, pb::SeatState::Ready).await;
    }
    names
}

async fn set_seat(cc: &mut Cc, seat: &str, state: pb::SeatState) -> pb::SetSeatStateResponse {
    cc.set_seat_state(pb::SetSeatStateRequest {
        seat_id: seat.into(),
        state: state as i32,
        dialects: vec![],
    })
    .await
    .unwrap_or_else(|e| panic!("seat {seat} {state:?}: {e}"))
    .into_inner()
}

async fn arrive(cc: &mut Cc, call: &str, phone: &str) -> pb::CallArrivedResponse {
    cc.call_arrived(pb::CallArrivedRequest {
        call_id: call.into(),
        calling_number: phone.into(),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("arrive {call}: {e}"))
    .into_inner()
}

fn answer_req(call: &str, seat: &str) -> pb::CallAnsweredRequest {
    pb::CallAnsweredRequest {
        call_id: call.into(),
        seat_id: seat.into(),
    }
}

/// A small deterministic generator (the same calls for both configurations).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// One simulated caller.
#[derive(Debug, Clone)]
struct SimCall {
    id: String,
    at_ms: i64,
    elderly: bool,
    patience_ms: i64,
    talk_ms: i64,
}

const SEATS: usize = 6;
const MEAN_TALK_MS: i64 = 120_000;
const WRAP_MS: i64 = 10_000;
const SIM_MS: i64 = 30 * 60_000;
const ELDERLY_PHONES: [&str; 4] = ["13900000001", "13900000002", "13900000003", "13900000004"];

/// Calls at about 110 % of what 6 seats can take (each call holds a seat for its talk
/// time plus wrap-up), 30 % from older callers.
fn calls(seed: u64) -> Vec<SimCall> {
    let mut rng = Rng(seed);
    let capacity_per_ms = SEATS as f64 / (MEAN_TALK_MS + WRAP_MS) as f64;
    let rate = 1.10 * capacity_per_ms;
    let mut t = 0.0;
    let mut out = Vec::new();
    loop {
        t += -(1.0 - rng.unit()).ln() / rate;
        if t as i64 >= SIM_MS {
            break;
        }
        let i = out.len();
        out.push(SimCall {
            id: format!("sim-{i:04}"),
            at_ms: t as i64,
            elderly: rng.unit() < 0.3,
            patience_ms: rng.between(120, 480) as i64 * 1000,
            talk_ms: rng.between(60, 180) as i64 * 1000,
        });
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    /// A seat is ready after wrap-up.
    Ready(usize),
    /// A call ends.
    End(usize),
    /// A caller arrives.
    Arrive(usize),
    /// A caller gives up if still waiting.
    Abandon(usize),
}

/// What happened to each call in one configuration.
#[derive(Debug, Default)]
struct Run {
    /// Call index → speed of answer (ms).
    answered: BTreeMap<usize, i64>,
    /// Call index → time answered (ms since the start).
    answered_at: BTreeMap<usize, i64>,
    abandoned: HashSet<usize>,
    callbacks: usize,
    stats: Option<pb::GetCallCentreStatsResponse>,
}

fn median(mut v: Vec<i64>) -> i64 {
    v.sort_unstable();
    if v.is_empty() { 0 } else { v[v.len() / 2] }
}

/// Drives one city through the calls on its paused clock: arrivals, the switch's
/// assignments answered at once, talk, wrap-up, callers giving up.
async fn simulate(head_start: Duration, calls: &[SimCall]) -> Run {
    let mut config = ServerConfig::default();
    config.settings.elderly_head_start = head_start;
    let city = TestCity::start_with(config).await;
    for phone in ELDERLY_PHONES {
        elderly_caller(&city, phone).await;
    }
    let seats = ready_seats(&city, "sim-op", SEATS).await;
    city.pause();
    let mut cc = city.callcentre();
    let seat_index: HashMap<String, usize> = seats
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), i))
        .collect();
    let call_index: HashMap<String, usize> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.clone(), i))
        .collect();
    let mut queue: BinaryHeap<Reverse<(i64, Ev)>> = BinaryHeap::new();
    for (i, c) in calls.iter().enumerate() {
        queue.push(Reverse((c.at_ms, Ev::Arrive(i))));
        queue.push(Reverse((c.at_ms + c.patience_ms, Ev::Abandon(i))));
    }
    let mut run = Run::default();
    let mut now = 0;
    while let Some(Reverse((t, ev))) = queue.pop() {
        if t > SIM_MS {
            break;
        }
        city.advance(Duration::from_millis((t - now) as u64));
        now = t;
        let made = match ev {
            Ev::Arrive(i) => {
                let phone = if calls[i].elderly {
                    ELDERLY_PHONES[i % ELDERLY_PHONES.len()].to_string()
                } else {
                    format!("138{:08}", i)
                };
                let r = arrive(&mut cc, &calls[i].id, &phone).await;
                assert_eq!(r.call.as_ref().unwrap().elderly, calls[i].elderly);
                r.assignments
            }
            Ev::Abandon(i) => {
                if run.answered.contains_key(&i) {
                    continue;
                }
                let r = cc
                    .call_abandoned(pb::CallAbandonedRequest {
                        call_id: calls[i].id.clone(),
                    })
                    .await
                    .expect("abandon")
                    .into_inner();
                run.abandoned.insert(i);
                run.callbacks += usize::from(r.callback_raised);
                r.assignments
            }
            Ev::End(i) => {
                let r = cc
                    .call_ended(pb::CallEndedRequest {
                        call_id: calls[i].id.clone(),
                        seat_id: String::new(),
                    })
                    .await
                    .expect("end")
                    .into_inner();
                let seat = &r.call.unwrap().seat_id;
                queue.push(Reverse((t + WRAP_MS, Ev::Ready(seat_index[seat]))));
                vec![]
            }
            Ev::Ready(s) => {
                set_seat(&mut cc, &seats[s], pb::SeatState::Ready)
                    .await
                    .assignments
            }
        };
        for a in made {
            let i = call_index[&a.call_id];
            let r = cc
                .call_answered(answer_req(&a.call_id, &a.seat_id))
                .await
                .expect("answer the assignment")
                .into_inner();
            let soa = r.call.unwrap().speed_of_answer.unwrap();
            let ms = soa.seconds * 1000 + i64::from(soa.nanos) / 1_000_000;
            assert_eq!(
                ms,
                t - calls[i].at_ms,
                "the store's clock is the simulation's"
            );
            run.answered.insert(i, ms);
            run.answered_at.insert(i, t);
            queue.push(Reverse((t + calls[i].talk_ms, Ev::End(i))));
        }
    }
    run.stats = Some(
        CallCentreServiceClient::new(city.as_supervisor())
            .get_call_centre_stats(pb::GetCallCentreStatsRequest { time: None })
            .await
            .expect("stats")
            .into_inner(),
    );
    run
}

fn report(name: &str, calls: &[SimCall], run: &Run) -> (i64, i64) {
    let (mut e, mut o) = (vec![], vec![]);
    for (i, ms) in &run.answered {
        if calls[*i].elderly {
            e.push(*ms)
        } else {
            o.push(*ms)
        }
    }
    let n_e = calls.iter().filter(|c| c.elderly).count();
    let n_o = calls.len() - n_e;
    let (me, mo) = (median(e.clone()), median(o.clone()));
    println!(
        "{name}: {} calls; older callers answered {}/{} ({:.0} %), median speed of answer {:.1} s, max {:.1} s; others answered {}/{} ({:.0} %), median {:.1} s, max {:.1} s; abandoned {}",
        calls.len(),
        e.len(),
        n_e,
        100.0 * e.len() as f64 / n_e as f64,
        me as f64 / 1000.0,
        e.iter().max().copied().unwrap_or(0) as f64 / 1000.0,
        o.len(),
        n_o,
        100.0 * o.len() as f64 / n_o as f64,
        mo as f64 / 1000.0,
        o.iter().max().copied().unwrap_or(0) as f64 / 1000.0,
        run.abandoned.len(),
    );
    (me, mo)
}

/// 6 seats, about 110 % load for 30 simulated minutes on a paused clock, the same calls
/// routed with the older callers' head start and first come, first served (no head
/// start): older callers' median speed of answer is at most half the others' under the
/// routing, no call is overtaken by one that arrived more than the head start after it
/// (the aging bound), and both answer rates are reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_answers_older_callers_first_within_the_aging_bound() {
    let calls = calls(42);
    let head_start = ServerConfig::default().settings.elderly_head_start;
    let routed = simulate(head_start, &calls).await;
    let fcfs = simulate(Duration::ZERO, &calls).await;
    let (re, ro) = report("routing", &calls, &routed);
    let (fe, fo) = report("first come, first served", &calls, &fcfs);
    assert!(
        ro > 0 && re * 2 <= ro,
        "older callers' median {re} ms is not at most half the others' {ro} ms"
    );
    assert!(
        fo > 0,
        "first come, first served: others wait ({fe} vs {fo} ms)"
    );
    for run in [&routed, &fcfs] {
        let settled = run.answered.len() + run.abandoned.len();
        assert!(settled + 20 >= calls.len(), "most calls settle: {settled}");
    }
    // The aging bound: whenever a call was answered while another still waited, the
    // answered one arrived no more than the head start after the waiting one.
    let h = head_start.as_millis() as i64;
    for (y, ty) in &routed.answered_at {
        for (x, c) in calls.iter().enumerate() {
            let waiting_then = c.at_ms <= *ty
                && routed.answered_at.get(&x).is_none_or(|tx| tx > ty)
                && (!routed.abandoned.contains(&x) || c.at_ms + c.patience_ms > *ty);
            if waiting_then && x != *y {
                assert!(
                    calls[*y].at_ms - c.at_ms <= h,
                    "{} (arrived {} ms) was answered at {ty} ms while {} (arrived {} ms) waited",
                    calls[*y].id,
                    calls[*y].at_ms,
                    c.id,
                    c.at_ms
                );
            }
        }
    }
    // The KPIs the store kept agree with the simulation.
    for (run, name) in [(&routed, "routing"), (&fcfs, "fcfs")] {
        let day = run.stats.as_ref().unwrap().day.clone().unwrap();
        let (e, o) = (day.elderly.unwrap(), day.others.unwrap());
        let answered_e = run.answered.keys().filter(|i| calls[**i].elderly).count() as u64;
        assert_eq!(e.answered, answered_e, "{name}");
        assert_eq!(e.answered + o.answered, run.answered.len() as u64, "{name}");
        assert_eq!(
            e.abandoned + o.abandoned,
            run.abandoned.len() as u64,
            "{name}"
        );
        assert_eq!(e.arrived + o.arrived, calls.len() as u64, "{name}");
        println!(
            "{name} KPIs (day): older callers answer rate {:.2}, service level {:.2}, p90 {:?}; others answer rate {:.2}, service level {:.2}, p90 {:?}",
            e.answer_rate,
            e.service_level,
            e.p90_speed_of_answer.map(|d| d.seconds),
            o.answer_rate,
            o.service_level,
            o.p90_speed_of_answer.map(|d| d.seconds)
        );
        // Every older caller who gave up is on the call-back list.
        let abandoned_e = run.abandoned.iter().filter(|i| calls[**i].elderly).count() as u64;
        assert_eq!(e.callbacks_raised, abandoned_e, "{name}");
    }
}

/// 200 calls against 20 seats, answers racing from many tasks (right and wrong seats
/// alike), calls ending and seats coming back: no call is answered by two seats and no
/// seat ever holds two calls, in the store and in the audit trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_answers_never_double_a_call_or_a_seat() {
    let city = TestCity::start().await;
    let seats = ready_seats(&city, "race-op", 20).await;
    let calls: Vec<String> = (0..200).map(|i| format!("race-{i:03}")).collect();
    let mut tasks = Vec::new();
    for worker in 0..8usize {
        let cc = city.callcentre();
        let calls = calls.clone();
        let seats = seats.clone();
        tasks.push(tokio::spawn(async move {
            let mut cc = cc;
            let mut rng = Rng(worker as u64 + 7);
            let mut won = Vec::new();
            for (n, call) in calls.iter().enumerate() {
                if n % 8 == worker {
                    arrive(&mut cc, call, &format!("137{n:08}")).await;
                }
                // Everyone tries to answer some call with some seat; wrong pairs are
                // refused, right ones race.
                for _ in 0..3 {
                    let c = &calls[rng.between(0, n as u64) as usize];
                    let s = &seats[rng.between(0, 19) as usize];
                    if let Ok(r) = cc.call_answered(answer_req(c, s)).await {
                        let r = r.into_inner();
                        if !r.repeated {
                            won.push((c.clone(), s.clone()));
                            // Half of them end at once, freeing the seat.
                            if rng.next().is_multiple_of(2) {
                                cc.call_ended(pb::CallEndedRequest {
                                    call_id: c.clone(),
                                    seat_id: s.clone(),
                                })
                                .await
                                .expect("end");
                                let _ = cc
                                    .set_seat_state(pb::SetSeatStateRequest {
                                        seat_id: s.clone(),
                                        state: pb::SeatState::Ready as i32,
                                        dialects: vec![],
                                    })
                                    .await;
                            }
                        }
                    }
                }
            }
            won
        }));
    }
    let mut answered: HashMap<String, String> = HashMap::new();
    for t in tasks {
        for (call, seat) in t.await.expect("task") {
            if let Some(other) = answered.insert(call.clone(), seat.clone()) {
                panic!("{call} answered by {other} and {seat}");
            }
        }
    }
    assert!(answered.len() >= 20, "answers happened: {}", answered.len());
    // The store: every seat holds at most one call, and that call names it.
    let mut held: HashMap<String, String> = HashMap::new();
    for s in city.store.seat_records().await.expect("seats") {
        if !s.call.is_empty() {
            let c = city.store.call_record(&s.call).await.unwrap().unwrap();
            assert_eq!(
                c.seat, s.id,
                "{} holds {} but the call names {}",
                s.id, s.call, c.seat
            );
            assert!(
                held.insert(s.call.clone(), s.id.clone()).is_none(),
                "{} held twice",
                s.call
            );
        }
    }
    // The audit trail: replayed, no call is answered twice, and no seat is offered or
    // answers a call while it still holds another.
    let trail = city.store.audit_trail_all().await.expect("trail");
    let mut answered_by: HashMap<String, String> = HashMap::new();
    let mut holding: HashMap<String, String> = HashMap::new();
    for e in trail {
        let call = e.field("call").to_string();
        let seat = e.field("seat").to_string();
        match e.kind {
            AuditKind::CallOffered => {
                if let Some(other) = holding.insert(seat.clone(), call.clone()) {
                    panic!("{seat} offered {call} while holding {other}");
                }
            }
            AuditKind::CallAnswered => {
                if let Some(other) = answered_by.insert(call.clone(), seat.clone()) {
                    panic!("{call} answered by {other} and {seat}");
                }
                if let Some(h) = holding.get(&seat) {
                    assert_eq!(h, &call, "{seat} answered {call} while holding {h}");
                }
                holding.insert(seat, call);
            }
            AuditKind::CallEnded | AuditKind::CallTransferred | AuditKind::CallRequeued => {
                holding.remove(&seat);
            }
            AuditKind::CallAbandoned => {
                holding.retain(|_, c| c != &call);
            }
            _ => {}
        }
    }
    assert_eq!(
        answered_by.len(),
        answered.len(),
        "the trail has every answer, once"
    );
}

/// Events for unknown calls or seats, out of order, twice by different seats, and a seat
/// on a break answering: each is refused naming the field, and nothing changes.
#[tokio::test]
async fn bad_events_are_refused_naming_the_field_and_change_nothing() {
    let city = TestCity::start().await;
    let seats = ready_seats(&city, "bad-op", 2).await;
    let mut cc = city.callcentre();
    // Unknown call.
    assert_status(
        cc.call_answered(answer_req("nope", &seats[0])).await,
        Code::NotFound,
        "call_id",
    );
    assert_status(
        cc.call_abandoned(pb::CallAbandonedRequest {
            call_id: "nope".into(),
        })
        .await,
        Code::NotFound,
        "call_id",
    );
    assert_status(
        cc.call_ended(pb::CallEndedRequest {
            call_id: "nope".into(),
            seat_id: String::new(),
        })
        .await,
        Code::NotFound,
        "call_id",
    );
    // Malformed input.
    assert_status(
        cc.call_arrived(pb::CallArrivedRequest {
            call_id: "c1".into(),
            calling_number: "12".into(),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "calling_number",
    );
    assert_status(
        cc.call_arrived(pb::CallArrivedRequest {
            call_id: "c 1".into(),
            calling_number: "13800138000".into(),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "call_id",
    );
    assert_status(
        cc.call_arrived(pb::CallArrivedRequest {
            call_id: "c1".into(),
            calling_number: "13800138000".into(),
            dialect: "Not A Dialect".into(),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "dialect",
    );
    assert_status(
        cc.set_seat_state(pb::SetSeatStateRequest {
            seat_id: seats[0].clone(),
            state: pb::SeatState::Busy as i32,
            dialects: vec![],
        })
        .await,
        Code::InvalidArgument,
        "state",
    );
    // Unknown seat: never logged in, or no such account.
    assert_status(
        cc.set_seat_state(pb::SetSeatStateRequest {
            seat_id: "ghost".into(),
            state: pb::SeatState::Ready as i32,
            dialects: vec![],
        })
        .await,
        Code::NotFound,
        "seat_id",
    );
    assert_status(
        cc.set_seat_state(pb::SetSeatStateRequest {
            seat_id: "ghost".into(),
            state: pb::SeatState::LoggedIn as i32,
            dialects: vec![],
        })
        .await,
        Code::NotFound,
        "seat_id",
    );
    // Nothing of the above stored a call.
    assert!(city.store.call_record("c1").await.unwrap().is_none());

    // A call is offered to the longest-idle seat (the first made ready).
    let r = arrive(&mut cc, "c1", "13800138000").await;
    assert_eq!(r.assignments.len(), 1);
    assert_eq!(r.assignments[0].seat_id, seats[0]);
    let before = city.store.call_record("c1").await.unwrap().unwrap();
    // Answered by a seat it was not offered to: refused, naming the seat.
    assert_status(
        cc.call_answered(answer_req("c1", &seats[1])).await,
        Code::FailedPrecondition,
        "seat_id",
    );
    assert_status(
        cc.call_answered(answer_req("c1", "ghost")).await,
        Code::NotFound,
        "seat_id",
    );
    // Ended before it was answered: out of order.
    assert_status(
        cc.call_ended(pb::CallEndedRequest {
            call_id: "c1".into(),
            seat_id: String::new(),
        })
        .await,
        Code::FailedPrecondition,
        "call_id",
    );
    assert_eq!(city.store.call_record("c1").await.unwrap().unwrap(), before);
    // Answered, then answered again by the same seat (a repeat: answered as before) and by
    // another seat (refused).
    let first = cc
        .call_answered(answer_req("c1", &seats[0]))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.repeated);
    let again = cc
        .call_answered(answer_req("c1", &seats[0]))
        .await
        .unwrap()
        .into_inner();
    assert!(again.repeated);
    assert_eq!(again.call, first.call);
    let answered = city.store.call_record("c1").await.unwrap().unwrap();
    assert_status(
        cc.call_answered(answer_req("c1", &seats[1])).await,
        Code::FailedPrecondition,
        "seat_id",
    );
    assert_eq!(
        city.store.call_record("c1").await.unwrap().unwrap(),
        answered
    );
    // A repeated arrival answers as before and changes nothing.
    let repeat = arrive(&mut cc, "c1", "13800138000").await;
    assert!(repeat.repeated && repeat.assignments.is_empty());
    assert_eq!(
        city.store.call_record("c1").await.unwrap().unwrap(),
        answered
    );

    // A seat on a break answering a queued call: refused, and the call still waits.
    set_seat(&mut cc, &seats[1], pb::SeatState::Break).await;
    let r = arrive(&mut cc, "c2", "13800138001").await;
    assert!(r.assignments.is_empty(), "no ready seat: {r:?}");
    assert_status(
        cc.call_answered(answer_req("c2", &seats[1])).await,
        Code::FailedPrecondition,
        "seat_id",
    );
    let c2 = city.store.call_record("c2").await.unwrap().unwrap();
    assert_eq!(c2.state, taxi_domain::callcentre::CallState::Queued);
    let s1 = city.store.seat_record(&seats[1]).await.unwrap().unwrap();
    assert_eq!(s1.state, taxi_domain::callcentre::SeatState::Break);
    // A busy seat cannot take a break until its call ends.
    assert_status(
        cc.set_seat_state(pb::SetSeatStateRequest {
            seat_id: seats[0].clone(),
            state: pb::SeatState::Break as i32,
            dialects: vec![],
        })
        .await,
        Code::FailedPrecondition,
        "seat_id",
    );
    // The call ends; the seat wraps up; ready again, it is offered the waiting call.
    let end = cc
        .call_ended(pb::CallEndedRequest {
            call_id: "c1".into(),
            seat_id: seats[0].clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!end.repeated);
    let s0 = city.store.seat_record(&seats[0]).await.unwrap().unwrap();
    assert_eq!(s0.state, taxi_domain::callcentre::SeatState::WrapUp);
    let ready = set_seat(&mut cc, &seats[0], pb::SeatState::Ready).await;
    assert_eq!(ready.assignments.len(), 1);
    assert_eq!(ready.assignments[0].call_id, "c2");
    // The switch's feed has both decisions, in order.
    let feed = cc
        .list_assignments(pb::ListAssignmentsRequest {
            after: String::new(),
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .assignments;
    let ids: Vec<&str> = feed.iter().map(|a| a.call_id.as_str()).collect();
    assert_eq!(ids, ["c1", "c2"]);
    let rest = cc
        .list_assignments(pb::ListAssignmentsRequest {
            after: feed[0].seq.clone(),
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .assignments;
    assert_eq!(rest.len(), 1);
    assert_status(
        cc.list_assignments(pb::ListAssignmentsRequest {
            after: "x".into(),
            limit: 0,
        })
        .await,
        Code::InvalidArgument,
        "after",
    );
}

/// An operator sets and reads their own seat only; the switch and supervisors any.
#[tokio::test]
async fn an_operator_acts_for_their_own_seat_only() {
    let city = TestCity::start().await;
    let seats = ready_seats(&city, "own-op", 2).await;
    // Log the first operator in for real.
    let mut access = city.access();
    access
        .create_account(pb::CreateAccountRequest {
            username: "li.na".into(),
            password: "a long operator password".into(),
            role: pb::Role::Operator as i32,
            display_name: "Li".into(),
        })
        .await
        .expect("account");
    let token = taxi_tests::login_password(city.channel(), "li.na", "a long operator password")
        .await
        .expect("login")
        .tokens
        .unwrap()
        .access_token;
    let mut li = CallCentreServiceClient::new(city.as_token(&token));
    let r = li
        .set_seat_state(pb::SetSeatStateRequest {
            seat_id: "li.na".into(),
            state: pb::SeatState::LoggedIn as i32,
            dialects: vec!["cq".into()],
        })
        .await
        .expect("own seat")
        .into_inner();
    assert_eq!(r.seat.unwrap().dialects, vec!["cq".to_string()]);
    assert_status(
        li.set_seat_state(pb::SetSeatStateRequest {
            seat_id: seats[0].clone(),
            state: pb::SeatState::Break as i32,
            dialects: vec![],
        })
        .await,
        Code::PermissionDenied,
        "seat_id",
    );
    assert_status(
        li.get_seat(pb::GetSeatRequest {
            seat_id: seats[1].clone(),
        })
        .await,
        Code::PermissionDenied,
        "seat_id",
    );
    // Call events are the switch's.
    assert_status(
        li.call_arrived(pb::CallArrivedRequest {
            call_id: "x".into(),
            calling_number: "13800138000".into(),
            ..Default::default()
        })
        .await,
        Code::PermissionDenied,
        "",
    );
}

/// A known older caller, and anyone with an order in progress, who gives up in the queue
/// is on the operators' call-back list at once, with the reason; others are not. The
/// operator's resolution counts towards the 15-minute KPI.
#[tokio::test]
async fn abandoned_calls_of_older_callers_and_live_orders_are_called_back() {
    let city = TestCity::start().await;
    elderly_caller(&city, "13900000009").await;
    book_at(&city, "13700000001", north_of_centre(0.0)).await;
    let mut cc = city.callcentre();
    arrive(&mut cc, "old", "13900000009").await;
    arrive(&mut cc, "ordered", "13700000001").await;
    arrive(&mut cc, "plain", "13600000001").await;
    city.advance(Duration::from_secs(40));
    let started = std::time::Instant::now();
    for call in ["old", "ordered", "plain"] {
        let r = cc
            .call_abandoned(pb::CallAbandonedRequest {
                call_id: call.into(),
            })
            .await
            .expect("abandon")
            .into_inner();
        assert_eq!(r.callback_raised, call != "plain", "{call}");
        // A repeat answers as before.
        let again = cc
            .call_abandoned(pb::CallAbandonedRequest {
                call_id: call.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(again.repeated && again.callback_raised == r.callback_raised);
    }
    let list = city
        .dispatch()
        .list_callbacks(pb::ListCallbacksRequest { limit: 0 })
        .await
        .expect("callbacks")
        .into_inner();
    assert!(started.elapsed() < Duration::from_secs(5));
    let mut ids: Vec<&str> = list.calls.iter().map(|c| c.call_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["old", "ordered"]);
    for c in &list.calls {
        assert_eq!(c.reason, "abandoned call");
        assert_eq!(c.waited.unwrap().seconds, 40);
    }
    let old = list.calls.iter().find(|c| c.call_id == "old").unwrap();
    assert!(old.elderly && old.calling_number == "13900000009");
    let ordered = list.calls.iter().find(|c| c.call_id == "ordered").unwrap();
    assert!(ordered.had_active_order && !ordered.elderly);

    // Resolved within 15 minutes, and one after: half of them were prompt.
    city.advance(Duration::from_secs(60));
    let resolve = |call: &str| pb::ResolveCallbackRequest {
        order_id: String::new(),
        operator_id: SUPERVISOR.into(),
        outcome: "已回电".into(),
        call_id: call.into(),
    };
    let done = city
        .dispatch()
        .resolve_callback(resolve("old"))
        .await
        .expect("resolve")
        .into_inner();
    assert_eq!(done.call.unwrap().call_id, "old");
    city.advance(Duration::from_secs(20 * 60));
    city.dispatch()
        .resolve_callback(resolve("ordered"))
        .await
        .expect("resolve");
    city.dispatch()
        .resolve_callback(resolve("ordered"))
        .await
        .expect("a repeat");
    assert_status(
        city.dispatch().resolve_callback(resolve("plain")).await,
        Code::FailedPrecondition,
        "call_id",
    );
    let left = city
        .dispatch()
        .list_callbacks(pb::ListCallbacksRequest { limit: 0 })
        .await
        .unwrap()
        .into_inner();
    assert!(left.calls.is_empty());
    let stats = CallCentreServiceClient::new(city.as_supervisor())
        .get_call_centre_stats(pb::GetCallCentreStatsRequest {
            time: Some(taxi_proto::Timestamp {
                seconds: city.now_ms() / 1000 - 25 * 60,
                nanos: 0,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let day = stats.day.unwrap();
    let (e, o) = (day.elderly.unwrap(), day.others.unwrap());
    assert_eq!((e.abandoned, o.abandoned), (1, 2));
    assert_eq!((e.callbacks_raised, o.callbacks_raised), (1, 1));
    assert_eq!((e.callbacks_done, o.callbacks_done), (1, 1));
    assert_eq!(e.callbacks_within_15_min_share, 1.0);
    assert_eq!(o.callbacks_within_15_min_share, 0.0);
    assert_eq!(e.abandon_rate, 1.0);
}

/// Skills are hard requirements: a Cantonese call waits for a Cantonese seat, a call for
/// a supervisor for a supervisor's seat; a ringing seat that takes a break gives its call
/// back to the queue.
#[tokio::test]
async fn skills_are_required_and_a_seat_leaving_while_ringing_requeues_its_call() {
    let city = TestCity::start().await;
    let plain = ready_seats(&city, "skill-op", 1).await;
    city.seat_accounts(&["boss".to_string()], true).await;
    let mut cc = city.callcentre();
    let r = cc
        .call_arrived(pb::CallArrivedRequest {
            call_id: "yue".into(),
            calling_number: "13800000001".into(),
            dialect: "yue".into(),
            needs_supervisor: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        r.assignments.is_empty(),
        "the plain seat does not speak yue"
    );
    assert_status(
        cc.call_answered(answer_req("yue", &plain[0])).await,
        Code::FailedPrecondition,
        "seat_id",
    );
    let login = cc
        .set_seat_state(pb::SetSeatStateRequest {
            seat_id: "boss".into(),
            state: pb::SeatState::LoggedIn as i32,
            dialects: vec!["yue".into()],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(login.seat.unwrap().supervisor);
    let ready = set_seat(&mut cc, "boss", pb::SeatState::Ready).await;
    assert_eq!(ready.assignments[0].call_id, "yue");
    // The supervisor does not pick up and takes a break: the call waits again.
    set_seat(&mut cc, "boss", pb::SeatState::Break).await;
    let c = city.store.call_record("yue").await.unwrap().unwrap();
    assert_eq!(c.state, taxi_domain::callcentre::CallState::Queued);
    // A plain call goes to the plain seat; transferred to a supervisor, it waits for one.
    let r = arrive(&mut cc, "p", "13800000002").await;
    assert_eq!(r.assignments[0].seat_id, plain[0]);
    cc.call_answered(answer_req("p", &plain[0])).await.unwrap();
    let t = cc
        .call_transferred(pb::CallTransferredRequest {
            call_id: "p".into(),
            seat_id: plain[0].clone(),
            dialect: String::new(),
            needs_supervisor: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(t.assignments.is_empty());
    let again = cc
        .call_transferred(pb::CallTransferredRequest {
            call_id: "p".into(),
            seat_id: plain[0].clone(),
            dialect: String::new(),
            needs_supervisor: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(again.repeated);
    // Back from the break, the supervisor gets the older of the two: "yue" (a call's
    // arrival is its rank, whether or not it was offered before).
    let r = set_seat(&mut cc, "boss", pb::SeatState::Ready).await;
    assert_eq!(r.assignments[0].call_id, "yue");
}
