//! Checking one position report.

use taxi_domain::settings::Settings;
use taxi_domain::{FieldError, validate};
use taxi_edge::convert;
use taxi_proto::v1 as pb;
use taxi_store::taxis::Fix;

/// Most reports read from one stream message.
pub const MAX_PER_MESSAGE: usize = 1000;
/// Highest accepted speed, km/h.
pub const MAX_SPEED_KMH: f32 = 250.0;

/// Checks a report and turns it into a fix to store; `now_ms` is the server clock.
pub fn check(r: &pb::PositionReport, now_ms: i64, settings: &Settings) -> Result<Fix, FieldError> {
    let taxi_id = validate::id("taxi_id", &r.taxi_id)?;
    let at = convert::coordinates("position", r.position.as_ref())?;
    if !r.heading_degrees.is_finite() || !(0.0..=360.0).contains(&r.heading_degrees) {
        return Err(FieldError::new("heading_degrees", "must be 0 to 360"));
    }
    if !r.speed_kmh.is_finite() || !(0.0..=MAX_SPEED_KMH).contains(&r.speed_kmh) {
        return Err(FieldError::new("speed_kmh", "must be 0 to 250"));
    }
    let fix_ms = match &r.fix_time {
        None => now_ms,
        Some(ts) => convert::millis("fix_time", ts)?,
    };
    let ahead = settings.max_fix_ahead.as_millis() as i64;
    if fix_ms > now_ms + ahead {
        return Err(FieldError::new(
            "fix_time",
            format!(
                "is {} s ahead of the server clock; at most {} s is allowed",
                (fix_ms - now_ms) / 1000,
                ahead / 1000
            ),
        ));
    }
    // Heading and speed are checked but not stored: nothing reads them yet.
    Ok(Fix {
        taxi_id,
        at,
        fix_ms,
    })
}

/// A rejection entry for the reply.
pub fn rejection(
    index: u64,
    r: &pb::PositionReport,
    field: &str,
    reason: &str,
) -> pb::PositionRejection {
    pb::PositionRejection {
        index,
        taxi_id: r.taxi_id.chars().take(64).collect(),
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> pb::PositionReport {
        pb::PositionReport {
            taxi_id: "T1".into(),
            position: Some(pb::LatLng {
                latitude: 29.56,
                longitude: 106.55,
                datum: pb::Datum::Wgs84 as i32,
            }),
            heading_degrees: 90.0,
            speed_kmh: 30.0,
            fix_time: None,
        }
    }

    #[test]
    fn good_report_defaults_to_now() {
        let fix = check(&report(), 1_000_000, &Settings::default()).unwrap();
        assert_eq!(fix.fix_ms, 1_000_000);
        assert_eq!(fix.taxi_id, "T1");
    }

    #[test]
    fn each_bad_field_is_named() {
        let now = 1_700_000_000_000;
        let s = Settings::default();
        type Breaker = Box<dyn Fn(&mut pb::PositionReport)>;
        let cases: Vec<(Breaker, &str)> = vec![
            (Box::new(|r| r.taxi_id.clear()), "taxi_id"),
            (Box::new(|r| r.position = None), "position"),
            (
                Box::new(|r| r.position.as_mut().unwrap().latitude = f64::NAN),
                "position.latitude",
            ),
            (
                Box::new(|r| r.position.as_mut().unwrap().longitude = 181.0),
                "position.longitude",
            ),
            (
                Box::new(|r| r.position.as_mut().unwrap().datum = 0),
                "position.datum",
            ),
            (
                Box::new(|r| r.position.as_mut().unwrap().datum = 5),
                "position.datum",
            ),
            (Box::new(|r| r.heading_degrees = -1.0), "heading_degrees"),
            (Box::new(|r| r.speed_kmh = f32::INFINITY), "speed_kmh"),
            (Box::new(|r| r.speed_kmh = 400.0), "speed_kmh"),
            (
                Box::new(move |r| r.fix_time = Some(convert::timestamp(now + 120_000))),
                "fix_time",
            ),
        ];
        for (break_it, field) in cases {
            let mut r = report();
            break_it(&mut r);
            assert_eq!(check(&r, now, &s).unwrap_err().field, field);
        }
        // Slightly ahead (clock skew) is fine.
        let mut r = report();
        r.fix_time = Some(convert::timestamp(now + 5_000));
        assert!(check(&r, now, &s).is_ok());
    }
}
