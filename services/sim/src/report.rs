//! The matching report: what a scenario run did for older passengers and for others, from
//! what the simulation observed. Pure: outcomes in, figures out.
//!
//! An order never assigned (or never picked up) counts as an infinite wait, not as a missing
//! sample: its time sorts after every finite one, so a quantile that lands on it is
//! "never" (`null` in JSON).

use crate::city;
use serde::Serialize;

/// What became of one order, on the services' clock (epoch ms).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// The order's id (for the overtakes the report lists).
    pub id: String,
    /// By an older passenger (as the services decided).
    pub elderly: bool,
    /// When it was booked.
    pub created_ms: i64,
    /// When a simulated driver first got an offer of it.
    pub offered_ms: Option<i64>,
    /// That offer's expiry (so when dispatch made it: expiry less the offer timeout).
    pub offer_expires_ms: Option<i64>,
    /// Where dispatch knew that taxi to be then (its last reported position).
    pub taxi_at_offer: Option<(f64, f64)>,
    /// When a taxi accepted it.
    pub assigned_ms: Option<i64>,
    /// Where that taxi was when it accepted.
    pub taxi_at_assign: Option<(f64, f64)>,
    /// The road model's time from there to the pickup, seconds.
    pub eta_at_assign_s: Option<f64>,
    /// The offer's own ETA, seconds (what the services told the driver).
    pub offer_eta_s: Option<f64>,
    /// When the taxi picked the passenger up.
    pub picked_up_ms: Option<i64>,
    /// Pickup.
    pub pickup: (f64, f64),
}

/// Quantiles of a sample; `None` is "never" (an infinite wait).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quantiles {
    /// Samples (orders).
    pub n: usize,
    /// Median, seconds.
    pub p50: Option<f64>,
    /// 90th percentile, seconds.
    pub p90: Option<f64>,
    /// 95th percentile, seconds.
    pub p95: Option<f64>,
    /// Mean of the finite samples, seconds.
    pub mean_finite: Option<f64>,
}

impl Quantiles {
    /// Of `samples` (seconds; `None` = never), by the nearest-rank method.
    pub fn of(samples: &[Option<f64>]) -> Self {
        let mut v: Vec<f64> = samples.iter().map(|s| s.unwrap_or(f64::INFINITY)).collect();
        v.sort_by(f64::total_cmp);
        let q = |q: f64| -> Option<f64> {
            if v.is_empty() {
                return None;
            }
            let rank = (q * v.len() as f64).ceil() as usize;
            let x = v[rank.saturating_sub(1).min(v.len() - 1)];
            x.is_finite().then_some(x)
        };
        let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        Self {
            n: v.len(),
            p50: q(0.5),
            p90: q(0.9),
            p95: q(0.95),
            mean_finite: (!finite.is_empty())
                .then(|| finite.iter().sum::<f64>() / finite.len() as f64),
        }
    }
}

/// The figures for one class of passengers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassReport {
    /// Orders booked.
    pub orders: usize,
    /// Booking to a driver's acceptance, seconds (never assigned: never).
    pub time_to_assign_s: Quantiles,
    /// The road model's pickup ETA from the taxi's position at acceptance, seconds
    /// (assigned orders only).
    pub pickup_eta_at_assign_s: Quantiles,
    /// The ETA the offer carried, seconds (assigned orders only).
    pub offer_eta_s: Quantiles,
    /// Booking to pickup, seconds (never picked up: never).
    pub time_to_pickup_s: Quantiles,
    /// Share of orders picked up.
    pub fulfilment: f64,
    /// Orders that waited longer than the bound for a taxi (never assigned included).
    pub beyond_bound: usize,
    /// Mean road km from the taxi at acceptance to the pickup.
    pub approach_km_mean: Option<f64>,
}

impl ClassReport {
    /// Of `orders`, with `bound_s` the longest an order may wait for a taxi.
    pub fn of(orders: &[&Outcome], bound_s: f64, detour: f64) -> Self {
        let secs = |from: i64, to: Option<i64>| to.map(|t| (t - from) as f64 / 1000.0);
        let assign: Vec<Option<f64>> = orders
            .iter()
            .map(|o| secs(o.created_ms, o.assigned_ms))
            .collect();
        let approach: Vec<f64> = orders
            .iter()
            .filter_map(|o| {
                o.taxi_at_assign
                    .map(|t| city::distance_m(t, o.pickup) * detour)
            })
            .collect();
        Self {
            orders: orders.len(),
            time_to_assign_s: Quantiles::of(&assign),
            pickup_eta_at_assign_s: Quantiles::of(
                &orders
                    .iter()
                    .filter_map(|o| o.eta_at_assign_s.map(Some))
                    .collect::<Vec<_>>(),
            ),
            offer_eta_s: Quantiles::of(
                &orders
                    .iter()
                    .filter_map(|o| o.offer_eta_s.map(Some))
                    .collect::<Vec<_>>(),
            ),
            time_to_pickup_s: Quantiles::of(
                &orders
                    .iter()
                    .map(|o| secs(o.created_ms, o.picked_up_ms))
                    .collect::<Vec<_>>(),
            ),
            fulfilment: if orders.is_empty() {
                0.0
            } else {
                orders.iter().filter(|o| o.picked_up_ms.is_some()).count() as f64
                    / orders.len() as f64
            },
            beyond_bound: assign
                .iter()
                .filter(|a| a.is_none_or(|s| s > bound_s))
                .count(),
            approach_km_mean: (!approach.is_empty())
                .then(|| approach.iter().sum::<f64>() / approach.len() as f64 / 1000.0),
        }
    }
}

/// The rules the count of overtaken orders and the bound go by (the services' settings).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rules {
    /// The elderly head start, seconds.
    pub head_start_s: f64,
    /// The longest an order may wait for a taxi (max dispatch time), seconds.
    pub bound_s: f64,
    /// The dispatch radius of an ordinary order, metres (the largest search radius).
    pub radius_m: f64,
    /// The dispatch radius of an older passenger's order, metres (its extra radius).
    pub elderly_radius_m: f64,
    /// How long an older passenger's order waits before its extra radius opens, seconds
    /// (until then its radius is `radius_m`).
    pub elderly_radius_after_s: f64,
    /// How long an offer stands, seconds (an offer was made its expiry less this).
    pub offer_timeout_s: f64,
}

impl Rules {
    /// The rules the services run by under `s`.
    pub fn of(s: &taxi_domain::settings::Settings) -> Self {
        Self {
            head_start_s: s.elderly_head_start.as_secs_f64(),
            bound_s: s.max_dispatch_time.as_secs_f64(),
            radius_m: f64::from(s.radii_m.iter().copied().max().unwrap_or(0)),
            elderly_radius_m: f64::from(s.elderly_extra_radius_m),
            elderly_radius_after_s: s.elderly_extra_after.as_secs_f64(),
            offer_timeout_s: s.offer_timeout.as_secs_f64(),
        }
    }

    /// The dispatch radius of an older passenger's order `waited_ms` after it was booked.
    pub fn elderly_reach_m(&self, waited_ms: i64) -> f64 {
        if waited_ms as f64 >= self.elderly_radius_after_s * 1000.0 {
            self.radius_m.max(self.elderly_radius_m)
        } else {
            self.radius_m
        }
    }
}

/// One order overtaken: which, by which order of the other kind, and how (so a run's count
/// can be traced in the services' log).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overtake {
    /// The order overtaken.
    pub order: String,
    /// The order of the other kind offered the taxi first.
    pub by: String,
    /// How long after the overtaken order the other was booked, seconds (negative: before).
    pub booked_after_s: f64,
    /// How long the overtaken order had waited when the other was offered the taxi, seconds.
    pub waited_s: f64,
    /// The taxi's distance (its last reported position) from the overtaken order's pickup
    /// and from the other's, metres.
    pub taxi_m: (f64, f64),
}

/// The overtakes of `victims`' kind (older passengers' orders, or ordinary ones) that
/// `behind` says break priority: an order `by` of the other kind, for which
/// `behind(victim, by)` holds, was offered a taxi first (dispatch's decision, not the
/// drivers' answers: a driver who thinks longer is not dispatch favouring anyone), the taxi
/// was within the dispatch radius of both pickups (each order's own: an older passenger's
/// is wider once its extra radius opened) where dispatch knew it to be (its last reported
/// position) when it was offered `by`, and the victim had had
/// no offer yet and was still in dispatch (not yet given up at the bound).
fn overtakes(
    orders: &[Outcome],
    rules: &Rules,
    victims_elderly: bool,
    behind: impl Fn(&Outcome, &Outcome) -> bool,
) -> Vec<Overtake> {
    let bound_ms = (rules.bound_s * 1000.0) as i64;
    // When dispatch offered it (its first offer): from the offer's expiry where known.
    let timeout_ms = (rules.offer_timeout_s * 1000.0) as i64;
    let decided = |o: &Outcome| o.offer_expires_ms.map(|e| e - timeout_ms).or(o.offered_ms);
    let reach = |o: &Outcome, at_ms: i64| {
        if o.elderly {
            rules.elderly_reach_m(at_ms - o.created_ms)
        } else {
            rules.radius_m
        }
    };
    let mut out = Vec::new();
    for v in orders.iter().filter(|v| v.elderly == victims_elderly) {
        let first = orders.iter().find_map(|b| {
            let (Some(b_at), Some(taxi)) = (decided(b), b.taxi_at_offer) else {
                return None;
            };
            let (to_v, to_b) = (
                city::distance_m(taxi, v.pickup),
                city::distance_m(taxi, b.pickup),
            );
            (b.elderly != victims_elderly
                && behind(v, b)
                && decided(v).is_none_or(|a| a > b_at)
                && b_at - v.created_ms <= bound_ms
                && to_b <= reach(b, b_at)
                && to_v <= reach(v, b_at))
            .then(|| Overtake {
                order: v.id.clone(),
                by: b.id.clone(),
                booked_after_s: (b.created_ms - v.created_ms) as f64 / 1000.0,
                waited_s: (b_at - v.created_ms) as f64 / 1000.0,
                taxi_m: (to_v, to_b),
            })
        });
        out.extend(first);
    }
    out
}

/// Older orders overtaken: by an ordinary order booked after the older one, within the head
/// start ([`overtakes`]). Issue 15 item 4 requires 0.
pub fn overtaken_cases(orders: &[Outcome], rules: &Rules) -> Vec<Overtake> {
    let head_ms = (rules.head_start_s * 1000.0) as i64;
    overtakes(orders, rules, true, |e, o| {
        o.created_ms > e.created_ms && o.created_ms - e.created_ms <= head_ms
    })
}

/// How many older orders were overtaken ([`overtaken_cases`]).
pub fn overtaken(orders: &[Outcome], rules: &Rules) -> usize {
    overtaken_cases(orders, rules).len()
}

/// Ordinary orders overtaken past the aging bound: by an older passenger's order booked more
/// than the head start after the ordinary one ([`overtakes`]). Priority promises this never
/// happens (the head start bounds how far anyone is overtaken); it must be 0.
pub fn aged_past_bound_cases(orders: &[Outcome], rules: &Rules) -> Vec<Overtake> {
    let head_ms = (rules.head_start_s * 1000.0) as i64;
    overtakes(orders, rules, false, |o, e| {
        e.created_ms - o.created_ms > head_ms
    })
}

/// How many ordinary orders were overtaken past the aging bound ([`aged_past_bound_cases`]).
pub fn aged_past_bound(orders: &[Outcome], rules: &Rules) -> usize {
    aged_past_bound_cases(orders, rules).len()
}

/// The whole report of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchingReport {
    /// The scenario.
    pub scenario: String,
    /// The matcher.
    pub matcher: String,
    /// The seed.
    pub seed: u64,
    /// Taxis on the road.
    pub taxis: usize,
    /// The rules applied.
    pub rules: Rules,
    /// Older passengers.
    pub elderly: ClassReport,
    /// Everyone else.
    pub others: ClassReport,
    /// Road km driven without a passenger (cruising and to pickups) per trip completed.
    pub empty_km_per_trip: Option<f64>,
    /// Trips completed.
    pub trips_completed: u64,
    /// Older orders overtaken (see [`overtaken`]).
    pub overtaken_elderly: usize,
    /// Ordinary orders overtaken past the aging bound (see [`aged_past_bound`]).
    pub aged_past_bound: usize,
    /// Each of those overtakes, older orders' first, to trace in the services' log.
    pub overtakes: Vec<Overtake>,
    /// Bookings the services refused.
    pub refused: u64,
    /// Seconds of the services' clock the run covered.
    pub simulated_s: f64,
    /// Wall-clock seconds it took.
    pub wall_s: f64,
    /// Time to assign of every order, seconds (never: null), older passengers' first:
    /// for the chart.
    pub assign_samples_elderly: Vec<Option<f64>>,
    /// The same, others.
    pub assign_samples_others: Vec<Option<f64>>,
    /// Every order's outcome (not in the JSON).
    #[serde(skip)]
    pub outcomes: Vec<Outcome>,
}

/// What the run measured besides the orders.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FleetFigures {
    /// Road metres driven empty.
    pub empty_m: f64,
    /// Trips completed.
    pub trips: u64,
    /// Bookings refused.
    pub refused: u64,
    /// Taxis on the road.
    pub taxis: usize,
}

impl MatchingReport {
    /// The report of `orders` under `rules`.
    pub fn new(
        (scenario, matcher, seed): (&str, &str, u64),
        orders: &[Outcome],
        rules: Rules,
        fleet: FleetFigures,
        detour: f64,
    ) -> Self {
        let e: Vec<&Outcome> = orders.iter().filter(|o| o.elderly).collect();
        let o: Vec<&Outcome> = orders.iter().filter(|o| !o.elderly).collect();
        let samples = |v: &[&Outcome]| {
            v.iter()
                .map(|o| o.assigned_ms.map(|a| (a - o.created_ms) as f64 / 1000.0))
                .collect()
        };
        Self {
            scenario: scenario.into(),
            matcher: matcher.into(),
            seed,
            taxis: fleet.taxis,
            rules,
            elderly: ClassReport::of(&e, rules.bound_s, detour),
            others: ClassReport::of(&o, rules.bound_s, detour),
            empty_km_per_trip: (fleet.trips > 0)
                .then(|| fleet.empty_m / 1000.0 / fleet.trips as f64),
            trips_completed: fleet.trips,
            overtaken_elderly: overtaken(orders, &rules),
            aged_past_bound: aged_past_bound(orders, &rules),
            overtakes: overtaken_cases(orders, &rules)
                .into_iter()
                .chain(aged_past_bound_cases(orders, &rules))
                .collect(),
            refused: fleet.refused,
            simulated_s: 0.0,
            wall_s: 0.0,
            assign_samples_elderly: samples(&e),
            assign_samples_others: samples(&o),
            outcomes: orders.to_vec(),
        }
    }
}

fn cell(x: Option<f64>) -> String {
    match x {
        Some(s) => format!("{s:.1}"),
        None => "never".into(),
    }
}

impl std::fmt::Display for MatchingReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "scenario {} / matcher {} / seed {}: {} taxis, {:.0} s simulated in {:.0} s wall",
            self.scenario, self.matcher, self.seed, self.taxis, self.simulated_s, self.wall_s
        )?;
        writeln!(
            f,
            "{:<34} | {:>30} | {:>30}",
            "seconds: p50 / p90 / p95 (mean)", "older passengers", "others"
        )?;
        let row = |f: &mut std::fmt::Formatter<'_>, name: &str, a: &Quantiles, b: &Quantiles| {
            let q = |q: &Quantiles| {
                format!(
                    "{} / {} / {} ({})",
                    cell(q.p50),
                    cell(q.p90),
                    cell(q.p95),
                    cell(q.mean_finite)
                )
            };
            writeln!(f, "{name:<34} | {:>30} | {:>30}", q(a), q(b))
        };
        let (e, o) = (&self.elderly, &self.others);
        writeln!(f, "{:<34} | {:>30} | {:>30}", "orders", e.orders, o.orders)?;
        row(
            f,
            "time to assign",
            &e.time_to_assign_s,
            &o.time_to_assign_s,
        )?;
        row(
            f,
            "pickup ETA at assignment (road)",
            &e.pickup_eta_at_assign_s,
            &o.pickup_eta_at_assign_s,
        )?;
        row(f, "pickup ETA in the offer", &e.offer_eta_s, &o.offer_eta_s)?;
        row(
            f,
            "time to pickup",
            &e.time_to_pickup_s,
            &o.time_to_pickup_s,
        )?;
        writeln!(
            f,
            "{:<34} | {:>29.1}% | {:>29.1}%",
            "fulfilment (picked up)",
            e.fulfilment * 100.0,
            o.fulfilment * 100.0
        )?;
        writeln!(
            f,
            "{:<34} | {:>30} | {:>30}",
            format!("waited > {:.0} s for a taxi", self.rules.bound_s),
            e.beyond_bound,
            o.beyond_bound
        )?;
        writeln!(
            f,
            "{:<34} | {:>30} | {:>30}",
            "approach km per assignment",
            cell(e.approach_km_mean),
            cell(o.approach_km_mean)
        )?;
        writeln!(
            f,
            "empty km per trip {} ({} trips); older orders overtaken: {}; others overtaken \
             past the aging bound ({:.0} s): {}; bookings refused: {}",
            cell(self.empty_km_per_trip),
            self.trips_completed,
            self.overtaken_elderly,
            self.rules.head_start_s,
            self.aged_past_bound,
            self.refused
        )?;
        for o in &self.overtakes {
            writeln!(
                f,
                "  overtaken: {} by {} (booked {:+.0} s after it, {:.0} s into its wait; the \
                 taxi {:.0} m from it, {:.0} m from the other)",
                o.order, o.by, o.booked_after_s, o.waited_s, o.taxi_m.0, o.taxi_m.1
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(elderly: bool, created: i64, assigned: Option<i64>) -> Outcome {
        Outcome {
            id: format!("{}{created}", if elderly { "E" } else { "O" }),
            elderly,
            created_ms: created,
            offered_ms: assigned.map(|a| a - 1_000),
            offer_expires_ms: None,
            taxi_at_offer: assigned.map(|_| (29.55, 106.55)),
            assigned_ms: assigned,
            taxi_at_assign: assigned.map(|_| (29.55, 106.55)),
            eta_at_assign_s: assigned.map(|_| 60.0),
            offer_eta_s: None,
            picked_up_ms: assigned.map(|a| a + 60_000),
            pickup: (29.551, 106.551),
        }
    }

    const RULES: Rules = Rules {
        head_start_s: 90.0,
        bound_s: 180.0,
        radius_m: 5000.0,
        elderly_radius_m: 8000.0,
        elderly_radius_after_s: 0.0,
        offer_timeout_s: 15.0,
    };

    #[test]
    fn a_never_served_order_is_an_infinite_wait() {
        let q = Quantiles::of(&[Some(1.0), Some(2.0), Some(3.0), None]);
        assert_eq!(q.n, 4);
        assert_eq!(q.p50, Some(2.0));
        assert_eq!(q.p90, None);
        assert_eq!(q.p95, None);
        assert_eq!(q.mean_finite, Some(2.0));
        let q = Quantiles::of(&(1..=20).map(|i| Some(f64::from(i))).collect::<Vec<_>>());
        assert_eq!((q.p50, q.p90, q.p95), (Some(10.0), Some(18.0), Some(19.0)));
        assert_eq!(Quantiles::of(&[]).p50, None);
        assert_eq!(Quantiles::of(&[None]).mean_finite, None);
    }

    #[test]
    fn classes_count_fulfilment_and_waits_past_the_bound() {
        let orders = [
            order(true, 0, Some(10_000)),
            order(true, 0, None),
            order(false, 0, Some(200_000)),
            order(false, 0, Some(5_000)),
        ];
        let r = MatchingReport::new(
            ("normal", "greedy", 1),
            &orders,
            RULES,
            FleetFigures {
                empty_m: 3000.0,
                trips: 2,
                refused: 0,
                taxis: 2,
            },
            1.4,
        );
        assert_eq!(r.elderly.orders, 2);
        assert_eq!(r.elderly.fulfilment, 0.5);
        assert_eq!(r.elderly.beyond_bound, 1);
        assert_eq!(r.others.beyond_bound, 1);
        assert_eq!(r.elderly.time_to_assign_s.p50, Some(10.0));
        assert_eq!(r.elderly.time_to_assign_s.p95, None);
        assert_eq!(r.elderly.time_to_pickup_s.p50, Some(70.0));
        assert_eq!(r.empty_km_per_trip, Some(1.5));
        assert_eq!(r.assign_samples_elderly, vec![Some(10.0), None]);
        let text = r.to_string();
        assert!(text.contains("never") && text.contains("50.0%"), "{text}");
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["elderly"]["time_to_assign_s"]["p95"].is_null());
    }

    #[test]
    fn an_ordinary_order_is_overtaken_past_the_bound_only_by_an_older_one_booked_after_it() {
        // The ordinary order waits; an older passenger booked 100 s later (past the 90 s
        // head start) is offered a taxi near both first.
        let o = order(false, 0, Some(200_000));
        let e = order(true, 100_000, Some(110_000));
        assert_eq!(aged_past_bound(&[o.clone(), e.clone()], &RULES), 1);
        // Within the head start: that is what priority is for.
        let soon = order(true, 80_000, Some(110_000));
        assert_eq!(aged_past_bound(&[o.clone(), soon], &RULES), 0);
        // The ordinary order had its offer first.
        let first = order(false, 0, Some(50_000));
        assert_eq!(aged_past_bound(&[first, e.clone()], &RULES), 0);
        // Never served counts as still waiting, until it was given up at the bound; an
        // older order is never counted.
        let never = order(false, 0, None);
        assert_eq!(aged_past_bound(&[never.clone(), e.clone()], &RULES), 1);
        let after_give_up = order(true, 100_000, Some(182_000));
        assert_eq!(aged_past_bound(&[never, after_give_up], &RULES), 0);
        assert_eq!(aged_past_bound(&[e.clone(), e], &RULES), 0);
    }

    #[test]
    fn overtaking_needs_a_later_ordinary_order_within_the_head_start_and_a_taxi_in_reach() {
        // The older order waits; an ordinary one 30 s later gets a taxi near both.
        let e = order(true, 0, Some(100_000));
        let o = order(false, 30_000, Some(40_000));
        assert_eq!(overtaken(&[e.clone(), o.clone()], &RULES), 1);
        // Two offers one script made, the ordinary one's driver told first: dispatch
        // offered both at once, which is no overtake.
        let same = |x: &Outcome, received: i64| Outcome {
            offered_ms: Some(received),
            offer_expires_ms: Some(50_000 + 15_000),
            taxi_at_offer: o.taxi_at_offer,
            ..x.clone()
        };
        assert_eq!(overtaken(&[same(&e, 50_040), same(&o, 50_010)], &RULES), 0);
        let cases = overtaken_cases(&[e.clone(), o.clone()], &RULES);
        assert_eq!(
            (cases[0].order.as_str(), cases[0].by.as_str()),
            (e.id.as_str(), o.id.as_str())
        );
        // Booked before the older order: not overtaking.
        let early = order(false, -1, Some(40_000));
        assert_eq!(overtaken(&[e.clone(), early], &RULES), 0);
        // Booked after the head start: allowed.
        let late = order(false, 91_000, Some(95_000));
        assert_eq!(overtaken(&[e.clone(), late], &RULES), 0);
        // The older order was offered a taxi first.
        let after = order(false, 30_000, Some(120_000));
        assert_eq!(overtaken(&[e.clone(), after], &RULES), 0);
        // The taxi was out of reach of the older passenger's pickup (16 km away)...
        let far = Outcome {
            pickup: (29.70, 106.55),
            ..e.clone()
        };
        let o_far = Outcome {
            pickup: (29.551, 106.551),
            ..o.clone()
        };
        assert_eq!(overtaken(&[far, o_far.clone()], &RULES), 0);
        // ...but 6 km is within an older passenger's wider radius.
        let wide = Outcome {
            pickup: (29.604, 106.55),
            ..e.clone()
        };
        assert_eq!(overtaken(&[wide.clone(), o_far.clone()], &RULES), 1);
        // ...once it opened: 30 s after her booking it had not, with a 60 s wait for it.
        let gated = Rules {
            elderly_radius_after_s: 60.0,
            ..RULES
        };
        assert_eq!(overtaken(&[wide.clone(), o_far.clone()], &gated), 0);
        let later = Outcome {
            offered_ms: Some(70_000),
            ..o_far
        };
        assert_eq!(overtaken(&[wide, later], &gated), 1);
        // Never served counts as still waiting, until it was given up at the bound.
        let never = order(true, 0, None);
        assert_eq!(overtaken(&[never.clone(), o], &RULES), 1);
        let after_give_up = order(false, 30_000, Some(182_000));
        assert_eq!(overtaken(&[never, after_give_up], &RULES), 0);
    }
}
