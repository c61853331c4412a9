//! Geographic maths: validated coordinates, the GCJ-02 datum, distances, service areas.
//!
//! Inside the system every position is WGS-84. Chinese map apps publish GCJ-02, a datum
//! shifted by a non-linear, published obfuscation of a few hundred metres; input that says
//! GCJ-02 is converted here, at the edge, and never stored as such.

use crate::FieldError;
use geo::{Contains, Distance, Haversine, LineString, Point, Polygon};

/// The datum a caller's coordinates are expressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datum {
    /// WGS-84, what GPS receivers report and what is stored.
    Wgs84,
    /// GCJ-02, the datum of maps published in mainland China.
    Gcj02,
}

/// A WGS-84 position that is known to be finite and in range.
///
/// Architecture invariant: a `Coordinates` value cannot hold NaN, infinity or an
/// out-of-range latitude or longitude; the only constructors check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinates {
    lat: f64,
    lon: f64,
}

impl Coordinates {
    /// Checks a WGS-84 latitude and longitude in degrees.
    pub fn new(lat: f64, lon: f64) -> Result<Self, FieldError> {
        if !lat.is_finite() {
            return Err(FieldError::new("latitude", "must be a finite number"));
        }
        if !lon.is_finite() {
            return Err(FieldError::new("longitude", "must be a finite number"));
        }
        if !(-90.0..=90.0).contains(&lat) {
            return Err(FieldError::new(
                "latitude",
                format!("{lat} is outside -90..90 degrees"),
            ));
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(FieldError::new(
                "longitude",
                format!("{lon} is outside -180..180 degrees"),
            ));
        }
        // Redis' geo index refuses latitudes beyond ±85.05112878 (Web Mercator): no taxi is there.
        if lat.abs() > 85.05 {
            return Err(FieldError::new(
                "latitude",
                format!("{lat} is beyond ±85.05 degrees, where no taxi runs"),
            ));
        }
        Ok(Self { lat, lon })
    }

    /// Checks coordinates given in `datum` and converts them to WGS-84.
    pub fn from_datum(lat: f64, lon: f64, datum: Datum) -> Result<Self, FieldError> {
        let checked = Self::new(lat, lon)?;
        match datum {
            Datum::Wgs84 => Ok(checked),
            Datum::Gcj02 => {
                let (wlat, wlon) = gcj02_to_wgs84(lat, lon);
                Self::new(wlat, wlon)
            }
        }
    }

    /// Latitude in degrees, WGS-84.
    pub fn lat(&self) -> f64 {
        self.lat
    }

    /// Longitude in degrees, WGS-84.
    pub fn lon(&self) -> f64 {
        self.lon
    }

    /// Great-circle distance in metres.
    pub fn distance_m(&self, other: &Coordinates) -> f64 {
        Haversine.distance(self.point(), other.point())
    }

    /// The same position expressed in GCJ-02, for clients that draw on Chinese maps.
    pub fn to_gcj02(&self) -> (f64, f64) {
        wgs84_to_gcj02(self.lat, self.lon)
    }

    fn point(&self) -> Point<f64> {
        Point::new(self.lon, self.lat)
    }
}

/// Average door-to-door taxi speed in a Chinese city centre, metres per second (about 22 km/h).
pub const CITY_SPEED_MPS: f64 = 6.0;
/// Road distance is longer than the straight line: a common urban detour factor.
pub const DETOUR_FACTOR: f64 = 1.3;

/// A plain ETA for a taxi `straight_m` metres away: detour-corrected distance at city speed.
pub fn eta_seconds(straight_m: f64) -> u32 {
    if !straight_m.is_finite() || straight_m <= 0.0 {
        return 0;
    }
    (straight_m * DETOUR_FACTOR / CITY_SPEED_MPS)
        .round()
        .min(f64::from(u32::MAX)) as u32
}

const KRASOVSKY_A: f64 = 6_378_245.0;
const KRASOVSKY_EE: f64 = 0.006_693_421_622_965_943;

/// Whether GCJ-02 applies at all: outside this box the datum equals WGS-84.
pub fn in_gcj02_region(lat: f64, lon: f64) -> bool {
    (72.004..=137.8347).contains(&lon) && (0.8293..=55.8271).contains(&lat)
}

fn transform_lat(x: f64, y: f64) -> f64 {
    use std::f64::consts::PI;
    let mut r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    r
}

fn transform_lon(x: f64, y: f64) -> f64 {
    use std::f64::consts::PI;
    let mut r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    r
}

/// The published forward obfuscation: WGS-84 to GCJ-02, as (lat, lon).
pub fn wgs84_to_gcj02(lat: f64, lon: f64) -> (f64, f64) {
    use std::f64::consts::PI;
    if !in_gcj02_region(lat, lon) {
        return (lat, lon);
    }
    let dlat = transform_lat(lon - 105.0, lat - 35.0);
    let dlon = transform_lon(lon - 105.0, lat - 35.0);
    let rad_lat = lat / 180.0 * PI;
    let magic = 1.0 - KRASOVSKY_EE * rad_lat.sin() * rad_lat.sin();
    let sqrt_magic = magic.sqrt();
    let dlat = (dlat * 180.0) / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * PI);
    let dlon = (dlon * 180.0) / (KRASOVSKY_A / sqrt_magic * rad_lat.cos() * PI);
    (lat + dlat, lon + dlon)
}

/// GCJ-02 to WGS-84, as (lat, lon), by fixed-point iteration on the forward function.
///
/// The common one-step inverse is off by up to a few metres; iterating until the
/// forward image matches to 1e-9 degrees (about 0.1 mm) removes that error.
pub fn gcj02_to_wgs84(lat: f64, lon: f64) -> (f64, f64) {
    if !in_gcj02_region(lat, lon) {
        return (lat, lon);
    }
    let (mut wlat, mut wlon) = (lat, lon);
    for _ in 0..30 {
        let (glat, glon) = wgs84_to_gcj02(wlat, wlon);
        let (elat, elon) = (glat - lat, glon - lon);
        wlat -= elat;
        wlon -= elon;
        if elat.abs() < 1e-9 && elon.abs() < 1e-9 {
            break;
        }
    }
    (wlat, wlon)
}

/// The polygon a city serves: pickups outside it are refused.
#[derive(Debug, Clone)]
pub struct ServiceArea {
    polygon: Polygon<f64>,
}

impl ServiceArea {
    /// A polygon from WGS-84 (lat, lon) vertices; at least three.
    pub fn new(vertices: &[(f64, f64)]) -> Result<Self, FieldError> {
        if vertices.len() < 3 {
            return Err(FieldError::new(
                "service_area",
                "needs at least three vertices",
            ));
        }
        for (i, (lat, lon)) in vertices.iter().enumerate() {
            Coordinates::new(*lat, *lon).map_err(|e| e.within(&format!("service_area[{i}]")))?;
        }
        let ring: LineString<f64> = vertices.iter().map(|(lat, lon)| (*lon, *lat)).collect();
        Ok(Self {
            polygon: Polygon::new(ring, vec![]),
        })
    }

    /// The polygon's vertices, WGS-84 (lat, lon), in order (the ring closed: the first
    /// vertex comes again last). For drawing the area on a map.
    pub fn vertices(&self) -> Vec<(f64, f64)> {
        self.polygon
            .exterior()
            .coords()
            .map(|c| (c.y, c.x))
            .collect()
    }

    /// Parses `lat,lon;lat,lon;...` as given in configuration.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let mut vertices = Vec::new();
        for (i, pair) in text.split(';').filter(|p| !p.trim().is_empty()).enumerate() {
            let mut parts = pair.split(',').map(str::trim);
            let (Some(lat), Some(lon), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(FieldError::new(
                    format!("service_area[{i}]"),
                    "expected `lat,lon`",
                ));
            };
            let parse = |s: &str| {
                s.parse::<f64>().map_err(|_| {
                    FieldError::new(
                        format!("service_area[{i}]"),
                        format!("`{s}` is not a number"),
                    )
                })
            };
            vertices.push((parse(lat)?, parse(lon)?));
        }
        Self::new(&vertices)
    }

    /// Whether the point lies inside the area (on the border counts as outside).
    pub fn contains(&self, point: &Coordinates) -> bool {
        self.polygon.contains(&point.point())
    }
}

/// A city the backend can serve: its code, its name, where its centre is and what it covers.
#[derive(Debug, Clone)]
pub struct City {
    /// The administrative division code, for example `500100` for Chongqing's city districts.
    pub code: String,
    /// The name for humans.
    pub name: String,
    /// Where the simulator and the demo centre the map.
    pub centre: Coordinates,
    /// Where pickups are accepted.
    pub service_area: ServiceArea,
}

impl City {
    /// The cities with a built-in service area; any other code needs one in configuration.
    pub fn builtin(code: &str) -> Option<City> {
        let (name, centre, vertices): (&str, (f64, f64), &[(f64, f64)]) = match code {
            // Chongqing's main urban districts, both banks of the Yangtze and the Jialing.
            "500100" => (
                "重庆 Chongqing",
                (29.5630, 106.5516),
                &[
                    (29.20, 106.25),
                    (29.20, 106.90),
                    (29.90, 106.90),
                    (29.90, 106.25),
                ],
            ),
            // Beijing inside the sixth ring road, roughly.
            "110100" => (
                "北京 Beijing",
                (39.9087, 116.3975),
                &[
                    (39.65, 116.05),
                    (39.65, 116.75),
                    (40.20, 116.75),
                    (40.20, 116.05),
                ],
            ),
            _ => return None,
        };
        Some(City {
            code: code.to_string(),
            name: name.to_string(),
            centre: Coordinates::new(centre.0, centre.1).ok()?,
            service_area: ServiceArea::new(vertices).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_finite_and_out_of_range() {
        for (lat, lon, field) in [
            (f64::NAN, 0.0, "latitude"),
            (0.0, f64::INFINITY, "longitude"),
            (f64::NEG_INFINITY, 0.0, "latitude"),
            (90.5, 0.0, "latitude"),
            (-91.0, 0.0, "latitude"),
            (0.0, 180.1, "longitude"),
            (0.0, -200.0, "longitude"),
            (86.0, 0.0, "latitude"),
        ] {
            let err = Coordinates::new(lat, lon).unwrap_err();
            assert_eq!(err.field, field, "{lat},{lon}");
        }
        assert!(Coordinates::new(29.56, 106.55).is_ok());
        assert!(Coordinates::new(-85.0, -180.0).is_ok());
    }

    /// WGS-84 (39.915, 116.404) is published as GCJ-02 (39.91640428150164, 116.41024449916938)
    /// by the reference implementations (wandergis/coordtransform and its ports).
    #[test]
    fn gcj02_matches_published_reference_point() {
        let (glat, glon) = wgs84_to_gcj02(39.915, 116.404);
        assert!((glat - 39.916_404_281_501_64).abs() < 1e-9);
        assert!((glon - 116.410_244_499_169_38).abs() < 1e-9);

        let back =
            Coordinates::from_datum(39.916_404_281_501_64, 116.410_244_499_169_38, Datum::Gcj02)
                .unwrap();
        let truth = Coordinates::new(39.915, 116.404).unwrap();
        assert!(
            back.distance_m(&truth) < 5.0,
            "{} m",
            back.distance_m(&truth)
        );
        assert!(back.distance_m(&truth) < 0.01, "iteration should be exact");
    }

    /// The same reference publishes the one-step inverse of GCJ-02 (39.915, 116.404) as
    /// WGS-84 (39.91359571849836, 116.39775550083061); ours agrees within 5 m.
    #[test]
    fn gcj02_inverse_agrees_with_published_one_step_inverse() {
        let ours = Coordinates::from_datum(39.915, 116.404, Datum::Gcj02).unwrap();
        let published = Coordinates::new(39.913_595_718_498_36, 116.397_755_500_830_61).unwrap();
        assert!(ours.distance_m(&published) < 5.0);
    }

    #[test]
    fn gcj02_round_trips_across_china() {
        for lat in [18.3, 22.5, 29.56, 31.2, 39.9, 45.7] {
            for lon in [87.6, 102.7, 106.55, 113.3, 121.5, 126.6] {
                let (glat, glon) = wgs84_to_gcj02(lat, lon);
                let shift = Coordinates::new(lat, lon)
                    .unwrap()
                    .distance_m(&Coordinates::new(glat, glon).unwrap());
                assert!(
                    shift > 1.0 && shift < 1500.0,
                    "shift {shift} m at {lat},{lon}"
                );
                let (wlat, wlon) = gcj02_to_wgs84(glat, glon);
                let err = Coordinates::new(lat, lon)
                    .unwrap()
                    .distance_m(&Coordinates::new(wlat, wlon).unwrap());
                assert!(err < 0.01, "error {err} m at {lat},{lon}");
            }
        }
    }

    /// A second published pair: Tiananmen, WGS-84 (39.908692, 116.397477) is drawn at
    /// GCJ-02 (39.910093, 116.403719) by Chinese map providers (to the 6 decimals given).
    #[test]
    fn gcj02_matches_a_second_reference_point() {
        let (glat, glon) = wgs84_to_gcj02(39.908_692, 116.397_477);
        assert!((glat - 39.910_093).abs() < 1e-5, "{glat}");
        assert!((glon - 116.403_719).abs() < 1e-5, "{glon}");
    }

    /// The inverse over the whole region, every half degree: the forward image of the
    /// inverse is within 1e-8 degrees (about a millimetre) of the point, and the shift is
    /// never more than 1.5 km (the datum's shifts are a few hundred metres).
    #[test]
    fn gcj02_inverse_error_is_bounded_over_the_whole_region() {
        let mut worst: f64 = 0.0;
        let mut lat = 1.0;
        while lat < 55.5 {
            let mut lon = 72.5;
            while lon < 137.5 {
                let (wlat, wlon) = gcj02_to_wgs84(lat, lon);
                let (glat, glon) = wgs84_to_gcj02(wlat, wlon);
                worst = worst.max((glat - lat).abs()).max((glon - lon).abs());
                let shift = Coordinates::new(lat, lon)
                    .unwrap()
                    .distance_m(&Coordinates::new(wlat, wlon).unwrap());
                assert!(shift < 1_500.0, "shift {shift} m at {lat},{lon}");
                lon += 0.5;
            }
            lat += 0.5;
        }
        assert!(worst < 1e-8, "worst round-trip error {worst} degrees");
    }

    #[test]
    fn gcj02_applies_inside_the_region_box_only() {
        for (lat, lon, inside) in [
            (29.56, 106.55, true),
            (0.8293, 72.004, true),
            (55.8271, 137.8347, true),
            (0.8292, 106.0, false),
            (55.8272, 106.0, false),
            (30.0, 72.003, false),
            (30.0, 137.8348, false),
            (-29.56, 106.55, false),
            (29.56, -106.55, false),
        ] {
            assert_eq!(in_gcj02_region(lat, lon), inside, "{lat},{lon}");
            if !inside {
                assert_eq!(wgs84_to_gcj02(lat, lon), (lat, lon));
                assert_eq!(gcj02_to_wgs84(lat, lon), (lat, lon));
            } else {
                assert_ne!(wgs84_to_gcj02(lat, lon), (lat, lon));
            }
        }
    }

    #[test]
    fn gcj02_is_identity_outside_china() {
        assert_eq!(wgs84_to_gcj02(51.5, -0.12), (51.5, -0.12));
        assert_eq!(gcj02_to_wgs84(-33.9, 151.2), (-33.9, 151.2));
    }

    #[test]
    fn eta_is_detoured_distance_at_city_speed() {
        assert_eq!(eta_seconds(0.0), 0);
        assert_eq!(eta_seconds(f64::NAN), 0);
        // 1 km straight: 1.3 km of road at 6 m/s.
        assert_eq!(eta_seconds(1000.0), 217);
    }

    #[test]
    fn distance_is_haversine() {
        let a = Coordinates::new(29.5630, 106.5516).unwrap();
        let b = Coordinates::new(29.5630 + 0.01798, 106.5516).unwrap();
        let d = a.distance_m(&b);
        assert!((d - 2000.0).abs() < 5.0, "{d}");
        assert_eq!(a.distance_m(&a), 0.0);
    }

    #[test]
    fn service_area_contains() {
        let cq = City::builtin("500100").unwrap();
        assert!(cq.service_area.contains(&cq.centre));
        assert!(
            !cq.service_area
                .contains(&Coordinates::new(39.9, 116.4).unwrap())
        );
        assert!(City::builtin("999999").is_none());
        let area = ServiceArea::parse("0,0; 0,1; 1,1; 1,0").unwrap();
        assert!(area.contains(&Coordinates::new(0.5, 0.5).unwrap()));
        assert!(!area.contains(&Coordinates::new(1.5, 0.5).unwrap()));
        assert_eq!(
            ServiceArea::parse("0,0;1,1").unwrap_err().field,
            "service_area"
        );
        assert_eq!(
            ServiceArea::parse("0,0;1,x;2,2").unwrap_err().field,
            "service_area[1]"
        );
        assert_eq!(
            ServiceArea::parse("0,0;1;2,2").unwrap_err().field,
            "service_area[1]"
        );
        assert_eq!(
            ServiceArea::parse("0,0;95,1;2,2").unwrap_err().field,
            "service_area[1].latitude"
        );
    }
}
