//! Scenario d, offer fan-out: 10,000 drivers with an open dispatch stream and orders at
//! 1,000/s, one to each; offer delivery latency and the server's resident memory.

use super::dispatch::{DispatchLoad, dispatch_load};
use super::env::Guard;
use super::report::{Figure, Target};
use taxi_redis_process::Fsync;

const SCENARIO: &str = "d. offer fan-out";

pub(super) async fn fanout(quick: bool, fsync: Fsync) -> anyhow::Result<Vec<Figure>> {
    let n = if quick { 500 } else { 10_000 };
    let r = dispatch_load(DispatchLoad {
        taxis: n,
        free_share: 1.0,
        probes: n,
        rate: if quick { 50.0 } else { 1000.0 },
        seconds: if quick { 2.0 } else { 10.0 },
        report_every: None,
        fsync,
        guard: Guard::Secure,
    })
    .await?;
    let ms = |q: f64| r.latencies.value_at_quantile(q) as f64 / 1000.0;
    let f = |name: &str, value: f64, unit: &'static str, target| {
        Figure::new(SCENARIO, name, value, unit, target)
    };
    Ok(vec![
        f("connected driver streams", n as f64, "", None),
        f(
            "offers delivered (one per order, each to its probe)",
            (r.orders - r.missed) as f64,
            "",
            None,
        ),
        f("offer delivery p50", ms(0.5), "ms", None),
        f(
            "offer delivery p99",
            ms(0.99),
            "ms",
            Some(Target::AtMost(100.0)),
        ),
        f(
            "server resident memory",
            r.rss_mib,
            "MiB",
            Some(Target::AtMost(1024.0)),
        ),
    ])
}
