//! Taxi stands (候客点): a stand's checked definition (fence, capacity, opening hours),
//! whether a point is inside it and whether it is open, the queue rule a taxi's position
//! fix goes through, and which stand an order's pickup belongs to.
//!
//! Everything here is pure: the store keeps the stands and the queues, position ingest
//! calls [`queue_step`] with what it read, and dispatch calls [`pickup_stand`].
//!
//! # Rules where stands overlap
//! Fences may overlap (a hospital's main gate and its emergency entrance). Two rules decide:
//! - **A queued taxi keeps its place.** While it stays inside the fence of the stand it
//!   queues at (and stays free, and the stand stays open), it stays in that queue even if it
//!   is also inside another stand's fence: the stand whose fence it entered first keeps it.
//!   This keeps a taxi from flapping between queues, and from losing its place, when it
//!   moves a few metres inside the overlap.
//! - **Otherwise the nearest centre wins.** A taxi that joins a queue, and a pickup that is
//!   inside several fences, go to the open stand whose centre (a circle's centre, a
//!   polygon's centroid) is nearest; on an exact tie, the smallest stand id, so the choice
//!   never depends on the order stands were listed in. A taxi does not join a stand that is
//!   full; it joins the nearest one that is not.

use crate::geo::ServiceArea;
use crate::taxi::TaxiState;
use crate::validate;
use crate::{Coordinates, Datum, FieldError};
use geo::{Centroid, GeodesicArea, Intersects, LineString, Point, Polygon, Validation};
use std::fmt;

/// The smallest circle a stand may have, metres: a smaller one is lost in a taxi's GPS error.
pub const MIN_RADIUS_M: f64 = 10.0;
/// The largest circle a stand may have, metres: a stand is a kerb, not a district.
pub const MAX_RADIUS_M: f64 = 1000.0;
/// The most vertices a polygon fence may have.
pub const MAX_VERTICES: usize = 64;
/// The widest a polygon fence may be: no two vertices farther apart than this, metres
/// (a circle of [`MAX_RADIUS_M`] is as wide).
pub const MAX_POLYGON_SPAN_M: f64 = 2.0 * MAX_RADIUS_M;
/// The smallest area a polygon fence may enclose, square metres: one kerb bay (20 m × 5 m).
/// It also refuses vertices on one line, whose area rounding makes a hair above zero.
pub const MIN_POLYGON_AREA_M2: f64 = 100.0;
/// The longest stand name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// The largest capacity a stand may declare.
pub const MAX_CAPACITY: u32 = 500;
/// The most opening-hours ranges a stand may have.
pub const MAX_HOURS_RANGES: usize = 8;

/// China time (UTC+8, no daylight saving), where opening hours are read.
const CHINA_OFFSET_S: i64 = 8 * 3600;
const DAY_S: i64 = 24 * 3600;
const DAY_MIN: u16 = 24 * 60;

/// A latitude and longitude as a caller sent them, not yet checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatLon {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
}

/// A fence as a caller sent it, not yet checked.
#[derive(Debug, Clone, PartialEq)]
pub enum FenceSpec {
    /// Everything within `radius_m` metres of `centre`.
    Circle {
        /// The centre.
        centre: LatLon,
        /// The radius in metres, [`MIN_RADIUS_M`]..=[`MAX_RADIUS_M`].
        radius_m: f64,
    },
    /// The inside of a simple polygon: three or more vertices, in order, the ring closed
    /// implicitly (a last vertex equal to the first is dropped).
    Polygon {
        /// The vertices.
        vertices: Vec<LatLon>,
    },
}

/// A stand as a caller sent it (an operator's request, or a stored record read back), not
/// yet checked: [`Stand::check`] turns it into a [`Stand`] or names the field at fault.
#[derive(Debug, Clone, PartialEq)]
pub struct StandSpec {
    /// The stand's identifier.
    pub id: String,
    /// Its name for people, for example `市第一人民医院 东门`.
    pub name: String,
    /// Its geofence.
    pub fence: FenceSpec,
    /// The datum the fence's coordinates are given in; they are kept as WGS-84.
    pub datum: Datum,
    /// How many taxis may queue; `None` for no limit.
    pub capacity: Option<u32>,
    /// Daily opening hours in China time, each `HH:MM-HH:MM` (close may be `24:00`, and
    /// before open for a range across midnight); empty means always open.
    pub hours: Vec<String>,
}

/// A checked fence: a circle or a simple polygon, inside the service area.
#[derive(Debug, Clone)]
pub struct Fence {
    shape: Shape,
    centre: Coordinates,
    /// A box that holds the whole fence, (south, west, north, east) degrees: position
    /// ingest asks every fix about every stand, and most fixes are far from all of them,
    /// so two comparisons answer first.
    bounds: (f64, f64, f64, f64),
}

/// Degrees of latitude per metre (a sphere of the mean radius), and a margin on top so
/// the box never cuts the fence.
const BOX_DEG_PER_M: f64 = 1.0 / 111_000.0;

impl Fence {
    fn new(shape: Shape, centre: Coordinates) -> Self {
        let bounds = match &shape {
            Shape::Circle { radius_m } => {
                let dlat = radius_m * BOX_DEG_PER_M * 1.01;
                // Stands are within ±85° (`Coordinates`), where cos stays above 0.08.
                let dlon = dlat / centre.lat().to_radians().cos().max(0.01);
                (
                    centre.lat() - dlat,
                    centre.lon() - dlon,
                    centre.lat() + dlat,
                    centre.lon() + dlon,
                )
            }
            Shape::Polygon { vertices, .. } => vertices.iter().fold(
                (f64::MAX, f64::MAX, f64::MIN, f64::MIN),
                |(s, w, n, e), v| {
                    (
                        s.min(v.lat()),
                        w.min(v.lon()),
                        n.max(v.lat()),
                        e.max(v.lon()),
                    )
                },
            ),
        };
        Self {
            shape,
            centre,
            bounds,
        }
    }
}

#[derive(Debug, Clone)]
enum Shape {
    Circle {
        radius_m: f64,
    },
    Polygon {
        vertices: Vec<Coordinates>,
        polygon: Polygon<f64>,
    },
}

impl Fence {
    /// Checks a fence; errors name `stand.fence.…`.
    ///
    /// What "inside the service area" means: a circle's centre, and every polygon vertex,
    /// must be inside it. A circle may reach past the border by at most its radius, and a
    /// polygon's edge could leave a concave service area between two vertices inside it;
    /// both are harmless (a taxi there is still matched by position), so neither is refused.
    pub fn check(spec: &FenceSpec, datum: Datum, area: &ServiceArea) -> Result<Self, FieldError> {
        match spec {
            FenceSpec::Circle { centre, radius_m } => {
                let field = "stand.fence.centre";
                let centre = Coordinates::from_datum(centre.lat, centre.lon, datum)
                    .map_err(|e| e.within(field))?;
                if !area.contains(&centre) {
                    return Err(FieldError::new(field, "is outside the city's service area"));
                }
                if !radius_m.is_finite() || !(MIN_RADIUS_M..=MAX_RADIUS_M).contains(radius_m) {
                    return Err(FieldError::new(
                        "stand.fence.radius_meters",
                        format!("{radius_m} is not within {MIN_RADIUS_M}..={MAX_RADIUS_M} metres"),
                    ));
                }
                Ok(Self::new(
                    Shape::Circle {
                        radius_m: *radius_m,
                    },
                    centre,
                ))
            }
            FenceSpec::Polygon { vertices } => Self::check_polygon(vertices, datum, area),
        }
    }

    fn check_polygon(raw: &[LatLon], datum: Datum, area: &ServiceArea) -> Result<Self, FieldError> {
        let field = "stand.fence.polygon";
        let raw = match raw {
            [first, .., last] if raw.len() > 3 && first == last => &raw[..raw.len() - 1],
            _ => raw,
        };
        if raw.len() < 3 {
            return Err(FieldError::new(field, "needs at least three vertices"));
        }
        if raw.len() > MAX_VERTICES {
            return Err(FieldError::new(
                field,
                format!(
                    "has {} vertices; at most {MAX_VERTICES} are allowed",
                    raw.len()
                ),
            ));
        }
        let mut vertices = Vec::with_capacity(raw.len());
        for (i, v) in raw.iter().enumerate() {
            let at = format!("{field}[{i}]");
            let c = Coordinates::from_datum(v.lat, v.lon, datum).map_err(|e| e.within(&at))?;
            if !area.contains(&c) {
                return Err(FieldError::new(at, "is outside the city's service area"));
            }
            vertices.push(c);
        }
        for (j, b) in vertices.iter().enumerate() {
            if let Some(i) = vertices[..j]
                .iter()
                .position(|a| a.distance_m(b) > MAX_POLYGON_SPAN_M)
            {
                return Err(FieldError::new(
                    format!("{field}[{j}]"),
                    format!(
                        "is more than {MAX_POLYGON_SPAN_M} m from vertex {i}: a stand's fence is at most that wide"
                    ),
                ));
            }
        }
        let ring: LineString<f64> = vertices.iter().map(|c| (c.lon(), c.lat())).collect();
        let polygon = Polygon::new(ring, vec![]);
        if let Err(problem) = polygon.check_validation() {
            use geo::algorithm::validation::InvalidPolygon;
            let reason = match problem {
                InvalidPolygon::SelfIntersection(_) => {
                    "crosses or touches itself: its edges must form a simple ring".to_string()
                }
                InvalidPolygon::TooFewPointsInRing(_) => {
                    "needs at least three distinct vertices".to_string()
                }
                other => other.to_string(),
            };
            return Err(FieldError::new(field, reason));
        }
        let area_m2 = polygon.geodesic_area_unsigned();
        if area_m2 < MIN_POLYGON_AREA_M2 {
            return Err(FieldError::new(
                field,
                format!(
                    "encloses {area_m2:.0} m²; at least {MIN_POLYGON_AREA_M2} m² (a kerb bay) is needed, so its vertices do not lie on one line"
                ),
            ));
        }
        let centroid = polygon
            .centroid()
            .and_then(|p| Coordinates::new(p.y(), p.x()).ok())
            .ok_or_else(|| FieldError::new(field, "has no centre"))?;
        Ok(Self::new(Shape::Polygon { vertices, polygon }, centroid))
    }

    /// Whether `point` is inside the fence; on its edge counts as inside (a taxi parked
    /// on the painted line is at the stand).
    pub fn contains(&self, point: &Coordinates) -> bool {
        let (s, w, n, e) = self.bounds;
        if point.lat() < s || point.lat() > n || point.lon() < w || point.lon() > e {
            return false;
        }
        match &self.shape {
            Shape::Circle { radius_m } => self.centre.distance_m(point) <= *radius_m,
            Shape::Polygon { polygon, .. } => {
                polygon.intersects(&Point::new(point.lon(), point.lat()))
            }
        }
    }

    /// The circle's centre, or the polygon's centroid: what "nearest stand" measures to.
    pub fn centre(&self) -> Coordinates {
        self.centre
    }

    /// The circle's radius in metres; `None` for a polygon.
    pub fn radius_m(&self) -> Option<f64> {
        match &self.shape {
            Shape::Circle { radius_m } => Some(*radius_m),
            Shape::Polygon { .. } => None,
        }
    }

    /// The polygon's vertices, WGS-84, in order (the ring not repeated); `None` for a circle.
    pub fn vertices(&self) -> Option<&[Coordinates]> {
        match &self.shape {
            Shape::Circle { .. } => None,
            Shape::Polygon { vertices, .. } => Some(vertices),
        }
    }

    /// The fence as a WGS-84 spec, for storing it and checking it again when read back.
    pub fn to_spec(&self) -> FenceSpec {
        let latlon = |c: &Coordinates| LatLon {
            lat: c.lat(),
            lon: c.lon(),
        };
        match &self.shape {
            Shape::Circle { radius_m } => FenceSpec::Circle {
                centre: latlon(&self.centre),
                radius_m: *radius_m,
            },
            Shape::Polygon { vertices, .. } => FenceSpec::Polygon {
                vertices: vertices.iter().map(latlon).collect(),
            },
        }
    }
}

/// One daily opening range in China time, minutes from midnight: open at `open`, closed
/// from `close`. When `close` is before `open` the range runs across midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyRange {
    open: u16,
    close: u16,
}

impl DailyRange {
    /// Checks a range in minutes: `open` 0..1440, `close` 1..=1440, and not equal (as
    /// times of day: 00:00-24:00 is the whole day, 08:00-08:00 is refused as ambiguous).
    pub fn new(field: &str, open: u16, close: u16) -> Result<Self, FieldError> {
        if open >= DAY_MIN {
            return Err(FieldError::new(field, "opens after 23:59"));
        }
        if close == 0 || close > DAY_MIN {
            return Err(FieldError::new(
                field,
                "must close between 00:01 and 24:00 (write midnight as 24:00)",
            ));
        }
        if open == close {
            return Err(FieldError::new(
                field,
                "opens and closes at the same time; write 00:00-24:00 for the whole day",
            ));
        }
        Ok(Self { open, close })
    }

    /// Parses `HH:MM-HH:MM`, for example `07:00-22:00` or `22:00-06:00`.
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldError> {
        let malformed = || FieldError::new(field, format!("`{text}` is not HH:MM-HH:MM"));
        let (open, close) = text.trim().split_once('-').ok_or_else(malformed)?;
        let minutes = |t: &str| -> Option<u16> {
            let (h, m) = t.trim().split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
            (h <= 24 && m < 60 && (h < 24 || m == 0)).then_some(h * 60 + m)
        };
        let open = minutes(open).ok_or_else(malformed)?;
        let close = minutes(close).ok_or_else(malformed)?;
        Self::new(field, open, close)
    }

    /// Whether second `s` of the day (0..86400) is inside the range.
    fn covers(&self, s: i64) -> bool {
        let (open, close) = (i64::from(self.open) * 60, i64::from(self.close) * 60);
        if open < close {
            (open..close).contains(&s)
        } else {
            s >= open || s < close
        }
    }

    /// The minutes of the day the range covers, for the overlap check.
    fn minutes(&self) -> impl Iterator<Item = u16> + '_ {
        let len = (self.close + DAY_MIN - self.open - 1) % DAY_MIN + 1;
        (0..len).map(move |k| (self.open + k) % DAY_MIN)
    }
}

impl fmt::Display for DailyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.open / 60,
            self.open % 60,
            self.close / 60,
            self.close % 60
        )
    }
}

/// A stand's daily opening hours in China time (UTC+8, no daylight saving); no ranges
/// means always open. Ranges never overlap (touching is fine).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpeningHours {
    ranges: Vec<DailyRange>,
}

impl OpeningHours {
    /// Parses every range; errors name `stand.hours[i]`.
    pub fn parse(texts: &[String]) -> Result<Self, FieldError> {
        if texts.len() > MAX_HOURS_RANGES {
            return Err(FieldError::new(
                "stand.hours",
                format!(
                    "has {} ranges; at most {MAX_HOURS_RANGES} are allowed",
                    texts.len()
                ),
            ));
        }
        let mut owner: Vec<Option<usize>> = vec![None; usize::from(DAY_MIN)];
        let mut ranges = Vec::with_capacity(texts.len());
        for (i, text) in texts.iter().enumerate() {
            let field = format!("stand.hours[{i}]");
            let range = DailyRange::parse(&field, text)?;
            for m in range.minutes() {
                if let Some(j) = owner[usize::from(m)] {
                    return Err(FieldError::new(field, format!("overlaps stand.hours[{j}]")));
                }
                owner[usize::from(m)] = Some(i);
            }
            ranges.push(range);
        }
        Ok(Self { ranges })
    }

    /// Whether the stand is open at `at_ms` (Unix milliseconds).
    pub fn is_open(&self, at_ms: i64) -> bool {
        if self.ranges.is_empty() {
            return true;
        }
        let s = (at_ms.div_euclid(1000) + CHINA_OFFSET_S).rem_euclid(DAY_S);
        self.ranges.iter().any(|r| r.covers(s))
    }

    /// The ranges, in the order given.
    pub fn ranges(&self) -> &[DailyRange] {
        &self.ranges
    }
}

/// A checked taxi stand: nothing half-valid is ever built.
#[derive(Debug, Clone)]
pub struct Stand {
    id: String,
    name: String,
    fence: Fence,
    capacity: Option<u32>,
    hours: OpeningHours,
}

impl Stand {
    /// Checks a stand against the city's service area. Errors name the field: `stand.id`,
    /// `stand.name`, `stand.fence.centre`, `stand.fence.radius_meters`,
    /// `stand.fence.polygon` (too few vertices, crossing itself, no area),
    /// `stand.fence.polygon[i]` (a vertex out of range or outside the service area),
    /// `stand.capacity`, `stand.hours[i]`.
    pub fn check(spec: &StandSpec, area: &ServiceArea) -> Result<Self, FieldError> {
        let id = validate::id("stand.id", &spec.id)?;
        let name = validate::required_text("stand.name", &spec.name, MAX_NAME_CHARS)?;
        if name.contains('\n') {
            return Err(FieldError::new("stand.name", "must be one line"));
        }
        let fence = Fence::check(&spec.fence, spec.datum, area)?;
        if let Some(c) = spec.capacity
            && !(1..=MAX_CAPACITY).contains(&c)
        {
            return Err(FieldError::new(
                "stand.capacity",
                format!("{c} is not within 1..={MAX_CAPACITY} (leave it unset for no limit)"),
            ));
        }
        let hours = OpeningHours::parse(&spec.hours)?;
        Ok(Self {
            id,
            name,
            fence,
            capacity: spec.capacity,
            hours,
        })
    }

    /// The identifier.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The name for people.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The geofence.
    pub fn fence(&self) -> &Fence {
        &self.fence
    }

    /// How many taxis may queue; `None` for no limit.
    pub fn capacity(&self) -> Option<u32> {
        self.capacity
    }

    /// The opening hours.
    pub fn hours(&self) -> &OpeningHours {
        &self.hours
    }

    /// Whether `point` is inside the stand's fence (edges included).
    pub fn contains(&self, point: &Coordinates) -> bool {
        self.fence.contains(point)
    }

    /// Whether the stand is open at `at_ms`.
    pub fn is_open(&self, at_ms: i64) -> bool {
        self.hours.is_open(at_ms)
    }

    /// Whether a queue of `queue_len` taxis has room for one more.
    pub fn has_room(&self, queue_len: u32) -> bool {
        self.capacity.is_none_or(|c| queue_len < c)
    }

    /// The stand as a WGS-84 spec, for storing; [`Stand::check`] accepts it again.
    pub fn to_spec(&self) -> StandSpec {
        StandSpec {
            id: self.id.clone(),
            name: self.name.clone(),
            fence: self.fence.to_spec(),
            datum: Datum::Wgs84,
            capacity: self.capacity,
            hours: self.hours.ranges.iter().map(ToString::to_string).collect(),
        }
    }
}

/// The open stand whose fence holds `point` and whose centre is nearest, ties to the
/// smallest id; `skip` leaves some out (full ones).
fn nearest_containing<'a>(
    stands: &'a [Stand],
    point: &Coordinates,
    at_ms: i64,
    skip: impl Fn(&Stand) -> bool,
) -> Option<&'a Stand> {
    stands
        .iter()
        .filter(|s| s.is_open(at_ms) && s.contains(point) && !skip(s))
        .min_by(|a, b| {
            let (da, db) = (
                a.fence.centre.distance_m(point),
                b.fence.centre.distance_m(point),
            );
            da.total_cmp(&db).then_with(|| a.id.cmp(&b.id))
        })
}

/// The open stands whose fence holds `point`, nearest centre first (ties: smallest id):
/// the order in which a free taxi at `point` with no place to keep tries to join one (the
/// first with room, [`queue_step`]), and whose first is [`pickup_stand`]. Position ingest
/// computes this per fix and the store applies [`queue_step`]'s rule with it atomically:
/// stay if the taxi's stand is in the list, else join the first with room.
pub fn open_stands_at<'a>(point: &Coordinates, at_ms: i64, stands: &'a [Stand]) -> Vec<&'a Stand> {
    let mut found: Vec<&Stand> = stands
        .iter()
        .filter(|s| s.contains(point) && s.is_open(at_ms))
        .collect();
    found.sort_by(|a, b| {
        let (da, db) = (
            a.fence.centre.distance_m(point),
            b.fence.centre.distance_m(point),
        );
        da.total_cmp(&db).then_with(|| a.id.cmp(&b.id))
    });
    found
}

/// Which stand an order's pickup belongs to: the open stand whose fence holds it; if
/// several do, the one whose centre is nearest (ties: the smallest id). A closed stand
/// has no queue, so it takes no pickups. Capacity does not matter here: a full stand's
/// queue is the best place to find a taxi.
pub fn pickup_stand<'a>(
    pickup: &Coordinates,
    at_ms: i64,
    stands: &'a [Stand],
) -> Option<&'a Stand> {
    nearest_containing(stands, pickup, at_ms, |_| false)
}

/// A taxi's place in a stand's queue, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The stand it queues at.
    pub stand_id: String,
    /// When it joined (the time of the fix that brought it in), Unix milliseconds: the
    /// queue is ordered by this, then by taxi id.
    pub since_ms: i64,
}

/// A position fix, as ingest received it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    /// Where the taxi is.
    pub at: Coordinates,
    /// When the fix was taken, Unix milliseconds.
    pub at_ms: i64,
}

/// Why a taxi leaves a stand's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// Its fix is outside the stand's fence.
    LeftFence,
    /// It is no longer free (an offer, an order, a walk-up passenger, off duty).
    NotFree,
    /// The stand's opening hours ended.
    Closed,
    /// The stand no longer exists.
    StandGone,
}

/// What a fix does to a taxi's queue membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueStep {
    /// It was in no queue and joins none.
    None,
    /// It joins `stand_id`'s queue at the back, arriving at `since_ms`.
    Join {
        /// The stand.
        stand_id: String,
        /// Its arrival time: the fix's time.
        since_ms: i64,
    },
    /// It keeps its place.
    Stay,
    /// It leaves its queue and joins none.
    Leave {
        /// The stand it leaves.
        stand_id: String,
        /// Why.
        reason: LeaveReason,
    },
    /// It leaves one queue and joins another at the back: it drove from one stand's fence
    /// into another's (or its stand closed while it stands in another's fence).
    Move {
        /// The stand it leaves.
        from: String,
        /// Why it leaves.
        reason: LeaveReason,
        /// The stand it joins.
        to: String,
        /// Its arrival time at the new stand: the fix's time.
        since_ms: i64,
    },
}

/// The queue rule, run on every position fix of an on-duty taxi.
///
/// - A taxi that is not [`TaxiState::Free`] is in no queue: it leaves its queue
///   ([`LeaveReason::NotFree`]) and joins none.
/// - A free taxi in a queue stays while its fix is inside that stand's fence and the stand
///   is open, even inside another stand's fence too (the first stand keeps it).
/// - Otherwise it leaves ([`LeaveReason::LeftFence`], [`LeaveReason::Closed`],
///   [`LeaveReason::StandGone`]) and, like a free taxi in no queue, joins the open stand
///   with room whose fence holds the fix and whose centre is nearest (ties: smallest id),
///   arriving at the fix's time.
///
/// `queue_len` says how many taxis queue at a stand now, for capacity; the store must
/// check the room again atomically when it applies a join.
pub fn queue_step(
    previous: Option<&Membership>,
    state: TaxiState,
    fix: &Fix,
    stands: &[Stand],
    queue_len: impl Fn(&str) -> u32,
) -> QueueStep {
    let free = state == TaxiState::Free;
    let leave_reason = match previous {
        None => None,
        Some(m) => match stands.iter().find(|s| s.id == m.stand_id) {
            _ if !free => Some(LeaveReason::NotFree),
            None => Some(LeaveReason::StandGone),
            Some(s) if !s.contains(&fix.at) => Some(LeaveReason::LeftFence),
            Some(s) if !s.is_open(fix.at_ms) => Some(LeaveReason::Closed),
            Some(_) => return QueueStep::Stay,
        },
    };
    // The stand it leaves cannot be chosen again: it left that fence, the stand closed,
    // or the stand is gone, and each of those is a filter of `nearest_containing` too.
    let join = if free {
        nearest_containing(stands, &fix.at, fix.at_ms, |s| {
            !s.has_room(queue_len(&s.id))
        })
    } else {
        None
    };
    match (previous, leave_reason, join) {
        (Some(m), Some(reason), Some(to)) => QueueStep::Move {
            from: m.stand_id.clone(),
            reason,
            to: to.id.clone(),
            since_ms: fix.at_ms,
        },
        (Some(m), Some(reason), None) => QueueStep::Leave {
            stand_id: m.stand_id.clone(),
            reason,
        },
        (_, _, Some(to)) => QueueStep::Join {
            stand_id: to.id.clone(),
            since_ms: fix.at_ms,
        },
        (_, _, None) => QueueStep::None,
    }
}

/// A taxi in a stand's queue. Entries order by arrival (the fix time that brought the
/// taxi in), then by taxi id, so two taxis arriving in the same millisecond still have one
/// order: the head of the queue is the smallest entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct QueueEntry {
    /// When it joined, Unix milliseconds.
    pub since_ms: i64,
    /// The taxi.
    pub taxi_id: String,
}

/// What `ListStands` shows of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSummary {
    /// How many taxis queue.
    pub len: u32,
    /// How long the head has waited at `now_ms`, milliseconds; 0 for an empty queue, and
    /// never negative (a fix stamped ahead of the server clock).
    pub oldest_wait_ms: i64,
}

/// Sums up a queue at `now_ms`.
pub fn summarise(queue: &[QueueEntry], now_ms: i64) -> QueueSummary {
    let oldest = queue.iter().map(|e| e.since_ms).min();
    QueueSummary {
        len: u32::try_from(queue.len()).unwrap_or(u32::MAX),
        oldest_wait_ms: oldest.map_or(0, |t| now_ms.saturating_sub(t).max(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::City;

    fn area() -> ServiceArea {
        City::builtin("500100").unwrap().service_area
    }

    fn ll(lat: f64, lon: f64) -> LatLon {
        LatLon { lat, lon }
    }

    fn at(lat: f64, lon: f64) -> Coordinates {
        Coordinates::new(lat, lon).unwrap()
    }

    /// Metres to degrees of latitude, and of longitude near 29.56°N.
    const M_LAT: f64 = 1.0 / 111_195.0;
    fn m_lon() -> f64 {
        M_LAT / 29.56_f64.to_radians().cos()
    }

    const C: (f64, f64) = (29.5630, 106.5516);

    fn circle_spec(id: &str, lat: f64, lon: f64, radius_m: f64) -> StandSpec {
        StandSpec {
            id: id.into(),
            name: format!("stand {id}"),
            fence: FenceSpec::Circle {
                centre: ll(lat, lon),
                radius_m,
            },
            datum: Datum::Wgs84,
            capacity: None,
            hours: vec![],
        }
    }

    fn polygon_spec(id: &str, vertices: &[(f64, f64)]) -> StandSpec {
        StandSpec {
            fence: FenceSpec::Polygon {
                vertices: vertices.iter().map(|&(a, b)| ll(a, b)).collect(),
            },
            ..circle_spec(id, C.0, C.1, 100.0)
        }
    }

    fn circle(id: &str, lat: f64, lon: f64, radius_m: f64) -> Stand {
        Stand::check(&circle_spec(id, lat, lon, radius_m), &area()).unwrap()
    }

    fn field_of(spec: &StandSpec) -> String {
        Stand::check(spec, &area()).unwrap_err().field
    }

    /// A point `dn` metres north and `de` metres east of the city centre.
    fn off(dn: f64, de: f64) -> Coordinates {
        at(C.0 + dn * M_LAT, C.1 + de * m_lon())
    }

    /// Unix ms of `hh:mm` China time on 2026-12-07.
    fn china(hh: i64, mm: i64) -> i64 {
        // 2026-12-07 00:00 +08:00 is 2026-12-06 16:00 UTC.
        let midnight = chrono::DateTime::parse_from_rfc3339("2026-12-07T00:00:00+08:00")
            .unwrap()
            .timestamp_millis();
        midnight + (hh * 3600 + mm * 60) * 1000
    }

    #[test]
    fn circle_contains_inside_edge_and_not_outside() {
        let s = circle("a", C.0, C.1, 100.0);
        assert!(s.contains(&off(0.0, 0.0)));
        assert!(s.contains(&off(99.0, 0.0)));
        assert!(s.contains(&off(0.0, -99.0)));
        assert!(!s.contains(&off(101.0, 0.0)));
        assert!(!s.contains(&off(0.0, 101.0)));
        assert!(!s.contains(&off(72.0, 72.0)), "corner of the square, 102 m");
        // The bounding box that answers far points first never cuts the circle: points
        // 99.5 m from the centre in every direction are inside.
        for k in 0..16 {
            let a = f64::from(k) * std::f64::consts::PI / 8.0;
            assert!(
                s.contains(&off(99.5 * a.cos(), 99.5 * a.sin())),
                "bearing {k}/16"
            );
        }
        // Exactly on the edge counts as inside.
        let edge = s.fence().centre();
        let on = at(edge.lat() + 100.0 / 111_195.0, edge.lon());
        let d = edge.distance_m(&on);
        let exact = circle("b", C.0, C.1, d);
        assert!(exact.contains(&on), "{d}");
        assert_eq!(s.fence().radius_m(), Some(100.0));
        assert!(s.fence().vertices().is_none());
    }

    /// An L-shaped (concave) fence: the notch is outside even though it is inside the
    /// bounding box, and edges and vertices count as inside.
    #[test]
    fn concave_polygon_contains_the_l_not_the_notch() {
        let d = 0.001;
        let (a, b) = C;
        let l = [
            (a, b),
            (a, b + 2.0 * d),
            (a + d, b + 2.0 * d),
            (a + d, b + d),
            (a + 2.0 * d, b + d),
            (a + 2.0 * d, b),
        ];
        let s = Stand::check(&polygon_spec("l", &l), &area()).unwrap();
        assert!(
            s.contains(&at(a + 0.5 * d, b + 0.5 * d)),
            "the corner square"
        );
        assert!(s.contains(&at(a + 0.5 * d, b + 1.5 * d)), "the east arm");
        assert!(s.contains(&at(a + 1.5 * d, b + 0.5 * d)), "the north arm");
        assert!(!s.contains(&at(a + 1.5 * d, b + 1.5 * d)), "the notch");
        assert!(!s.contains(&at(a - 0.1 * d, b + 0.5 * d)), "south of it");
        assert!(s.contains(&at(a, b + d)), "on the south edge");
        assert!(s.contains(&at(a + d, b + 1.5 * d)), "on the notch's edge");
        assert!(s.contains(&at(a + d, b + d)), "the reflex vertex");
        assert!(s.contains(&at(a, b)), "a vertex");
        assert_eq!(s.fence().vertices().unwrap().len(), 6);
        assert!(s.fence().radius_m().is_none());
        // The centroid of the L is in the corner square, off the notch.
        let c = s.fence().centre();
        assert!(c.lat() < a + d && c.lon() < b + d, "{c:?}");
    }

    #[test]
    fn closing_vertex_is_dropped_and_ring_direction_does_not_matter() {
        let d = 0.001;
        let (a, b) = C;
        let ccw = [(a, b), (a, b + d), (a + d, b + d), (a + d, b), (a, b)];
        let s = Stand::check(&polygon_spec("sq", &ccw), &area()).unwrap();
        assert_eq!(s.fence().vertices().unwrap().len(), 4);
        let mut cw = ccw;
        cw.reverse();
        let r = Stand::check(&polygon_spec("sq", &cw), &area()).unwrap();
        for p in [at(a + d / 2.0, b + d / 2.0), at(a + 2.0 * d, b)] {
            assert_eq!(s.contains(&p), r.contains(&p));
        }
    }

    #[test]
    fn bow_tie_and_degenerate_polygons_are_refused() {
        let d = 0.001;
        let (a, b) = C;
        let bow_tie = [(a, b), (a + d, b + d), (a, b + d), (a + d, b)];
        let err = Stand::check(&polygon_spec("x", &bow_tie), &area()).unwrap_err();
        assert_eq!(err.field, "stand.fence.polygon");
        assert!(err.reason.contains("crosses"), "{}", err.reason);
        // A figure eight touching itself at a vertex is not simple either.
        let eight = [
            (a, b),
            (a, b + d),
            (a + d, b + 0.5 * d),
            (a + 2.0 * d, b),
            (a + 2.0 * d, b + d),
            (a + d, b + 0.5 * d),
        ];
        assert_eq!(field_of(&polygon_spec("x", &eight)), "stand.fence.polygon");
        // Three points on a line.
        let line = [(a, b), (a + d, b + d), (a + 2.0 * d, b + 2.0 * d)];
        assert_eq!(field_of(&polygon_spec("x", &line)), "stand.fence.polygon");
        // Too few vertices, distinct or not.
        for few in [
            &[(a, b), (a, b + d)][..],
            &[(a, b), (a, b + d), (a, b)][..],
            &[(a, b), (a, b), (a, b)][..],
            &[][..],
        ] {
            assert_eq!(
                field_of(&polygon_spec("x", few)),
                "stand.fence.polygon",
                "{few:?}"
            );
        }
        let many: Vec<(f64, f64)> = (0..=MAX_VERTICES)
            .map(|k| {
                let t = k as f64 / (MAX_VERTICES + 1) as f64 * std::f64::consts::TAU;
                (a + d * t.sin(), b + d * t.cos())
            })
            .collect();
        assert_eq!(field_of(&polygon_spec("x", &many)), "stand.fence.polygon");
        assert!(Stand::check(&polygon_spec("x", &many[..MAX_VERTICES]), &area()).is_ok());
    }

    #[test]
    fn a_fence_outside_the_service_area_is_refused_naming_the_vertex() {
        let (a, b) = C;
        // Chongqing's area ends at 106.90°E.
        let out = [(29.5, 106.895), (29.5, 106.905), (29.505, 106.9)];
        let err = Stand::check(&polygon_spec("x", &out), &area()).unwrap_err();
        assert_eq!(err.field, "stand.fence.polygon[1]");
        assert!(err.reason.contains("service area"));
        let bad = [(a, b), (95.0, b), (a + 0.001, b + 0.001)];
        assert_eq!(
            field_of(&polygon_spec("x", &bad)),
            "stand.fence.polygon[1].latitude"
        );
        let nan = [(a, b), (a, b + 0.001), (a + 0.001, f64::NAN)];
        assert_eq!(
            field_of(&polygon_spec("x", &nan)),
            "stand.fence.polygon[2].longitude"
        );
        assert_eq!(
            field_of(&circle_spec("x", 39.9, 116.4, 100.0)),
            "stand.fence.centre"
        );
        assert_eq!(
            field_of(&circle_spec("x", f64::INFINITY, 116.4, 100.0)),
            "stand.fence.centre.latitude"
        );
    }

    #[test]
    fn a_polygon_wider_than_two_kilometres_is_refused() {
        let (a, b) = C;
        let wide = [(a, b), (a, b + 0.001), (a + 0.019, b)];
        assert_eq!(
            field_of(&polygon_spec("x", &wide)),
            "stand.fence.polygon[2]"
        );
        let fits = [(a, b), (a, b + 0.001), (a + 0.017, b)];
        assert!(Stand::check(&polygon_spec("x", &fits), &area()).is_ok());
    }

    #[test]
    fn a_polygon_smaller_than_a_kerb_bay_is_refused() {
        let (a, b) = C;
        let rect = |n: f64, e: f64| {
            polygon_spec(
                "x",
                &[
                    (a, b),
                    (a, b + e * m_lon()),
                    (a + n * M_LAT, b + e * m_lon()),
                    (a + n * M_LAT, b),
                ],
            )
        };
        assert_eq!(field_of(&rect(5.0, 5.0)), "stand.fence.polygon");
        assert_eq!(field_of(&rect(4.0, 20.0)), "stand.fence.polygon");
        assert!(Stand::check(&rect(6.0, 20.0), &area()).is_ok());
    }

    #[test]
    fn radius_is_bounded() {
        for (r, ok) in [
            (MIN_RADIUS_M, true),
            (MAX_RADIUS_M, true),
            (250.5, true),
            (9.9, false),
            (1000.1, false),
            (0.0, false),
            (-50.0, false),
            (f64::NAN, false),
            (f64::INFINITY, false),
        ] {
            let res = Stand::check(&circle_spec("x", C.0, C.1, r), &area());
            assert_eq!(res.is_ok(), ok, "{r}");
            if !ok {
                assert_eq!(res.unwrap_err().field, "stand.fence.radius_meters");
            }
        }
    }

    #[test]
    fn id_name_and_capacity_are_checked() {
        let ok = circle_spec("s-1", C.0, C.1, 50.0);
        let with = |f: &dyn Fn(&mut StandSpec)| {
            let mut s = ok.clone();
            f(&mut s);
            s
        };
        assert_eq!(field_of(&with(&|s| s.name = "  ".into())), "stand.name");
        assert_eq!(field_of(&with(&|s| s.name = "a\nb".into())), "stand.name");
        assert_eq!(field_of(&with(&|s| s.name = "长".repeat(65))), "stand.name");
        assert_eq!(field_of(&with(&|s| s.id = String::new())), "stand.id");
        assert_eq!(field_of(&with(&|s| s.id = "a b".into())), "stand.id");
        assert_eq!(field_of(&with(&|s| s.capacity = Some(0))), "stand.capacity");
        assert_eq!(
            field_of(&with(&|s| s.capacity = Some(MAX_CAPACITY + 1))),
            "stand.capacity"
        );
        let s = Stand::check(&with(&|s| s.capacity = Some(1)), &area()).unwrap();
        assert!(s.has_room(0) && !s.has_room(1));
        let s = Stand::check(&with(&|s| s.name = " 市一院 东门 ".into()), &area()).unwrap();
        assert_eq!(s.name(), "市一院 东门");
        assert!(s.has_room(u32::MAX - 1), "no capacity: no limit");
        assert_eq!(s.id(), "s-1");
    }

    #[test]
    fn gcj02_fences_are_kept_as_wgs84() {
        let mut spec = circle_spec("g", 39.916_404_281_501_64, 116.410_244_499_169_38, 50.0);
        spec.datum = Datum::Gcj02;
        let beijing = City::builtin("110100").unwrap().service_area;
        let s = Stand::check(&spec, &beijing).unwrap();
        assert!(s.fence().centre().distance_m(&at(39.915, 116.404)) < 0.01);
        assert!(s.contains(&at(39.915, 116.404)));
    }

    #[test]
    fn a_checked_stand_round_trips_through_its_spec() {
        let d = 0.001;
        let (a, b) = C;
        let mut spec = polygon_spec("p", &[(a, b), (a, b + d), (a + d, b)]);
        spec.capacity = Some(5);
        spec.hours = vec!["22:00-02:00".into(), "07:00-12:00".into()];
        let s = Stand::check(&spec, &area()).unwrap();
        assert_eq!(s.to_spec(), spec);
        let c = circle("c", a, b, 75.0);
        let again = Stand::check(&c.to_spec(), &area()).unwrap();
        assert_eq!(again.fence().radius_m(), Some(75.0));
        assert_eq!(again.fence().centre(), c.fence().centre());
    }

    #[test]
    fn hours_parse_and_refuse_malformed_ranges() {
        for ok in [
            "07:00-22:00",
            "22:00-06:00",
            "00:00-24:00",
            "23:59-00:01",
            " 06:30 - 09:15 ",
        ] {
            assert!(DailyRange::parse("h", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "7:00-22:00",
            "07:00",
            "07:00-22:60",
            "25:00-26:00",
            "24:00-06:00",
            "24:01-24:00",
            "07:00-07:00",
            "00:00-00:00",
            "07-22",
            "aa:bb-cc:dd",
            "07:00-22:00-23:00",
            "-1:00-02:00",
        ] {
            let err = DailyRange::parse("stand.hours[0]", bad).unwrap_err();
            assert_eq!(err.field, "stand.hours[0]", "{bad}");
        }
        assert_eq!(
            DailyRange::parse("h", "22:00-06:00").unwrap().to_string(),
            "22:00-06:00"
        );
        let overlap =
            |v: &[&str]| OpeningHours::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(
            overlap(&["07:00-12:00", "12:00-18:00"]).is_ok(),
            "touching is fine"
        );
        assert_eq!(
            overlap(&["22:00-02:00", "01:00-03:00"]).unwrap_err().field,
            "stand.hours[1]"
        );
        assert_eq!(
            overlap(&["07:00-12:00", "bad"]).unwrap_err().field,
            "stand.hours[1]"
        );
        assert_eq!(
            overlap(&["00:00-24:00", "23:00-01:00"]).unwrap_err().field,
            "stand.hours[1]"
        );
        assert_eq!(
            overlap(&["01:00-02:00"; 9]).unwrap_err().field,
            "stand.hours"
        );
        let mut spec = circle_spec("x", C.0, C.1, 50.0);
        spec.hours = vec!["07:00-12:00".into(), "08:00".into()];
        assert_eq!(field_of(&spec), "stand.hours[1]");
    }

    #[test]
    fn hours_are_china_time_and_may_cross_midnight() {
        let night = OpeningHours::parse(&["22:00-06:00".into()]).unwrap();
        for (h, m, open) in [
            (21, 59, false),
            (22, 0, true),
            (23, 59, true),
            (0, 0, true),
            (5, 59, true),
            (6, 0, false),
            (12, 0, false),
        ] {
            assert_eq!(night.is_open(china(h, m)), open, "{h}:{m}");
        }
        // One second before 06:00 is still open; 06:00:00 is closed.
        assert!(night.is_open(china(6, 0) - 1000));
        assert!(night.is_open(china(6, 0) - 1));
        // China time, not UTC: 22:00 UTC is 06:00 in China.
        let utc_22 = chrono::DateTime::parse_from_rfc3339("2026-12-07T22:00:00Z")
            .unwrap()
            .timestamp_millis();
        assert!(!night.is_open(utc_22));
        let day = OpeningHours::parse(&["07:00-12:00".into(), "13:00-24:00".into()]).unwrap();
        assert!(!day.is_open(china(6, 59)));
        assert!(day.is_open(china(7, 0)));
        assert!(!day.is_open(china(12, 30)));
        assert!(day.is_open(china(23, 59)));
        assert!(!day.is_open(china(0, 0)));
        let always = OpeningHours::default();
        assert!(always.is_open(china(3, 0)) && always.is_open(i64::MIN) && always.is_open(0));
        let whole = OpeningHours::parse(&["00:00-24:00".into()]).unwrap();
        assert!(whole.is_open(china(0, 0)) && whole.is_open(china(23, 59)));
        // Before 1970 works too (Euclidean remainder).
        assert!(
            !night.is_open(-2 * 3600 * 1000),
            "1969-12-31 22:00 UTC is 06:00 in China: closed"
        );
        assert!(night.is_open(-3 * 3600 * 1000 + 1), "05:00:00.001 China");
    }

    fn fix(p: Coordinates, at_ms: i64) -> Fix {
        Fix { at: p, at_ms }
    }

    fn member(stand_id: &str, since_ms: i64) -> Membership {
        Membership {
            stand_id: stand_id.into(),
            since_ms,
        }
    }

    fn no_queues(_: &str) -> u32 {
        0
    }

    fn join(stand_id: &str, since_ms: i64) -> QueueStep {
        QueueStep::Join {
            stand_id: stand_id.into(),
            since_ms,
        }
    }

    fn leave(stand_id: &str, reason: LeaveReason) -> QueueStep {
        QueueStep::Leave {
            stand_id: stand_id.into(),
            reason,
        }
    }

    /// Two stands 300 m apart, 100 m radius each, not overlapping.
    fn two_stands() -> Vec<Stand> {
        vec![
            circle("west", C.0, C.1, 100.0),
            circle("east", C.0, C.1 + 300.0 * m_lon(), 100.0),
        ]
    }

    #[test]
    fn queue_rule_every_case() {
        let stands = two_stands();
        let t = china(9, 0);
        let inside_west = off(10.0, 0.0);
        let inside_east = off(0.0, 290.0);
        let between = off(0.0, 150.0);
        use LeaveReason::*;
        let was = |id: &str| Some(member(id, t - 60_000));
        let mv = |from: &str, reason, to: &str| QueueStep::Move {
            from: from.into(),
            reason,
            to: to.into(),
            since_ms: t,
        };
        let (free, busy) = (true, false);
        #[rustfmt::skip]
        let cases: Vec<(&str, Option<Membership>, bool, Coordinates, QueueStep)> = vec![
            ("free, enters a fence",              None,         free, inside_west, join("west", t)),
            ("free, outside every fence",         None,         free, between,     QueueStep::None),
            ("busy, inside a fence",              None,         busy, inside_west, QueueStep::None),
            ("busy, outside",                     None,         busy, between,     QueueStep::None),
            ("queued, still inside",              was("west"),  free, inside_west, QueueStep::Stay),
            ("queued, left the fence",            was("west"),  free, between,     leave("west", LeftFence)),
            ("queued, took an order inside",      was("west"),  busy, inside_west, leave("west", NotFree)),
            ("queued, took an order and left",    was("west"),  busy, between,     leave("west", NotFree)),
            ("queued, drove into another fence",  was("west"),  free, inside_east, mv("west", LeftFence, "east")),
            ("queued, busy, in another fence",    was("west"),  busy, inside_east, leave("west", NotFree)),
            ("stand deleted, outside",            was("gone"),  free, between,     leave("gone", StandGone)),
            ("stand deleted, busy",               was("gone"),  busy, between,     leave("gone", NotFree)),
            ("stand deleted, inside another",     was("gone"),  free, inside_east, mv("gone", StandGone, "east")),
        ];
        for (what, prev, free, p, want) in cases {
            // "Not free" is every other state: each must give the same answer.
            let states = TaxiState::ALL
                .into_iter()
                .filter(|s| (*s == TaxiState::Free) == free);
            for state in states {
                let got = queue_step(prev.as_ref(), state, &fix(p, t), &stands, no_queues);
                assert_eq!(got, want, "{what} ({state:?})");
            }
        }
    }

    /// Arrival order is the fix time: three taxis entering one after the other get
    /// increasing arrival times, and staying does not change a place.
    #[test]
    fn arrival_order_is_the_fix_time() {
        let stands = two_stands();
        let t = china(8, 0);
        let mut queue: Vec<(i64, &str)> = Vec::new();
        for (k, taxi) in ["t3", "t1", "t2"].into_iter().enumerate() {
            let at_ms = t + k as i64 * 5_000;
            match queue_step(
                None,
                TaxiState::Free,
                &fix(off(5.0, 5.0), at_ms),
                &stands,
                no_queues,
            ) {
                QueueStep::Join { stand_id, since_ms } => {
                    assert_eq!(stand_id, "west");
                    queue.push((since_ms, taxi));
                }
                other => panic!("{other:?}"),
            }
        }
        queue.sort();
        assert_eq!(
            queue.iter().map(|q| q.1).collect::<Vec<_>>(),
            ["t3", "t1", "t2"]
        );
        let m = member("west", t);
        assert_eq!(
            queue_step(
                Some(&m),
                TaxiState::Free,
                &fix(off(-5.0, 5.0), t + 60_000),
                &stands,
                no_queues
            ),
            QueueStep::Stay
        );
    }

    #[test]
    fn a_closed_stand_takes_no_one_and_lets_its_queue_go() {
        let mut spec = circle_spec("day", C.0, C.1, 100.0);
        spec.hours = vec!["07:00-22:00".into()];
        let day = Stand::check(&spec, &area()).unwrap();
        let stands = vec![day, circle("always", C.0, C.1 + 50.0 * m_lon(), 100.0)];
        let p = off(0.0, 10.0);
        // At 08:00 the nearest (day) takes it; at 23:00 only the always-open one can.
        assert_eq!(
            queue_step(
                None,
                TaxiState::Free,
                &fix(p, china(8, 0)),
                &stands,
                no_queues
            ),
            join("day", china(8, 0))
        );
        assert_eq!(
            queue_step(
                None,
                TaxiState::Free,
                &fix(p, china(23, 0)),
                &stands,
                no_queues
            ),
            join("always", china(23, 0))
        );
        let m = member("day", china(21, 0));
        assert_eq!(
            queue_step(
                Some(&m),
                TaxiState::Free,
                &fix(p, china(22, 0)),
                &stands,
                no_queues
            ),
            QueueStep::Move {
                from: "day".into(),
                reason: LeaveReason::Closed,
                to: "always".into(),
                since_ms: china(22, 0)
            }
        );
        assert_eq!(
            queue_step(
                Some(&m),
                TaxiState::Free,
                &fix(p, china(22, 0)),
                &stands[..1],
                no_queues
            ),
            leave("day", LeaveReason::Closed)
        );
        assert!(pickup_stand(&p, china(23, 0), &stands[..1]).is_none());
        assert_eq!(
            pickup_stand(&p, china(8, 0), &stands[..1]).unwrap().id(),
            "day"
        );
    }

    /// Overlapping fences: 100 m circles 120 m apart.
    fn overlapping() -> Vec<Stand> {
        vec![
            circle("b-east", C.0, C.1 + 120.0 * m_lon(), 100.0),
            circle("a-west", C.0, C.1, 100.0),
        ]
    }

    #[test]
    fn overlapping_fences_first_stand_keeps_then_nearest_centre() {
        let stands = overlapping();
        let t = china(10, 0);
        let near_west = off(0.0, 50.0);
        let near_east = off(0.0, 70.0);
        assert!(
            stands
                .iter()
                .all(|s| s.contains(&near_west) && s.contains(&near_east))
        );
        // Entering the overlap: the nearest centre.
        assert_eq!(
            queue_step(
                None,
                TaxiState::Free,
                &fix(near_west, t),
                &stands,
                no_queues
            ),
            join("a-west", t)
        );
        assert_eq!(
            queue_step(
                None,
                TaxiState::Free,
                &fix(near_east, t),
                &stands,
                no_queues
            ),
            join("b-east", t)
        );
        // Queued at west, moving into the overlap nearer east: west keeps it.
        let m = member("a-west", t - 1000);
        assert_eq!(
            queue_step(
                Some(&m),
                TaxiState::Free,
                &fix(near_east, t),
                &stands,
                no_queues
            ),
            QueueStep::Stay
        );
        // Leaving west's fence while still in east's: it moves to east's queue, at the back.
        let only_east = off(0.0, 150.0);
        assert!(!stands[1].contains(&only_east) && stands[0].contains(&only_east));
        assert_eq!(
            queue_step(
                Some(&m),
                TaxiState::Free,
                &fix(only_east, t),
                &stands,
                no_queues
            ),
            QueueStep::Move {
                from: "a-west".into(),
                reason: LeaveReason::LeftFence,
                to: "b-east".into(),
                since_ms: t
            }
        );
        // An exact tie goes to the smallest id, whatever the list order.
        let mid = off(0.0, 60.0);
        let mut rev = stands.clone();
        rev.reverse();
        for list in [&stands, &rev] {
            assert_eq!(
                queue_step(None, TaxiState::Free, &fix(mid, t), list, no_queues),
                join("a-west", t)
            );
            assert_eq!(pickup_stand(&mid, t, list).unwrap().id(), "a-west");
        }
    }

    #[test]
    fn a_full_stand_is_skipped_for_the_next_nearest() {
        let mut stands = overlapping();
        let mut spec = stands[1].to_spec();
        spec.capacity = Some(2);
        stands[1] = Stand::check(&spec, &area()).unwrap();
        let t = china(10, 0);
        let p = off(0.0, 50.0);
        let lens = |full: u32| move |id: &str| if id == "a-west" { full } else { 0 };
        assert_eq!(
            queue_step(None, TaxiState::Free, &fix(p, t), &stands, lens(1)),
            join("a-west", t)
        );
        assert_eq!(
            queue_step(None, TaxiState::Free, &fix(p, t), &stands, lens(2)),
            join("b-east", t)
        );
        assert_eq!(
            queue_step(None, TaxiState::Free, &fix(p, t), &stands[1..], lens(2)),
            QueueStep::None
        );
        // A taxi already queued at a full stand stays: capacity counts it.
        let m = member("a-west", t - 1);
        assert_eq!(
            queue_step(Some(&m), TaxiState::Free, &fix(p, t), &stands, lens(2)),
            QueueStep::Stay
        );
        // A pickup ignores capacity.
        assert_eq!(pickup_stand(&p, t, &stands).unwrap().id(), "a-west");
    }

    #[test]
    fn queue_entries_order_by_arrival_then_taxi_id() {
        let e = |since_ms: i64, id: &str| QueueEntry {
            since_ms,
            taxi_id: id.into(),
        };
        let mut q = vec![e(30, "a"), e(10, "z"), e(20, "b"), e(10, "c")];
        q.sort();
        let ids: Vec<&str> = q.iter().map(|x| x.taxi_id.as_str()).collect();
        assert_eq!(ids, ["c", "z", "b", "a"]);
        assert_eq!(
            summarise(&q, 1_010),
            QueueSummary {
                len: 4,
                oldest_wait_ms: 1_000
            }
        );
        assert_eq!(
            summarise(&[], 1_010),
            QueueSummary {
                len: 0,
                oldest_wait_ms: 0
            }
        );
        assert_eq!(summarise(&[e(2_000, "x")], 1_000).oldest_wait_ms, 0);
    }

    #[test]
    fn pickup_resolves_to_the_containing_stand() {
        let t = china(10, 0);
        let stands = two_stands();
        assert_eq!(
            pickup_stand(&off(0.0, 20.0), t, &stands).unwrap().id(),
            "west"
        );
        assert_eq!(
            pickup_stand(&off(0.0, 280.0), t, &stands).unwrap().id(),
            "east"
        );
        assert!(pickup_stand(&off(0.0, 150.0), t, &stands).is_none());
        assert!(pickup_stand(&off(0.0, 20.0), t, &[]).is_none());
        let ov = overlapping();
        assert_eq!(
            pickup_stand(&off(0.0, 40.0), t, &ov).unwrap().id(),
            "a-west"
        );
        assert_eq!(
            pickup_stand(&off(0.0, 80.0), t, &ov).unwrap().id(),
            "b-east"
        );
        // A polygon and a circle overlapping: the nearest centre, the polygon's centroid.
        let d = 0.001;
        let (a, b) = C;
        let square = polygon_spec("sq", &[(a, b), (a, b + d), (a + d, b + d), (a + d, b)]);
        let sq = Stand::check(&square, &area()).unwrap();
        let circ = circle("ci", a + d, b + d, 100.0);
        let both = vec![sq, circ];
        let near_corner = at(a + d - 0.0001, b + d - 0.0001);
        assert!(both.iter().all(|s| s.contains(&near_corner)));
        assert_eq!(pickup_stand(&near_corner, t, &both).unwrap().id(), "ci");
        let mid_sq = at(a + d / 2.0, b + d / 2.0);
        assert_eq!(pickup_stand(&mid_sq, t, &both).unwrap().id(), "sq");
    }

    #[test]
    fn open_stands_at_lists_what_queue_step_and_pickup_stand_choose_from() {
        let near = circle("b", C.0, C.1, 200.0);
        let far = circle("a", C.0 + 100.0 * M_LAT, C.1, 200.0);
        let stands = vec![far.clone(), near.clone()];
        let p = off(-10.0, 0.0);
        let ids: Vec<&str> = open_stands_at(&p, china(9, 0), &stands)
            .iter()
            .map(|s| s.id())
            .collect();
        assert_eq!(ids, ["b", "a"], "nearest centre first");
        assert_eq!(pickup_stand(&p, china(9, 0), &stands).unwrap().id(), ids[0]);
        let fix = Fix {
            at: p,
            at_ms: china(9, 0),
        };
        assert_eq!(
            queue_step(None, TaxiState::Free, &fix, &stands, |_| 0),
            QueueStep::Join {
                stand_id: ids[0].into(),
                since_ms: fix.at_ms
            }
        );
        assert!(open_stands_at(&off(5000.0, 0.0), china(9, 0), &stands).is_empty());
    }
}
