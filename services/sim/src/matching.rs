//! Runs a planned scenario through the real services on their (fast) clock and reports on
//! the matching: sets the plan's population up, lets the city run for the scenario and a
//! drain after it, and turns what it observed into a [`MatchingReport`].

use crate::gateway::Principals;
use crate::report::{FleetFigures, MatchingReport, Rules};
use crate::scenario::Plan;
use crate::{Sim, SimConfig};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use taxi_domain::clock::Clock;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// How a matching run goes.
#[derive(Debug, Clone)]
pub struct MatchingRun {
    /// The matcher's name (for the report; the services run whichever they were set to).
    pub matcher: String,
    /// The rules the services run by.
    pub rules: Rules,
    /// The services' clock.
    pub clock: Arc<dyn Clock>,
    /// How many times faster than real time it runs.
    pub time_factor: f64,
    /// The longest the city runs on after the scenario for the last orders to be served;
    /// it stops sooner once every order was picked up or given up on (never assigned and
    /// older than the bound plus a minute).
    pub drain: Duration,
}

/// The real time `simulated` takes at `factor`, at least `floor`.
fn real(simulated: Duration, factor: f64, floor: Duration) -> Duration {
    simulated.div_f64(factor.max(1e-3)).max(floor)
}

/// Runs `plan` as `principals` on the services at `channel`; sessions stay fresh until
/// `sessions_end`.
pub async fn run(
    channel: Channel,
    principals: Principals,
    plan: Arc<Plan>,
    how: &MatchingRun,
    sessions_end: CancellationToken,
) -> anyhow::Result<MatchingReport> {
    let factor = how.time_factor;
    let config = SimConfig {
        seed: plan.seed,
        taxis: plan.taxis.len(),
        devices: 0,
        reservation_share: 0.0,
        cancel_share: 0.0,
        elderly_share: plan.spec.elderly_share,
        speed_factor: 1.0,
        clock: how.clock.clone(),
        road: plan.spec.road,
        time_factor: factor,
        // Positions every 5 s of the services' clock (fresh for 30 s); taxis drive on
        // every 2 s of it.
        report_every: real(Duration::from_secs(5), factor, Duration::from_millis(50)),
        tick: real(Duration::from_secs(2), factor, Duration::from_millis(20)),
        hails: false,
        plan: Some(plan.clone()),
        ..SimConfig::default()
    };
    let sim = Arc::new(Sim::setup(channel, principals, config, sessions_end).await?);
    let wall = Instant::now();
    let stop = CancellationToken::new();
    let runner = {
        let sim = sim.clone();
        let stop = stop.clone();
        tokio::spawn(async move { sim.run(stop).await })
    };
    let started = how.clock.now_ms();
    let end = started + plan.spec.duration.as_millis() as i64;
    let until = end + how.drain.as_millis() as i64;
    let give_up_ms = ((how.rules.bound_s + 60.0) * 1000.0) as i64;
    loop {
        let now = how.clock.now_ms();
        if now >= until {
            break;
        }
        let settled = || {
            sim.observed.outcomes().iter().all(|o| {
                o.picked_up_ms.is_some()
                    || (o.assigned_ms.is_none() && now - o.created_ms > give_up_ms)
            })
        };
        if now >= end && settled() {
            break;
        }
        let left = Duration::from_millis((until - now) as u64).min(Duration::from_secs(10));
        tokio::time::sleep(real(left, factor, Duration::from_millis(1))).await;
    }
    stop.cancel();
    let _ = runner.await;
    let o = &sim.observed;
    let mut report = MatchingReport::new(
        (plan.spec.name.as_str(), &how.matcher, plan.seed),
        &o.outcomes(),
        how.rules,
        FleetFigures {
            empty_m: o.empty_m.load(Ordering::Relaxed) as f64,
            trips: o.completed.load(Ordering::Relaxed),
            refused: o.refused.load(Ordering::Relaxed),
            taxis: sim.taxi_count(),
        },
        plan.spec.road.detour,
    );
    report.simulated_s = (how.clock.now_ms() - started) as f64 / 1000.0;
    report.wall_s = wall.elapsed().as_secs_f64();
    Ok(report)
}
