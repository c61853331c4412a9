//! Request checks for the call centre: callers and bookings. Everything is checked before
//! anything is written.

use taxi_domain::FieldError;
use taxi_domain::booking::{Channel, Need, Payment, merge_needs};
use taxi_domain::resident_id::ResidentId;
use taxi_domain::settings::Settings;
use taxi_domain::validate::{self, Phone};
use taxi_edge::ApiError;
use taxi_edge::convert;
use taxi_proto::v1 as pb;
use taxi_store::callers::{CallerProfile, CallerRecord, SavedPlace};
use taxi_store::orders::PlaceRec;

/// Most care contacts per caller.
pub const MAX_CONTACTS: usize = 5;
/// Most saved places per caller.
pub const MAX_PLACES: usize = 20;
/// Most passengers in one taxi.
pub const MAX_PASSENGERS: u32 = 6;
/// Longest notes.
pub const MAX_NOTES: usize = 200;
/// Longest name.
pub const MAX_NAME: usize = 32;

/// Checks an `UpsertCaller` profile.
pub fn caller_profile(
    p: Option<&pb::CallerProfile>,
    today: chrono::NaiveDate,
) -> Result<CallerProfile, FieldError> {
    let Some(p) = p else {
        return Err(FieldError::new("caller", "is required"));
    };
    let phone = Phone::parse("caller.phone", &p.phone)?;
    let birth = if p.resident_id.trim().is_empty() {
        None
    } else {
        Some(ResidentId::parse("caller.resident_id", &p.resident_id, today)?.birth_date())
    };
    if p.care_contacts.len() > MAX_CONTACTS {
        return Err(FieldError::new(
            "caller.care_contacts",
            format!("at most {MAX_CONTACTS}"),
        ));
    }
    let mut contacts = Vec::new();
    for (i, c) in p.care_contacts.iter().enumerate() {
        let c = Phone::parse(&format!("caller.care_contacts[{i}]"), c)?;
        if c == phone {
            return Err(FieldError::new(
                format!("caller.care_contacts[{i}]"),
                "is the caller's own number",
            ));
        }
        if !contacts.contains(&c.as_str().to_string()) {
            contacts.push(c.as_str().to_string());
        }
    }
    if p.saved_places.len() > MAX_PLACES {
        return Err(FieldError::new(
            "caller.saved_places",
            format!("at most {MAX_PLACES}"),
        ));
    }
    let mut places: Vec<SavedPlace> = Vec::new();
    for (i, sp) in p.saved_places.iter().enumerate() {
        let field = format!("caller.saved_places[{i}]");
        let name = validate::required_text(&format!("{field}.name"), &sp.name, 20)?;
        if places.iter().any(|p| p.name == name) {
            return Err(FieldError::new(
                format!("{field}.name"),
                format!("`{name}` is used twice"),
            ));
        }
        let place = convert::place(&format!("{field}.place"), sp.place.as_ref())?;
        places.push(SavedPlace {
            name,
            lat: place.at.lat(),
            lon: place.at.lon(),
            address: place.address,
        });
    }
    Ok(CallerProfile {
        phone: phone.as_str().to_string(),
        name: validate::text("caller.name", &p.name, MAX_NAME)?,
        birth,
        contacts,
        places,
        needs: convert::needs_from("caller.needs", &p.needs)?,
        elderly_flag: p.elderly_flag,
        notes: validate::text("caller.notes", &p.notes, MAX_NOTES)?,
        notify: convert::notify_channel_from("caller.notify_channel", p.notify_channel)?,
    })
}

/// A booking channel for the call centre: OPERATOR, IVR or FAMILY_PROXY.
pub fn hotline_channel(value: i32) -> Result<Channel, FieldError> {
    let c = convert::known_enum::<pb::Channel>("channel", value, false)?;
    match convert::channel_from(c) {
        Some(Channel::OneKey) => Err(FieldError::new(
            "channel",
            "CHANNEL_ONE_KEY orders come through OneKeyService.PressButton",
        )),
        Some(c) => Ok(c),
        None => Err(FieldError::new("channel", "is required")),
    }
}

/// Who booked: the operator id (required for OPERATOR) and the proxy's phone (required for
/// FAMILY_PROXY).
pub fn booker(
    channel: Channel,
    operator_id: &str,
    booker_phone: &str,
) -> Result<(String, String), FieldError> {
    let operator = if operator_id.is_empty() {
        if channel == Channel::Operator {
            return Err(FieldError::new(
                "operator_id",
                "is required for CHANNEL_OPERATOR",
            ));
        }
        String::new()
    } else {
        validate::id("operator_id", operator_id)?
    };
    let booker = if booker_phone.is_empty() {
        if channel == Channel::FamilyProxy {
            return Err(FieldError::new(
                "booker_phone",
                "is required for CHANNEL_FAMILY_PROXY",
            ));
        }
        String::new()
    } else {
        Phone::parse("booker_phone", booker_phone)?
            .as_str()
            .to_string()
    };
    Ok((operator, booker))
}

/// The pickup time: unset is now; otherwise a reservation within the allowed window.
/// Returns (pickup ms, reservation).
pub fn pickup_time(
    ts: Option<&taxi_proto::Timestamp>,
    now_ms: i64,
    s: &Settings,
) -> Result<(i64, bool), FieldError> {
    let Some(ts) = ts else {
        return Ok((now_ms, false));
    };
    let at = convert::millis("pickup_time", ts)?;
    let min = s.reservation_min_ahead.as_millis() as i64;
    let max = s.reservation_max_ahead.as_millis() as i64;
    if at < now_ms {
        return Err(FieldError::new(
            "pickup_time",
            "is in the past; leave it unset for a taxi now",
        ));
    }
    if at < now_ms + min {
        return Err(FieldError::new(
            "pickup_time",
            format!(
                "a reservation must be at least {} minutes ahead; leave it unset for a taxi now",
                min / 60_000
            ),
        ));
    }
    if at > now_ms + max {
        return Err(FieldError::new(
            "pickup_time",
            format!(
                "a reservation may be at most {} days ahead",
                max / 86_400_000
            ),
        ));
    }
    Ok((at, true))
}

/// A place given either as a saved place's name or as coordinates plus address.
pub fn place_choice(
    saved_field: &str,
    saved: &str,
    place_field: &str,
    place: Option<&pb::Place>,
    caller: Option<&CallerRecord>,
    required: bool,
) -> Result<Option<PlaceRec>, ApiError> {
    match (saved.trim().is_empty(), place) {
        (false, Some(_)) => Err(ApiError::invalid(
            saved_field,
            format!("give {saved_field} or {place_field}, not both"),
        )),
        (false, None) => {
            let name = saved.trim();
            let found = caller.and_then(|c| c.place(name)).ok_or_else(|| {
                ApiError::NotFound(format!(
                    "{saved_field}: the caller has no saved place named `{name}`"
                ))
            })?;
            let at = taxi_domain::Coordinates::new(found.lat, found.lon)
                .map_err(|e| e.within(saved_field))?;
            Ok(Some(PlaceRec {
                at,
                address: found.address.clone(),
            }))
        }
        (true, Some(p)) => Ok(Some(convert::place(place_field, Some(p))?)),
        (true, None) if required => Err(ApiError::invalid(
            place_field,
            format!("is required (or name a saved place in {saved_field})"),
        )),
        (true, None) => Ok(None),
    }
}

/// Checks that a pickup lies in the city's service area.
pub fn in_service_area(field: &str, p: &PlaceRec, s: &Settings) -> Result<(), FieldError> {
    if s.city.service_area.contains(&p.at) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("is outside the service area of {}", s.city.name),
        ))
    }
}

/// The small fields of a booking: passengers, notes, payment, needs, request id, name.
#[derive(Debug)]
pub struct Extras {
    /// Passengers (1 to 6).
    pub passengers: u32,
    /// Notes.
    pub notes: String,
    /// Payment.
    pub payment: Payment,
    /// Needs of this trip.
    pub needs: Vec<Need>,
    /// Idempotency key.
    pub request_id: Option<String>,
}

/// Checks the small fields of a `CreateBookingRequest`.
pub fn extras(r: &pb::CreateBookingRequest) -> Result<Extras, FieldError> {
    let passengers = match r.passenger_count {
        0 => 1,
        n if n > MAX_PASSENGERS => {
            return Err(FieldError::new(
                "passenger_count",
                format!("at most {MAX_PASSENGERS}"),
            ));
        }
        n => n,
    };
    Ok(Extras {
        passengers,
        notes: validate::text("notes", &r.notes, MAX_NOTES)?,
        payment: convert::payment_from("payment", r.payment, Payment::Cash)?,
        needs: convert::needs_from("needs", &r.needs)?,
        request_id: request_id(&r.request_id)?,
    })
}

/// An optional request id.
pub fn request_id(r: &str) -> Result<Option<String>, FieldError> {
    if r.is_empty() {
        Ok(None)
    } else {
        validate::id("request_id", r).map(Some)
    }
}

/// The needs of a trip: the caller's own and the booking's.
pub fn trip_needs(caller: Option<&CallerRecord>, extra: &[Need]) -> Vec<Need> {
    merge_needs(caller.map(|c| c.needs.as_slice()).unwrap_or(&[]), extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    #[test]
    fn reservation_window() {
        let s = Settings::default();
        let now = 1_700_000_000_000;
        let ts = |ms: i64| convert::timestamp(ms);
        assert_eq!(pickup_time(None, now, &s).unwrap(), (now, false));
        assert!(
            pickup_time(Some(&ts(now - 1000)), now, &s)
                .unwrap_err()
                .reason
                .contains("past")
        );
        assert!(
            pickup_time(Some(&ts(now + 5 * 60_000)), now, &s)
                .unwrap_err()
                .reason
                .contains("10 minutes")
        );
        assert_eq!(
            pickup_time(Some(&ts(now + 11 * 60_000)), now, &s).unwrap(),
            (now + 11 * 60_000, true)
        );
        assert!(
            pickup_time(Some(&ts(now + 8 * 86_400_000)), now, &s)
                .unwrap_err()
                .reason
                .contains("7 days")
        );
    }

    #[test]
    fn channels_and_bookers() {
        assert_eq!(hotline_channel(1).unwrap(), Channel::Operator);
        assert_eq!(hotline_channel(0).unwrap_err().field, "channel");
        assert!(
            hotline_channel(4)
                .unwrap_err()
                .reason
                .contains("PressButton")
        );
        assert!(hotline_channel(99).is_err());
        assert_eq!(
            booker(Channel::Operator, "", "").unwrap_err().field,
            "operator_id"
        );
        assert_eq!(
            booker(Channel::FamilyProxy, "", "").unwrap_err().field,
            "booker_phone"
        );
        assert_eq!(
            booker(Channel::FamilyProxy, "", "bad").unwrap_err().field,
            "booker_phone"
        );
        assert_eq!(
            booker(Channel::FamilyProxy, "", "139 0000 1111").unwrap(),
            (String::new(), "13900001111".to_string())
        );
        assert!(booker(Channel::Ivr, "", "").is_ok());
    }

    #[test]
    fn caller_profiles() {
        let good = || pb::CallerProfile {
            phone: "13812345678".into(),
            name: "张大爷".into(),
            resident_id: "11010519491231002X".into(),
            care_contacts: vec!["13900001111".into()],
            ..Default::default()
        };
        let p = caller_profile(Some(&good()), today()).unwrap();
        assert_eq!(p.birth, chrono::NaiveDate::from_ymd_opt(1949, 12, 31));
        let bad: Vec<(pb::CallerProfile, &str)> = vec![
            (
                pb::CallerProfile {
                    phone: "123".into(),
                    ..good()
                },
                "caller.phone",
            ),
            (
                pb::CallerProfile {
                    resident_id: "110105194912310021".into(),
                    ..good()
                },
                "caller.resident_id",
            ),
            (
                pb::CallerProfile {
                    care_contacts: vec!["x".into()],
                    ..good()
                },
                "caller.care_contacts[0]",
            ),
            (
                pb::CallerProfile {
                    care_contacts: vec!["13812345678".into()],
                    ..good()
                },
                "caller.care_contacts[0]",
            ),
            (
                pb::CallerProfile {
                    name: "名".repeat(40),
                    ..good()
                },
                "caller.name",
            ),
            (
                pb::CallerProfile {
                    needs: vec![0],
                    ..good()
                },
                "caller.needs[0]",
            ),
            (
                pb::CallerProfile {
                    saved_places: vec![pb::SavedPlace {
                        name: "home".into(),
                        place: None,
                    }],
                    ..good()
                },
                "caller.saved_places[0].place",
            ),
        ];
        for (p, field) in bad {
            assert_eq!(caller_profile(Some(&p), today()).unwrap_err().field, field);
        }
        assert_eq!(caller_profile(None, today()).unwrap_err().field, "caller");
    }
}
