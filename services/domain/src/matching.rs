//! Batched matching: every waiting order and every free taxi near them, paired in one
//! assignment that minimises the total cost, instead of nearest-first one order at a time.
//!
//! The cost of a pair is the taxi's pickup ETA (straight distance × detour factor ÷
//! speed) minus what the order is owed: a weight for an older passenger, an aging term
//! for the time it has waited (capped), and a bonus when an older passenger gets a taxi
//! of the caring fleet. So when two orders contest one taxi, the older or longer-waiting
//! one wins it; when they do not, each gets the taxi that makes the total pickup time
//! least (nearest-first greedy can cross two pairs and pay twice the distance).
//!
//! Needs are hard constraints, never costs: a wheelchair order is paired only with an
//! accessible taxi, an order searching the caring fleet only with a caring taxi, and no
//! order with a taxi beyond its reach. Infeasible pairs are never output.
//!
//! The problem is kept sparse so a city's batch (500 orders × 2,000 taxis) solves in a
//! few milliseconds: each order keeps only its `k` cheapest feasible candidates, the
//! order whose cheapest taxi no other order lists takes it at once, the other
//! orders and taxis then fall into independent components (no candidate links two
//! components), and each component is one dense rectangular assignment solved by
//! Jonker–Volgenant (the `lsap` crate, a port of SciPy's `linear_sum_assignment`).
//! Among assignments the solver first maximises how many orders get a taxi (an
//! infeasible cell costs more than any feasible assignment could save), then minimises
//! the cost. The input is sorted by id before solving, so the answer does not depend on
//! the order the input came in, and ties are broken the same way every time.
//!
//! The two promises of priority are kept after the solve, exactly as the greedy matcher
//! keeps them (issue 15 item 4): an older passenger is never overtaken by an ordinary
//! order behind her in the queue (booked after her, or within her head start), and an
//! ordinary order is never overtaken by an older one booked more than the head start after
//! it (the aging bound). So between an older order and an ordinary one, no order keeps a
//! taxi that the other, ahead of it in the queue (lower `queue_score`) and left without
//! one, could take; such a taxi goes to the first of those orders instead
//! ([`keep_priority_order`]). Between orders of one kind the cost decides, aging included:
//! that is where a batch gains, serving the order a freed taxi is nearest to rather than
//! the one that happened to be booked first.

use crate::geo::{CITY_SPEED_MPS, Coordinates, DETOUR_FACTOR};
use std::collections::HashMap;

/// An order waiting for a taxi.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitingOrder {
    /// The order's id.
    pub id: String,
    /// Where the passenger waits.
    pub pickup: Coordinates,
    /// An older passenger's order.
    pub elderly: bool,
    /// How long it has waited for a taxi, ms.
    pub waited_ms: i64,
    /// Needs an accessible (wheelchair) taxi.
    pub wheelchair: bool,
    /// Only caring-fleet taxis may take it (a recurring trip before its open search).
    pub caring_only: bool,
    /// The farthest a taxi may be (straight line, metres).
    pub reach_m: f64,
    /// Its place in the queue (enqueue time less the elderly head start, ms): lower is
    /// ahead.
    pub queue_score: i64,
    /// Left to the greedy pass (a stand pickup, a paired recurring trip: their first taxi
    /// is a rule, not a cost): never paired here, but a taxi it could take is not given to
    /// an order of the other kind behind it ([`keep_priority_order`]).
    pub greedy_only: bool,
}

/// A free taxi that may take an order.
#[derive(Debug, Clone, PartialEq)]
pub struct FreeTaxi {
    /// The taxi's id.
    pub id: String,
    /// Its last fresh fix.
    pub position: Coordinates,
    /// In the caring fleet.
    pub caring: bool,
    /// Wheelchair accessible.
    pub accessible: bool,
}

/// A taxi that could reach an order: indices into [`Problem::orders`] and
/// [`Problem::taxis`], and the straight-line distance between them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Index of the order.
    pub order: usize,
    /// Index of the taxi.
    pub taxi: usize,
    /// Straight-line distance from the taxi to the pickup, metres.
    pub distance_m: f64,
}

/// One batch: the waiting orders, the free taxis near them, and which taxi can reach
/// which order (a candidate not listed is not considered).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Problem {
    /// The waiting orders.
    pub orders: Vec<WaitingOrder>,
    /// The free taxis.
    pub taxis: Vec<FreeTaxi>,
    /// The pairs that may be considered, with their distances.
    pub candidates: Vec<Candidate>,
}

/// The numbers the cost is made of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchParams {
    /// Door-to-door speed, metres per second.
    pub speed_mps: f64,
    /// Road distance ÷ straight distance.
    pub detour: f64,
    /// Seconds of ETA an older passenger's order is worth (priority weight).
    pub elderly_weight_s: f64,
    /// Seconds of ETA each second of waiting is worth (aging).
    pub aging_per_s: f64,
    /// Waiting beyond this counts no more, seconds.
    pub aging_cap_s: f64,
    /// Seconds of ETA a caring-fleet taxi is worth to an older passenger.
    pub caring_bonus_s: f64,
    /// Candidates kept per order (its cheapest feasible ones).
    pub k: usize,
}

impl Default for MatchParams {
    fn default() -> Self {
        Self {
            speed_mps: CITY_SPEED_MPS,
            detour: DETOUR_FACTOR,
            // A contested taxi goes to an older passenger unless it is two minutes
            // further from them than from the other passenger.
            elderly_weight_s: 120.0,
            // Waiting a minute longer is worth 30 s of ETA, up to three minutes.
            aging_per_s: 0.5,
            aging_cap_s: 180.0,
            // Small: a farther caring taxi must not delay the pickup much (issue 15).
            caring_bonus_s: 30.0,
            // Measured (README): 8 keeps 500 × 2,000 at about 2 ms; 16 took about 9.
            k: 8,
        }
    }
}

/// A pair of the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// The order's id.
    pub order: String,
    /// The taxi's id.
    pub taxi: String,
    /// The straight-line distance, metres.
    pub distance_m: f64,
    /// The pickup ETA, seconds.
    pub eta_s: f64,
}

/// The pickup ETA, seconds, for a taxi `distance_m` away in a straight line.
pub fn eta_s(p: &MatchParams, distance_m: f64) -> f64 {
    distance_m * p.detour / p.speed_mps
}

/// Whether `taxi` may take `order` at `distance_m`: needs and reach are hard constraints.
pub fn feasible(order: &WaitingOrder, taxi: &FreeTaxi, distance_m: f64) -> bool {
    distance_m.is_finite()
        && distance_m >= 0.0
        && distance_m <= order.reach_m
        && (!order.wheelchair || taxi.accessible)
        && (!order.caring_only || taxi.caring)
}

/// The cost of giving `taxi` to `order` at `distance_m` (lower is better; may be negative).
pub fn cost(p: &MatchParams, order: &WaitingOrder, taxi: &FreeTaxi, distance_m: f64) -> f64 {
    let waited_s = (order.waited_ms.max(0) as f64 / 1000.0).min(p.aging_cap_s);
    let mut c = eta_s(p, distance_m) - p.aging_per_s * waited_s;
    if order.elderly {
        c -= p.elderly_weight_s;
        if taxi.caring {
            c -= p.caring_bonus_s;
        }
    }
    c
}

/// Every feasible pair of `orders` and `taxis` by brute force (for tests, the bench and
/// small batches; the store finds them with its geo index instead).
pub fn all_candidates(orders: &[WaitingOrder], taxis: &[FreeTaxi]) -> Vec<Candidate> {
    let mut out = Vec::new();
    for (oi, o) in orders.iter().enumerate() {
        for (ti, t) in taxis.iter().enumerate() {
            let d = o.pickup.distance_m(&t.position);
            if feasible(o, t, d) {
                out.push(Candidate {
                    order: oi,
                    taxi: ti,
                    distance_m: d,
                });
            }
        }
    }
    out
}

/// A cell no feasible pair can be confused with: more than any batch's feasible costs
/// could add up to, so the solver matches as many orders as it can before it looks at
/// cost.
const INFEASIBLE: f64 = 1.0e9;

/// Solves one batch: pairs (order, taxi), each order and each taxi at most once, only
/// feasible pairs, sorted by order id.
pub fn solve(problem: &Problem, p: &MatchParams) -> Vec<Pair> {
    // Canonical order: by id, so the answer never depends on the input's order.
    let mut order_ix: Vec<usize> = (0..problem.orders.len()).collect();
    order_ix.sort_by(|&a, &b| problem.orders[a].id.cmp(&problem.orders[b].id));
    let mut taxi_ix: Vec<usize> = (0..problem.taxis.len()).collect();
    taxi_ix.sort_by(|&a, &b| problem.taxis[a].id.cmp(&problem.taxis[b].id));
    let mut order_rank = vec![0; problem.orders.len()];
    for (rank, &i) in order_ix.iter().enumerate() {
        order_rank[i] = rank;
    }
    let mut taxi_rank = vec![0; problem.taxis.len()];
    for (rank, &i) in taxi_ix.iter().enumerate() {
        taxi_rank[i] = rank;
    }

    // Each order's k cheapest feasible candidates (one per taxi: the nearest listing).
    let mut per_order: Vec<Vec<(f64, usize, f64)>> = vec![Vec::new(); order_ix.len()];
    for c in &problem.candidates {
        let (Some(o), Some(t)) = (problem.orders.get(c.order), problem.taxis.get(c.taxi)) else {
            continue;
        };
        if o.greedy_only || !feasible(o, t, c.distance_m) {
            continue;
        }
        per_order[order_rank[c.order]].push((
            cost(p, o, t, c.distance_m),
            taxi_rank[c.taxi],
            c.distance_m,
        ));
    }
    for list in &mut per_order {
        list.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut seen = std::collections::HashSet::new();
        list.retain(|e| seen.insert(e.1));
        list.truncate(p.k.max(1));
    }

    let n = order_ix.len();
    let mut pairs = Vec::new();
    let mut push = |o: usize, t: usize, d: f64| {
        pairs.push(Pair {
            order: problem.orders[order_ix[o]].id.clone(),
            taxi: problem.taxis[taxi_ix[t]].id.clone(),
            distance_m: d,
            eta_s: eta_s(p, d),
        })
    };

    // An order whose cheapest taxi no other order lists takes it: exact (any best answer
    // can give it that taxi instead and lose no pair and no cost), and it leaves the
    // solver a smaller matrix. Its other taxis may then become someone else's own.
    let mut active = vec![true; n];
    let mut listed = vec![0u32; taxi_ix.len()];
    for list in &per_order {
        for &(_, t, _) in list {
            listed[t] += 1;
        }
    }
    loop {
        let mut peeled = false;
        for o in 0..n {
            if !active[o] {
                continue;
            }
            let Some(&(_, t, d)) = per_order[o].first() else {
                active[o] = false;
                continue;
            };
            if listed[t] == 1 {
                active[o] = false;
                peeled = true;
                for &(_, u, _) in &per_order[o] {
                    listed[u] -= 1;
                }
                push(o, t, d);
            }
        }
        if !peeled {
            break;
        }
    }

    // Independent components of the rest: union-find over orders (0..n) and taxis
    // (n..n+m).
    let mut parent: Vec<usize> = (0..n + taxi_ix.len()).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for (o, list) in per_order.iter().enumerate() {
        if !active[o] {
            continue;
        }
        for &(_, t, _) in list {
            let (a, b) = (find(&mut parent, o), find(&mut parent, n + t));
            if a != b {
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut components: Vec<(Vec<usize>, Vec<usize>)> = Vec::new();
    let mut which: HashMap<usize, usize> = HashMap::new();
    for (o, list) in per_order.iter().enumerate() {
        if !active[o] {
            continue;
        }
        let root = find(&mut parent, o);
        let c = *which.entry(root).or_insert_with(|| {
            components.push((Vec::new(), Vec::new()));
            components.len() - 1
        });
        components[c].0.push(o);
        for &(_, t, _) in list {
            components[c].1.push(t);
        }
    }

    for (orders, mut taxis) in components {
        taxis.sort_unstable();
        taxis.dedup();
        let col: HashMap<usize, usize> = taxis.iter().enumerate().map(|(j, &t)| (t, j)).collect();
        let (nr, nc) = (orders.len(), taxis.len());
        let mut matrix = vec![INFEASIBLE; nr * nc];
        for (r, &o) in orders.iter().enumerate() {
            for &(c, t, _) in &per_order[o] {
                matrix[r * nc + col[&t]] = c;
            }
        }
        for (r, j) in assign(nr, nc, &matrix) {
            if matrix[r * nc + j] >= INFEASIBLE {
                continue;
            }
            let (o, t) = (orders[r], taxis[j]);
            let d = per_order[o].iter().find(|e| e.1 == t).map_or(0.0, |e| e.2);
            push(o, t, d);
        }
    }
    let mut pairs = keep_priority_order(problem, p, pairs);
    pairs.sort_by(|a, b| a.order.cmp(&b.order));
    pairs
}

/// Moves each taxi that an order of the other kind (older against ordinary) ahead in the
/// queue, left without a taxi, could take (a feasible candidate of it) from the order
/// behind to the first such order, until there is none; when that order is left to the
/// greedy pass ([`WaitingOrder::greedy_only`]), the pair is dropped instead, and the greedy
/// pass serves both in queue order. Each step puts an order ahead in the place of one
/// behind or drops a pair, so it ends; it changes nothing where no order is left out.
pub fn keep_priority_order(problem: &Problem, p: &MatchParams, mut pairs: Vec<Pair>) -> Vec<Pair> {
    let index: HashMap<&str, usize> = problem
        .orders
        .iter()
        .enumerate()
        .map(|(i, o)| (o.id.as_str(), i))
        .collect();
    let taxi_index: HashMap<&str, usize> = problem
        .taxis
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.as_str(), i))
        .collect();
    // Feasible (order, taxi) → distance.
    let mut reach: HashMap<(usize, usize), f64> = HashMap::new();
    for c in &problem.candidates {
        if let (Some(o), Some(t)) = (problem.orders.get(c.order), problem.taxis.get(c.taxi))
            && feasible(o, t, c.distance_m)
        {
            let d = reach.entry((c.order, c.taxi)).or_insert(c.distance_m);
            *d = d.min(c.distance_m);
        }
    }
    // Strictly ahead, and of the other kind: orders with the same score, and orders of one
    // kind, are the cost's to choose between.
    let ahead = |a: usize, b: usize| problem.orders[a].queue_score < problem.orders[b].queue_score;
    let other_kind = |a: usize, b: usize| problem.orders[a].elderly != problem.orders[b].elderly;
    loop {
        let matched: std::collections::HashSet<usize> = pairs
            .iter()
            .filter_map(|p| index.get(p.order.as_str()).copied())
            .collect();
        let mut left: Vec<usize> = (0..problem.orders.len())
            .filter(|o| !matched.contains(o))
            .collect();
        left.sort_by(|&a, &b| {
            let (x, y) = (&problem.orders[a], &problem.orders[b]);
            (x.queue_score, &x.id).cmp(&(y.queue_score, &y.id))
        });
        // The pair furthest back whose taxi an order ahead of it, left out, can take.
        let mut worst: Option<(usize, usize, usize, f64)> = None;
        for (k, pair) in pairs.iter().enumerate() {
            let (Some(&o), Some(&t)) = (
                index.get(pair.order.as_str()),
                taxi_index.get(pair.taxi.as_str()),
            ) else {
                continue;
            };
            let Some((w, d)) = left
                .iter()
                .take_while(|&&w| ahead(w, o))
                .filter(|&&w| other_kind(w, o))
                .find_map(|&w| reach.get(&(w, t)).map(|&d| (w, d)))
            else {
                continue;
            };
            if worst.is_none_or(|(_, _, wo, _)| ahead(wo, o)) {
                worst = Some((k, w, o, d));
            }
        }
        let Some((k, w, _, d)) = worst else {
            return pairs;
        };
        if problem.orders[w].greedy_only {
            // Its taxi is the greedy pass's to give, in queue order: this pair waits for it.
            pairs.remove(k);
            continue;
        }
        pairs[k].order = problem.orders[w].id.clone();
        pairs[k].distance_m = d;
        pairs[k].eta_s = eta_s(p, d);
    }
}

/// The minimum-cost assignment of a dense `nr` × `nc` matrix (row-major): (row, column)
/// pairs, min(nr, nc) of them.
#[allow(clippy::ptr_arg)] // `lsap::solve` takes a `&Vec`; a slice would cost a copy.
fn assign(nr: usize, nc: usize, matrix: &Vec<f64>) -> Vec<(usize, usize)> {
    // Every cell is finite, so the solver cannot fail; an empty answer is safe anyway.
    match lsap::solve(nr, nc, matrix, false) {
        Ok((rows, cols)) => rows.into_iter().zip(cols).collect(),
        Err(_) => Vec::new(),
    }
}

/// Which of a round's pairs may still be offered, the pairs going out in queue order. A
/// pair can be refused after the solve (its taxi went to another process's order, moved
/// off, or is yielded to a waiting order ahead); its order then still waits in the queue,
/// where no other order's offer looks for it (an offer only yields to orders *waiting* for
/// a retry). So once an order's pair is refused, no order of the other kind behind it is
/// offered in this round: they go to the greedy pass, which serves the queue in order, the
/// refused order first (issue 15 item 4: older first at every moment, and the aging bound).
/// Orders of the refused order's own kind keep their pairs: between one kind the cost
/// decides anyway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundGate {
    /// The queue score of the first refused older passenger's order, if any.
    elderly_refused: Option<i64>,
    /// The queue score of the first refused ordinary order, if any.
    other_refused: Option<i64>,
}

impl RoundGate {
    /// Whether an order of this kind at `queue_score` may be offered its pair now.
    pub fn may_offer(&self, elderly: bool, queue_score: i64) -> bool {
        let other = if elderly {
            self.other_refused
        } else {
            self.elderly_refused
        };
        other.is_none_or(|refused| queue_score <= refused)
    }

    /// An order's pair was refused and the order still waits.
    pub fn refused(&mut self, elderly: bool, queue_score: i64) {
        let slot = if elderly {
            &mut self.elderly_refused
        } else {
            &mut self.other_refused
        };
        *slot = Some(slot.map_or(queue_score, |s| s.min(queue_score)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A point `east_m` metres east and `north_m` north of a spot in Chongqing.
    fn at(east_m: f64, north_m: f64) -> Coordinates {
        let (lat0, lon0) = (29.56_f64, 106.55_f64);
        let lat = lat0 + north_m / 111_195.0;
        let lon = lon0 + east_m / (111_195.0 * lat0.to_radians().cos());
        Coordinates::new(lat, lon).unwrap()
    }

    fn order(id: &str, east_m: f64) -> WaitingOrder {
        WaitingOrder {
            id: id.into(),
            pickup: at(east_m, 0.0),
            elderly: false,
            waited_ms: 0,
            wheelchair: false,
            caring_only: false,
            reach_m: 5_000.0,
            queue_score: 0,
            greedy_only: false,
        }
    }

    fn taxi(id: &str, east_m: f64) -> FreeTaxi {
        FreeTaxi {
            id: id.into(),
            position: at(east_m, 0.0),
            caring: false,
            accessible: false,
        }
    }

    fn problem(orders: Vec<WaitingOrder>, taxis: Vec<FreeTaxi>) -> Problem {
        let candidates = all_candidates(&orders, &taxis);
        Problem {
            orders,
            taxis,
            candidates,
        }
    }

    fn pairs_of(answer: &[Pair]) -> Vec<(&str, &str)> {
        answer
            .iter()
            .map(|p| (p.order.as_str(), p.taxi.as_str()))
            .collect()
    }

    /// What queue-order nearest-first does: each order in turn takes its nearest
    /// feasible taxi still free.
    fn greedy(pr: &Problem) -> Vec<(usize, usize, f64)> {
        let mut taken = vec![false; pr.taxis.len()];
        let mut out = Vec::new();
        for (oi, _) in pr.orders.iter().enumerate() {
            let best = pr
                .candidates
                .iter()
                .filter(|c| c.order == oi && !taken[c.taxi])
                .min_by(|a, b| a.distance_m.total_cmp(&b.distance_m));
            if let Some(c) = best {
                taken[c.taxi] = true;
                out.push((oi, c.taxi, c.distance_m));
            }
        }
        out
    }

    #[test]
    fn empty_inputs_give_no_pairs() {
        let p = MatchParams::default();
        assert!(solve(&Problem::default(), &p).is_empty());
        assert!(solve(&problem(vec![order("o1", 0.0)], vec![]), &p).is_empty());
        assert!(solve(&problem(vec![], vec![taxi("t1", 0.0)]), &p).is_empty());
    }

    #[test]
    fn the_batch_uncrosses_what_greedy_crosses() {
        // o1 is first in the queue; greedy gives it t_near (400 m), which is also the
        // only near taxi of o2, so o2 waits for t_far, 1.7 km away.
        let pr = problem(
            vec![order("o1", 0.0), order("o2", 1_000.0)],
            vec![taxi("t_near", 400.0), taxi("t_far", -700.0)],
        );
        let g: f64 = greedy(&pr).iter().map(|e| e.2).sum();
        let answer = solve(&pr, &MatchParams::default());
        assert_eq!(pairs_of(&answer), [("o1", "t_far"), ("o2", "t_near")]);
        let b: f64 = answer.iter().map(|p| p.distance_m).sum();
        assert!((g - 2_100.0).abs() < 5.0, "greedy {g}");
        assert!((b - 1_300.0).abs() < 5.0, "batch {b}");
        // The ETAs are the distances through the detour and the speed.
        let p = MatchParams::default();
        for pair in &answer {
            assert!((pair.eta_s - pair.distance_m * p.detour / p.speed_mps).abs() < 1e-9);
        }
    }

    #[test]
    fn an_older_passenger_wins_a_contested_taxi() {
        // One taxi, two orders: the ordinary one is nearer and has waited as long.
        let mut old = order("o_old", 600.0);
        old.elderly = true;
        let pr = problem(vec![order("o_young", 200.0), old], vec![taxi("t", 0.0)]);
        assert_eq!(
            pairs_of(&solve(&pr, &MatchParams::default())),
            [("o_old", "t")]
        );
        // Without the priority weight, the nearer order would have won.
        let flat = MatchParams {
            elderly_weight_s: 0.0,
            caring_bonus_s: 0.0,
            ..MatchParams::default()
        };
        assert_eq!(pairs_of(&solve(&pr, &flat)), [("o_young", "t")]);
    }

    #[test]
    fn a_long_wait_wins_a_contested_taxi() {
        let mut waited = order("o_waited", 300.0);
        waited.waited_ms = 120_000;
        let pr = problem(vec![order("o_new", 100.0), waited], vec![taxi("t", 0.0)]);
        assert_eq!(
            pairs_of(&solve(&pr, &MatchParams::default())),
            [("o_waited", "t")]
        );
        // Aging is capped: waiting 10 minutes is worth no more than the cap.
        let p = MatchParams::default();
        let mut long = order("o", 0.0);
        long.waited_ms = 600_000;
        let t = taxi("t", 0.0);
        assert_eq!(cost(&p, &long, &t, 0.0), -p.aging_per_s * p.aging_cap_s);
    }

    #[test]
    fn an_older_passenger_prefers_the_caring_fleet_a_little() {
        let mut old = order("o", 0.0);
        old.elderly = true;
        let mut caring = taxi("t_caring", 150.0);
        caring.caring = true;
        // 150 m farther is 32.5 s at 6 m/s × 1.3: more than the 30 s bonus; 100 m is less.
        let pr = problem(
            vec![old.clone()],
            vec![taxi("t_plain", 0.0), caring.clone()],
        );
        assert_eq!(
            pairs_of(&solve(&pr, &MatchParams::default())),
            [("o", "t_plain")]
        );
        caring.position = at(100.0, 0.0);
        let pr = problem(vec![old], vec![taxi("t_plain", 0.0), caring]);
        assert_eq!(
            pairs_of(&solve(&pr, &MatchParams::default())),
            [("o", "t_caring")]
        );
    }

    #[test]
    fn a_wheelchair_order_never_gets_a_plain_taxi() {
        let mut wc = order("o_wc", 0.0);
        wc.wheelchair = true;
        let mut acc = taxi("t_acc", 3_000.0);
        acc.accessible = true;
        let pr = problem(vec![wc.clone()], vec![taxi("t_plain", 10.0), acc]);
        assert_eq!(
            pairs_of(&solve(&pr, &MatchParams::default())),
            [("o_wc", "t_acc")]
        );
        // Only plain taxis: unmatched, even when a candidate list names them.
        let taxis = vec![taxi("t_plain", 10.0)];
        let pr = Problem {
            candidates: vec![Candidate {
                order: 0,
                taxi: 0,
                distance_m: 10.0,
            }],
            orders: vec![wc],
            taxis,
        };
        assert!(solve(&pr, &MatchParams::default()).is_empty());
    }

    #[test]
    fn a_caring_only_order_gets_only_the_caring_fleet() {
        let mut o = order("o", 0.0);
        o.caring_only = true;
        let mut c = taxi("t_caring", 2_000.0);
        c.caring = true;
        let pr = problem(vec![o.clone()], vec![taxi("t_plain", 0.0), c]);
        assert_eq!(
            pairs_of(&solve(&pr, &MatchParams::default())),
            [("o", "t_caring")]
        );
        assert!(
            solve(
                &problem(vec![o], vec![taxi("t_plain", 0.0)]),
                &MatchParams::default()
            )
            .is_empty()
        );
    }

    #[test]
    fn a_taxi_beyond_reach_is_never_given() {
        let mut o = order("o", 0.0);
        o.reach_m = 1_000.0;
        let pr = Problem {
            orders: vec![o],
            taxis: vec![taxi("t", 1_500.0)],
            candidates: vec![Candidate {
                order: 0,
                taxi: 0,
                distance_m: 1_500.0,
            }],
        };
        assert!(solve(&pr, &MatchParams::default()).is_empty());
        // Bad distances and indices are ignored, not trusted.
        let mut bad = pr.clone();
        bad.candidates = vec![
            Candidate {
                order: 0,
                taxi: 0,
                distance_m: f64::NAN,
            },
            Candidate {
                order: 0,
                taxi: 7,
                distance_m: 1.0,
            },
            Candidate {
                order: 3,
                taxi: 0,
                distance_m: 1.0,
            },
        ];
        assert!(solve(&bad, &MatchParams::default()).is_empty());
    }

    #[test]
    fn an_order_ahead_in_the_queue_keeps_a_contested_taxi_even_if_farther() {
        // The older passenger (ahead by her head start) 3 km from the only taxi, an
        // ordinary order 100 m from it: cost alone gives it to the ordinary order.
        let mut old = order("o_old", -3_000.0);
        old.elderly = true;
        old.queue_score = -90_000;
        let near = order("o_near", 100.0);
        let pr = problem(vec![old, near], vec![taxi("t", 0.0)]);
        let answer = solve(&pr, &MatchParams::default());
        assert_eq!(pairs_of(&answer), [("o_old", "t")]);
        assert!((answer[0].distance_m - 3_000.0).abs() < 5.0, "{answer:?}");
        assert!(
            (answer[0].eta_s - eta_s(&MatchParams::default(), answer[0].distance_m)).abs() < 1e-9
        );
    }

    #[test]
    fn an_ordinary_order_ahead_of_an_older_one_keeps_its_place() {
        // Booked long before the older passenger (beyond her head start): it is ahead.
        let far = order("o_first", -3_000.0);
        let mut old = order("o_old", 100.0);
        old.elderly = true;
        old.queue_score = 10_000;
        let pr = problem(vec![far, old], vec![taxi("t", 0.0)]);
        assert_eq!(
            pairs_of(&solve(&pr, &MatchParams::default())),
            [("o_first", "t")]
        );
    }

    #[test]
    fn the_queue_order_changes_nothing_when_no_order_is_left_out() {
        // Greedy would cross these; the batch uncrosses them whatever the queue says.
        let mut a = order("a", 0.0);
        a.queue_score = -5;
        let b = order("b", 1_000.0);
        let pr = problem(vec![a, b], vec![taxi("ta", 100.0), taxi("tb", 1_100.0)]);
        assert_eq!(
            pairs_of(&solve(&pr, &MatchParams::default())),
            [("a", "ta"), ("b", "tb")]
        );
    }

    #[test]
    fn between_orders_of_one_kind_the_freed_taxi_goes_to_the_nearer() {
        // Two ordinary orders, one taxi: the one booked first is 4 km away, the other
        // 200 m. Greedy gives the first the taxi (20 minutes to its door); the batch gives
        // it to the nearer, whose aging is outweighed by the ETA.
        let mut first = order("o_first", -4_000.0);
        first.queue_score = -20_000;
        first.waited_ms = 20_000;
        let near = order("o_near", 200.0);
        let pr = problem(vec![first.clone(), near.clone()], vec![taxi("t", 0.0)]);
        assert_eq!(
            pairs_of(&solve(&pr, &MatchParams::default())),
            [("o_near", "t")]
        );
        // Two older passengers alike.
        let (mut a, mut b) = (first, near);
        a.elderly = true;
        b.elderly = true;
        let pr = problem(vec![a, b], vec![taxi("t", 0.0)]);
        assert_eq!(
            pairs_of(&solve(&pr, &MatchParams::default())),
            [("o_near", "t")]
        );
    }

    #[test]
    fn as_many_orders_as_possible_get_a_taxi() {
        // o_old could take either taxi and prefers t1, but t1 is o2's only one.
        let mut old = order("o_old", 0.0);
        old.elderly = true;
        let mut o2 = order("o2", 900.0);
        o2.reach_m = 500.0;
        let pr = problem(vec![old, o2], vec![taxi("t1", 500.0), taxi("t2", -1_000.0)]);
        assert_eq!(
            pairs_of(&solve(&pr, &MatchParams::default())),
            [("o2", "t1"), ("o_old", "t2")]
        );
    }

    #[test]
    fn ties_are_broken_the_same_way_whatever_the_input_order() {
        // Two taxis equally far from two orders: four equal pairs.
        let orders = vec![order("a", -100.0), order("b", 100.0)];
        let taxis = vec![
            FreeTaxi {
                position: at(0.0, 50.0),
                ..taxi("x", 0.0)
            },
            FreeTaxi {
                position: at(0.0, -50.0),
                ..taxi("y", 0.0)
            },
        ];
        let first = solve(
            &problem(orders.clone(), taxis.clone()),
            &MatchParams::default(),
        );
        assert_eq!(first.len(), 2);
        let mut ro = orders.clone();
        ro.reverse();
        let mut rt = taxis.clone();
        rt.reverse();
        for (o, t) in [(ro.clone(), taxis.clone()), (orders, rt.clone()), (ro, rt)] {
            let again = solve(&problem(o, t), &MatchParams::default());
            assert_eq!(pairs_of(&again), pairs_of(&first));
        }
    }

    #[test]
    fn k_bounds_each_orders_candidates() {
        // With k = 1, o2 considers only t1, its cheapest; o1 keeps t1 too, so one of
        // them is left without a taxi though t2 was in o2's reach.
        let pr = problem(
            vec![order("o1", 0.0), order("o2", 300.0)],
            vec![taxi("t1", 200.0), taxi("t2", 1_000.0)],
        );
        let p = MatchParams {
            k: 1,
            ..MatchParams::default()
        };
        assert_eq!(solve(&pr, &p).len(), 1);
        assert_eq!(solve(&pr, &MatchParams::default()).len(), 2);
    }

    /// A small deterministic generator, so the randomised cases reproduce.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn random_problem(rng: &mut Lcg, n: usize, m: usize, span_m: f64) -> Problem {
        let orders = (0..n)
            .map(|i| WaitingOrder {
                id: format!("o{i:02}"),
                pickup: at(rng.next() * span_m, rng.next() * span_m),
                elderly: rng.next() < 0.3,
                waited_ms: (rng.next() * 240_000.0) as i64,
                wheelchair: rng.next() < 0.15,
                caring_only: rng.next() < 0.1,
                reach_m: 1_000.0 + rng.next() * 4_000.0,
                // One queue position for all: the brute force checks cost optimality,
                // which the queue order only overrides between different positions.
                queue_score: 0,
                greedy_only: false,
            })
            .collect::<Vec<_>>();
        let taxis = (0..m)
            .map(|i| FreeTaxi {
                id: format!("t{i:02}"),
                position: at(rng.next() * span_m, rng.next() * span_m),
                caring: rng.next() < 0.3,
                accessible: rng.next() < 0.3,
            })
            .collect::<Vec<_>>();
        problem(orders, taxis)
    }

    /// The best (most pairs, then least cost) over every matching, by brute force.
    fn best(pr: &Problem, p: &MatchParams) -> (usize, f64) {
        fn go(
            pr: &Problem,
            p: &MatchParams,
            o: usize,
            used: &mut Vec<bool>,
            acc: (usize, f64),
            best: &mut (usize, f64),
        ) {
            if o == pr.orders.len() {
                if acc.0 > best.0 || (acc.0 == best.0 && acc.1 < best.1) {
                    *best = acc;
                }
                return;
            }
            go(pr, p, o + 1, used, acc, best);
            for c in pr.candidates.iter().filter(|c| c.order == o) {
                if !used[c.taxi] {
                    used[c.taxi] = true;
                    let w = cost(p, &pr.orders[o], &pr.taxis[c.taxi], c.distance_m);
                    go(pr, p, o + 1, used, (acc.0 + 1, acc.1 + w), best);
                    used[c.taxi] = false;
                }
            }
        }
        let mut out = (0, f64::INFINITY);
        go(
            pr,
            p,
            0,
            &mut vec![false; pr.taxis.len()],
            (0, 0.0),
            &mut out,
        );
        out
    }

    #[test]
    fn small_batches_are_solved_optimally_and_validly() {
        let mut rng = Lcg(15);
        let p = MatchParams {
            k: 64,
            ..MatchParams::default()
        };
        for case in 0..300 {
            let n = 1 + (rng.next() * 5.0) as usize;
            let m = 1 + (rng.next() * 6.0) as usize;
            let pr = random_problem(&mut rng, n, m, 4_000.0);
            let answer = solve(&pr, &p);
            let mut orders = std::collections::HashSet::new();
            let mut taxis = std::collections::HashSet::new();
            let mut total = 0.0;
            for pair in &answer {
                assert!(
                    orders.insert(pair.order.clone()),
                    "case {case}: order twice"
                );
                assert!(taxis.insert(pair.taxi.clone()), "case {case}: taxi twice");
                let o = pr.orders.iter().find(|o| o.id == pair.order).unwrap();
                let t = pr.taxis.iter().find(|t| t.id == pair.taxi).unwrap();
                let d = o.pickup.distance_m(&t.position);
                assert!(feasible(o, t, d), "case {case}: infeasible pair");
                assert!((d - pair.distance_m).abs() < 1e-6);
                total += cost(&p, o, t, d);
            }
            let (most, least) = best(&pr, &p);
            assert_eq!(
                answer.len(),
                most,
                "case {case}: not as many pairs as possible"
            );
            if most > 0 {
                assert!(
                    (total - least).abs() < 1e-6,
                    "case {case}: {total} > {least}"
                );
            }
        }
    }

    #[test]
    fn a_city_batch_never_gives_anything_twice() {
        let mut rng = Lcg(500);
        let pr = random_problem(&mut rng, 200, 600, 20_000.0);
        let answer = solve(&pr, &MatchParams::default());
        assert!(!answer.is_empty());
        let orders: std::collections::HashSet<_> = answer.iter().map(|p| &p.order).collect();
        let taxis: std::collections::HashSet<_> = answer.iter().map(|p| &p.taxi).collect();
        assert_eq!(orders.len(), answer.len());
        assert_eq!(taxis.len(), answer.len());
        // The same batch, solved again, gives the same answer.
        assert_eq!(solve(&pr, &MatchParams::default()), answer);
    }

    #[test]
    fn a_refused_pair_holds_back_the_other_kind_behind_it_only() {
        let mut g = RoundGate::default();
        // Nothing refused: everyone goes.
        for elderly in [true, false] {
            for score in [-5, 0, 7] {
                assert!(g.may_offer(elderly, score));
            }
        }
        // An older order at 10 refused: ordinary orders behind it wait for the greedy
        // pass; ordinary orders at or ahead of it, and older ones anywhere, go.
        g.refused(true, 10);
        assert!(!g.may_offer(false, 11));
        assert!(!g.may_offer(false, 1_000));
        assert!(g.may_offer(false, 10), "same place: the cost decides");
        assert!(g.may_offer(false, 3));
        assert!(g.may_offer(true, 50));
        // A later refusal further back does not move the line back.
        g.refused(true, 40);
        assert!(!g.may_offer(false, 11));
        // One further ahead moves it forward.
        g.refused(true, 5);
        assert!(!g.may_offer(false, 6) && g.may_offer(false, 5));
        // And the other way round: an ordinary order refused at 20 holds back older orders
        // behind it (the aging bound), not ordinary ones.
        g.refused(false, 20);
        assert!(!g.may_offer(true, 21));
        assert!(g.may_offer(true, 20));
        assert!(g.may_offer(true, 19));
    }

    /// An older passenger's order that has waited `waited_ms`, its 8 km reach open.
    fn older(id: &str, east_m: f64, waited_ms: i64, queue_score: i64) -> WaitingOrder {
        WaitingOrder {
            elderly: true,
            waited_ms,
            reach_m: 8_000.0,
            queue_score,
            ..order(id, east_m)
        }
    }

    #[test]
    fn one_taxi_goes_to_the_older_order_ahead_even_when_an_ordinary_one_behind_is_nearer() {
        // The numbers of a simulator case (scarcity, seed 15, batched): one taxi comes free;
        // two older passengers have waited 158 s and 117 s (2.7 km and 6.8 km from it, their
        // 8 km reach open); an ordinary order booked 53 s after the first waits 1.4 km from
        // it. The solve gives her the taxi, so the case was the round's input (she was a
        // stand pickup, left out of it: the next test).
        let first = older("E1", 2_729.0, 158_000, -90_000);
        let second = older("E2", -6_800.0, 117_000, -50_000);
        let mut ordinary = order("O1", 1_421.0);
        ordinary.waited_ms = 105_000;
        ordinary.queue_score = 53_000;
        let pr = problem(vec![first, second, ordinary], vec![taxi("T", 0.0)]);
        let p = MatchParams::default();
        assert_eq!(pairs_of(&solve(&pr, &p)), [("E1", "T")]);
    }

    #[test]
    fn an_order_left_to_the_greedy_pass_keeps_a_taxi_from_the_other_kind_behind_it() {
        // The simulator's case: an older passenger's pickup is at a stand (left to the
        // greedy pass); the one free taxi is in her reach and nearer an ordinary order
        // booked after her. The batch must not give it to the ordinary order.
        let mut stand = older("E1", 2_704.0, 157_000, -90_000);
        stand.greedy_only = true;
        let mut ordinary = order("O1", 1_430.0);
        ordinary.queue_score = 53_000;
        let pr = problem(vec![stand.clone(), ordinary.clone()], vec![taxi("T", 0.0)]);
        let p = MatchParams::default();
        assert!(solve(&pr, &p).is_empty());
        // An ordinary order ahead of her is not held back: it is not behind her.
        let mut first = ordinary.clone();
        first.id = "O0".into();
        first.queue_score = -120_000;
        let pr = problem(vec![stand.clone(), first], vec![taxi("T", 0.0)]);
        assert_eq!(pairs_of(&solve(&pr, &p)), [("O0", "T")]);
        // Nor is an older order behind her (one kind: the greedy pass's own queue order).
        let mut older = ordinary;
        older.elderly = true;
        let pr = problem(vec![stand, older], vec![taxi("T", 0.0)]);
        assert_eq!(pairs_of(&solve(&pr, &p)), [("O1", "T")]);
    }
}
