//! What a relative may do here: book for the older person who granted access, and follow
//! that person's trips, nothing else (the policy table denies every other RPC).
//!
//! The handlers call these helpers when the caller is a relative; for every other role
//! they change nothing.
//!
//! Decisions:
//! - A relative's booking is `CHANNEL_FAMILY_PROXY` with the relative's own phone as the
//!   booker, taken from the grant; a request that claims another channel, booker or
//!   operator is refused (PERMISSION_DENIED naming the field), as is one for another
//!   passenger (naming `caller_phone`).
//! - Another passenger's order answers exactly as an unknown id does (NOT_FOUND), so a
//!   relative cannot probe which order ids exist.
//! - "The trip's status and nothing else" ([`status_view`]): the order id, status,
//!   channel, pickup and drop-off, pickup time, the taxi once one accepted (plate, colour,
//!   driver's surname, ETA: what the older person's device would say), when it was made
//!   and last changed, and who cancelled it. The passenger's phone is masked; the name,
//!   needs, notes, payment and fare, operator, booker, device, priority and follow-up are
//!   left out. Care contacts are never on an order.

use taxi_auth::{Identity, Role};
use taxi_domain::validate::{Phone, mask_phone};
use taxi_edge::{ApiError, ApiResult};
use taxi_proto::v1 as pb;
use taxi_store::orders::OrderRecord;
use taxi_store::{Entity, Store, StoreError};

/// A relative calling, as the grant says.
#[derive(Debug, Clone)]
pub struct Relative {
    /// The relative's id.
    pub id: String,
    /// The older person's canonical phone.
    pub passenger: String,
    /// The relative's own canonical phone (the booker of its bookings).
    pub phone: String,
}

/// The relative behind `who`, if it is one; `None` for every other role. A grant that was
/// withdrawn meanwhile is UNAUTHENTICATED.
pub async fn of(store: &Store, who: &Identity) -> ApiResult<Option<Relative>> {
    if who.role != Role::Relative {
        return Ok(None);
    }
    let gone = || ApiError::Unauthenticated("the relative's access was withdrawn".into());
    let rel = store.relative(&who.id).await?.ok_or_else(gone)?;
    // The token and the grant name the same person (a grant never changes passenger).
    if who.passenger.as_deref() != Some(rel.passenger.as_str()) {
        return Err(gone());
    }
    Ok(Some(Relative {
        id: rel.id,
        passenger: rel.passenger,
        phone: rel.phone,
    }))
}

impl Relative {
    /// Refuses a phone field that names anyone but the granted passenger.
    pub fn check_passenger(&self, field: &str, phone: &Phone) -> ApiResult<()> {
        if phone.as_str() == self.passenger {
            Ok(())
        } else {
            Err(ApiError::denied(
                field,
                "a relative books and sees only the person who granted access",
            ))
        }
    }

    /// Refuses identity fields of a booking that disagree with the grant: a channel other
    /// than FAMILY_PROXY, an operator id, a booker other than the relative.
    pub fn check_booker(
        &self,
        channel: i32,
        operator_id: &str,
        booker_phone: &str,
    ) -> ApiResult<()> {
        if channel != pb::Channel::Unspecified as i32 && channel != pb::Channel::FamilyProxy as i32
        {
            return Err(ApiError::denied(
                "channel",
                "a relative books as CHANNEL_FAMILY_PROXY",
            ));
        }
        if !operator_id.is_empty() {
            return Err(ApiError::denied(
                "operator_id",
                "a relative is not an operator",
            ));
        }
        if !booker_phone.is_empty()
            && Phone::parse("booker_phone", booker_phone)?.as_str() != self.phone
        {
            return Err(ApiError::denied(
                "booker_phone",
                "a relative books under its own phone",
            ));
        }
        Ok(())
    }

    /// Checks a booking request and fills its identity fields from the grant.
    pub fn own_booking(&self, r: &mut pb::CreateBookingRequest) -> ApiResult<()> {
        self.check_passenger(
            "caller_phone",
            &Phone::parse("caller_phone", &r.caller_phone)?,
        )?;
        self.check_booker(r.channel, &r.operator_id, &r.booker_phone)?;
        r.channel = pb::Channel::FamilyProxy as i32;
        r.booker_phone = self.phone.clone();
        Ok(())
    }

    /// An order the relative may see, or NOT_FOUND exactly as for an unknown id.
    pub fn check_order(&self, o: &OrderRecord) -> ApiResult<()> {
        if o.phone == self.passenger {
            Ok(())
        } else {
            Err(StoreError::NotFound {
                what: Entity::Order,
                id: o.id.clone(),
            }
            .into())
        }
    }
}

/// The trip's status and nothing else (see the module's decisions).
pub fn status_view(o: pb::Order) -> pb::Order {
    pb::Order {
        order_id: o.order_id,
        status: o.status,
        channel: o.channel,
        passenger_phone: mask_phone(&o.passenger_phone),
        pickup: o.pickup,
        dropoff: o.dropoff,
        pickup_time: o.pickup_time,
        reservation: o.reservation,
        taxi: o.taxi,
        create_time: o.create_time,
        update_time: o.update_time,
        cancelled_by: o.cancelled_by,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel() -> Relative {
        Relative {
            id: "R1".into(),
            passenger: "13512345678".into(),
            phone: "13900002222".into(),
        }
    }

    #[test]
    fn bookings_are_the_grants() {
        let mut r = pb::CreateBookingRequest {
            caller_phone: "135 1234 5678".into(),
            ..Default::default()
        };
        rel().own_booking(&mut r).unwrap();
        assert_eq!(r.channel, pb::Channel::FamilyProxy as i32);
        assert_eq!(r.booker_phone, "13900002222");
        let refused = |r: pb::CreateBookingRequest| match rel().own_booking(&mut r.clone()) {
            Err(ApiError::PermissionDenied(m)) => m,
            other => panic!("{other:?}"),
        };
        let ok = || pb::CreateBookingRequest {
            caller_phone: "13512345678".into(),
            ..Default::default()
        };
        let m = refused(pb::CreateBookingRequest {
            caller_phone: "13600001111".into(),
            ..ok()
        });
        assert!(m.starts_with("caller_phone:"), "{m}");
        let m = refused(pb::CreateBookingRequest {
            channel: pb::Channel::Operator as i32,
            ..ok()
        });
        assert!(m.starts_with("channel:"), "{m}");
        let m = refused(pb::CreateBookingRequest {
            operator_id: "op-1".into(),
            ..ok()
        });
        assert!(m.starts_with("operator_id:"), "{m}");
        let m = refused(pb::CreateBookingRequest {
            booker_phone: "13700000000".into(),
            ..ok()
        });
        assert!(m.starts_with("booker_phone:"), "{m}");
    }

    #[test]
    fn the_status_view_keeps_the_trip_only() {
        let full = pb::Order {
            order_id: "O1".into(),
            status: pb::OrderStatus::Accepted as i32,
            passenger_phone: "13512345678".into(),
            passenger_name: "陈爷爷".into(),
            notes: "walking aid, door code 1234".into(),
            operator_id: "op-1".into(),
            booker_phone: "13900002222".into(),
            device_id: "D1".into(),
            fare_cents: 100,
            priority: 7,
            taxi: Some(pb::AssignedTaxi::default()),
            ..Default::default()
        };
        let v = status_view(full);
        assert_eq!(v.order_id, "O1");
        assert_eq!(v.status, pb::OrderStatus::Accepted as i32);
        assert_eq!(v.passenger_phone, "135****5678");
        assert!(v.taxi.is_some());
        assert!(v.passenger_name.is_empty() && v.notes.is_empty() && v.operator_id.is_empty());
        assert!(v.booker_phone.is_empty() && v.device_id.is_empty());
        assert_eq!((v.fare_cents, v.priority), (0, 0));
    }
}
