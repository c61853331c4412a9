//! The kinds of record in the audit trail, each named once.
//!
//! Every transition of an order or a taxi is appended to the city's event stream under
//! the name its event carries ([`crate::order::OrderEvent::audit`],
//! [`crate::taxi::TaxiEvent::audit`]); the few records that are not transitions (a taxi
//! registered, an order created) have kinds of their own here. No caller passes a free
//! string into the trail.

/// What an audit record says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditKind {
    /// A taxi was registered.
    TaxiRegistered,
    /// A driver started a shift.
    TaxiSignedOn,
    /// A driver ended a shift, or dispatch signed off a taxi that missed offers, or an
    /// operator redispatched the order of a taxi that never reached the pickup.
    TaxiSignedOff,
    /// A street hail started.
    StreetHailStarted,
    /// A street hail ended.
    StreetHailEnded,
    /// An order was created.
    OrderCreated,
    /// A reservation entered dispatch.
    OrderReleased,
    /// Dispatch offered an order to a taxi.
    OfferMade,
    /// A driver accepted an offer.
    OfferAccepted,
    /// A driver declined an offer.
    OfferDeclined,
    /// An offer was not answered in time.
    OfferExpired,
    /// An order went back to the dispatch queue.
    OrderRequeued,
    /// A taxi lost the order it held (taken by another taxi, assigned by hand, cancelled).
    TaxiReleased,
    /// An operator assigned an order by hand.
    OrderAssigned,
    /// The taxi reached the pickup.
    TaxiArrived,
    /// The passenger boarded.
    TripStarted,
    /// The trip ended and was paid.
    TripCompleted,
    /// An order was cancelled.
    OrderCancelled,
    /// Dispatch gave up on an order.
    OrderUnfulfilled,
    /// A one-key device was registered.
    DeviceRegistered,
    /// A long press raised an emergency alert.
    AlertRaised,
    /// An operator acknowledged an alert.
    AlertAcknowledged,
    /// The watchdog found a trip stuck: its taxi did not arrive, or the trip did not
    /// start, in time (`taxi_domain::watchdog`).
    OrderStuck,
    /// An operator took a stuck trip back from its taxi and put it back in the queue.
    OrderRedispatched,
    /// Dispatch could not reach Redis for a while; that time does not count against
    /// waiting orders (`taxi_domain::outage`).
    DispatchPaused,
    /// An operator resolved an alert.
    AlertResolved,
    /// An operator resolved the call-back of an unfulfilled order.
    CallbackResolved,
    /// A call reached the call queue.
    CallArrived,
    /// Routing gave a call to a seat.
    CallOffered,
    /// A seat answered a call.
    CallAnswered,
    /// A caller hung up in the queue.
    CallAbandoned,
    /// A seat sent its call back to the queue.
    CallTransferred,
    /// An answered call ended.
    CallEnded,
    /// A ringing seat stepped away; its call waits again.
    CallRequeued,
    /// An operator closed an abandoned call's call-back.
    CallCallbackResolved,
    /// A seat changed state (`to`: the new state's code).
    SeatChanged,
}

impl AuditKind {
    /// Every kind.
    pub const ALL: [AuditKind; 36] = [
        AuditKind::TaxiRegistered,
        AuditKind::TaxiSignedOn,
        AuditKind::TaxiSignedOff,
        AuditKind::StreetHailStarted,
        AuditKind::StreetHailEnded,
        AuditKind::OrderCreated,
        AuditKind::OrderReleased,
        AuditKind::OfferMade,
        AuditKind::OfferAccepted,
        AuditKind::OfferDeclined,
        AuditKind::OfferExpired,
        AuditKind::OrderRequeued,
        AuditKind::TaxiReleased,
        AuditKind::OrderAssigned,
        AuditKind::TaxiArrived,
        AuditKind::TripStarted,
        AuditKind::TripCompleted,
        AuditKind::OrderCancelled,
        AuditKind::OrderUnfulfilled,
        AuditKind::DeviceRegistered,
        AuditKind::AlertRaised,
        AuditKind::AlertAcknowledged,
        AuditKind::OrderStuck,
        AuditKind::OrderRedispatched,
        AuditKind::DispatchPaused,
        AuditKind::AlertResolved,
        AuditKind::CallbackResolved,
        AuditKind::CallArrived,
        AuditKind::CallOffered,
        AuditKind::CallAnswered,
        AuditKind::CallAbandoned,
        AuditKind::CallTransferred,
        AuditKind::CallEnded,
        AuditKind::CallRequeued,
        AuditKind::CallCallbackResolved,
        AuditKind::SeatChanged,
    ];

    /// The name stored in the trail's `type` field.
    pub fn code(self) -> &'static str {
        match self {
            AuditKind::TaxiRegistered => "taxi_registered",
            AuditKind::TaxiSignedOn => "taxi_signed_on",
            AuditKind::TaxiSignedOff => "taxi_signed_off",
            AuditKind::StreetHailStarted => "street_hail_started",
            AuditKind::StreetHailEnded => "street_hail_ended",
            AuditKind::OrderCreated => "order_created",
            AuditKind::OrderReleased => "order_released",
            AuditKind::OfferMade => "offer_made",
            AuditKind::OfferAccepted => "offer_accepted",
            AuditKind::OfferDeclined => "offer_declined",
            AuditKind::OfferExpired => "offer_expired",
            AuditKind::OrderRequeued => "order_requeued",
            AuditKind::TaxiReleased => "taxi_released",
            AuditKind::OrderAssigned => "order_assigned",
            AuditKind::TaxiArrived => "taxi_arrived",
            AuditKind::TripStarted => "trip_started",
            AuditKind::TripCompleted => "trip_completed",
            AuditKind::OrderCancelled => "order_cancelled",
            AuditKind::OrderUnfulfilled => "order_unfulfilled",
            AuditKind::DeviceRegistered => "device_registered",
            AuditKind::AlertRaised => "alert_raised",
            AuditKind::AlertAcknowledged => "alert_acknowledged",
            AuditKind::OrderStuck => "order_stuck",
            AuditKind::OrderRedispatched => "order_redispatched",
            AuditKind::DispatchPaused => "dispatch_paused",
            AuditKind::AlertResolved => "alert_resolved",
            AuditKind::CallbackResolved => "callback_resolved",
            AuditKind::CallArrived => "call_arrived",
            AuditKind::CallOffered => "call_offered",
            AuditKind::CallAnswered => "call_answered",
            AuditKind::CallAbandoned => "call_abandoned",
            AuditKind::CallTransferred => "call_transferred",
            AuditKind::CallEnded => "call_ended",
            AuditKind::CallRequeued => "call_requeued",
            AuditKind::CallCallbackResolved => "call_callback_resolved",
            AuditKind::SeatChanged => "seat_changed",
        }
    }

    /// Parses a stored name.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_round_trip() {
        let names: HashSet<_> = AuditKind::ALL.iter().map(|k| k.code()).collect();
        assert_eq!(names.len(), AuditKind::ALL.len());
        for k in AuditKind::ALL {
            assert_eq!(AuditKind::from_code(k.code()), Some(k));
        }
    }
}
