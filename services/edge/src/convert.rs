//! Checked conversions between `taxi.v1` messages and domain values.
//!
//! Every function that reads a request names the field it checks, so a refusal tells the
//! caller exactly what to fix.

use taxi_domain::taxi::TaxiState;
use taxi_domain::{Coordinates, Datum, FieldError};
use taxi_proto::Timestamp;
use taxi_proto::v1 as pb;
use taxi_store::taxis::{NearbyTaxi, TaxiRecord};

/// Milliseconds since the epoch as a protobuf timestamp.
pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// A protobuf timestamp as milliseconds since the epoch.
pub fn millis(field: &str, ts: &Timestamp) -> Result<i64, FieldError> {
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(FieldError::new(field, "nanos must be 0 to 999,999,999"));
    }
    // Years 1970 to 9999: anything else is a client bug.
    if !(0..=253_402_300_799).contains(&ts.seconds) {
        return Err(FieldError::new(field, "is outside the years 1970 to 9999"));
    }
    Ok(ts.seconds * 1000 + i64::from(ts.nanos / 1_000_000))
}

/// Reads a known, specified datum.
pub fn datum(field: &str, value: i32) -> Result<Datum, FieldError> {
    match pb::Datum::try_from(value) {
        Ok(pb::Datum::Wgs84) => Ok(Datum::Wgs84),
        Ok(pb::Datum::Gcj02) => Ok(Datum::Gcj02),
        Ok(pb::Datum::Unspecified) => Err(FieldError::new(
            field,
            "is required: DATUM_WGS84 (GPS) or DATUM_GCJ02 (Chinese map apps)",
        )),
        Err(_) => Err(FieldError::new(field, format!("unknown value {value}"))),
    }
}

/// Reads a required point, converting GCJ-02 to WGS-84.
pub fn coordinates(field: &str, point: Option<&pb::LatLng>) -> Result<Coordinates, FieldError> {
    let Some(p) = point else {
        return Err(FieldError::new(field, "is required"));
    };
    let d = datum(&format!("{field}.datum"), p.datum)?;
    Coordinates::from_datum(p.latitude, p.longitude, d).map_err(|e| e.within(field))
}

/// A stored (WGS-84) position on the wire.
pub fn lat_lng(c: &Coordinates) -> pb::LatLng {
    pb::LatLng {
        latitude: c.lat(),
        longitude: c.lon(),
        datum: pb::Datum::Wgs84 as i32,
    }
}

/// Reads an enum field that must hold a known value (zero allowed only if `allow_zero`).
pub fn known_enum<E: TryFrom<i32>>(
    field: &str,
    value: i32,
    allow_zero: bool,
) -> Result<E, FieldError> {
    if value == 0 && !allow_zero {
        return Err(FieldError::new(field, "is required"));
    }
    E::try_from(value).map_err(|_| FieldError::new(field, format!("unknown value {value}")))
}

/// A taxi state on the wire.
pub fn taxi_state(s: TaxiState) -> pb::TaxiState {
    match s {
        TaxiState::OffDuty => pb::TaxiState::OffDuty,
        TaxiState::Free => pb::TaxiState::Free,
        TaxiState::Offered => pb::TaxiState::Offered,
        TaxiState::Assigned => pb::TaxiState::Assigned,
        TaxiState::Occupied => pb::TaxiState::Occupied,
    }
}

/// A stored taxi on the wire.
pub fn taxi(t: &TaxiRecord) -> pb::Taxi {
    pb::Taxi {
        taxi_id: t.id.clone(),
        plate: t.plate.clone(),
        driver_name: t.driver_name.clone(),
        vehicle_color: t.color.clone(),
        wheelchair_accessible: t.wheelchair,
        fleet_tags: t.tags.clone(),
        state: taxi_state(t.state) as i32,
        position: t.position.as_ref().map(|(c, _)| lat_lng(c)),
        position_time: t.position.as_ref().map(|(_, ms)| timestamp(*ms)),
        order_id: t.order_id.clone().unwrap_or_default(),
        register_time: Some(timestamp(t.registered_ms)),
    }
}

/// A nearby free taxi on the wire.
pub fn nearby_taxi(t: &NearbyTaxi) -> pb::NearbyTaxi {
    pb::NearbyTaxi {
        taxi_id: t.id.clone(),
        plate: t.plate.clone(),
        position: Some(lat_lng(&t.at)),
        distance_meters: t.distance_m.round().max(0.0) as u32,
        position_time: Some(timestamp(t.fix_ms)),
        wheelchair_accessible: t.wheelchair,
        fleet_tags: t.tags.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        for ms in [0, 1, 999, 1_700_000_000_123] {
            assert_eq!(millis("t", &timestamp(ms)).unwrap(), ms);
        }
        assert!(
            millis(
                "t",
                &Timestamp {
                    seconds: 1,
                    nanos: -1
                }
            )
            .is_err()
        );
        assert!(
            millis(
                "t",
                &Timestamp {
                    seconds: -5,
                    nanos: 0
                }
            )
            .is_err()
        );
    }

    #[test]
    fn coordinates_need_a_known_datum() {
        let p = |datum| pb::LatLng {
            latitude: 29.56,
            longitude: 106.55,
            datum,
        };
        assert_eq!(coordinates("center", None).unwrap_err().field, "center");
        assert_eq!(
            coordinates("center", Some(&p(0))).unwrap_err().field,
            "center.datum"
        );
        let e = coordinates("center", Some(&p(9))).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.reason.as_str()),
            ("center.datum", "unknown value 9")
        );
        let wgs = coordinates("center", Some(&p(1))).unwrap();
        let gcj = coordinates("center", Some(&p(2))).unwrap();
        // GCJ-02 input lands a few hundred metres away from the same numbers read as WGS-84.
        let shift = wgs.distance_m(&gcj);
        assert!(shift > 100.0 && shift < 1000.0, "{shift}");
        let bad = pb::LatLng {
            latitude: f64::NAN,
            longitude: 106.55,
            datum: 1,
        };
        assert_eq!(
            coordinates("position", Some(&bad)).unwrap_err().field,
            "position.latitude"
        );
    }

    #[test]
    fn enums_must_be_known() {
        assert!(known_enum::<pb::Channel>("channel", 1, false).is_ok());
        assert_eq!(
            known_enum::<pb::Channel>("channel", 0, false)
                .unwrap_err()
                .reason,
            "is required"
        );
        assert!(known_enum::<pb::Channel>("channel", 0, true).is_ok());
        assert!(
            known_enum::<pb::Channel>("channel", 42, true)
                .unwrap_err()
                .reason
                .contains("42")
        );
    }
}
