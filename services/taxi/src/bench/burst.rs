//! Scenario burst (figures under e, auth+TLS on / off): every probe's order booked at
//! once, alternately with and without TLS and authentication; orders offered per second
//! and the CPU the server, the load generator and Redis spent per order.

use super::dispatch::{DispatchLoad, dispatch_load};
use super::env::{Guard, compare_guards};
use super::report::{Figure, guard_cost, median};
use std::sync::Mutex;
use taxi_redis_process::Fsync;

/// Throughput: every probe's order booked at once, with and without TLS and
/// authentication, alternately; orders offered per second from the first booking to the
/// last offer, and the CPU each process spent per order.
pub(super) async fn burst(quick: bool, fsync: Fsync) -> anyhow::Result<Vec<Figure>> {
    let mut out = Vec::new();
    let cpu: Mutex<[Vec<[f64; 3]>; 2]> = Mutex::new([vec![], vec![]]);
    let samples = compare_guards(None, |guard| {
        let cpu = &cpu;
        async move {
            let probes = if quick { 200 } else { 2_000 };
            let r = dispatch_load(DispatchLoad {
                taxis: if quick { 1_000 } else { 20_000 },
                free_share: 1.0,
                probes,
                rate: 1e6,
                seconds: probes as f64 / 1e6,
                report_every: None,
                fsync,
                guard,
            })
            .await?;
            cpu.lock().expect("lock")[usize::from(guard == Guard::Open)].push(r.cpu_ms_per_order);
            Ok(r.offers_per_s)
        }
    })
    .await?;
    out.extend(guard_cost("dispatch orders offered/s (burst)", &samples));
    let cpu = cpu.into_inner().expect("lock");
    for (k, side) in ["on", "off"].into_iter().enumerate() {
        for (p, who) in ["server", "load generator", "Redis"]
            .into_iter()
            .enumerate()
        {
            let v: Vec<f64> = cpu[k].iter().map(|c| c[p] * 1000.0).collect();
            out.push(Figure::new(
                "e. auth+TLS on / off",
                format!("burst: {who} CPU per order, auth+TLS {side}, median"),
                median(&v),
                "µs",
                None,
            ));
        }
    }
    Ok(out)
}
