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
//! The sweeper is also the trip watchdog: accepted and arrived orders sit in an index by
//! the deadline of their stage (kept by the transition scripts), and each sweep flags
//! the due ones for operators, once per stage.

use std::time::Duration;
use taxi_domain::settings::Settings;
use taxi_store::Store;
use taxi_store::dispatch::{Attempt, DispatchParams};
use tokio_util::sync::CancellationToken;

/// The numbers of one city's dispatch, as the store's scripts take them.
pub fn params(s: &Settings) -> DispatchParams {
    DispatchParams {
        fan_out: s.offer_mode.fan_out(),
        radii_m: s.radii_m.clone(),
        elderly_extra_radius_m: s.elderly_extra_radius_m,
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

/// The engine of one process.
#[derive(Debug, Clone)]
pub struct Engine {
    store: Store,
    settings: Settings,
    params: DispatchParams,
}

impl Engine {
    /// An engine over `store`.
    pub fn new(store: Store, settings: Settings) -> Self {
        let params = params(&settings);
        Self {
            store,
            settings,
            params,
        }
    }

    /// Runs the workers and the sweeper until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tasks = Vec::new();
        for n in 0..self.settings.dispatch_workers {
            tasks.push(tokio::spawn(self.clone().worker(n, shutdown.clone())));
        }
        tasks.push(tokio::spawn(self.clone().sweeper(shutdown.clone())));
        for t in tasks {
            let _ = t.await;
        }
        tracing::info!("dispatch engine stopped");
    }

    /// Dispatches until the queue is empty, starting from `hint` (the order a wake-up
    /// named); returns false if Redis failed.
    async fn drain(&self, mut hint: Option<String>, shutdown: &CancellationToken) -> bool {
        while !shutdown.is_cancelled() {
            match self.store.dispatch_next(&self.params, hint.take()).await {
                Ok((Attempt::Empty, _)) => return true,
                Ok((Attempt::Offered { order, taxis, .. }, next)) => {
                    tracing::debug!(order_id = %order, ?taxis, "offered");
                    hint = next;
                }
                Ok((Attempt::Unfulfilled(order), next)) => {
                    tracing::info!(order_id = %order, "no taxi found in time: call back");
                    hint = next;
                }
                Ok((other, next)) => {
                    tracing::trace!(outcome = ?other, "dispatch attempt");
                    hint = next;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "dispatch attempt failed");
                    return false;
                }
            }
        }
        true
    }

    async fn worker(self, n: usize, shutdown: CancellationToken) {
        let mut wakeups = self.store.wakeups();
        let mut hint = None;
        while !shutdown.is_cancelled() {
            if !self.drain(hint.take(), &shutdown).await {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(200)) => continue,
                    () = shutdown.cancelled() => break,
                }
            }
            tokio::select! {
                r = wakeups.next(Duration::from_secs(1)) => match r {
                    Ok(h) => hint = h,
                    Err(e) => {
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

    async fn sweeper(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.settings.sweep_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.cancelled() => return,
            }
            match self.store.maintain(&self.params, SWEEP_BATCH).await {
                Ok([0, 0, 0]) => {}
                Ok([released, retried, expired]) => {
                    tracing::debug!(released, retried, expired, "swept")
                }
                Err(e) => tracing::debug!(error = %e, "sweep skipped"),
            }
            match self.store.flag_stuck_trips(SWEEP_BATCH).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(stuck = n, "trips stuck: operators alerted"),
                Err(e) => tracing::debug!(error = %e, "watchdog pass skipped"),
            }
        }
    }
}

/// The most due reservations, retries, expired offers and stuck trips one sweep handles
/// of each.
const SWEEP_BATCH: usize = 500;
