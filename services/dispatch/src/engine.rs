//! The matching engine: workers that take pending orders and offer them, and a sweeper.
//!
//! Workers hold no state: one script takes the first queued order and makes the attempt
//! (search and offer, retry later, or give up), so an order is never with a worker outside
//! Redis, and orders are attempted strictly in queue order however many workers and
//! processes run. Offers, retries and reservations are sorted sets by due time, swept by
//! every dispatch process (any number at once is safe): a process that dies mid-offer
//! leaves an offer that expires and moves on like any other. Workers wait on the city's
//! wake-ups ([`taxi_store::feed::Wakeups`]) instead of polling, so an order is taken
//! within a round trip of its creation; a wake-up names an order, which the worker
//! offers to attempt first (the script checks it is still the head of the queue).
//!
//! Batched matching (issue 15; `matcher = batched` in the city's settings): instead of
//! the workers, one batcher per process, every batch window, reads the waiting orders
//! and the free taxis near them ([`Store::batch_problem`]), solves one assignment
//! ([`taxi_domain::matching`]) and offers each pair through `offer_pair.lua`, which checks
//! again, atomically, that the order still waits and the taxi still qualifies: two
//! processes solving at once, or a solve gone stale, offer nothing twice. Then it drains
//! the queue as the workers would, so whatever the solve left gets greedy's rules (its
//! retry tick, the aging bound, give-up).
//!
//! The sweeper is also the trip watchdog: accepted and arrived orders sit in an index by
//! the deadline of their stage (kept by the transition scripts), and each sweep flags
//! the due ones for operators, once per stage.
//!
//! Outages: every task notes when it last reached Redis and when a call failed
//! ([`Reach`]). Before any task works again after a failure, the period from the last
//! success to now is recorded in Redis (merged with what other processes recorded), and
//! dispatch does not count it against waiting orders (`taxi_domain::outage`). Recording
//! comes first, so no order is judged on a clock that still includes the outage.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;
use taxi_domain::matching::{self, MatchParams};
use taxi_domain::outage::Outage;
use taxi_domain::settings::{Matcher, Settings};
use taxi_store::Store;
use taxi_store::batch::PairOffer;
use taxi_store::dispatch::{Attempt, DispatchParams};
use tokio_util::sync::CancellationToken;

/// The numbers of one city's dispatch, as the store's scripts take them.
pub fn params(s: &Settings) -> DispatchParams {
    DispatchParams {
        fan_out: s.offer_mode.fan_out(),
        radii_m: s.radii_m.clone(),
        elderly_extra_radius_m: s.elderly_extra_radius_m,
        elderly_extra_after_ms: s.elderly_extra_after.as_millis() as i64,
        caring_radius_m: s.caring_radius_m,
        fresh_ms: s.position_fresh.as_millis() as i64,
        offer_timeout_ms: s.offer_timeout.as_millis() as i64,
        max_offers: s.max_offers,
        max_age_ms: s.max_dispatch_time.as_millis() as i64,
        retry_ms: s.retry_interval.as_millis() as i64,
        head_start_ms: s.elderly_head_start.as_millis() as i64,
        max_missed: s.max_missed_offers,
    }
}

/// The batched matcher's cost numbers for a city: the domain's defaults for now (city
/// speed and detour, two minutes of ETA for an older passenger); one place to tune them
/// per city once the simulator's report says how.
pub fn match_params(_: &Settings) -> MatchParams {
    MatchParams::default()
}

/// The engine of one process.
#[derive(Debug, Clone)]
pub struct Engine {
    store: Store,
    settings: Settings,
    params: DispatchParams,
    reach: Arc<Reach>,
}

/// What this process's engine knows of its reach to Redis: when it last got an answer,
/// and whether a call failed since. Atomics, since every worker and the sweeper report
/// into it; the async mutex makes one task record an outage while the others wait.
#[derive(Debug, Default)]
struct Reach {
    /// When the engine last got an answer from Redis (ms by the store's clock; 0: never).
    last_ok_ms: AtomicI64,
    /// A call failed since then: an outage is under way, or not yet recorded.
    down: AtomicBool,
    recording: tokio::sync::Mutex<()>,
}

impl Reach {
    /// A call was answered. While an outage is unrecorded the last success stays where
    /// it was: that is where the outage began.
    fn answered(&self, now_ms: i64) {
        if !self.down.load(Ordering::Acquire) {
            self.last_ok_ms.fetch_max(now_ms, Ordering::AcqRel);
        }
    }

    /// How a call went: only a Redis that did not answer is an outage. A refusal or a bad
    /// record is Redis answering (counting it would pause every give-up clock for nothing).
    fn observe<T>(&self, r: &Result<T, taxi_store::StoreError>, now_ms: i64) {
        match r {
            Err(taxi_store::StoreError::Unavailable(_)) => self.failed(),
            _ => self.answered(now_ms),
        }
    }

    /// A call failed.
    fn failed(&self) {
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                "dispatch lost Redis: orders wait, and the time will not count against them"
            );
        }
    }
}

/// How long recorded outages are kept: far longer than any order waits in dispatch.
const OUTAGE_KEEP: Duration = Duration::from_secs(24 * 3600);

impl Engine {
    /// An engine over `store`.
    pub fn new(store: Store, settings: Settings) -> Self {
        let params = params(&settings);
        Self {
            store,
            settings,
            params,
            reach: Arc::default(),
        }
    }

    /// Whether the engine may work: after a failure, first records the outage (from the
    /// last answer to now) so it does not count against waiting orders. False while
    /// Redis is still out of reach.
    async fn settled(&self) -> bool {
        if !self.reach.down.load(Ordering::Acquire) {
            return true;
        }
        let _one = self.reach.recording.lock().await;
        if !self.reach.down.load(Ordering::Acquire) {
            return true;
        }
        // The outage ends when Redis answers, not when we began to ask: a call can wait
        // for a connection for a while, and the clock reading must come after it.
        if let Err(e) = self.store.ping().await {
            tracing::debug!(error = %e, "Redis still out of reach");
            return false;
        }
        let now = self.store.now_ms();
        let start = self.reach.last_ok_ms.load(Ordering::Acquire);
        // Never reached Redis before (started during an outage): nothing is known to have
        // waited through it, so there is nothing to record.
        if start > 0 && start < now {
            let outage = Outage {
                start_ms: start,
                end_ms: now,
            };
            match self.store.record_outage(outage, OUTAGE_KEEP).await {
                Ok(stored) => tracing::warn!(
                    outage_ms = now - start,
                    merged_start_ms = stored.start_ms,
                    merged_end_ms = stored.end_ms,
                    "dispatch reached Redis again; the outage does not count against waiting orders"
                ),
                Err(e) => {
                    tracing::debug!(error = %e, "Redis still out of reach");
                    return false;
                }
            }
        }
        self.reach.last_ok_ms.store(now, Ordering::Release);
        self.reach.down.store(false, Ordering::Release);
        true
    }

    /// Notes how a call to Redis went.
    fn note<T>(&self, r: &Result<T, taxi_store::StoreError>) {
        self.reach.observe(r, self.store.now_ms());
    }

    /// Runs the workers and the sweeper until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tasks = Vec::new();
        match self.settings.matcher {
            Matcher::Greedy => {
                for n in 0..self.settings.dispatch_workers {
                    tasks.push(tokio::spawn(self.clone().worker(n, shutdown.clone())));
                }
            }
            // One batcher a process; with no dispatch workers configured, none (a
            // process that only serves the API).
            Matcher::Batched if self.settings.dispatch_workers > 0 => {
                tasks.push(tokio::spawn(self.clone().batcher(shutdown.clone())));
            }
            Matcher::Batched => {}
        }
        tasks.push(tokio::spawn(self.clone().sweeper(shutdown.clone())));
        tasks.push(tokio::spawn(self.clone().materialiser(shutdown.clone())));
        for t in tasks {
            let _ = t.await;
        }
        tracing::info!("dispatch engine stopped");
    }

    /// Dispatches until the queue is empty, starting from `hint` (the order a wake-up
    /// named), [`BATCH`] orders a round trip; returns false if Redis failed.
    async fn drain(&self, hint: Option<String>, shutdown: &CancellationToken) -> bool {
        let mut hints: Vec<String> = hint.into_iter().collect();
        while !shutdown.is_cancelled() {
            // Another task saw Redis fail: no order is judged until the outage is recorded.
            if self.reach.down.load(Ordering::Acquire) {
                return false;
            }
            let batch = self
                .store
                .dispatch_batch(&self.params, std::mem::take(&mut hints), BATCH)
                .await;
            self.note(&batch);
            let (attempts, next) = match batch {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "dispatch attempt failed");
                    return false;
                }
            };
            for attempt in attempts {
                match attempt {
                    Attempt::Empty => return true,
                    Attempt::Offered { order, taxis, .. } => {
                        metrics::counter!(taxi_metrics::OFFERS, taxi_metrics::label::OUTCOME => "sent")
                            .increment(taxis.len() as u64);
                        tracing::debug!(order_id = %order, ?taxis, "offered");
                    }
                    Attempt::Yielded { order, to } => {
                        tracing::debug!(order_id = %order, ahead = ?to, "yielded a taxi to orders ahead");
                    }
                    Attempt::Unfulfilled(order) => {
                        unfulfilled();
                        tracing::info!(order_id = %order, "no taxi found in time: call back");
                    }
                    other => tracing::trace!(outcome = ?other, "dispatch attempt"),
                }
            }
            hints = next;
        }
        true
    }

    async fn worker(self, n: usize, shutdown: CancellationToken) {
        let mut wakeups = self.store.wakeups();
        let mut hint = None;
        while !shutdown.is_cancelled() {
            if !self.settled().await || !self.drain(hint.take(), &shutdown).await {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(200)) => continue,
                    () = shutdown.cancelled() => break,
                }
            }
            tokio::select! {
                r = wakeups.next(Duration::from_secs(1)) => match r {
                    Ok(h) => hint = h,
                    Err(e) => {
                        self.reach.failed();
                        tracing::debug!(worker = n, error = %e, "wake-up wait failed; reconnecting");
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_millis(200)) => {}
                            () = shutdown.cancelled() => break,
                        }
                    }
                },
                () = shutdown.cancelled() => break,
            }
        }
    }

    /// The batched matcher's loop: one round every batch window.
    async fn batcher(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.settings.batch_window);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.cancelled() => return,
            }
            if self.settled().await {
                self.batch_round(&shutdown).await;
            }
        }
    }

    /// One batch: read, solve, offer each pair; then the greedy pass over what is left.
    /// Returns false if Redis failed.
    #[tracing::instrument(name = "batch_round", skip_all, fields(orders, taxis, pairs, offered))]
    async fn batch_round(&self, shutdown: &CancellationToken) -> bool {
        let problem = self
            .store
            .batch_problem(&self.params, BATCH_ORDERS, BATCH_CANDIDATES)
            .await;
        self.note(&problem);
        let problem = match problem {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "batch read failed");
                return false;
            }
        };
        if !problem.taxis.is_empty() {
            tracing::trace!(
                orders = ?problem
                    .orders
                    .iter()
                    .map(|o| (&o.id, o.elderly, o.queue_score, o.reach_m))
                    .collect::<Vec<_>>(),
                taxis = ?problem.taxis.iter().map(|t| &t.id).collect::<Vec<_>>(),
                candidates = ?problem
                    .candidates
                    .iter()
                    .map(|c| (c.order, c.taxi, c.distance_m.round()))
                    .collect::<Vec<_>>(),
                "batch problem"
            );
        }
        let mut pairs = matching::solve(&problem, &match_params(&self.settings));
        // Offered in queue order: an order's offer never waits behind one it is ahead of,
        // and `offer_pair.lua` never sees an order of the other kind ahead still waiting
        // only because its own pair has not been offered yet.
        let place: std::collections::HashMap<&str, (i64, bool)> = problem
            .orders
            .iter()
            .map(|o| (o.id.as_str(), (o.queue_score, o.elderly)))
            .collect();
        pairs.sort_by_key(|p| {
            (
                place.get(p.order.as_str()).map(|&(score, _)| score),
                p.order.clone(),
            )
        });
        let span = tracing::Span::current();
        span.record("orders", problem.orders.len());
        span.record("taxis", problem.taxis.len());
        span.record("pairs", pairs.len());
        let mut offered = 0;
        let mut gate = matching::RoundGate::default();
        for pair in &pairs {
            if shutdown.is_cancelled() {
                return true;
            }
            let (score, elderly) = place
                .get(pair.order.as_str())
                .copied()
                .unwrap_or((i64::MAX, false));
            if !gate.may_offer(elderly, score) {
                tracing::trace!(order_id = %pair.order, "pair held for the greedy pass: an order of the other kind ahead was refused");
                continue;
            }
            let r = self
                .store
                .offer_pair(&self.params, &pair.order, &pair.taxi, pair.distance_m)
                .await;
            self.note(&r);
            match r {
                Ok(PairOffer::Offered { .. }) => {
                    offered += 1;
                    metrics::counter!(taxi_metrics::OFFERS, taxi_metrics::label::OUTCOME => "sent")
                        .increment(1);
                    tracing::debug!(order_id = %pair.order, taxi_id = %pair.taxi, eta_s = pair.eta_s, "offered (batch)");
                }
                Ok(PairOffer::Unfulfilled) => {
                    unfulfilled();
                    tracing::info!(order_id = %pair.order, "no taxi found in time: call back");
                }
                Ok(PairOffer::Taken) => {
                    gate.refused(elderly, score);
                    tracing::trace!(order_id = %pair.order, taxi_id = %pair.taxi, "pair stale: the taxi no longer qualifies")
                }
                Ok(PairOffer::Gone) => {
                    tracing::trace!(order_id = %pair.order, taxi_id = %pair.taxi, "pair stale: the order no longer waits")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "batch offer failed");
                    return false;
                }
            }
        }
        span.record("offered", offered);
        self.drain(None, shutdown).await
    }

    /// Materialises every active recurring pattern's trips over the horizon, now and then
    /// every `recurring_interval` (idempotent: each trip is made once ever), and raises
    /// the T−15 alert of every recurring trip still without a taxi (once each).
    async fn materialiser(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.settings.recurring_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let horizon_ms = self.settings.recurring_horizon.as_millis() as i64;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.cancelled() => return,
            }
            match self
                .store
                .materialise_recurring(&self.settings, horizon_ms)
                .await
            {
                Ok(0) => {}
                Ok(made) => tracing::info!(made, "recurring trips reserved"),
                Err(e) => tracing::warn!(error = %e, "recurring pass skipped"),
            }
            // The caring fleet's guarantee (issue 14): a recurring trip still without a
            // taxi at T−15 raises its operator alert, once.
            match self.store.guarantee_pass(&self.settings.guarantee).await {
                Ok(0) => {}
                Ok(raised) => tracing::warn!(raised, "recurring trips unassigned at T-15"),
                Err(e) => tracing::warn!(error = %e, "guarantee pass skipped"),
            }
        }
    }

    async fn sweeper(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.settings.sweep_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.cancelled() => return,
            }
            if !self.settled().await {
                continue;
            }
            let swept = self.store.maintain(&self.params, SWEEP_BATCH).await;
            self.note(&swept);
            match swept {
                Ok([0, 0, 0]) => {}
                Ok([released, retried, expired]) => {
                    tracing::debug!(released, retried, expired, "swept")
                }
                Err(e) => tracing::debug!(error = %e, "sweep skipped"),
            }
            let flagged = self.store.flag_stuck_trips(SWEEP_BATCH).await;
            self.note(&flagged);
            match flagged {
                Ok(0) => {}
                Ok(n) => tracing::warn!(stuck = n, "trips stuck: operators alerted"),
                Err(e) => tracing::debug!(error = %e, "watchdog pass skipped"),
            }
        }
    }
}

/// The most orders one dispatch call attempts (in queue order, atomically): a burst of
/// bookings then costs one Redis round trip and one AOF write per this many orders, while
/// one call still blocks Redis for only a few milliseconds at worst.
const BATCH: usize = 8;

/// The most waiting orders one batch solves (the oldest in queue order first; the rest
/// wait for the next window).
const BATCH_ORDERS: usize = 500;

/// The nearest qualifying taxis read for each order of a batch (the solver keeps the
/// cheapest [`MatchParams::k`] of them).
const BATCH_CANDIDATES: usize = 16;

/// The most due reservations, retries, expired offers and stuck trips one sweep handles
/// of each.
const SWEEP_BATCH: usize = 500;

/// Counts an order dispatch gave up on (the engine's two matchers report it here).
fn unfulfilled() {
    metrics::counter!(taxi_metrics::ORDERS_ENDED, taxi_metrics::label::OUTCOME => "unfulfilled")
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::Reach;
    use std::sync::atomic::Ordering;
    use taxi_store::StoreError;

    #[test]
    fn only_a_redis_that_does_not_answer_is_an_outage() {
        let reach = Reach::default();
        reach.observe(&Ok::<(), StoreError>(()), 1_000);
        for answered in [
            StoreError::Internal("a bad record".into()),
            StoreError::OfferGone { status: None },
        ] {
            reach.observe(&Err::<(), _>(answered), 2_000);
            assert!(!reach.down.load(Ordering::Acquire));
        }
        assert_eq!(reach.last_ok_ms.load(Ordering::Acquire), 2_000);
        reach.observe(&Err::<(), _>(StoreError::Unavailable("gone".into())), 3_000);
        assert!(reach.down.load(Ordering::Acquire));
        // The outage began at the last answer: later answers do not move it until recorded.
        reach.observe(&Ok::<(), StoreError>(()), 4_000);
        assert_eq!(reach.last_ok_ms.load(Ordering::Acquire), 2_000);
    }
}
