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

/// A message channel on the wire.
pub fn notify_channel(c: taxi_domain::notify::Channel) -> pb::NotifyChannel {
    match c {
        taxi_domain::notify::Channel::Sms => pb::NotifyChannel::Sms,
        taxi_domain::notify::Channel::Voice => pb::NotifyChannel::Voice,
    }
}

/// A message channel preference from the wire: unset is SMS, an unknown value is refused
/// naming `field`.
pub fn notify_channel_from(
    field: &str,
    value: i32,
) -> Result<taxi_domain::notify::Channel, FieldError> {
    Ok(match known_enum::<pb::NotifyChannel>(field, value, true)? {
        pb::NotifyChannel::Unspecified | pb::NotifyChannel::Sms => {
            taxi_domain::notify::Channel::Sms
        }
        pb::NotifyChannel::Voice => taxi_domain::notify::Channel::Voice,
    })
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

mod orders {
    use super::*;
    use taxi_domain::booking::{CancelledBy, Channel, Need, Payment};
    use taxi_domain::followup::AlertState;
    use taxi_domain::order::OrderStatus;
    use taxi_domain::priority::ElderlyReason;
    use taxi_domain::validate;
    use taxi_store::callers::CallerRecord;
    use taxi_store::devices::AlertRecord;
    use taxi_store::orders::{OrderRecord, PlaceRec, ResolutionRec};

    /// Longest address text.
    pub const MAX_ADDRESS_CHARS: usize = 100;

    /// A channel on the wire.
    pub fn channel(c: Channel) -> pb::Channel {
        match c {
            Channel::Operator => pb::Channel::Operator,
            Channel::Ivr => pb::Channel::Ivr,
            Channel::FamilyProxy => pb::Channel::FamilyProxy,
            Channel::OneKey => pb::Channel::OneKey,
        }
    }

    /// A wire channel in the domain (`None` for UNSPECIFIED).
    pub fn channel_from(c: pb::Channel) -> Option<Channel> {
        match c {
            pb::Channel::Unspecified => None,
            pb::Channel::Operator => Some(Channel::Operator),
            pb::Channel::Ivr => Some(Channel::Ivr),
            pb::Channel::FamilyProxy => Some(Channel::FamilyProxy),
            pb::Channel::OneKey => Some(Channel::OneKey),
        }
    }

    /// A payment method on the wire.
    pub fn payment(p: Payment) -> pb::PaymentMethod {
        match p {
            Payment::Cash => pb::PaymentMethod::Cash,
            Payment::Card => pb::PaymentMethod::Card,
            Payment::Mobile => pb::PaymentMethod::Mobile,
        }
    }

    /// Reads a payment field: UNSPECIFIED gives `default`.
    pub fn payment_from(field: &str, value: i32, default: Payment) -> Result<Payment, FieldError> {
        Ok(match known_enum::<pb::PaymentMethod>(field, value, true)? {
            pb::PaymentMethod::Unspecified => default,
            pb::PaymentMethod::Cash => Payment::Cash,
            pb::PaymentMethod::Card => Payment::Card,
            pb::PaymentMethod::Mobile => Payment::Mobile,
        })
    }

    /// A need on the wire.
    pub fn need(n: Need) -> pb::PassengerNeed {
        match n {
            Need::Wheelchair => pb::PassengerNeed::Wheelchair,
            Need::WalkingAid => pb::PassengerNeed::WalkingAid,
            Need::HardOfHearing => pb::PassengerNeed::HardOfHearing,
        }
    }

    /// Reads a list of needs: each known and specified; repeats collapse.
    pub fn needs_from(field: &str, values: &[i32]) -> Result<Vec<Need>, FieldError> {
        let mut out = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let n = match known_enum::<pb::PassengerNeed>(&format!("{field}[{i}]"), *v, false)? {
                pb::PassengerNeed::Wheelchair => Need::Wheelchair,
                pb::PassengerNeed::WalkingAid => Need::WalkingAid,
                pb::PassengerNeed::HardOfHearing => Need::HardOfHearing,
                pb::PassengerNeed::Unspecified => unreachable!("zero refused above"),
            };
            if !out.contains(&n) {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// Who cancelled, on the wire.
    pub fn cancelled_by(c: CancelledBy) -> pb::CancelledBy {
        match c {
            CancelledBy::Passenger => pb::CancelledBy::Passenger,
            CancelledBy::Operator => pb::CancelledBy::Operator,
            CancelledBy::Driver => pb::CancelledBy::Driver,
            CancelledBy::Device => pb::CancelledBy::Device,
            CancelledBy::System => pb::CancelledBy::System,
        }
    }

    /// Reads who cancelled (required).
    pub fn cancelled_by_from(field: &str, value: i32) -> Result<CancelledBy, FieldError> {
        Ok(match known_enum::<pb::CancelledBy>(field, value, false)? {
            pb::CancelledBy::Passenger => CancelledBy::Passenger,
            pb::CancelledBy::Operator => CancelledBy::Operator,
            pb::CancelledBy::Driver => CancelledBy::Driver,
            pb::CancelledBy::Device => CancelledBy::Device,
            pb::CancelledBy::System | pb::CancelledBy::Unspecified => CancelledBy::System,
        })
    }

    /// Why older, on the wire.
    pub fn elderly_reason(r: Option<ElderlyReason>) -> pb::ElderlyReason {
        match r {
            None => pb::ElderlyReason::Unspecified,
            Some(ElderlyReason::ResidentIdAge) => pb::ElderlyReason::ResidentIdAge,
            Some(ElderlyReason::OperatorFlag) => pb::ElderlyReason::OperatorFlag,
            Some(ElderlyReason::OneKeyDevice) => pb::ElderlyReason::OneKeyDevice,
        }
    }

    /// An order status on the wire.
    pub fn order_status(s: OrderStatus) -> pb::OrderStatus {
        match s {
            OrderStatus::Scheduled => pb::OrderStatus::Scheduled,
            OrderStatus::Pending => pb::OrderStatus::Pending,
            OrderStatus::Offered => pb::OrderStatus::Offered,
            OrderStatus::Accepted => pb::OrderStatus::Accepted,
            OrderStatus::Arrived => pb::OrderStatus::Arrived,
            OrderStatus::OnTrip => pb::OrderStatus::OnTrip,
            OrderStatus::Completed => pb::OrderStatus::Completed,
            OrderStatus::Cancelled => pb::OrderStatus::Cancelled,
            OrderStatus::Unfulfilled => pb::OrderStatus::Unfulfilled,
        }
    }

    /// Reads a required place: coordinates (with datum) and address text.
    pub fn place(field: &str, p: Option<&pb::Place>) -> Result<PlaceRec, FieldError> {
        let Some(p) = p else {
            return Err(FieldError::new(field, "is required"));
        };
        let at = coordinates(&format!("{field}.location"), p.location.as_ref())?;
        let address = validate::text(&format!("{field}.address"), &p.address, MAX_ADDRESS_CHARS)?;
        if address.contains('\n') {
            return Err(FieldError::new(
                format!("{field}.address"),
                "must be one line",
            ));
        }
        Ok(PlaceRec { at, address })
    }

    /// A place on the wire (WGS-84).
    pub fn place_to(p: &PlaceRec) -> pb::Place {
        pb::Place {
            location: Some(lat_lng(&p.at)),
            address: p.address.clone(),
        }
    }

    /// An order on the wire. `masked` hides phone numbers (replies not meant for operators);
    /// `taxi` is the assigned taxi's view, when there is one.
    pub fn order(o: &OrderRecord, masked: bool, taxi: Option<pb::AssignedTaxi>) -> pb::Order {
        let phone = |p: &str| {
            if masked && !p.is_empty() {
                validate::mask_phone(p)
            } else {
                p.to_string()
            }
        };
        pb::Order {
            order_id: o.id.clone(),
            status: order_status(o.status) as i32,
            channel: channel(o.channel) as i32,
            passenger_phone: phone(&o.phone),
            passenger_name: o.name.clone(),
            pickup: Some(place_to(&o.pickup)),
            dropoff: o.dropoff.as_ref().map(place_to),
            pickup_time: Some(timestamp(o.pickup_ms)),
            reservation: o.reservation,
            elderly: o.elderly.is_some(),
            elderly_reason: elderly_reason(o.elderly) as i32,
            needs: o.needs.iter().map(|n| need(*n) as i32).collect(),
            passenger_count: o.passengers,
            notes: o.notes.clone(),
            payment: payment(o.payment) as i32,
            operator_id: o.operator.clone(),
            assigned_by: o.assigned_by.clone(),
            booker_phone: phone(&o.booker),
            device_id: o.device.clone(),
            taxi,
            create_time: Some(timestamp(o.created_ms)),
            update_time: Some(timestamp(o.updated_ms)),
            cancelled_by: o
                .cancelled_by
                .map(cancelled_by)
                .unwrap_or(pb::CancelledBy::Unspecified) as i32,
            cancel_reason: o.cancel_reason.clone(),
            fare_cents: o.fare_cents,
            paid_by: o
                .paid_by
                .map(payment)
                .unwrap_or(pb::PaymentMethod::Unspecified) as i32,
            offers_made: o.offers,
            priority: o.priority,
            callback_resolution: o.callback_resolution.as_ref().map(resolution),
            privacy_number: o.privacy_number.clone(),
            // Why there is none is for operators; the others see the masked number.
            privacy_number_unavailable: match (masked, o.privacy_unavailable) {
                (false, Some(u)) => u.explain().to_string(),
                _ => String::new(),
            },
        }
    }

    /// A caller on the wire, for operators, with the older-passenger verdict as of `today`.
    pub fn caller(c: &CallerRecord, today: chrono::NaiveDate) -> pb::Caller {
        let reason = taxi_domain::priority::elderly_reason(&facts(c), today);
        pb::Caller {
            phone: c.phone.clone(),
            name: c.name.clone(),
            has_resident_id: c.birth.is_some(),
            age: c
                .birth
                .map(|b| taxi_domain::resident_id::age_on(b, today))
                .unwrap_or(0),
            care_contacts: c.contacts.clone(),
            saved_places: c
                .places
                .iter()
                .map(|p| pb::SavedPlace {
                    name: p.name.clone(),
                    place: Some(pb::Place {
                        location: Some(pb::LatLng {
                            latitude: p.lat,
                            longitude: p.lon,
                            datum: pb::Datum::Wgs84 as i32,
                        }),
                        address: p.address.clone(),
                    }),
                })
                .collect(),
            needs: c.needs.iter().map(|n| need(*n) as i32).collect(),
            elderly_flag: c.elderly_flag,
            notes: c.notes.clone(),
            elderly: reason.is_some(),
            elderly_reason: elderly_reason(reason) as i32,
            has_one_key_device: !c.devices.is_empty(),
            create_time: Some(timestamp(c.created_ms)),
            update_time: Some(timestamp(c.updated_ms)),
            notify_channel: notify_channel(c.notify) as i32,
        }
    }

    /// The facts about a caller that bear on priority.
    pub fn facts(c: &CallerRecord) -> taxi_domain::priority::PassengerFacts {
        taxi_domain::priority::PassengerFacts {
            birth_date: c.birth,
            operator_flag: c.elderly_flag,
            one_key_device: !c.devices.is_empty(),
        }
    }

    /// An alert on the wire (for operators).
    pub fn alert(a: &AlertRecord) -> pb::Alert {
        pb::Alert {
            alert_id: a.id.clone(),
            device_id: a.device.clone(),
            caller_phone: a.phone.clone(),
            caller_name: a.name.clone(),
            location: Some(place_to(&a.location)),
            care_contacts: a.contacts.clone(),
            raise_time: Some(timestamp(a.raised_ms)),
            acknowledged: a.acknowledged,
            acknowledged_by: a.acknowledged_by.clone(),
            acknowledge_time: (a.acknowledged_ms > 0).then(|| timestamp(a.acknowledged_ms)),
            note: a.note.clone(),
            location_time: a.location_ms.map(timestamp),
            location_source: if a.location_ms.is_some() {
                pb::LocationSource::DeviceFix
            } else {
                pb::LocationSource::Home
            } as i32,
            state: alert_state(a.state) as i32,
            resolution: a.resolution.as_ref().map(resolution),
            order_id: a.order.clone(),
            taxi_id: a.taxi.clone(),
        }
    }

    /// An alert's state on the wire.
    pub fn alert_state(s: AlertState) -> pb::AlertState {
        match s {
            AlertState::Open => pb::AlertState::Open,
            AlertState::Acknowledged => pb::AlertState::Acknowledged,
            AlertState::Resolved => pb::AlertState::Resolved,
        }
    }

    /// How an operator closed a call-back or an alert.
    pub fn resolution(r: &ResolutionRec) -> pb::Resolution {
        pb::Resolution {
            operator_id: r.by.clone(),
            resolve_time: Some(timestamp(r.at_ms)),
            outcome: r.outcome.clone(),
        }
    }
}

pub use orders::*;

/// An abandoned call's call-back task, as operators see it (number in full).
pub fn call_callback(c: &taxi_store::callcentre::CallRecord) -> pb::CallCallback {
    let at = c.finished_ms.unwrap_or(c.arrived_ms);
    let waited = (at - c.arrived_ms).max(0);
    pb::CallCallback {
        call_id: c.id.clone(),
        calling_number: c.phone.clone(),
        elderly: c.elderly,
        had_active_order: c.had_order,
        reason: CALLBACK_REASON_ABANDONED.to_string(),
        abandoned_time: Some(timestamp(at)),
        waited: Some(taxi_proto::Duration {
            seconds: waited / 1000,
            nanos: ((waited % 1000) * 1_000_000) as i32,
        }),
    }
}

/// The reason a call-back task of an abandoned call gives.
pub const CALLBACK_REASON_ABANDONED: &str = "abandoned call";
