//! Recurring rides (issue 14): a pattern's rules, its validation, the concrete trips it
//! yields in a window, and the timeline of the caring fleet's guarantee. Pure: no I/O.
//!
//! A [`Pattern`] is built only by [`Pattern::new`] from a [`PatternSpec`] (the request as
//! the edge reads it), so a `Pattern` value is always fully valid. [`occurrences`] turns it
//! into [`Occurrence`]s whose [`Occurrence::key`] is deterministic
//! (`<pattern id>:<YYYYMMDD>:<out|ret>`), so materialising overlapping windows again and
//! again never doubles a trip: the store writes each key once.
//!
//! Dates and times of a pattern are China-local (UTC+8, no daylight saving): a 23:30 trip
//! on Monday is on Monday, whatever the UTC date.
//!
//! # Decisions
//! - **Skipped dates do not consume a `count`.** A count says how many trips the passenger
//!   gets (say, 12 dialysis sessions); a holiday or a cancelled date moves the last trip
//!   later rather than losing one. Paused dates do not consume it either: after a resume
//!   the remaining trips follow.
//! - A `count` counts outbound trips (dates); the return trip of a date belongs to it.
//! - `end_date` is inclusive: a trip on the end date runs.
//! - A [`Change`] replaces the whole [`Schedule`] (weekdays, times, places, needs) from
//!   its date on; dates before it keep the schedule they had. Changes are ordered by
//!   date, each strictly after the start and after the previous change.

use crate::booking::Need;
use crate::error::FieldError;
use crate::geo::Coordinates;
use crate::priority::china_date;
use crate::validate;
use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use std::collections::BTreeSet;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// How far ahead trips are materialised by default: 21 days, as the issue asks.
pub const DEFAULT_HORIZON_MS: i64 = 21 * DAY_MS;

/// At most this many skipped dates per pattern: a year of public holidays and single
/// cancellations fits, and a pattern stays small enough to read and store in one go.
pub const MAX_SKIPPED_DATES: usize = 100;

/// At most this many changes per pattern (each is a whole schedule).
pub const MAX_CHANGES: usize = 20;

/// The largest `count`: three trips a week for about three years.
pub const MAX_COUNT: u32 = 500;

/// The latest `end_date`, in days after the start: about three years.
pub const MAX_SPAN_DAYS: i64 = 3 * 366;

/// Pickup and drop-off closer than this are the same place.
pub const MIN_TRIP_METERS: f64 = 50.0;

/// The caring fleet is offered an unconfirmed trip this long before pickup: 60 minutes,
/// the default.
pub const DEFAULT_CARING_LEAD_MS: i64 = 60 * MINUTE_MS;

/// Any suitable taxi is offered a trip still unassigned this long before pickup:
/// 30 minutes, which gives the caring fleet half an hour alone and ordinary dispatch
/// a quarter of an hour before the operator alert.
pub const DEFAULT_OPEN_LEAD_MS: i64 = 30 * MINUTE_MS;

/// A trip still unassigned this long before pickup raises the operator alert, and the
/// guarantee is that a recurring trip is assigned by then: 15 minutes (T−15).
pub const DEFAULT_ALERT_LEAD_MS: i64 = 15 * MINUTE_MS;

/// The days of the week a schedule runs on.
/// Never empty: the only constructor requires a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weekdays(u8);

impl Weekdays {
    /// Reads ISO weekday numbers (1 = Monday … 7 = Sunday); repeats are harmless; at
    /// least one day is required.
    pub fn from_iso(field: &str, days: &[u32]) -> Result<Self, FieldError> {
        let mut bits = 0u8;
        for &d in days {
            if !(1..=7).contains(&d) {
                return Err(FieldError::new(
                    field,
                    format!("{d} is not a weekday (1 = Monday … 7 = Sunday)"),
                ));
            }
            bits |= 1 << (d - 1);
        }
        if bits == 0 {
            return Err(FieldError::new(field, "at least one weekday is required"));
        }
        Ok(Self(bits))
    }

    /// Whether the schedule runs on `day`.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    /// The ISO numbers of the days, Monday first.
    pub fn iso(self) -> Vec<u32> {
        (1..=7).filter(|d| self.0 & (1 << (d - 1)) != 0).collect()
    }
}

/// A pickup or drop-off: checked coordinates and the address as the edge checked it.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// Where, WGS-84.
    pub at: Coordinates,
    /// The address a driver reads.
    pub address: String,
}

/// What a pattern runs, and what a [`Change`] replaces from its date on.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The days it runs.
    pub weekdays: Weekdays,
    /// The outbound pickup, China-local.
    pub pickup_time: NaiveTime,
    /// The return pickup (from the drop-off back to the pickup), China-local, the same
    /// day and after the outbound.
    pub return_time: Option<NaiveTime>,
    /// Where the outbound trip starts (and the return ends).
    pub pickup: Place,
    /// Where the outbound trip ends (and the return starts).
    pub dropoff: Place,
    /// What the passenger needs of the taxi.
    pub needs: Vec<Need>,
}

/// A schedule as requested: weekdays as ISO numbers, times as `HH:MM`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSpec {
    /// ISO weekday numbers, 1 = Monday … 7 = Sunday.
    pub weekdays: Vec<u32>,
    /// `HH:MM`, China-local.
    pub pickup_time: String,
    /// `HH:MM`, China-local; empty for no return trip.
    pub return_time: String,
    /// The outbound pickup.
    pub pickup: Place,
    /// The outbound drop-off.
    pub dropoff: Place,
    /// The passenger's needs.
    pub needs: Vec<Need>,
}

/// A change as requested: a new schedule from a date (`YYYY-MM-DD`) on.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeSpec {
    /// The first date the new schedule applies to.
    pub from_date: String,
    /// The new schedule.
    pub schedule: ScheduleSpec,
}

/// A pattern as requested, before validation. Dates are `YYYY-MM-DD`, China-local.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternSpec {
    /// The pattern's id (see [`validate::id`]).
    pub id: String,
    /// The first date trips may run.
    pub start_date: String,
    /// The last date trips may run (inclusive); empty when `count` ends the pattern.
    pub end_date: String,
    /// How many dates run; `None` when `end_date` ends the pattern (`Some(0)` is refused).
    pub count: Option<u32>,
    /// The schedule from the start.
    pub schedule: ScheduleSpec,
    /// Dates with no trip (holidays, single cancellations).
    pub skipped_dates: Vec<String>,
    /// From this date on nothing runs; empty when not paused.
    pub paused_from: String,
    /// New schedules from later dates.
    pub changes: Vec<ChangeSpec>,
}

/// How a pattern ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The last date trips may run, inclusive.
    Until(NaiveDate),
    /// How many dates run (skipped and paused dates do not count).
    Count(u32),
}

/// A new schedule from a date on.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The first date it applies to.
    pub from: NaiveDate,
    /// The schedule from then on.
    pub schedule: Schedule,
}

/// A checked recurring-ride pattern. Only [`Pattern::new`] makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    id: String,
    start: NaiveDate,
    end: End,
    schedule: Schedule,
    changes: Vec<Change>,
    skipped: BTreeSet<NaiveDate>,
    paused_from: Option<NaiveDate>,
}

fn parse_date(field: &str, text: &str) -> Result<NaiveDate, FieldError> {
    if text.is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    if text.len() != 10 {
        return Err(FieldError::new(field, "must be a date as YYYY-MM-DD"));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| FieldError::new(field, "must be a date as YYYY-MM-DD"))
}

fn parse_time(field: &str, text: &str) -> Result<NaiveTime, FieldError> {
    if text.is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    let bytes = text.as_bytes();
    if text.len() != 5 || bytes[2] != b':' {
        return Err(FieldError::new(
            field,
            "must be a time as HH:MM (00:00 to 23:59)",
        ));
    }
    NaiveTime::parse_from_str(text, "%H:%M")
        .map_err(|_| FieldError::new(field, "must be a time as HH:MM (00:00 to 23:59)"))
}

impl Schedule {
    /// Checks a requested schedule; fields are named under `prefix`.
    pub fn new(prefix: &str, spec: &ScheduleSpec) -> Result<Self, FieldError> {
        let f = |name: &str| format!("{prefix}.{name}");
        let weekdays = Weekdays::from_iso(&f("weekdays"), &spec.weekdays)?;
        let pickup_time = parse_time(&f("pickup_time"), &spec.pickup_time)?;
        let return_time = if spec.return_time.is_empty() {
            None
        } else {
            let t = parse_time(&f("return_time"), &spec.return_time)?;
            if t <= pickup_time {
                return Err(FieldError::new(
                    f("return_time"),
                    format!(
                        "must be after the outbound pickup time {}",
                        pickup_time.format("%H:%M")
                    ),
                ));
            }
            Some(t)
        };
        if spec.pickup.at.distance_m(&spec.dropoff.at) < MIN_TRIP_METERS {
            return Err(FieldError::new(
                f("dropoff"),
                format!("is within {MIN_TRIP_METERS} m of the pickup"),
            ));
        }
        Ok(Self {
            weekdays,
            pickup_time,
            return_time,
            pickup: spec.pickup.clone(),
            dropoff: spec.dropoff.clone(),
            needs: spec.needs.clone(),
        })
    }
}

impl Pattern {
    /// Checks a requested pattern. Fields are named as the API names them
    /// (`pattern.weekdays`, `pattern.end_date`, `pattern.changes[1].pickup_time`); the
    /// first fault is returned and nothing half-valid is.
    pub fn new(spec: &PatternSpec) -> Result<Self, FieldError> {
        let id = validate::id("pattern.id", &spec.id)?;
        let start = parse_date("pattern.start_date", &spec.start_date)?;
        let end = match (spec.end_date.is_empty(), spec.count) {
            (true, None) => {
                return Err(FieldError::new(
                    "pattern.end_date",
                    "an end date or a count of trips is required",
                ));
            }
            (false, Some(_)) => {
                return Err(FieldError::new(
                    "pattern.end_date",
                    "give an end date or a count of trips, not both",
                ));
            }
            (true, Some(0)) => {
                return Err(FieldError::new("pattern.count", "must be at least 1"));
            }
            (true, Some(c)) if c > MAX_COUNT => {
                return Err(FieldError::new(
                    "pattern.count",
                    format!("is {c}; at most {MAX_COUNT} trips are allowed"),
                ));
            }
            (true, Some(c)) => End::Count(c),
            (false, None) => {
                let until = parse_date("pattern.end_date", &spec.end_date)?;
                if until < start {
                    return Err(FieldError::new(
                        "pattern.end_date",
                        format!("is before the start date {start}"),
                    ));
                }
                if (until - start).num_days() > MAX_SPAN_DAYS {
                    return Err(FieldError::new(
                        "pattern.end_date",
                        format!("is more than {MAX_SPAN_DAYS} days after the start date"),
                    ));
                }
                End::Until(until)
            }
        };
        let schedule = Schedule::new("pattern", &spec.schedule)?;
        if spec.skipped_dates.len() > MAX_SKIPPED_DATES {
            return Err(FieldError::new(
                "pattern.skipped_dates",
                format!(
                    "has {} dates; at most {MAX_SKIPPED_DATES} are allowed",
                    spec.skipped_dates.len()
                ),
            ));
        }
        let skipped = spec
            .skipped_dates
            .iter()
            .enumerate()
            .map(|(i, d)| parse_date(&format!("pattern.skipped_dates[{i}]"), d))
            .collect::<Result<BTreeSet<_>, _>>()?;
        let paused_from = if spec.paused_from.is_empty() {
            None
        } else {
            Some(parse_date("pattern.paused_from", &spec.paused_from)?)
        };
        if spec.changes.len() > MAX_CHANGES {
            return Err(FieldError::new(
                "pattern.changes",
                format!(
                    "has {} changes; at most {MAX_CHANGES} are allowed",
                    spec.changes.len()
                ),
            ));
        }
        let mut changes: Vec<Change> = Vec::with_capacity(spec.changes.len());
        for (i, c) in spec.changes.iter().enumerate() {
            let prefix = format!("pattern.changes[{i}]");
            let from = parse_date(&format!("{prefix}.from_date"), &c.from_date)?;
            let after = changes.last().map_or(start, |p| p.from);
            if from <= after {
                return Err(FieldError::new(
                    format!("{prefix}.from_date"),
                    format!("must be after {after} (the start date or the previous change)"),
                ));
            }
            let schedule = Schedule::new(&prefix, &c.schedule)?;
            changes.push(Change { from, schedule });
        }
        Ok(Self {
            id,
            start,
            end,
            schedule,
            changes,
            skipped,
            paused_from,
        })
    }

    /// The pattern's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The first date trips may run.
    pub fn start(&self) -> NaiveDate {
        self.start
    }

    /// How it ends.
    pub fn end(&self) -> End {
        self.end
    }

    /// The dates with no trip.
    pub fn skipped(&self) -> &BTreeSet<NaiveDate> {
        &self.skipped
    }

    /// The date from which nothing runs, if paused.
    pub fn paused_from(&self) -> Option<NaiveDate> {
        self.paused_from
    }

    /// The changes, in date order.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// The schedule that applies on `date`: the last change from that date or before,
    /// else the first schedule.
    pub fn schedule_on(&self, date: NaiveDate) -> &Schedule {
        self.changes
            .iter()
            .rev()
            .find(|c| c.from <= date)
            .map_or(&self.schedule, |c| &c.schedule)
    }

    /// Whether trips run on `date`, before the end is considered: its weekday is in the
    /// schedule, it is not skipped, and the pattern is not paused by then.
    fn runs_on(&self, date: NaiveDate) -> bool {
        date >= self.start
            && self.paused_from.is_none_or(|p| date < p)
            && !self.skipped.contains(&date)
            && self.schedule_on(date).weekdays.contains(date.weekday())
    }
}

/// Which trip of a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Leg {
    /// From the pickup to the drop-off.
    Outbound,
    /// Back from the drop-off to the pickup.
    Return,
}

impl Leg {
    /// The leg's code in keys.
    pub fn code(self) -> &'static str {
        match self {
            Leg::Outbound => "out",
            Leg::Return => "ret",
        }
    }
}

/// One concrete trip of a pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    /// `<pattern id>:<YYYYMMDD>:<out|ret>`: the same trip always has the same key.
    pub key: String,
    /// The China-local date.
    pub date: NaiveDate,
    /// Which trip of the date.
    pub leg: Leg,
    /// The pickup instant, ms since the epoch (UTC).
    pub pickup_ms: i64,
    /// Where the taxi picks up.
    pub from: Place,
    /// Where it drops off.
    pub to: Place,
    /// What the passenger needs.
    pub needs: Vec<Need>,
}

/// The key of a pattern's trip on a date: `<pattern id>:<YYYYMMDD>:<out|ret>`.
pub fn occurrence_key(pattern_id: &str, date: NaiveDate, leg: Leg) -> String {
    format!("{pattern_id}:{}:{}", date.format("%Y%m%d"), leg.code())
}

/// The instant of a China-local (UTC+8) date and time, ms since the epoch. The inverse
/// of [`china_date`] for the date part.
pub fn china_instant_ms(date: NaiveDate, time: NaiveTime) -> i64 {
    date.and_time(time).and_utc().timestamp_millis() - 8 * 3600 * 1000
}

/// The trips of `pattern` whose pickup falls in `[from_ms, from_ms + horizon_ms)`, in
/// pickup order. Deterministic: overlapping windows give the same trips with the same
/// keys, so re-materialising never doubles one. Use [`DEFAULT_HORIZON_MS`] unless
/// configured otherwise.
pub fn occurrences(pattern: &Pattern, from_ms: i64, horizon_ms: i64) -> Vec<Occurrence> {
    let mut out = Vec::new();
    if horizon_ms <= 0 {
        return out;
    }
    let until_ms = from_ms.saturating_add(horizon_ms);
    // A count needs every date from the start; an end date lets us begin near the
    // window (a day early: a date's trips are all within that local day).
    let mut date = match pattern.end {
        End::Count(_) => pattern.start,
        End::Until(_) => pattern
            .start
            .max(china_date(from_ms).pred_opt().unwrap_or(pattern.start)),
    };
    let last_window_date = china_date(until_ms);
    let mut ran: u32 = 0;
    loop {
        if date > last_window_date {
            break;
        }
        match pattern.end {
            End::Until(until) if date > until => break,
            End::Count(n) if ran >= n => break,
            _ => {}
        }
        if pattern.paused_from.is_some_and(|p| date >= p) {
            break;
        }
        if pattern.runs_on(date) {
            ran += 1;
            let s = pattern.schedule_on(date);
            let legs = [
                Some((Leg::Outbound, s.pickup_time, &s.pickup, &s.dropoff)),
                s.return_time
                    .map(|t| (Leg::Return, t, &s.dropoff, &s.pickup)),
            ];
            for (leg, time, from, to) in legs.into_iter().flatten() {
                let pickup_ms = china_instant_ms(date, time);
                if (from_ms..until_ms).contains(&pickup_ms) {
                    out.push(Occurrence {
                        key: occurrence_key(&pattern.id, date, leg),
                        date,
                        leg,
                        pickup_ms,
                        from: from.clone(),
                        to: to.clone(),
                        needs: s.needs.clone(),
                    });
                }
            }
        }
        match date.succ_opt() {
            Some(d) => date = d,
            None => break,
        }
    }
    out
}

/// Where an unassigned recurring trip stands on the guarantee's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Only the paired driver sees it (to confirm or refuse).
    Paired,
    /// Offered to the caring fleet.
    CaringFleet,
    /// Offered to any suitable taxi.
    AnyTaxi,
    /// Still unassigned at T−15 or later: the operator alert is due.
    Alert,
}

/// The guarantee's timeline, in ms before pickup. Defaults: [`DEFAULT_CARING_LEAD_MS`],
/// [`DEFAULT_OPEN_LEAD_MS`], [`DEFAULT_ALERT_LEAD_MS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guarantee {
    /// The caring fleet is offered the trip this long before pickup.
    pub caring_lead_ms: i64,
    /// Any suitable taxi is offered it this long before pickup.
    pub open_lead_ms: i64,
    /// The alert is raised (and the guarantee is missed) this long before pickup.
    pub alert_lead_ms: i64,
}

impl Default for Guarantee {
    fn default() -> Self {
        Self {
            caring_lead_ms: DEFAULT_CARING_LEAD_MS,
            open_lead_ms: DEFAULT_OPEN_LEAD_MS,
            alert_lead_ms: DEFAULT_ALERT_LEAD_MS,
        }
    }
}

impl Guarantee {
    /// Checks configured leads: the caring fleet before any taxi before the alert, and
    /// the alert at or before pickup.
    pub fn new(
        caring_lead_ms: i64,
        open_lead_ms: i64,
        alert_lead_ms: i64,
    ) -> Result<Self, FieldError> {
        if alert_lead_ms < 0 {
            return Err(FieldError::new("alert_lead", "must not be negative"));
        }
        if open_lead_ms <= alert_lead_ms {
            return Err(FieldError::new(
                "open_lead",
                "must be longer than the alert lead",
            ));
        }
        if caring_lead_ms <= open_lead_ms {
            return Err(FieldError::new(
                "caring_lead",
                "must be longer than the open lead",
            ));
        }
        Ok(Self {
            caring_lead_ms,
            open_lead_ms,
            alert_lead_ms,
        })
    }

    /// When the caring fleet is offered a trip picked up at `pickup_ms`.
    pub fn caring_offer_ms(&self, pickup_ms: i64) -> i64 {
        pickup_ms - self.caring_lead_ms
    }

    /// When any suitable taxi is offered it.
    pub fn open_to_all_ms(&self, pickup_ms: i64) -> i64 {
        pickup_ms - self.open_lead_ms
    }

    /// The deadline: assigned by then, or the operator alert is raised.
    pub fn alert_ms(&self, pickup_ms: i64) -> i64 {
        pickup_ms - self.alert_lead_ms
    }

    /// Where an unassigned trip picked up at `pickup_ms` stands at `now_ms`.
    pub fn phase(&self, pickup_ms: i64, now_ms: i64) -> Phase {
        if now_ms >= self.alert_ms(pickup_ms) {
            Phase::Alert
        } else if now_ms >= self.open_to_all_ms(pickup_ms) {
            Phase::AnyTaxi
        } else if now_ms >= self.caring_offer_ms(pickup_ms) {
            Phase::CaringFleet
        } else {
            Phase::Paired
        }
    }

    /// Whether a trip assigned at `assigned_ms` met the guarantee (assigned before the
    /// alert deadline).
    pub fn met(&self, pickup_ms: i64, assigned_ms: i64) -> bool {
        assigned_ms < self.alert_ms(pickup_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(lat: f64, lon: f64, address: &str) -> Place {
        Place {
            at: Coordinates::new(lat, lon).unwrap(),
            address: address.to_string(),
        }
    }

    fn home() -> Place {
        place(29.5630, 106.5516, "Home")
    }

    fn clinic() -> Place {
        place(29.5800, 106.5300, "Clinic")
    }

    fn schedule(days: &[u32], time: &str, ret: &str) -> ScheduleSpec {
        ScheduleSpec {
            weekdays: days.to_vec(),
            pickup_time: time.to_string(),
            return_time: ret.to_string(),
            pickup: home(),
            dropoff: clinic(),
            needs: vec![Need::WalkingAid],
        }
    }

    /// Mon/Wed/Fri 07:30 from Monday 2026-12-07 to 2027-03-31, no return.
    fn spec() -> PatternSpec {
        PatternSpec {
            id: "rp1".to_string(),
            start_date: "2026-12-07".to_string(),
            end_date: "2027-03-31".to_string(),
            count: None,
            schedule: schedule(&[1, 3, 5], "07:30", ""),
            skipped_dates: vec![],
            paused_from: String::new(),
            changes: vec![],
        }
    }

    /// An instant written independently of the code under test.
    fn at(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn keys(o: &[Occurrence]) -> Vec<String> {
        o.iter().map(|o| o.key.clone()).collect()
    }

    fn dates(o: &[Occurrence]) -> Vec<NaiveDate> {
        o.iter().map(|o| o.date).collect()
    }

    fn err(spec: &PatternSpec) -> FieldError {
        Pattern::new(spec).expect_err("the spec must be refused")
    }

    const WEEK_MS: i64 = 7 * DAY_MS;

    #[test]
    fn acceptance_mon_wed_fri_over_three_weeks_with_a_holiday_and_a_changed_time() {
        let mut s = spec();
        s.skipped_dates = vec!["2026-12-16".to_string()];
        s.changes = vec![ChangeSpec {
            from_date: "2026-12-21".to_string(),
            schedule: schedule(&[1, 3, 5], "08:00", ""),
        }];
        let p = Pattern::new(&s).unwrap();
        let from = at("2026-12-07T00:00:00+08:00");
        let got = occurrences(&p, from, DEFAULT_HORIZON_MS);
        let want = [
            ("20261207", "2026-12-07T07:30:00+08:00"),
            ("20261209", "2026-12-09T07:30:00+08:00"),
            ("20261211", "2026-12-11T07:30:00+08:00"),
            ("20261214", "2026-12-14T07:30:00+08:00"),
            // 2026-12-16 is skipped.
            ("20261218", "2026-12-18T07:30:00+08:00"),
            // The new time from 2026-12-21.
            ("20261221", "2026-12-21T08:00:00+08:00"),
            ("20261223", "2026-12-23T08:00:00+08:00"),
            ("20261225", "2026-12-25T08:00:00+08:00"),
        ];
        assert_eq!(got.len(), want.len(), "{:?}", keys(&got));
        for (o, (day, instant)) in got.iter().zip(want) {
            assert_eq!(o.key, format!("rp1:{day}:out"));
            assert_eq!(o.pickup_ms, at(instant), "{}", o.key);
            assert_eq!(o.leg, Leg::Outbound);
            assert_eq!(o.from, home());
            assert_eq!(o.to, clinic());
            assert_eq!(o.needs, vec![Need::WalkingAid]);
        }
        assert_eq!(DEFAULT_HORIZON_MS, 21 * 24 * 3600 * 1000);
    }

    #[test]
    fn a_change_keeps_earlier_dates_and_can_change_the_days() {
        let mut s = spec();
        s.changes = vec![ChangeSpec {
            from_date: "2026-12-10".to_string(),
            schedule: schedule(&[2, 4], "09:15", "11:00"),
        }];
        let p = Pattern::new(&s).unwrap();
        let got = occurrences(&p, at("2026-12-07T00:00:00+08:00"), WEEK_MS);
        let want: Vec<String> = [
            "rp1:20261207:out",
            "rp1:20261209:out",
            "rp1:20261210:out",
            "rp1:20261210:ret",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(keys(&got), want);
        assert_eq!(got[2].pickup_ms, at("2026-12-10T09:15:00+08:00"));
        assert_eq!(got[3].pickup_ms, at("2026-12-10T11:00:00+08:00"));
        assert_eq!(
            p.schedule_on(d(2026, 12, 9)).pickup_time.to_string(),
            "07:30:00"
        );
        assert_eq!(
            p.schedule_on(d(2026, 12, 10)).pickup_time.to_string(),
            "09:15:00"
        );
    }

    #[test]
    fn a_count_ends_the_pattern_and_skipped_dates_do_not_consume_it() {
        let mut s = spec();
        s.end_date = String::new();
        s.count = Some(4);
        let p = Pattern::new(&s).unwrap();
        assert_eq!(p.end(), End::Count(4));
        let from = at("2026-12-01T00:00:00+08:00");
        assert_eq!(
            dates(&occurrences(&p, from, 60 * DAY_MS)),
            vec![
                d(2026, 12, 7),
                d(2026, 12, 9),
                d(2026, 12, 11),
                d(2026, 12, 14)
            ]
        );
        s.skipped_dates = vec!["2026-12-09".to_string()];
        let p = Pattern::new(&s).unwrap();
        assert_eq!(
            dates(&occurrences(&p, from, 60 * DAY_MS)),
            vec![
                d(2026, 12, 7),
                d(2026, 12, 11),
                d(2026, 12, 14),
                d(2026, 12, 16)
            ]
        );
        // A window that starts after some trips still counts them: the count is of the
        // whole pattern, not of the window.
        let later = at("2026-12-12T00:00:00+08:00");
        assert_eq!(
            dates(&occurrences(&p, later, 60 * DAY_MS)),
            vec![d(2026, 12, 14), d(2026, 12, 16)]
        );
    }

    #[test]
    fn a_count_counts_dates_and_a_return_belongs_to_its_date() {
        let mut s = spec();
        s.end_date = String::new();
        s.count = Some(2);
        s.schedule = schedule(&[1, 3, 5], "07:30", "12:00");
        let p = Pattern::new(&s).unwrap();
        let got = occurrences(&p, at("2026-12-07T00:00:00+08:00"), 60 * DAY_MS);
        assert_eq!(
            keys(&got),
            [
                "rp1:20261207:out",
                "rp1:20261207:ret",
                "rp1:20261209:out",
                "rp1:20261209:ret"
            ]
            .map(String::from)
            .to_vec()
        );
        let ret = &got[1];
        assert_eq!(ret.leg, Leg::Return);
        assert_eq!(ret.from, clinic(), "the return starts at the drop-off");
        assert_eq!(ret.to, home());
        assert_eq!(ret.pickup_ms, at("2026-12-07T12:00:00+08:00"));
    }

    #[test]
    fn the_end_date_is_inclusive() {
        let mut s = spec();
        s.end_date = "2026-12-11".to_string();
        let p = Pattern::new(&s).unwrap();
        assert_eq!(
            dates(&occurrences(
                &p,
                at("2026-12-01T00:00:00+08:00"),
                60 * DAY_MS
            )),
            vec![d(2026, 12, 7), d(2026, 12, 9), d(2026, 12, 11)]
        );
        // A pattern of one day: start = end.
        s.end_date = "2026-12-07".to_string();
        let p = Pattern::new(&s).unwrap();
        assert_eq!(
            dates(&occurrences(
                &p,
                at("2026-12-01T00:00:00+08:00"),
                60 * DAY_MS
            )),
            vec![d(2026, 12, 7)]
        );
    }

    #[test]
    fn nothing_runs_before_the_start() {
        let mut s = spec();
        s.start_date = "2026-12-09".to_string();
        let p = Pattern::new(&s).unwrap();
        assert_eq!(
            dates(&occurrences(
                &p,
                at("2026-12-01T00:00:00+08:00"),
                10 * DAY_MS
            )),
            vec![d(2026, 12, 9)]
        );
    }

    #[test]
    fn the_window_includes_its_start_and_excludes_its_end() {
        let p = Pattern::new(&spec()).unwrap();
        let first = at("2026-12-07T07:30:00+08:00");
        // Starting exactly at a pickup includes it.
        let got = occurrences(&p, first, 1);
        assert_eq!(keys(&got), vec!["rp1:20261207:out".to_string()]);
        // One ms later it is gone.
        assert!(occurrences(&p, first + 1, DAY_MS).is_empty());
        // Ending exactly at a pickup excludes it.
        let got = occurrences(&p, first, at("2026-12-09T07:30:00+08:00") - first);
        assert_eq!(keys(&got), vec!["rp1:20261207:out".to_string()]);
        let got = occurrences(&p, first, at("2026-12-09T07:30:00+08:00") - first + 1);
        assert_eq!(got.len(), 2);
        // An empty or negative horizon yields nothing.
        assert!(occurrences(&p, first, 0).is_empty());
        assert!(occurrences(&p, first, -DAY_MS).is_empty());
        // Long after the end: nothing.
        assert!(occurrences(&p, at("2027-04-01T00:00:00+08:00"), DEFAULT_HORIZON_MS).is_empty());
        // The last trip of the pattern (Wednesday 2027-03-31) is in a window that covers it.
        let got = occurrences(&p, at("2027-03-25T00:00:00+08:00"), DEFAULT_HORIZON_MS);
        assert_eq!(got.last().unwrap().key, "rp1:20270331:out");
    }

    #[test]
    fn overlapping_windows_give_the_same_trips_and_keys() {
        let mut s = spec();
        s.schedule = schedule(&[1, 3, 5], "07:30", "11:45");
        s.skipped_dates = vec!["2026-12-16".to_string()];
        let p = Pattern::new(&s).unwrap();
        let t0 = at("2026-12-07T00:00:00+08:00");
        let whole = occurrences(&p, t0, 15 * DAY_MS);
        let a = occurrences(&p, t0, 10 * DAY_MS);
        let b = occurrences(&p, t0 + 5 * DAY_MS, 10 * DAY_MS);
        // Running again gives the very same trips.
        assert_eq!(occurrences(&p, t0, 15 * DAY_MS), whole);
        // The union of overlapping runs, keyed, is the whole window: nothing doubles.
        let mut union: BTreeSet<String> = keys(&a).into_iter().collect();
        union.extend(keys(&b));
        let whole_keys: BTreeSet<String> = keys(&whole).into_iter().collect();
        assert_eq!(union, whole_keys);
        assert_eq!(whole_keys.len(), whole.len(), "keys are unique");
        // The overlap holds the same trips in both runs.
        for o in &b {
            if let Some(same) = a.iter().find(|x| x.key == o.key) {
                assert_eq!(same, o);
            }
        }
        // Keys are deterministic from the pattern id, the date and the leg.
        assert_eq!(
            occurrence_key("rp1", d(2026, 12, 7), Leg::Return),
            "rp1:20261207:ret"
        );
    }

    #[test]
    fn a_pause_stops_trips_from_its_date_and_a_resume_brings_them_back() {
        let mut s = spec();
        s.paused_from = "2026-12-14".to_string();
        let p = Pattern::new(&s).unwrap();
        assert_eq!(p.paused_from(), Some(d(2026, 12, 14)));
        let from = at("2026-12-07T00:00:00+08:00");
        assert_eq!(
            dates(&occurrences(&p, from, DEFAULT_HORIZON_MS)),
            vec![d(2026, 12, 7), d(2026, 12, 9), d(2026, 12, 11)]
        );
        // Paused from the start: nothing at all.
        s.paused_from = "2026-12-07".to_string();
        let p = Pattern::new(&s).unwrap();
        assert!(occurrences(&p, from, DEFAULT_HORIZON_MS).is_empty());
        // Resumed: the trips are back, with the same keys as before the pause.
        s.paused_from = String::new();
        let p = Pattern::new(&s).unwrap();
        let got = occurrences(&p, from, DEFAULT_HORIZON_MS);
        assert_eq!(got.len(), 9);
        assert_eq!(got[0].key, "rp1:20261207:out");
    }

    #[test]
    fn paused_dates_do_not_consume_a_count() {
        let mut s = spec();
        s.end_date = String::new();
        s.count = Some(3);
        s.paused_from = "2026-12-09".to_string();
        let p = Pattern::new(&s).unwrap();
        let from = at("2026-12-01T00:00:00+08:00");
        assert_eq!(
            dates(&occurrences(&p, from, 60 * DAY_MS)),
            vec![d(2026, 12, 7)]
        );
    }

    #[test]
    fn dates_are_china_local_not_utc() {
        // 23:30 on Monday in China is 15:30 UTC the same Monday.
        let mut s = spec();
        s.schedule = schedule(&[1], "23:30", "");
        let p = Pattern::new(&s).unwrap();
        let got = occurrences(&p, at("2026-12-07T00:00:00+08:00"), DAY_MS);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].date, d(2026, 12, 7));
        assert_eq!(got[0].pickup_ms, at("2026-12-07T15:30:00Z"));
        assert_eq!(got[0].key, "rp1:20261207:out");
        // 00:30 on Tuesday in China is 16:30 UTC on Monday: it is Tuesday's trip, and
        // a Monday-only pattern does not have it.
        s.schedule = schedule(&[2], "00:30", "");
        let p = Pattern::new(&s).unwrap();
        let got = occurrences(&p, at("2026-12-07T00:00:00+08:00"), 2 * DAY_MS);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].date, d(2026, 12, 8));
        assert_eq!(got[0].pickup_ms, at("2026-12-07T16:30:00Z"));
        assert_eq!(got[0].key, "rp1:20261208:out");
        s.schedule = schedule(&[1], "00:30", "");
        let p = Pattern::new(&s).unwrap();
        let got = occurrences(&p, at("2026-12-07T00:00:00+08:00"), 2 * DAY_MS);
        assert_eq!(keys(&got), vec!["rp1:20261207:out".to_string()]);
        assert_eq!(got[0].pickup_ms, at("2026-12-06T16:30:00Z"));
        // A window given in UTC that starts late on the UTC day still finds the next
        // local morning's trip.
        let p = Pattern::new(&spec()).unwrap();
        let got = occurrences(&p, at("2026-12-08T20:00:00Z"), DAY_MS);
        assert_eq!(keys(&got), vec!["rp1:20261209:out".to_string()]);
        assert_eq!(
            china_instant_ms(d(2026, 12, 9), NaiveTime::from_hms_opt(7, 30, 0).unwrap()),
            at("2026-12-08T23:30:00Z")
        );
        assert_eq!(china_date(at("2026-12-08T23:30:00Z")), d(2026, 12, 9));
    }

    #[test]
    fn a_valid_pattern_keeps_what_was_asked() {
        let mut s = spec();
        s.schedule.weekdays = vec![5, 1, 3, 3];
        s.skipped_dates = vec!["2026-12-16".to_string(), "2026-12-16".to_string()];
        let p = Pattern::new(&s).unwrap();
        assert_eq!(p.id(), "rp1");
        assert_eq!(p.start(), d(2026, 12, 7));
        assert_eq!(p.end(), End::Until(d(2027, 3, 31)));
        assert_eq!(p.schedule_on(p.start()).weekdays.iso(), vec![1, 3, 5]);
        assert_eq!(p.skipped().len(), 1);
        assert!(p.changes().is_empty());
        assert_eq!(p.paused_from(), None);
    }

    /// Every refusal names its field; each row changes one thing of a valid spec.
    #[test]
    fn every_validation_error_names_its_field() {
        type Edit = fn(&mut PatternSpec);
        let rows: Vec<(&str, Edit, &str)> = vec![
            ("pattern.id", |s| s.id = String::new(), "is required"),
            ("pattern.id", |s| s.id = "a b".into(), "ASCII"),
            (
                "pattern.start_date",
                |s| s.start_date = String::new(),
                "is required",
            ),
            (
                "pattern.start_date",
                |s| s.start_date = "2026-13-01".into(),
                "YYYY-MM-DD",
            ),
            (
                "pattern.start_date",
                |s| s.start_date = "7.12.2026".into(),
                "YYYY-MM-DD",
            ),
            (
                "pattern.end_date",
                |s| s.end_date = "2026-12-06".into(),
                "before the start",
            ),
            (
                "pattern.end_date",
                |s| s.end_date = "2026-02-30".into(),
                "YYYY-MM-DD",
            ),
            (
                "pattern.end_date",
                |s| s.end_date = "2030-12-31".into(),
                "days after",
            ),
            ("pattern.end_date", |s| s.count = Some(3), "not both"),
            ("pattern.end_date", |s| s.count = Some(0), "not both"),
            (
                "pattern.end_date",
                |s| s.end_date = String::new(),
                "is required",
            ),
            (
                "pattern.count",
                |s| {
                    s.end_date = String::new();
                    s.count = Some(MAX_COUNT + 1);
                },
                "at most",
            ),
            (
                "pattern.count",
                |s| {
                    s.end_date = String::new();
                    s.count = Some(0);
                },
                "at least 1",
            ),
            (
                "pattern.weekdays",
                |s| s.schedule.weekdays = vec![],
                "at least one",
            ),
            (
                "pattern.weekdays",
                |s| s.schedule.weekdays = vec![1, 8],
                "not a weekday",
            ),
            (
                "pattern.weekdays",
                |s| s.schedule.weekdays = vec![0],
                "not a weekday",
            ),
            (
                "pattern.pickup_time",
                |s| s.schedule.pickup_time = String::new(),
                "is required",
            ),
            (
                "pattern.pickup_time",
                |s| s.schedule.pickup_time = "24:00".into(),
                "HH:MM",
            ),
            (
                "pattern.pickup_time",
                |s| s.schedule.pickup_time = "7:30".into(),
                "HH:MM",
            ),
            (
                "pattern.pickup_time",
                |s| s.schedule.pickup_time = "07:60".into(),
                "HH:MM",
            ),
            (
                "pattern.pickup_time",
                |s| s.schedule.pickup_time = "07-30".into(),
                "HH:MM",
            ),
            (
                "pattern.pickup_time",
                |s| s.schedule.pickup_time = "07:30:00".into(),
                "HH:MM",
            ),
            (
                "pattern.return_time",
                |s| s.schedule.return_time = "07:30".into(),
                "after the outbound",
            ),
            (
                "pattern.return_time",
                |s| s.schedule.return_time = "06:00".into(),
                "after the outbound",
            ),
            (
                "pattern.return_time",
                |s| s.schedule.return_time = "noon".into(),
                "HH:MM",
            ),
            (
                "pattern.dropoff",
                |s| s.schedule.dropoff = home(),
                "of the pickup",
            ),
            (
                "pattern.skipped_dates",
                |s| s.skipped_dates = vec!["2026-12-16".into(); MAX_SKIPPED_DATES + 1],
                "at most",
            ),
            (
                "pattern.skipped_dates[1]",
                |s| s.skipped_dates = vec!["2026-12-16".into(), "16/12".into()],
                "YYYY-MM-DD",
            ),
            (
                "pattern.paused_from",
                |s| s.paused_from = "soon".into(),
                "YYYY-MM-DD",
            ),
            (
                "pattern.changes",
                |s| {
                    s.changes = vec![
                        ChangeSpec {
                            from_date: "2026-12-21".into(),
                            schedule: schedule(&[1], "08:00", ""),
                        };
                        MAX_CHANGES + 1
                    ]
                },
                "at most",
            ),
            (
                "pattern.changes[0].from_date",
                |s| {
                    s.changes = vec![ChangeSpec {
                        from_date: "2026-12-07".into(),
                        schedule: schedule(&[1], "08:00", ""),
                    }]
                },
                "must be after 2026-12-07",
            ),
            (
                "pattern.changes[1].from_date",
                |s| {
                    s.changes = vec![
                        ChangeSpec {
                            from_date: "2026-12-21".into(),
                            schedule: schedule(&[1], "08:00", ""),
                        },
                        ChangeSpec {
                            from_date: "2026-12-14".into(),
                            schedule: schedule(&[1], "09:00", ""),
                        },
                    ]
                },
                "must be after 2026-12-21",
            ),
            (
                "pattern.changes[0].from_date",
                |s| {
                    s.changes = vec![ChangeSpec {
                        from_date: String::new(),
                        schedule: schedule(&[1], "08:00", ""),
                    }]
                },
                "is required",
            ),
            (
                "pattern.changes[0].weekdays",
                |s| {
                    s.changes = vec![ChangeSpec {
                        from_date: "2026-12-21".into(),
                        schedule: schedule(&[], "08:00", ""),
                    }]
                },
                "at least one",
            ),
            (
                "pattern.changes[0].return_time",
                |s| {
                    s.changes = vec![ChangeSpec {
                        from_date: "2026-12-21".into(),
                        schedule: schedule(&[1], "08:00", "07:59"),
                    }]
                },
                "after the outbound",
            ),
        ];
        for (field, edit, why) in rows {
            let mut s = spec();
            edit(&mut s);
            let e = err(&s);
            assert_eq!(e.field, field, "{e}");
            assert!(e.reason.contains(why), "{field}: {e}");
        }
        // The limits themselves are accepted.
        let mut s = spec();
        s.end_date = String::new();
        s.count = Some(MAX_COUNT);
        s.skipped_dates = vec!["2026-12-16".into(); MAX_SKIPPED_DATES];
        assert!(Pattern::new(&s).is_ok());
        let mut s = spec();
        s.schedule.return_time = "07:31".into();
        s.schedule.pickup_time = "07:30".into();
        assert!(Pattern::new(&s).is_ok());
        s.schedule.pickup_time = "00:00".into();
        s.schedule.return_time = "23:59".into();
        assert!(Pattern::new(&s).is_ok());
    }

    #[test]
    fn a_count_pattern_with_the_largest_count_ends() {
        let mut s = spec();
        s.end_date = String::new();
        s.count = Some(MAX_COUNT);
        s.schedule.weekdays = vec![7];
        let p = Pattern::new(&s).unwrap();
        // Sundays: the 500th is 499 weeks after the first (Sunday 2026-12-13).
        let last = d(2026, 12, 13) + chrono::Duration::weeks(i64::from(MAX_COUNT) - 1);
        let near = china_instant_ms(last, NaiveTime::MIN) - WEEK_MS;
        let got = occurrences(&p, near, 4 * WEEK_MS);
        assert_eq!(dates(&got), vec![last - chrono::Duration::weeks(1), last]);
    }

    #[test]
    fn the_guarantee_timeline_has_its_defaults() {
        let g = Guarantee::default();
        assert_eq!(g.caring_lead_ms, 60 * 60_000);
        assert_eq!(g.open_lead_ms, 30 * 60_000);
        assert_eq!(g.alert_lead_ms, 15 * 60_000);
        assert_eq!(
            Guarantee::new(g.caring_lead_ms, g.open_lead_ms, g.alert_lead_ms),
            Ok(g)
        );
        let t = at("2026-12-07T07:30:00+08:00");
        assert_eq!(g.caring_offer_ms(t), at("2026-12-07T06:30:00+08:00"));
        assert_eq!(g.open_to_all_ms(t), at("2026-12-07T07:00:00+08:00"));
        assert_eq!(g.alert_ms(t), at("2026-12-07T07:15:00+08:00"));
    }

    #[test]
    fn the_guarantee_phases_turn_at_their_instants() {
        let g = Guarantee::default();
        let t = at("2026-12-07T07:30:00+08:00");
        let rows = [
            ("2026-12-06T07:30:00+08:00", Phase::Paired),
            ("2026-12-07T06:29:59.999+08:00", Phase::Paired),
            ("2026-12-07T06:30:00+08:00", Phase::CaringFleet),
            ("2026-12-07T06:59:59.999+08:00", Phase::CaringFleet),
            ("2026-12-07T07:00:00+08:00", Phase::AnyTaxi),
            ("2026-12-07T07:14:59.999+08:00", Phase::AnyTaxi),
            ("2026-12-07T07:15:00+08:00", Phase::Alert),
            ("2026-12-07T07:30:00+08:00", Phase::Alert),
            ("2026-12-07T08:00:00+08:00", Phase::Alert),
        ];
        for (now, want) in rows {
            assert_eq!(g.phase(t, at(now)), want, "{now}");
        }
        assert!(g.met(t, at("2026-12-07T07:14:59.999+08:00")));
        assert!(!g.met(t, at("2026-12-07T07:15:00+08:00")));
        assert!(
            g.met(t, at("2026-12-06T20:00:00+08:00")),
            "confirmed the day before"
        );
    }

    #[test]
    fn guarantee_leads_must_be_in_order() {
        let m = 60_000;
        let rows = [
            ((60 * m, 30 * m, -1), "alert_lead"),
            ((60 * m, 15 * m, 15 * m), "open_lead"),
            ((60 * m, 10 * m, 15 * m), "open_lead"),
            ((30 * m, 30 * m, 15 * m), "caring_lead"),
            ((20 * m, 30 * m, 15 * m), "caring_lead"),
        ];
        for ((c, o, a), field) in rows {
            assert_eq!(Guarantee::new(c, o, a).unwrap_err().field, field);
        }
        assert!(Guarantee::new(3 * m, 2 * m, 0).is_ok());
    }
}
