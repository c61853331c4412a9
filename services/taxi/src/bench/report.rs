//! The bench's figures and what is made of them: a figure's target (`AtLeast`/`AtMost`),
//! the summary of every run's value (median, worst by the target's direction, range), the
//! table on the screen and the JSON file. Targets are judged on the worst run.

use super::env::GuardSamples;

/// Which way a figure is good, and the bound it must hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Target {
    /// The figure must be at least this (a throughput, a ratio).
    AtLeast(f64),
    /// The figure must be at most this (a latency, a fall, memory).
    AtMost(f64),
}

impl Target {
    /// Whether `value` holds the target.
    pub(super) fn met(self, value: f64) -> bool {
        match self {
            Target::AtLeast(t) => value >= t,
            Target::AtMost(t) => value <= t,
        }
    }

    /// The worst of `values` by this target's direction: the least for `AtLeast`, the
    /// greatest for `AtMost`. `None` for no values.
    pub(super) fn worst(self, values: &[f64]) -> Option<f64> {
        let mut it = values.iter().copied();
        let first = it.next()?;
        Some(it.fold(first, |w, v| match self {
            Target::AtLeast(_) => w.min(v),
            Target::AtMost(_) => w.max(v),
        }))
    }

    fn label(self) -> String {
        match self {
            Target::AtLeast(t) => format!(">= {t}"),
            Target::AtMost(t) => format!("<= {t}"),
        }
    }
}

/// One measured figure of one run.
#[derive(Debug, Clone)]
pub(super) struct Figure {
    pub scenario: &'static str,
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    /// Its direction and bound. A `--quick` run keeps it for the direction (which run is
    /// the worst) but does not judge it.
    pub target: Option<Target>,
}

impl Figure {
    pub(super) fn new(
        scenario: &'static str,
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
        target: Option<Target>,
    ) -> Self {
        Self {
            scenario,
            name: name.into(),
            value,
            unit,
            target,
        }
    }
}

/// The median of `values` (the mean of the middle two for an even count); 0 for none.
pub(super) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One figure over every run.
#[derive(Debug, Clone)]
pub(super) struct Summary {
    pub scenario: &'static str,
    pub name: String,
    pub unit: &'static str,
    pub target: Option<Target>,
    /// Run by run, in order.
    pub values: Vec<f64>,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// By the target's direction; `None` for a figure without one.
    pub worst: Option<f64>,
}

impl Summary {
    /// Whether the worst run held the target; `None` without a target or when the runs
    /// were not judged (`--quick`).
    pub(super) fn met(&self, judged: bool) -> Option<bool> {
        if !judged {
            return None;
        }
        Some(self.target?.met(self.worst?))
    }
}

/// Every figure of `runs` (each run's figures), in the first run's order, keyed by
/// scenario and name; a figure a later run lacks has fewer values.
pub(super) fn summarize(runs: &[Vec<Figure>]) -> Vec<Summary> {
    let mut out: Vec<Summary> = Vec::new();
    for run in runs {
        for f in run {
            let at = out
                .iter()
                .position(|s| s.scenario == f.scenario && s.name == f.name);
            match at {
                Some(i) => out[i].values.push(f.value),
                None => out.push(Summary {
                    scenario: f.scenario,
                    name: f.name.clone(),
                    unit: f.unit,
                    target: f.target,
                    values: vec![f.value],
                    median: 0.0,
                    min: 0.0,
                    max: 0.0,
                    worst: None,
                }),
            }
        }
    }
    for s in &mut out {
        s.median = median(&s.values);
        s.min = s.values.iter().copied().fold(f64::INFINITY, f64::min);
        s.max = s.values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        s.worst = s.target.and_then(|t| t.worst(&s.values));
    }
    out
}

/// A value for the table: small ones (ratios, CPU seconds) keep four decimals.
fn num(v: f64) -> String {
    if v != 0.0 && v.abs() < 1.0 {
        format!("{v:.4}")
    } else {
        format!("{v:.2}")
    }
}

/// The table: with one run, each figure's value; with several, the median and the worst
/// (or, without a target, the range). `judged`: false for `--quick`.
pub(super) fn table(summaries: &[Summary], runs: usize, judged: bool) -> String {
    let mut out = String::new();
    let met_of = |s: &Summary| match s.met(judged) {
        Some(true) => "yes",
        Some(false) => "NO",
        None if s.target.is_some() && !judged => "-",
        None => "",
    };
    let target_of = |s: &Summary| s.target.map(Target::label).unwrap_or_default();
    if runs <= 1 {
        out.push_str(&format!(
            "{:<30} {:<56} {:>12} {:<6} {:>12} met\n",
            "scenario", "figure", "value", "unit", "target"
        ));
        for s in summaries {
            out.push_str(&format!(
                "{:<30} {:<56} {:>12} {:<6} {:>12} {}\n",
                s.scenario,
                s.name,
                num(s.median),
                s.unit,
                target_of(s),
                met_of(s)
            ));
        }
    } else {
        out.push_str(&format!(
            "{:<30} {:<56} {:>12} {:>23} {:<6} {:>12} met (worst)\n",
            "scenario",
            "figure",
            format!("median of {runs}"),
            "worst | min..max",
            "unit",
            "target"
        ));
        for s in summaries {
            let worst = match s.worst {
                Some(w) => format!("worst {}", num(w)),
                None => format!("{}..{}", num(s.min), num(s.max)),
            };
            out.push_str(&format!(
                "{:<30} {:<56} {:>12} {:>23} {:<6} {:>12} {}\n",
                s.scenario,
                s.name,
                num(s.median),
                worst,
                s.unit,
                target_of(s),
                met_of(s)
            ));
        }
    }
    out
}

/// The figures as JSON: every run's values, the median (also as `value`), the worst, the
/// range, the target and whether the worst met it.
pub(super) fn json(summaries: &[Summary], judged: bool) -> Vec<serde_json::Value> {
    summaries
        .iter()
        .map(|s| {
            serde_json::json!({
                "scenario": s.scenario,
                "figure": s.name,
                "unit": s.unit,
                "values": s.values,
                "value": s.median,
                "median": s.median,
                "worst": s.worst,
                "min": s.min,
                "max": s.max,
                "target": s.target.map(Target::label),
                "met": s.met(judged),
            })
        })
        .collect()
}

/// The figures of issue 11's acceptance line: a throughput with TLS and authentication
/// on, the same with both off (each the median of its runs), and their ratio (target: at
/// least 0.95).
pub(super) fn guard_cost(what: &str, s: &GuardSamples) -> Vec<Figure> {
    const SCENARIO: &str = "e. auth+TLS on / off";
    let (on, off) = (median(&s.on), median(&s.off));
    let runs = s.on.len();
    vec![
        Figure::new(
            SCENARIO,
            format!("{what}, auth+TLS on, median of {runs}"),
            on,
            "/s",
            None,
        ),
        Figure::new(
            SCENARIO,
            format!("{what}, auth+TLS off, median of {runs}"),
            off,
            "/s",
            None,
        ),
        Figure::new(
            SCENARIO,
            format!("{what}, on / off"),
            on / off.max(1e-9),
            "x",
            Some(Target::AtLeast(0.95)),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(name: &str, value: f64, target: Option<Target>) -> Figure {
        Figure::new("a. position ingest", name, value, "/s", target)
    }

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_and_of_an_even_the_mean_of_two() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[7.0]), 7.0);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn the_worst_follows_the_targets_direction() {
        let v = [5.0, 2.0, 9.0];
        assert_eq!(Target::AtLeast(1.0).worst(&v), Some(2.0));
        assert_eq!(Target::AtMost(1.0).worst(&v), Some(9.0));
        assert_eq!(Target::AtMost(1.0).worst(&[]), None);
    }

    #[test]
    fn a_target_holds_at_its_bound() {
        assert!(Target::AtLeast(0.4).met(0.4));
        assert!(!Target::AtLeast(0.4).met(0.39));
        assert!(Target::AtMost(20.0).met(20.0));
        assert!(!Target::AtMost(20.0).met(20.1));
    }

    #[test]
    fn runs_are_judged_on_the_worst_not_the_median() {
        let runs = vec![
            vec![
                fig("ratio", 0.5, Some(Target::AtLeast(0.4))),
                fig("p99", 10.0, Some(Target::AtMost(20.0))),
                fig("rate", 100.0, None),
            ],
            vec![
                fig("ratio", 0.3, Some(Target::AtLeast(0.4))),
                fig("p99", 30.0, Some(Target::AtMost(20.0))),
                fig("rate", 300.0, None),
            ],
            vec![
                fig("ratio", 0.6, Some(Target::AtLeast(0.4))),
                fig("p99", 12.0, Some(Target::AtMost(20.0))),
                fig("rate", 200.0, None),
            ],
        ];
        let s = summarize(&runs);
        assert_eq!(s.len(), 3);
        let (ratio, p99, rate) = (&s[0], &s[1], &s[2]);
        assert_eq!(ratio.values, vec![0.5, 0.3, 0.6]);
        assert_eq!((ratio.median, ratio.worst), (0.5, Some(0.3)));
        // The median holds both targets; the worst run does not, so neither is met.
        assert_eq!(ratio.met(true), Some(false));
        assert_eq!((p99.median, p99.worst), (12.0, Some(30.0)));
        assert_eq!(p99.met(true), Some(false));
        // No target: no worst, a range, never judged.
        assert_eq!((rate.median, rate.worst), (200.0, None));
        assert_eq!((rate.min, rate.max), (100.0, 300.0));
        assert_eq!(rate.met(true), None);
        // A quick run is not judged.
        assert_eq!(ratio.met(false), None);
        let table = table(&s, 3, true);
        assert!(table.contains("median of 3"), "{table}");
        assert!(table.contains("worst 0.3000"), "{table}");
        assert!(table.contains("100.00..300.00"), "{table}");
        let json = json(&s, true);
        assert_eq!(json[0]["worst"], 0.3);
        assert_eq!(json[0]["met"], false);
        assert_eq!(json[2]["values"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn one_run_met_is_judged_on_its_value() {
        let s = summarize(&[vec![fig("ratio", 0.5, Some(Target::AtLeast(0.4)))]]);
        assert_eq!(s[0].met(true), Some(true));
        assert!(table(&s, 1, true).contains(">= 0.4"));
    }
}
