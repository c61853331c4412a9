//! `taxi sim --scenario <name>`: a named, seeded simulator scenario on a stepped clock
//! (not real time), through every real service in this process over a private (or the
//! given) Redis; prints what it observed.
//!
//! - `scarcity` (issue 14): a morning with fewer taxis than recurring trips between 7 and
//!   8 am; reports the recurring trips due, assigned by T−15 and late, and fails (exit 1)
//!   when fewer than 99 % were assigned by T−15.

use clap::{Args, ValueEnum};
use std::sync::Arc;
use std::time::Duration;
use taxi_domain::clock::{Clock, ManualClock, system_now_ms};
use taxi_sim::scarcity::{ScarcityConfig, run};
use tokio_util::sync::CancellationToken;

/// The guarantee's figure the scarcity scenario must reach.
pub(crate) const SCARCITY_TARGET: f64 = 0.99;

/// A scenario by name.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Scenario {
    /// Fewer taxis than recurring trips between 7 and 8 am: the caring fleet's guarantee.
    Scarcity,
}

/// `taxi sim` flags.
#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// Which scenario.
    #[arg(long, value_enum)]
    pub scenario: Scenario,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 14)]
    pub seed: u64,
    /// Taxis on duty.
    #[arg(long, default_value_t = 24)]
    pub taxis: usize,
    /// Of them, in the caring fleet.
    #[arg(long, default_value_t = 10)]
    pub caring: usize,
    /// Recurring trips between 7 and 8 am (more than taxis).
    #[arg(long, default_value_t = 40)]
    pub trips: usize,
    /// Seconds of the services' clock per step.
    #[arg(long, default_value_t = 30)]
    pub step_secs: u64,
    /// Redis to run on; unset: a private `redis-server`.
    #[arg(long, env = "TAXI_REDIS_URL")]
    pub redis_url: Option<String>,
}

pub(crate) fn run_sim(args: SimArgs) -> anyhow::Result<()> {
    anyhow::ensure!((1..=600).contains(&args.step_secs), "--step-secs: 1 to 600");
    let rt = crate::runtime()?;
    let (redis, url) = crate::redis_or_private(args.redis_url.as_deref())?;
    let result = rt.block_on(scarcity(&args, url));
    drop(redis);
    let share = result?;
    anyhow::ensure!(
        share >= SCARCITY_TARGET,
        "the guarantee was missed: {:.1} % assigned by T−15, under {:.0} %",
        share * 100.0,
        SCARCITY_TARGET * 100.0
    );
    Ok(())
}

/// Runs the scarcity scenario; the share assigned by T−15.
async fn scarcity(args: &SimArgs, redis_url: String) -> anyhow::Result<f64> {
    let Scenario::Scarcity = args.scenario;
    let clock = Arc::new(ManualClock::at(system_now_ms()));
    let store = taxi_store::Store::connect(
        taxi_store::StoreConfig::new(redis_url, "500100").with_clock(clock.clone()),
    )?;
    let mut config = taxi_server::ServerConfig::default();
    // The clock stands still between steps, so the services' sweeps may tick often in
    // real time; the scenario's logins must outlive its stepped morning.
    config.settings.sweep_interval = Duration::from_millis(50);
    config.settings.recurring_interval = Duration::from_secs(1);
    let long = Duration::from_secs(2 * 24 * 3600);
    config.auth.access_ttl = long;
    config.auth.person_session = long;
    config.auth.key_session = long;
    let cfg = ScarcityConfig {
        seed: args.seed,
        taxis: args.taxis,
        caring: args.caring,
        trips: args.trips,
        step: Duration::from_secs(args.step_secs),
        guarantee: config.settings.guarantee,
        ..ScarcityConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(taxi_server::run(
        listener,
        store.clone(),
        config,
        shutdown.clone(),
    ));
    let channel = taxi_sim::connect(addr, None).await?;
    let sessions_end = CancellationToken::new();
    let principals = crate::principals::bootstrap(&store, channel, 1, &sessions_end).await?;
    println!(
        "scenario scarcity, seed {}: {} taxis ({} caring), {} recurring trips between 07:00 and 08:00 tomorrow (China time), {} s steps of the services' clock from 05:55",
        cfg.seed, cfg.taxis, cfg.caring, cfg.trips, args.step_secs
    );
    let report = run(&principals, clock.as_ref(), &cfg).await;
    sessions_end.cancel();
    shutdown.cancel();
    let _ = server.await;
    let report = report?;
    println!("{report}");
    println!(
        "the clock stood at {} ms when the scenario ended",
        Clock::now_ms(clock.as_ref())
    );
    Ok(report.share())
}
