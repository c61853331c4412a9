//! Scenario h, the scale curve: 10,000, 100,000 and 1,000,000 taxis on one Redis, half
//! free, every taxi reporting every 5 s, orders booked at 200/s. For each size: how fast
//! the fleet registers and sends its first fixes (the ingest capacity at that size: every
//! fix a new spot), what ingest the 5 s reporting achieved against what it asked (those
//! reports repeat each taxi's spot, as `dispatch_load` does), order → offer latency, and
//! Redis and server memory. Not part of `all` (the 1M row alone takes minutes and about
//! 1 GiB): `taxi bench --scenario scale`.

use super::dispatch::{DispatchLoad, dispatch_load};
use super::env::Guard;
use super::report::{Figure, Target};
use std::time::{Duration, Instant};
use taxi_redis_process::Fsync;

const SCENARIO: &str = "h. scale";
/// How often every taxi reports.
const REPORT_EVERY: Duration = Duration::from_secs(5);
/// Issue 16's goal for the largest size: Redis memory, MiB.
const LARGEST_REDIS_MIB: f64 = 1024.0;
/// ... order → offer p99, ms.
const LARGEST_P99_MS: f64 = 50.0;
/// ... and the time to print its row, s.
const LARGEST_WITHIN_S: f64 = 15.0 * 60.0;

pub(super) async fn scale(quick: bool, fsync: Fsync) -> anyhow::Result<Vec<Figure>> {
    let sizes: &[usize] = if quick {
        &[1_000, 5_000]
    } else {
        &[10_000, 100_000, 1_000_000]
    };
    let largest = *sizes.last().expect("sizes");
    let mut out = Vec::new();
    for &n in sizes {
        let started = Instant::now();
        let r = dispatch_load(DispatchLoad {
            taxis: n,
            free_share: 0.5,
            probes: if quick { 100 } else { 2_000 },
            rate: if quick { 20.0 } else { 200.0 },
            seconds: if quick { 2.0 } else { 10.0 },
            fsync,
            report_every: Some(REPORT_EVERY),
            guard: Guard::Secure,
        })
        .await?;
        let took = started.elapsed().as_secs_f64();
        let k = if n >= 1_000_000 {
            format!("{}M", n / 1_000_000)
        } else {
            format!("{}k", n / 1000)
        };
        let judged = |t: Target| (n == largest).then_some(t);
        let ms = |q: f64| r.latencies.value_at_quantile(q) as f64 / 1000.0;
        let f = |name: String, value: f64, unit: &'static str, target| {
            Figure::new(SCENARIO, name, value, unit, target)
        };
        let wanted = n as f64 / REPORT_EVERY.as_secs_f64();
        out.extend([
            f(
                format!("{k} taxis: registered and signed on per second"),
                r.registered_per_s,
                "/s",
                None,
            ),
            f(
                format!("{k} taxis: ingest capacity (every taxi's first fix)"),
                r.first_fixes_per_s,
                "/s",
                None,
            ),
            f(
                // The background reports repeat each taxi's spot: a GEOADD that moves
                // nothing, cheaper than a moving taxi's (the capacity line above).
                format!("{k} taxis: ingest achieved, unmoving, every 5 s asks {wanted:.0}/s"),
                r.ingest_base,
                "/s",
                None,
            ),
            f(
                format!("{k} taxis: order → offer p50 at 200 orders/s"),
                ms(0.5),
                "ms",
                None,
            ),
            f(
                format!("{k} taxis: order → offer p99 at 200 orders/s"),
                ms(0.99),
                "ms",
                judged(Target::AtMost(LARGEST_P99_MS)),
            ),
            f(
                format!("{k} taxis: Redis memory per taxi"),
                r.redis_bytes_per_taxi,
                "B",
                None,
            ),
            f(
                format!("{k} taxis: Redis memory"),
                r.redis_bytes as f64 / (1024.0 * 1024.0),
                "MiB",
                judged(Target::AtMost(LARGEST_REDIS_MIB)),
            ),
            f(
                format!("{k} taxis: server resident memory"),
                r.rss_mib,
                "MiB",
                None,
            ),
            f(
                format!("{k} taxis: time to this row"),
                took,
                "s",
                judged(Target::AtMost(LARGEST_WITHIN_S)),
            ),
        ]);
        println!(
            "  scale: {k} taxis done in {took:.0} s (p99 {:.1} ms, Redis {:.0} MiB)",
            ms(0.99),
            r.redis_bytes as f64 / (1024.0 * 1024.0)
        );
    }
    Ok(out)
}
