//! The state machines as Redis runs them: every event in every state, through the real
//! Lua scripts against a real `redis-server`, compared with `OrderEvent::apply` and
//! `TaxiEvent::apply` in the domain.
//!
//! The domain defines the rules once and the scripts receive them in their prelude, but
//! each script adds its own conditions (an offer must be open, the order must be in the
//! queue, the taxi must hold the order...). This test checks that, seen from outside, the
//! store does exactly what the domain says, case by case:
//!
//! - a fresh order (or taxi) is brought to the state through the store's own API, by the
//!   events that lead there in service (`order_path`, `taxi_path`);
//! - the event is tried through the store action that performs it (`apply_order`,
//!   `apply_taxi`); where the action needs context the state cannot have (an open offer,
//!   a held order), it gets the context a real caller would have, and the store must
//!   refuse;
//! - the state is read back. The domain allows the event: the action succeeded and the
//!   state is the domain's target. The domain refuses it: the store refused too (an error,
//!   or a queue-driven action that did nothing) and the state did not move.
//!
//! Each case has a city of its own in one private Redis per test, and a `ManualClock`, so
//! releases, expiries and give-ups come from stepping time, never from sleeping. Every
//! disagreement is collected and the test fails once, listing them all.

use std::cell::Cell;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use taxi_domain::Coordinates;
use taxi_domain::booking::{CancelledBy, Channel, Payment};
use taxi_domain::clock::{Clock, ManualClock};
use taxi_domain::order::{OrderEvent, OrderStatus};
use taxi_domain::taxi::{TaxiEvent, TaxiState};
use taxi_domain::watchdog::{Stage, TripWatch};
use taxi_redis_process::{RedisCluster, RedisProcess};
use taxi_store::dispatch::{Attempt, DispatchParams, TripStep};
use taxi_store::orders::{NewOrder, PlaceRec};
use taxi_store::taxis::{CARING_TAG, Fix, FixOutcome, FreeIndexes, NewTaxi};
use taxi_store::{Store, StoreConfig, StoreError};

/// Where every case's orders are picked up (Jiefangbei, Chongqing), WGS-84.
const PICKUP: (f64, f64) = (29.5575, 106.5770);
/// Where every case's taxis wait: about 150 m from the pickup.
const TAXI_STAND: (f64, f64) = (29.5585, 106.5780);
/// The clock every case starts at.
const START_MS: i64 = 1_750_000_000_000;
/// A reservation enters dispatch this long after it is made.
const RELEASE_IN: Duration = Duration::from_secs(60);
/// Time to answer an offer: longer than `RELEASE_IN`, so releasing a reservation never
/// expires an offer on the way.
const OFFER_TIMEOUT: Duration = Duration::from_secs(600);
/// Fixes stay fresh for longer than any step of the clock here.
const FRESH_MS: i64 = 3_600_000;
/// What a completed trip costs.
const FARE_CENTS: i64 = 2_500;

/// Dispatch as in service, but slow enough that stepping the clock past one deadline
/// never crosses another: one taxi per offer, generous freshness and age limits, and
/// more missed offers allowed than any case misses (a miss frees the taxi, never signs
/// it off).
fn params() -> DispatchParams {
    DispatchParams {
        fan_out: 1,
        radii_m: vec![1_000, 3_000],
        elderly_extra_radius_m: 0,
        elderly_extra_after_ms: 0,
        caring_radius_m: 0,
        fresh_ms: FRESH_MS,
        offer_timeout_ms: OFFER_TIMEOUT.as_millis() as i64,
        max_offers: 10,
        max_age_ms: FRESH_MS,
        retry_ms: 5_000,
        head_start_ms: 0,
        max_missed: 3,
    }
}

/// The capabilities of a city's `n`th taxi (from 1): (wheelchair-accessible, caring
/// fleet). Both, either and neither occur among any few taxis.
fn capabilities(n: u32) -> (bool, bool) {
    (n % 2 == 1, n % 3 != 2)
}

/// Dispatch that has run out of patience: no order may be offered again.
fn give_up_params() -> DispatchParams {
    DispatchParams {
        max_offers: 0,
        ..params()
    }
}

fn at((lat, lon): (f64, f64)) -> Coordinates {
    Coordinates::new(lat, lon).expect("a valid point")
}

/// What the store answered, as the test compares it: done, or its refusal in words.
fn said<T>(reply: Result<T, StoreError>) -> Result<(), String> {
    reply.map(|_| ()).map_err(|e| format!("{e:?}"))
}

/// One case's world: a city of its own in the test's Redis, on a clock of its own.
struct City {
    store: Store,
    clock: Arc<ManualClock>,
    taxis: Cell<u32>,
    ids: std::cell::RefCell<Vec<String>>,
}

impl City {
    async fn open(redis: &TestRedis, case: usize) -> City {
        let clock = Arc::new(ManualClock::at(START_MS));
        let config = StoreConfig::new(redis.url(), format!("9{case:04}")).with_clock(clock.clone());
        City {
            store: Store::connect(config).expect("store"),
            clock,
            taxis: Cell::new(0),
            ids: Default::default(),
        }
    }

    /// A new immediate order (PENDING), or a reservation (SCHEDULED) released in
    /// `RELEASE_IN`.
    async fn order(&self, reservation: bool) -> String {
        let now = self.clock.now_ms();
        let release_ms = if reservation {
            now + RELEASE_IN.as_millis() as i64
        } else {
            now
        };
        let order = NewOrder {
            channel: Channel::Operator,
            phone: "13800138000".into(),
            name: "王阿姨".into(),
            pickup: PlaceRec {
                at: at(PICKUP),
                address: "解放碑步行街 8 号".into(),
            },
            dropoff: None,
            pickup_ms: release_ms,
            reservation,
            release_ms,
            elderly: None,
            needs: vec![],
            passengers: 1,
            notes: String::new(),
            payment: Payment::Cash,
            operator: "op-1".into(),
            booker: String::new(),
            device: String::new(),
            priority: 0,
            queue_score: now,
            request_id: None,
            dedupe_until_ms: None,
        };
        let created = self.store.create_order(&order).await.expect("create order");
        created.order.id
    }

    /// A new taxi, OFF_DUTY, with the capabilities of its number (`capabilities`), so
    /// every case has capable and ordinary taxis for the capability indexes.
    async fn taxi(&self) -> String {
        let n = self.taxis.get() + 1;
        self.taxis.set(n);
        self.ids.borrow_mut().push(String::new());
        let (wheelchair, caring) = capabilities(n);
        let taxi = NewTaxi {
            plate: format!("渝A1{n:04}"),
            driver_name: "张师傅".into(),
            color: "白色".into(),
            driver_phone: String::new(),
            wheelchair,
            tags: if caring {
                vec![CARING_TAG.into()]
            } else {
                vec![]
            },
        };
        let id = self.store.register_taxi(&taxi).await.expect("register").id;
        if let Some(last) = self.ids.borrow_mut().last_mut() {
            last.clone_from(&id);
        }
        id
    }

    /// `None` when the per-state counters the scripts keep equal the states of the
    /// city's taxis, else the difference in words.
    async fn counts_disagree(&self) -> Option<String> {
        let ids: Vec<String> = self.ids.borrow().clone();
        let mut truth: Vec<(TaxiState, u64)> = TaxiState::ALL.iter().map(|s| (*s, 0)).collect();
        for id in &ids {
            let state = self.state(id).await;
            if let Some(c) = truth.iter_mut().find(|(s, _)| *s == state) {
                c.1 += 1;
            }
        }
        let kept = self.store.taxi_state_counts().await.expect("counts");
        (kept != truth).then(|| format!("per-state counts {kept:?}, the taxis say {truth:?}"))
    }

    /// `None` when the free index holds only FREE taxis and the indexes that mirror it
    /// hold exactly its members (the free-fix index), its wheelchair-accessible members
    /// and its caring-fleet members; else the difference in words.
    async fn indexes_disagree(&self) -> Option<String> {
        let ids: Vec<String> = self.ids.borrow().clone();
        let kept = self.store.free_indexes().await.expect("free indexes");
        let mut truth = FreeIndexes::default();
        let mut wrong = vec![];
        for (i, id) in ids.iter().enumerate() {
            if !kept.free.contains(id) {
                continue;
            }
            let state = self.state(id).await;
            if state != TaxiState::Free {
                wrong.push(format!("{id} is {state:?} in the free index"));
            }
            let (wheelchair, caring) = capabilities(i as u32 + 1);
            truth.free.push(id.clone());
            truth.fixes.push(id.clone());
            if wheelchair {
                truth.wheelchair.push(id.clone());
            }
            if caring {
                truth.caring.push(id.clone());
            }
        }
        for list in [
            &mut truth.free,
            &mut truth.wheelchair,
            &mut truth.caring,
            &mut truth.fixes,
        ] {
            list.sort();
        }
        if kept != truth {
            wrong.push(format!("indexes {kept:?}, the free index says {truth:?}"));
        }
        (!wrong.is_empty()).then(|| wrong.join("; "))
    }

    /// The taxi's app reports a fresh fix at the taxi stand.
    async fn report(&self, taxi: &str) {
        let fix = Fix {
            taxi_id: taxi.into(),
            at: at(TAXI_STAND),
            fix_ms: self.clock.now_ms(),
        };
        let out = self.store.report_positions(&[fix], FRESH_MS).await;
        assert_eq!(out.expect("report"), vec![FixOutcome::Stored], "{taxi}");
    }

    /// A new taxi, signed on, FREE and fresh at the taxi stand.
    async fn free_taxi(&self) -> String {
        let taxi = self.taxi().await;
        let signed_on = self.store.transition_taxi(&taxi, TaxiEvent::SignOn).await;
        signed_on.expect("sign on");
        self.report(&taxi).await;
        taxi
    }

    /// One dispatch attempt at the head of the queue.
    async fn dispatch(&self, p: &DispatchParams) -> Attempt {
        self.store.dispatch_next(p, None).await.expect("dispatch").0
    }

    /// Steps the clock, then runs the sweep: [released, retried, expired].
    async fn sweep_after(&self, by: Duration) -> [u64; 3] {
        self.clock.advance(by);
        self.store.maintain(&params(), 100).await.expect("sweep")
    }

    async fn status(&self, order: &str) -> OrderStatus {
        self.store.get_order(order).await.expect("get order").status
    }

    async fn state(&self, taxi: &str) -> TaxiState {
        self.store.get_taxi(taxi).await.expect("get taxi").state
    }

    /// A trip step by `taxi`.
    async fn trip_step(&self, order: &str, taxi: &str, step: TripStep) -> Result<(), String> {
        let paid = Some(Payment::Cash);
        let watch = TripWatch::default();
        let reply = self
            .store
            .trip_step(order, taxi, step, FARE_CENTS, paid, &watch);
        said(reply.await)
    }
}

/// Compares one case: `None` when the store did what the domain says, else the
/// disagreement in words.
fn disagreement<S: PartialEq + Debug, E: Debug>(
    event: E,
    from: S,
    domain: Result<S, String>,
    store: Result<(), String>,
    now: S,
) -> Option<String> {
    let case = format!("{event:?} from {from:?}");
    match (domain, store) {
        (Ok(to), Ok(())) if now == to => None,
        (Ok(to), store) => Some(format!(
            "{case}: the domain says {to:?}; the store answered {store:?} and left {now:?}"
        )),
        (Err(_), Err(_)) if now == from => None,
        (Err(why), store) => Some(format!(
            "{case}: the domain refuses ({why}); the store answered {store:?} and left {now:?}"
        )),
    }
}

/// Fails once with every disagreement found.
fn assert_agree(what: &str, cases: usize, found: &[String]) {
    assert!(
        found.is_empty(),
        "{} of {cases} {what} cases disagree with the domain:\n{}",
        found.len(),
        found.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Orders

/// An order under test and the taxi holding it (offered, assigned, on trip), if any.
struct OrderCase {
    order: String,
    taxi: Option<String>,
}

impl OrderCase {
    /// The taxi a trip step, an answer or an acceptance comes from: the one holding the
    /// order, else a free taxi that has nothing to do with it.
    async fn holder(&self, city: &City) -> String {
        match &self.taxi {
            Some(taxi) => taxi.clone(),
            None => city.free_taxi().await,
        }
    }

    /// A trip step by the holder.
    async fn trip_step(&self, city: &City, step: TripStep) -> Result<(), String> {
        let taxi = self.holder(city).await;
        city.trip_step(&self.order, &taxi, step).await
    }
}

/// The events that bring a new order to `status` the way it happens in service; a
/// reservation starts SCHEDULED, any other order PENDING.
fn order_path(status: OrderStatus) -> &'static [OrderEvent] {
    use OrderEvent::*;
    match status {
        OrderStatus::Scheduled | OrderStatus::Pending => &[],
        OrderStatus::Offered => &[Offer],
        OrderStatus::Accepted => &[Offer, Accept],
        OrderStatus::Arrived => &[Offer, Accept, Arrive],
        OrderStatus::OnTrip => &[Offer, Accept, Arrive, StartTrip],
        OrderStatus::Completed => &[Offer, Accept, Arrive, StartTrip, Complete],
        OrderStatus::Cancelled => &[Cancel],
        OrderStatus::Unfulfilled => &[GiveUp],
    }
}

/// A new order in `status`, reached through the store.
async fn reach_order(city: &City, status: OrderStatus) -> OrderCase {
    let reservation = status == OrderStatus::Scheduled;
    let start = if reservation {
        OrderStatus::Scheduled
    } else {
        OrderStatus::Pending
    };
    let path = order_path(status);
    let by_domain = path.iter().try_fold(start, |s, e| e.apply(s));
    assert_eq!(by_domain, Ok(status), "the path to {status:?}");
    let mut case = OrderCase {
        order: city.order(reservation).await,
        taxi: None,
    };
    for &event in path {
        let done = apply_order(city, &mut case, event).await;
        assert_eq!(done, Ok(()), "reaching {status:?}: {event:?}");
    }
    assert_eq!(
        city.status(&case.order).await,
        status,
        "reaching {status:?}"
    );
    case
}

/// Tries `event` on the case's order through the store action that performs it.
async fn apply_order(city: &City, case: &mut OrderCase, event: OrderEvent) -> Result<(), String> {
    let order = case.order.clone();
    match event {
        OrderEvent::Release => match city.sweep_after(RELEASE_IN).await {
            [1, ..] => Ok(()),
            counts => Err(format!("the sweep released nothing: {counts:?}")),
        },
        OrderEvent::Offer => {
            let taxi = city.free_taxi().await;
            match city.dispatch(&params()).await {
                Attempt::Offered {
                    order: o, taxis, ..
                } if o == order && taxis[0].0 == taxi => {
                    case.taxi = Some(taxi);
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        }
        OrderEvent::Accept => {
            let taxi = case.holder(city).await;
            said(city.store.accept_offer(&order, &taxi, 300, &watch()).await)
        }
        OrderEvent::Requeue => {
            let taxi = case.holder(city).await;
            said(city.store.decline_offer(&order, &taxi).await)
        }
        OrderEvent::ManualAssign => {
            let taxi = city.free_taxi().await;
            let watch = watch();
            let assigned = city.store.assign_order(&order, &taxi, 300, "op-1", &watch);
            let done = said(assigned.await);
            if done.is_ok() {
                case.taxi = Some(taxi);
            }
            done
        }
        OrderEvent::Arrive => case.trip_step(city, TripStep::Arrive).await,
        OrderEvent::StartTrip => case.trip_step(city, TripStep::Start).await,
        OrderEvent::Complete => case.trip_step(city, TripStep::Complete).await,
        OrderEvent::Cancel => {
            let by = CancelledBy::Passenger;
            said(city.store.cancel_order(&order, by, "plans changed").await)
        }
        OrderEvent::GiveUp => match city.dispatch(&give_up_params()).await {
            Attempt::Unfulfilled(o) if o == order => Ok(()),
            other => Err(format!("{other:?}")),
        },
        OrderEvent::Redispatch => {
            let done = said(city.store.redispatch_order(&order, "op-1", "stuck").await);
            if done.is_ok() {
                case.taxi = None;
            }
            done
        }
    }
}

/// The watchdog's bounds as in service.
fn watch() -> TripWatch {
    TripWatch::default()
}

#[tokio::test]
async fn every_order_event_in_every_status_does_what_the_domain_says() {
    let redis = TestRedis::start();
    let redis = &redis;
    run_all(
        "order",
        &OrderStatus::ALL,
        &OrderEvent::ALL,
        |n, status, event| async move {
            let city = City::open(redis, n).await;
            let mut case = reach_order(&city, status).await;
            let store = apply_order(&city, &mut case, event).await;
            let now = city.status(&case.order).await;
            // A driver's step retried after it happened is answered as done (by the taxi that
            // holds the order, which is the case's taxi).
            let domain = if event.already_done(status) {
                Ok(status)
            } else {
                event.apply(status)
            };
            verdict(&city, event, status, domain, store, now).await
        },
    )
    .await;
}

/// Runs every (state, event) case at once, each in a city of its own, and fails once
/// with every disagreement found.
async fn run_all<S: Copy, E: Copy, F, Fut>(what: &str, states: &[S], events: &[E], case: F)
where
    F: Fn(usize, S, E) -> Fut,
    Fut: std::future::Future<Output = Vec<String>>,
{
    let started = Instant::now();
    let pairs: Vec<(S, E)> = states
        .iter()
        .flat_map(|s| events.iter().map(move |e| (*s, *e)))
        .collect();
    let cases = pairs.len();
    let runs = pairs
        .into_iter()
        .enumerate()
        .map(|(n, (s, e))| case(n, s, e));
    let found: Vec<String> = futures::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect();
    eprintln!("{cases} {what} cases in {:?}", started.elapsed());
    assert_agree(what, cases, &found);
}

/// One case's verdict: its disagreement with the domain, if any, the per-state taxi
/// counters' with the taxis themselves, and the free index's mirrors' with the free index.
async fn verdict<S: PartialEq + Debug, E: Debug>(
    city: &City,
    event: E,
    from: S,
    domain: Result<S, String>,
    store: Result<(), String>,
    now: S,
) -> Vec<String> {
    let counts = city
        .counts_disagree()
        .await
        .map(|d| format!("{event:?} from {from:?}: {d}"));
    let indexes = city
        .indexes_disagree()
        .await
        .map(|d| format!("{event:?} from {from:?}: {d}"));
    disagreement(event, from, domain, store, now)
        .into_iter()
        .chain(counts)
        .chain(indexes)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Taxis

/// A taxi under test and the order it holds (offered, assigned, on trip), if any.
struct TaxiCase {
    taxi: String,
    order: Option<String>,
}

impl TaxiCase {
    /// The order an answer, a trip step or a release concerns: the one the taxi holds,
    /// else a new order waiting in the queue that has nothing to do with it.
    async fn held(&self, city: &City) -> String {
        match &self.order {
            Some(order) => order.clone(),
            None => city.order(false).await,
        }
    }

    /// A trip step by the taxi, of the order it holds.
    async fn trip_step(&self, city: &City, step: TripStep) -> Result<(), String> {
        let order = self.held(city).await;
        city.trip_step(&order, &self.taxi, step).await
    }
}

/// The events that bring a new (OFF_DUTY) taxi to `state`.
///
/// OCCUPIED is two situations the domain does not tell apart: a street hail (`hail`),
/// which only EndStreetHail ends, and a dispatched trip, which only CompleteTrip ends.
fn taxi_path(state: TaxiState, hail: bool) -> &'static [TaxiEvent] {
    use TaxiEvent::*;
    match state {
        TaxiState::OffDuty => &[],
        TaxiState::Free => &[SignOn],
        TaxiState::Offered => &[SignOn, Offer],
        TaxiState::Assigned => &[SignOn, Offer, Accept],
        TaxiState::Occupied if hail => &[SignOn, StartStreetHail],
        TaxiState::Occupied => &[SignOn, Offer, Accept, StartTrip],
    }
}

/// A new taxi in `state` (OCCUPIED by a street hail if `hail`), reached through the store.
async fn reach_taxi(city: &City, state: TaxiState, hail: bool) -> TaxiCase {
    let path = taxi_path(state, hail);
    let by_domain = path.iter().try_fold(TaxiState::OffDuty, |s, e| e.apply(s));
    assert_eq!(by_domain, Ok(state), "the path to {state:?}");
    let mut case = TaxiCase {
        taxi: city.taxi().await,
        order: None,
    };
    for &step in path {
        let done = apply_taxi(city, &mut case, step).await;
        assert_eq!(done, Ok(()), "reaching {state:?}: {step:?}");
        if step == TaxiEvent::SignOn {
            city.report(&case.taxi).await;
        }
    }
    assert_eq!(city.state(&case.taxi).await, state, "reaching {state:?}");
    case
}

/// Tries `event` on the case's taxi through the store action that performs it.
async fn apply_taxi(city: &City, case: &mut TaxiCase, event: TaxiEvent) -> Result<(), String> {
    let taxi = case.taxi.clone();
    let done = match event {
        TaxiEvent::SignOn
        | TaxiEvent::SignOff
        | TaxiEvent::StartStreetHail
        | TaxiEvent::EndStreetHail => said(city.store.transition_taxi(&taxi, event).await),
        TaxiEvent::Offer => {
            city.order(false).await;
            match city.dispatch(&params()).await {
                Attempt::Offered { taxis, .. } if taxis[0].0 == taxi => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
        TaxiEvent::Accept => {
            let order = case.held(city).await;
            said(city.store.accept_offer(&order, &taxi, 300, &watch()).await)
        }
        TaxiEvent::Decline => {
            let order = case.held(city).await;
            said(city.store.decline_offer(&order, &taxi).await)
        }
        TaxiEvent::MissOffer => match city.sweep_after(OFFER_TIMEOUT).await {
            [_, _, 1] => Ok(()),
            counts => Err(format!("the sweep expired no offer: {counts:?}")),
        },
        TaxiEvent::Release => {
            let order = case.held(city).await;
            let by = CancelledBy::Passenger;
            match city.store.cancel_order(&order, by, "plans changed").await {
                Ok((_, released)) if released.contains(&taxi) => Ok(()),
                Ok((_, released)) => Err(format!("{order} cancelled, released {released:?}")),
                Err(e) => Err(format!("{e:?}")),
            }
        }
        TaxiEvent::ManualAssign => {
            let order = city.order(false).await;
            said(
                city.store
                    .assign_order(&order, &taxi, 300, "op-1", &watch())
                    .await,
            )
        }
        TaxiEvent::Arrive => case.trip_step(city, TripStep::Arrive).await,
        TaxiEvent::StartTrip => case.trip_step(city, TripStep::Start).await,
        TaxiEvent::CompleteTrip => case.trip_step(city, TripStep::Complete).await,
        TaxiEvent::Dismiss => {
            let order = case.held(city).await;
            match city.store.redispatch_order(&order, "op-1", "stuck").await {
                Ok(r) if r.taxi.as_deref() == Some(taxi.as_str()) => Ok(()),
                Ok(r) => Err(format!("{order} redispatched from taxi {:?}", r.taxi)),
                Err(e) => Err(format!("{e:?}")),
            }
        }
    };
    // The order the taxi holds now, for the next step of a path.
    case.order = city.store.held_order(&case.taxi).await.expect("held order");
    done
}

/// The order's event a driver's step of the taxi is.
fn driver_step(event: TaxiEvent) -> Option<OrderEvent> {
    match event {
        TaxiEvent::Accept => Some(OrderEvent::Accept),
        TaxiEvent::Arrive => Some(OrderEvent::Arrive),
        TaxiEvent::StartTrip => Some(OrderEvent::StartTrip),
        TaxiEvent::CompleteTrip => Some(OrderEvent::Complete),
        _ => None,
    }
}

#[tokio::test]
async fn every_taxi_event_in_every_state_does_what_the_domain_says() {
    let redis = TestRedis::start();
    let redis = &redis;
    run_all(
        "taxi",
        &TaxiState::ALL,
        &TaxiEvent::ALL,
        |n, state, event| async move {
            let city = City::open(redis, n).await;
            // An OCCUPIED taxi is tried in the situation where the event can apply.
            let hail = event == TaxiEvent::EndStreetHail;
            let mut case = reach_taxi(&city, state, hail).await;
            // A driver's step retried after it happened is answered as done: the order the
            // taxi holds says whether it happened.
            let retried = match (&case.order, driver_step(event)) {
                (Some(order), Some(step)) => step.already_done(city.status(order).await),
                _ => false,
            };
            let store = apply_taxi(&city, &mut case, event).await;
            let now = city.state(&case.taxi).await;
            let domain = if retried {
                Ok(state)
            } else {
                event.apply(state)
            };
            verdict(&city, event, state, domain, store, now).await
        },
    )
    .await;
}

/// A redispatched trip's taxi ends where the domain's rule for its stage says: signed off
/// if it never reached the pickup, free if it was there; either way it no longer holds
/// the order, the order is queued again, and the taxi is not offered it again.
#[tokio::test]
async fn a_redispatched_taxi_is_signed_off_or_freed_by_the_stage_it_was_stuck_at() {
    let redis = TestRedis::start();
    for (n, status) in [OrderStatus::Accepted, OrderStatus::Arrived]
        .into_iter()
        .enumerate()
    {
        let city = City::open(&redis, n).await;
        let case = reach_order(&city, status).await;
        let taxi = case.taxi.clone().expect("a taxi holds it");
        let done = city.store.redispatch_order(&case.order, "op-1", "stuck");
        let done = done.await.expect("redispatch");
        let stage = Stage::of(status).expect("a stage");
        let rule = stage.taxi_on_redispatch().apply(TaxiState::Assigned);
        assert_eq!(Ok(city.state(&taxi).await), rule, "{status:?}");
        assert_eq!(done.taxi_state, rule.ok(), "{status:?}");
        assert_eq!(city.store.held_order(&taxi).await.expect("held"), None);
        assert_eq!(city.status(&case.order).await, OrderStatus::Pending);
        if stage == Stage::NotStarted {
            // Free at the pickup, but not offered the order it was taken from.
            let other = city.free_taxi().await;
            match city.dispatch(&params()).await {
                Attempt::Offered { order, taxis, .. } => {
                    assert_eq!((order, taxis[0].0.clone()), (case.order.clone(), other));
                }
                a => panic!("{a:?}"),
            }
        }
        assert_eq!(city.counts_disagree().await, None);
    }
}

/// Where the store knows more than the domain: an OCCUPIED taxi carries either a street
/// hail or a dispatched passenger, and each trip ends only its own way (a street hail
/// has no order to complete; a dispatched trip is not the driver's to end alone).
#[tokio::test]
async fn an_occupied_taxi_ends_only_its_own_kind_of_trip() {
    let redis = TestRedis::start();
    let cases = [
        (true, TaxiEvent::CompleteTrip),
        (false, TaxiEvent::EndStreetHail),
    ];
    for (n, (hail, event)) in cases.into_iter().enumerate() {
        let city = City::open(&redis, n).await;
        let mut case = reach_taxi(&city, TaxiState::Occupied, hail).await;
        let store = apply_taxi(&city, &mut case, event).await;
        let trip = if hail {
            "a street hail"
        } else {
            "a dispatched trip"
        };
        assert!(store.is_err(), "{event:?} on {trip}: {store:?}");
        let now = city.state(&case.taxi).await;
        assert_eq!(now, TaxiState::Occupied, "{event:?} on {trip}: {store:?}");
    }
}

/// Dispatch takes the queue a batch at a time (`dispatch_batch`), and any number of
/// workers race over it. Whatever the interleaving: every order is attempted once, strictly
/// in queue order (the 20 oldest of 30 orders get the 20 taxis, the rest wait for a retry),
/// no taxi is offered two orders, and no order two taxis.
#[tokio::test]
async fn racing_batches_keep_queue_order_and_never_double_a_taxi_or_an_order() {
    let redis = TestRedis::start();
    let city = City::open(&redis, 0).await;
    let mut taxis = Vec::new();
    for _ in 0..20 {
        taxis.push(city.free_taxi().await);
    }
    let mut orders = Vec::new();
    for _ in 0..30 {
        orders.push(city.order(false).await);
        city.clock.advance(Duration::from_millis(1));
    }
    let p = params();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let store = city.store.clone();
            let p = p.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut hints = Vec::new();
                loop {
                    let (attempts, next) = store.dispatch_batch(&p, hints, 8).await.expect("batch");
                    if matches!(attempts.as_slice(), [Attempt::Empty]) {
                        return seen;
                    }
                    seen.extend(attempts);
                    hints = next;
                }
            })
        })
        .collect();
    let mut offered: Vec<(String, String)> = Vec::new();
    let mut retried: Vec<String> = Vec::new();
    for w in workers {
        for a in w.await.expect("worker") {
            match a {
                Attempt::Offered { order, taxis, .. } => {
                    assert_eq!(taxis.len(), 1, "{order}: {taxis:?}");
                    offered.push((order, taxis[0].0.clone()));
                }
                Attempt::Retry(order) => retried.push(order),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    let mut offered_orders: Vec<&String> = offered.iter().map(|(o, _)| o).collect();
    let mut offered_taxis: Vec<&String> = offered.iter().map(|(_, t)| t).collect();
    offered_orders.sort();
    offered_orders.dedup();
    offered_taxis.sort();
    offered_taxis.dedup();
    assert_eq!(offered.len(), 20, "{offered:?}");
    assert_eq!(
        offered_orders.len(),
        20,
        "an order offered twice: {offered:?}"
    );
    assert_eq!(offered_taxis.len(), 20, "a taxi offered twice: {offered:?}");
    let mut first: Vec<&String> = orders[..20].iter().collect();
    first.sort();
    assert_eq!(offered_orders, first, "the oldest orders go first");
    retried.sort();
    let mut rest: Vec<String> = orders[20..].to_vec();
    rest.sort();
    assert_eq!(retried, rest, "each later order attempted once");
    for taxi in &taxis {
        assert_eq!(city.state(taxi).await, TaxiState::Offered, "{taxi}");
    }
    assert_eq!(city.counts_disagree().await, None);
    assert_eq!(city.indexes_disagree().await, None);
}

/// One private server, or with `TAXI_TEST_REDIS=cluster` a private 3-master cluster: on a
/// cluster, every city of the cases lands on some node and every script must declare its
/// keys (Redis refuses a stray key in a script with a shebang).
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
