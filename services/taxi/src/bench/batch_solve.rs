//! Scenario f, batched matching (issue 15): the solve of one seeded batch of 500 waiting
//! orders × 2,000 free taxis, in process (no Redis, no server); its median and worst.

use super::env::spot;
use super::report::{Figure, Target};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;
use taxi_domain::matching;

const SCENARIO: &str = "f. batched matching";

/// A seeded batch as the batched matcher meets it (issue 15): `orders` waiting orders
/// (30 % older, 5 % needing a wheelchair, waits up to two minutes) and `taxis` free taxis
/// (10 % caring fleet, 8 % accessible), spread over [`spot`](super::env::spot)'s 40 × 40 km; each order
/// lists its `per_order` nearest feasible taxis within reach (5 km, older passengers
/// 8 km: the default radii), as the store's batch read returns them.
fn batch_problem(
    seed: u64,
    orders: usize,
    taxis: usize,
    per_order: usize,
) -> anyhow::Result<matching::Problem> {
    let mut rng = StdRng::seed_from_u64(seed);
    let at = |rng: &mut StdRng| {
        let (lat, lon) = spot(rng);
        taxi_domain::Coordinates::new(lat, lon)
    };
    let orders = (0..orders)
        .map(|i| {
            let elderly = rng.random_bool(0.3);
            let waited_ms = rng.random_range(0..120_000);
            Ok(matching::WaitingOrder {
                id: format!("o{i:05}"),
                pickup: at(&mut rng)?,
                elderly,
                waited_ms,
                wheelchair: rng.random_bool(0.05),
                caring_only: false,
                reach_m: if elderly { 8_000.0 } else { 5_000.0 },
                // Enqueued `waited_ms` ago, less the head start for an older passenger.
                queue_score: -waited_ms - if elderly { 90_000 } else { 0 },
                greedy_only: false,
            })
        })
        .collect::<Result<Vec<_>, taxi_domain::FieldError>>()?;
    let taxis = (0..taxis)
        .map(|i| {
            Ok(matching::FreeTaxi {
                id: format!("t{i:05}"),
                position: at(&mut rng)?,
                caring: rng.random_bool(0.1),
                accessible: rng.random_bool(0.08),
            })
        })
        .collect::<Result<Vec<_>, taxi_domain::FieldError>>()?;
    let mut candidates = matching::all_candidates(&orders, &taxis);
    candidates.sort_by(|a, b| {
        a.order
            .cmp(&b.order)
            .then(a.distance_m.total_cmp(&b.distance_m))
    });
    let mut listed = vec![0usize; orders.len()];
    candidates.retain(|c| {
        listed[c.order] += 1;
        listed[c.order] <= per_order
    });
    Ok(matching::Problem {
        orders,
        taxis,
        candidates,
    })
}

/// The batched matcher's solve (issue 15): 500 orders × 2,000 taxis, the median and the
/// worst of several solves of the same seeded batch (target: at most 10 ms, release).
pub(super) fn batch_solve(quick: bool) -> anyhow::Result<Vec<Figure>> {
    let params = matching::MatchParams::default();
    let problem = batch_problem(15, 500, 2_000, 16)?;
    let runs = if quick { 3 } else { 21 };
    let mut times = Vec::with_capacity(runs);
    let mut pairs = 0;
    for _ in 0..runs {
        let start = Instant::now();
        pairs = matching::solve(&problem, &params).len();
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let f = |name: &str, value: f64, unit: &'static str, target| {
        Figure::new(SCENARIO, name, value, unit, target)
    };
    Ok(vec![
        f("orders x free taxis", 500.0 * 2_000.0, "", None),
        f(
            "candidates (nearest feasible per order)",
            problem.candidates.len() as f64,
            "",
            None,
        ),
        f("pairs", pairs as f64, "", None),
        f(
            "solve median",
            times[times.len() / 2],
            "ms",
            Some(Target::AtMost(10.0)),
        ),
        f("solve worst", times[times.len() - 1], "ms", None),
    ])
}
