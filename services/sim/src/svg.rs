//! The demo's pictures, as plain SVG: a map of the city, and time to assign.

use crate::city::{BOX, SPOTS, SpotKind};
use crate::{Observed, Phase};
use std::fmt::Write;

const W: f64 = 900.0;
const H: f64 = 800.0;

fn xy(p: (f64, f64)) -> (f64, f64) {
    let x = (p.1 - BOX.1) / (BOX.3 - BOX.1) * W;
    let y = (BOX.2 - p.0) / (BOX.2 - BOX.0) * H;
    (x, y)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The city: taxis by what they are doing, pickups (older passengers' in red), and the
/// hospitals, residential compounds and shopping areas.
pub fn map(observed: &Observed, title: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{}" viewBox="0 0 {W} {}" font-family="sans-serif">
<rect width="100%" height="100%" fill="#f4f1ea"/>
<text x="12" y="24" font-size="18">{}</text>
<g transform="translate(0,40)">
"##,
        H + 90.0,
        H + 90.0,
        escape(title)
    );
    for o in observed.orders.lock().expect("lock").values() {
        let (x, y) = xy(o.pickup);
        let colour = if o.elderly { "#d62728" } else { "#1f77b4" };
        let _ = writeln!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="5" height="5" fill="{colour}" opacity="0.55"/>"#,
            x - 2.5,
            y - 2.5
        );
    }
    for (at, phase) in observed.taxis.lock().expect("lock").values() {
        let (x, y) = xy(*at);
        let colour = match phase {
            Phase::Cruising => "#2ca02c",
            Phase::ToPickup => "#ff7f0e",
            Phase::Carrying => "#7f7f7f",
        };
        let _ = writeln!(
            s,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="2.6" fill="{colour}"/>"#
        );
    }
    for spot in SPOTS {
        let (x, y) = xy((spot.lat, spot.lon));
        let (mark, colour) = match spot.kind {
            SpotKind::Hospital => ("✚", "#c00000"),
            SpotKind::Residential => ("⌂", "#5b3a29"),
            SpotKind::Shopping => ("◆", "#6a3d9a"),
        };
        let _ = writeln!(
            s,
            r##"<text x="{x:.1}" y="{y:.1}" font-size="16" fill="{colour}" text-anchor="middle">{mark}</text><text x="{:.1}" y="{:.1}" font-size="11" fill="#333">{}</text>"##,
            x + 9.0,
            y + 4.0,
            escape(spot.en)
        );
    }
    let legend = [
        ("#2ca02c", "free taxi"),
        ("#ff7f0e", "taxi answering / going to a pickup"),
        ("#7f7f7f", "taxi with a passenger"),
        ("#d62728", "pickup of an older passenger"),
        ("#1f77b4", "other pickup"),
    ];
    for (i, (c, label)) in legend.iter().enumerate() {
        let y = H + 12.0 + (i / 3) as f64 * 20.0;
        let x = 10.0 + (i % 3) as f64 * 300.0;
        let _ = writeln!(
            s,
            r#"<circle cx="{x}" cy="{y}" r="5" fill="{c}"/><text x="{}" y="{}" font-size="12">{label}</text>"#,
            x + 9.0,
            y + 4.0
        );
    }
    s.push_str("</g></svg>\n");
    s
}

/// Cumulative share of orders assigned within t, for older passengers and others. The
/// legend sits below the axes, where no curve can run through it.
pub fn assign_chart(elderly_ms: &[i64], others_ms: &[i64], title: &str) -> String {
    let (pw, ph, left, top) = (760.0, 420.0, 70.0, 50.0);
    let max_ms = elderly_ms
        .iter()
        .chain(others_ms)
        .copied()
        .max()
        .unwrap_or(1000)
        .max(1000) as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="880" height="590" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="{left}" y="28" font-size="17">{}</text>
<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>
"##,
        escape(title)
    );
    for i in 0..=5 {
        let frac = i as f64 / 5.0;
        let y = top + ph - frac * ph;
        let x = left + frac * pw;
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{y}" x2="{}" y2="{y}" stroke="#eee"/><text x="{}" y="{}" font-size="11" text-anchor="end">{:.0}%</text><text x="{x}" y="{}" font-size="11" text-anchor="middle">{:.1} s</text>"##,
            left + pw,
            left - 6.0,
            y + 4.0,
            frac * 100.0,
            top + ph + 16.0,
            frac * max_ms / 1000.0
        );
    }
    for (samples, colour, label, row) in [
        (elderly_ms, "#d62728", "older passengers", 0.0),
        (others_ms, "#1f77b4", "others", 1.0),
    ] {
        let mut v = samples.to_vec();
        v.sort_unstable();
        let mut path = format!("M{left},{}", top + ph);
        for (i, ms) in v.iter().enumerate() {
            let x = left + *ms as f64 / max_ms * pw;
            let y = top + ph - (i + 1) as f64 / v.len() as f64 * ph;
            let _ = write!(
                path,
                " L{x:.1},{:.1} L{x:.1},{y:.1}",
                top + ph - i as f64 / v.len() as f64 * ph
            );
        }
        let _ = writeln!(
            s,
            r#"<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"/>"#
        );
        let median = if v.is_empty() { 0 } else { v[v.len() / 2] };
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" font-size="13" fill="{colour}">{label}: {} orders, median {:.1} s</text>"#,
            left,
            top + ph + 60.0 + row * 18.0,
            v.len(),
            median as f64 / 1000.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" font-size="12" text-anchor="middle">time from order to a driver's acceptance</text></svg>"#,
        left + pw / 2.0,
        top + ph + 36.0
    );
    s
}

/// One curve of [`compare_chart`]: a label, a colour, and samples in seconds (`None`: never).
#[derive(Debug, Clone)]
pub struct Series {
    /// Shown in the legend.
    pub label: String,
    /// An SVG colour.
    pub colour: String,
    /// Drawn dashed (a second matcher beside the first).
    pub dashed: bool,
    /// Seconds; `None` is an order never served (the curve stops below 100 %).
    pub samples_s: Vec<Option<f64>>,
}

/// A chart of cumulative shares (time to assign, say) comparing several series; the legend
/// sits below the plot, so no label crosses a curve.
pub fn compare_chart(series: &[Series], title: &str, x_label: &str) -> String {
    let (pw, ph, left, top) = (760.0, 380.0, 70.0, 50.0);
    let legend_top = top + ph + 52.0;
    let height = legend_top + 20.0 * series.len() as f64 + 10.0;
    let max_s = series
        .iter()
        .flat_map(|s| s.samples_s.iter().flatten())
        .copied()
        .fold(1.0_f64, f64::max);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="880" height="{height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="{left}" y="28" font-size="17">{}</text>
<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>
"##,
        escape(title)
    );
    for i in 0..=5 {
        let frac = i as f64 / 5.0;
        let y = top + ph - frac * ph;
        let x = left + frac * pw;
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{y}" x2="{}" y2="{y}" stroke="#eee"/><text x="{}" y="{}" font-size="11" text-anchor="end">{:.0}%</text><text x="{x}" y="{}" font-size="11" text-anchor="middle">{:.0} s</text>"##,
            left + pw,
            left - 6.0,
            y + 4.0,
            frac * 100.0,
            top + ph + 16.0,
            frac * max_s
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" font-size="12" text-anchor="middle">{}</text>"#,
        left + pw / 2.0,
        top + ph + 34.0,
        escape(x_label)
    );
    for (row, ser) in series.iter().enumerate() {
        let n = ser.samples_s.len().max(1) as f64;
        let mut v: Vec<f64> = ser.samples_s.iter().flatten().copied().collect();
        v.sort_by(f64::total_cmp);
        let mut path = format!("M{left},{}", top + ph);
        for (i, x_s) in v.iter().enumerate() {
            let x = left + x_s / max_s * pw;
            let y = top + ph - (i + 1) as f64 / n * ph;
            let _ = write!(
                path,
                " L{x:.1},{:.1} L{x:.1},{y:.1}",
                top + ph - i as f64 / n * ph
            );
        }
        let dash = if ser.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = writeln!(
            s,
            r#"<path d="{path}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
            ser.colour
        );
        let never = ser.samples_s.len() - v.len();
        let median = {
            let mut all: Vec<f64> = ser
                .samples_s
                .iter()
                .map(|x| x.unwrap_or(f64::INFINITY))
                .collect();
            all.sort_by(f64::total_cmp);
            all.get(all.len().saturating_sub(1) / 2).copied()
        };
        let median = match median {
            Some(m) if m.is_finite() => format!("{m:.0} s"),
            Some(_) => "never".into(),
            None => "-".into(),
        };
        let y = legend_top + 20.0 * row as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2"{dash}/><text x="{}" y="{}" font-size="13" fill="{}">{}: {} orders, median {median}, never served {never}</text>"#,
            y - 4.0,
            left + 30.0,
            y - 4.0,
            ser.colour,
            left + 38.0,
            y,
            ser.colour,
            escape(&ser.label),
            ser.samples_s.len()
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_well_formed_svg() {
        let o = Observed::default();
        o.taxis
            .lock()
            .unwrap()
            .insert("T1".into(), ((29.55, 106.55), Phase::Cruising));
        let m = map(&o, "test <map>");
        assert!(m.starts_with("<svg") && m.trim_end().ends_with("</svg>"));
        assert!(m.contains("&lt;map&gt;") && m.contains("<circle"));
        let c = assign_chart(&[1000, 2000], &[3000], "t");
        assert!(c.contains("median 2.0 s") && c.contains("median 3.0 s"));
        // The legend is below the plot (which ends at y = 470), off every curve.
        for line in c.lines().filter(|l| l.contains("median")) {
            let y: f64 = line
                .split("y=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(y > 470.0 + 20.0, "{line}");
        }
    }

    #[test]
    fn the_comparison_keeps_its_legend_below_the_curves() {
        let c = compare_chart(
            &[
                Series {
                    label: "greedy <older>".into(),
                    colour: "#d62728".into(),
                    dashed: false,
                    samples_s: vec![Some(10.0), Some(20.0), None],
                },
                Series {
                    label: "batched".into(),
                    colour: "#1f77b4".into(),
                    dashed: true,
                    samples_s: vec![None],
                },
            ],
            "t",
            "x",
        );
        assert!(c.starts_with("<svg") && c.trim_end().ends_with("</svg>"));
        assert!(c.contains("greedy &lt;older&gt;: 3 orders, median 20 s, never served 1"));
        assert!(c.contains("median never, never served 1"));
        // Every legend line is below the plot's bottom edge (y = 430).
        for line in c.lines().filter(|l| l.contains("orders, median")) {
            let y: f64 = line
                .split("<text x=")
                .nth(1)
                .and_then(|t| t.split("y=\"").nth(1))
                .and_then(|t| t.split('"').next())
                .and_then(|t| t.parse().ok())
                .unwrap();
            assert!(y > 430.0, "{line}");
        }
    }
}
