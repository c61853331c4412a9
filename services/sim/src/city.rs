//! The simulated city's geography: a box over central Chongqing and the places people go.

use rand::Rng;

/// A named place where pickups and drop-offs cluster.
#[derive(Debug, Clone, Copy)]
pub struct Spot {
    /// Its name, as an address for drivers.
    pub name: &'static str,
    /// Its name in Latin letters, for the map (readable without CJK fonts).
    pub en: &'static str,
    /// WGS-84 latitude (approximate).
    pub lat: f64,
    /// WGS-84 longitude (approximate).
    pub lon: f64,
    /// What kind of place.
    pub kind: SpotKind,
}

/// Kinds of places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpotKind {
    /// A hospital: older passengers' most common destination.
    Hospital,
    /// A residential compound: where older passengers live.
    Residential,
    /// A shopping or business area.
    Shopping,
}

/// Central Chongqing's hospitals, residential compounds and shopping areas (positions
/// approximate, to a few hundred metres).
pub const SPOTS: &[Spot] = &[
    Spot {
        name: "重庆医科大学附属第一医院",
        en: "CQMU First Hospital",
        lat: 29.5330,
        lon: 106.5090,
        kind: SpotKind::Hospital,
    },
    Spot {
        name: "陆军军医大学西南医院",
        en: "Southwest Hospital",
        lat: 29.5520,
        lon: 106.4590,
        kind: SpotKind::Hospital,
    },
    Spot {
        name: "陆军军医大学新桥医院",
        en: "Xinqiao Hospital",
        lat: 29.5430,
        lon: 106.4450,
        kind: SpotKind::Hospital,
    },
    Spot {
        name: "重庆市人民医院",
        en: "Chongqing People's Hospital",
        lat: 29.6080,
        lon: 106.5290,
        kind: SpotKind::Hospital,
    },
    Spot {
        name: "重庆市中医院",
        en: "Chongqing TCM Hospital",
        lat: 29.5700,
        lon: 106.5660,
        kind: SpotKind::Hospital,
    },
    Spot {
        name: "龙湖花园",
        en: "Longhu Garden",
        lat: 29.6000,
        lon: 106.5200,
        kind: SpotKind::Residential,
    },
    Spot {
        name: "融侨半岛",
        en: "Rongqiao Peninsula",
        lat: 29.5200,
        lon: 106.5700,
        kind: SpotKind::Residential,
    },
    Spot {
        name: "大渡口九宫庙小区",
        en: "Jiugongmiao estate",
        lat: 29.4850,
        lon: 106.4850,
        kind: SpotKind::Residential,
    },
    Spot {
        name: "观音桥嘉陵小区",
        en: "Jialing estate",
        lat: 29.5800,
        lon: 106.5400,
        kind: SpotKind::Residential,
    },
    Spot {
        name: "南坪东路小区",
        en: "Nanping East estate",
        lat: 29.5300,
        lon: 106.5650,
        kind: SpotKind::Residential,
    },
    Spot {
        name: "沙坪坝天星桥小区",
        en: "Tianxingqiao estate",
        lat: 29.5600,
        lon: 106.4400,
        kind: SpotKind::Residential,
    },
    Spot {
        name: "解放碑步行街",
        en: "Jiefangbei",
        lat: 29.5580,
        lon: 106.5770,
        kind: SpotKind::Shopping,
    },
    Spot {
        name: "观音桥步行街",
        en: "Guanyinqiao",
        lat: 29.5740,
        lon: 106.5320,
        kind: SpotKind::Shopping,
    },
    Spot {
        name: "三峡广场",
        en: "Three Gorges Square",
        lat: 29.5560,
        lon: 106.4570,
        kind: SpotKind::Shopping,
    },
    Spot {
        name: "杨家坪步行街",
        en: "Yangjiaping",
        lat: 29.5050,
        lon: 106.5100,
        kind: SpotKind::Shopping,
    },
];

/// The simulated area: (south, west, north, east) in degrees.
pub const BOX: (f64, f64, f64, f64) = (29.47, 106.42, 29.63, 106.60);

/// Metres per degree of latitude.
pub const M_PER_DEG_LAT: f64 = 111_195.0;

/// Metres per degree of longitude at this latitude.
pub fn m_per_deg_lon(lat: f64) -> f64 {
    M_PER_DEG_LAT * lat.to_radians().cos()
}

/// A uniformly random point in the box.
pub fn random_point(rng: &mut impl Rng) -> (f64, f64) {
    (
        rng.random_range(BOX.0..BOX.2),
        rng.random_range(BOX.1..BOX.3),
    )
}

/// A point within `radius_m` of a spot.
pub fn near(spot: &Spot, radius_m: f64, rng: &mut impl Rng) -> (f64, f64) {
    let r = radius_m * rng.random::<f64>().sqrt();
    let a = rng.random_range(0.0..std::f64::consts::TAU);
    (
        spot.lat + r * a.sin() / M_PER_DEG_LAT,
        spot.lon + r * a.cos() / m_per_deg_lon(spot.lat),
    )
}

/// A place people go: near a spot most of the time, anywhere otherwise.
pub fn destination(rng: &mut impl Rng) -> ((f64, f64), String) {
    if rng.random_bool(0.7) {
        let s = &SPOTS[rng.random_range(0..SPOTS.len())];
        (near(s, 400.0, rng), s.name.to_string())
    } else {
        (random_point(rng), "路边".to_string())
    }
}

/// Moves `from` toward `to` by at most `step_m` metres; returns the new point and whether it arrived.
pub fn step_toward(from: (f64, f64), to: (f64, f64), step_m: f64) -> ((f64, f64), bool) {
    let dy = (to.0 - from.0) * M_PER_DEG_LAT;
    let dx = (to.1 - from.1) * m_per_deg_lon(from.0);
    let d = (dx * dx + dy * dy).sqrt();
    if d <= step_m || d == 0.0 {
        return (to, true);
    }
    let f = step_m / d;
    (
        (from.0 + (to.0 - from.0) * f, from.1 + (to.1 - from.1) * f),
        false,
    )
}

/// Straight-line metres between two points.
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let dy = (b.0 - a.0) * M_PER_DEG_LAT;
    let dx = (b.1 - a.1) * m_per_deg_lon(a.0);
    (dx * dx + dy * dy).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn spots_are_in_the_box_and_the_service_area() {
        let cq = taxi_domain::geo::City::builtin("500100").unwrap();
        for s in SPOTS {
            assert!(
                s.lat > BOX.0 && s.lat < BOX.2 && s.lon > BOX.1 && s.lon < BOX.3,
                "{}",
                s.name
            );
            assert!(
                cq.service_area
                    .contains(&taxi_domain::Coordinates::new(s.lat, s.lon).unwrap())
            );
        }
    }

    #[test]
    fn stepping_arrives() {
        let (a, b) = ((29.55, 106.55), (29.56, 106.55));
        let (p, done) = step_toward(a, b, 500.0);
        assert!(!done && (distance_m(p, b) - 612.0).abs() < 5.0);
        let (p, done) = step_toward(p, b, 1000.0);
        assert!(done && p == b);
    }

    #[test]
    fn near_stays_near() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..100 {
            let p = near(&SPOTS[0], 400.0, &mut rng);
            assert!(distance_m(p, (SPOTS[0].lat, SPOTS[0].lon)) <= 401.0);
        }
    }
}
