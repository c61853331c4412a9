//! `taxi bench`: the load benchmark. Every scenario gets a fresh private Redis and a
//! `taxi serve --role all` child process (so its memory is its own); the load generator
//! is this process. Figures are printed as a table with their targets and written as JSON.
//! This module holds the flags and runs the scenarios `--runs` times; each scenario is a
//! module, `env` their Redis and server, `report` the figures, targets, table and JSON.
//! Traffic goes to loopback only and every loop is bounded in count and time.
//!
//! Every scenario's server serves TLS (throw-away certificates in a temporary directory)
//! with authentication enforced, and every client holds a token from a real login
//! (`crate::principals`). Ingest and dispatch throughput also run once more against a
//! server with `--auth off` on plain TCP, and the bench prints what identity and TLS cost
//! (issue 11: with them on, at least 95 % of the throughput with them off).

mod batch_solve;
mod burst;
mod dispatch;
mod env;
mod fanout;
mod hotline;
mod ingest;
mod report;
mod scale;
mod terminal;

use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::time::Instant;
use taxi_redis_process::Fsync;

/// Flags of `taxi bench`.
#[derive(Debug, Clone, Args)]
pub(crate) struct BenchArgs {
    /// Scenarios, comma-separated (`--scenario ingest,dispatch`); `all` runs every one but `scale`.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "all")]
    pub scenario: Vec<Scenario>,
    /// Runs of the chosen scenarios; the table shows each figure's median and worst
    /// (by its target's direction; a range for a figure without one), and targets are
    /// judged on the worst run.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
    /// Small numbers for a smoke run (seconds, not minutes); the targets do not apply.
    #[arg(long)]
    pub quick: bool,
    /// Where to write the figures as JSON.
    #[arg(long, default_value = "bench.json")]
    pub json: PathBuf,
    /// The AOF fsync policy of every scenario's private Redis: `always` or `everysec`
    /// (the same flag and default as `taxi serve`'s embedded Redis).
    #[arg(long, env = crate::config::ENV_REDIS_FSYNC, default_value_t = Fsync::default().to_string())]
    pub redis_fsync: String,
    /// Taxi stands (候客点) in the ingest scenario's city, circles at random spots among
    /// the taxis, so position ingest keeps their queues while it is measured (compare a
    /// run with 0 and one with ~50: ingest may lose at most 10 %).
    #[arg(long, default_value_t = 0)]
    pub stands: usize,
    /// The bench stands' radius, metres (10..=1000). The bench's taxis jump to a random
    /// spot every round, so every fix inside a fence joins or leaves a queue: 1000 m
    /// (about 10 % of fixes in a fence with 50 stands) is the worst case, 200 m a hospital
    /// gate's.
    #[arg(long, default_value_t = 200.0)]
    pub stand_radius: f64,
}

/// A scenario of `taxi bench`; `all` stands for every one but `scale`, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Scenario {
    /// Every scenario below but `scale`, in order.
    All,
    /// a. Position ingest through `ReportPositions` against Redis's own GEOADD rate.
    Ingest,
    /// b. Order → offer latency at 20,000 and 100,000 taxis.
    Dispatch,
    /// e. A burst of bookings with auth+TLS on and off.
    Burst,
    /// c. The screen pop and the phone switch's classification.
    Hotline,
    /// d. Offers fanned out to 10,000 driver streams.
    Fanout,
    /// f. One batched matching solve, 500 orders × 2,000 taxis.
    BatchSolve,
    /// g. The in-car terminal gateway: JT/T 808 location frames/s and 20,000 idle
    /// authenticated terminals.
    Terminal,
    /// h. The scale curve: 10k, 100k and 1M taxis reporting every 5 s (not in `all`).
    Scale,
}

impl Scenario {
    /// Every scenario `all` runs, in order.
    const EVERY: [Scenario; 7] = [
        Scenario::Ingest,
        Scenario::Dispatch,
        Scenario::Burst,
        Scenario::Hotline,
        Scenario::Fanout,
        Scenario::BatchSolve,
        Scenario::Terminal,
    ];

    /// `chosen` with `all` expanded, each scenario once, in the order given.
    fn expand(chosen: &[Scenario]) -> Vec<Scenario> {
        let mut out = Vec::new();
        for s in chosen {
            let each: &[Scenario] = match s {
                Scenario::All => &Self::EVERY,
                one => std::slice::from_ref(one),
            };
            for s in each {
                if !out.contains(s) {
                    out.push(*s);
                }
            }
        }
        out
    }

    /// Its name on the command line.
    fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }

    /// Runs it once.
    async fn run(self, args: &BenchArgs, fsync: Fsync) -> anyhow::Result<Vec<report::Figure>> {
        let quick = args.quick;
        match self {
            Scenario::All => {
                anyhow::bail!("`all` is expanded before running")
            }
            Scenario::Ingest => {
                ingest::ingest(quick, fsync, (args.stands, args.stand_radius)).await
            }
            Scenario::Dispatch => dispatch::dispatch(quick, fsync).await,
            Scenario::Burst => burst::burst(quick, fsync).await,
            Scenario::Hotline => hotline::hotline(quick, fsync).await,
            Scenario::Fanout => fanout::fanout(quick, fsync).await,
            Scenario::BatchSolve => batch_solve::batch_solve(quick),
            Scenario::Terminal => terminal::terminal(quick, fsync).await,
            Scenario::Scale => scale::scale(quick, fsync).await,
        }
    }
}

/// Runs the benchmark.
pub(crate) fn run(args: BenchArgs) -> anyhow::Result<()> {
    if cfg!(debug_assertions) && !args.quick {
        eprintln!(
            "taxi bench: this is a debug build; figures mean little. Use `cargo run --release -p taxi -- bench`."
        );
    }
    let fsync: Fsync = args
        .redis_fsync
        .parse()
        .map_err(|e| anyhow::anyhow!("--redis-fsync / {}: {e}", crate::config::ENV_REDIS_FSYNC))?;
    let scenarios = Scenario::expand(&args.scenario);
    let runs = args.runs as usize;
    let started = Instant::now();
    let rt = crate::runtime()?;
    let per_run = rt.block_on(async {
        let mut all = Vec::new();
        for r in 1..=runs {
            let mut figures = Vec::new();
            for s in &scenarios {
                println!(
                    "running {}{}{}",
                    s.name(),
                    if runs > 1 {
                        format!(" (run {r} of {runs})")
                    } else {
                        String::new()
                    },
                    if args.quick { " (quick)" } else { "" }
                );
                figures.extend(s.run(&args, fsync).await?);
            }
            all.push(figures);
        }
        anyhow::Ok(all)
    })?;
    let wall = started.elapsed().as_secs_f64();
    let summaries = report::summarize(&per_run);
    // `--quick` numbers are too small to judge: targets give only the worst's direction.
    let judged = !args.quick;
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    println!(
        "\ntaxi bench ({} build, {cpus} cores, load generator, server and Redis on this machine; \
         Redis AOF appendfsync {fsync}; {runs} run{}, targets judged on the worst{})",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        if runs == 1 { "" } else { "s" },
        if judged { "" } else { "; --quick: not judged" },
    );
    print!("{}", report::table(&summaries, runs, judged));
    println!("wall time {wall:.0} s");
    std::fs::write(
        &args.json,
        serde_json::to_string_pretty(&serde_json::json!({
            "cores": cpus, "quick": args.quick, "appendfsync": fsync.as_str(), "runs": runs,
            "wall_seconds": wall, "figures": report::json(&summaries, judged),
        }))?,
    )?;
    println!("\nwrote {}", args.json.display());
    Ok(())
}
