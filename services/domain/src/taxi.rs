//! The taxi state machine.
//!
//! The rules live here and only here. The store generates the Lua prelude of its atomic
//! scripts from [`TaxiState::ALL`] and [`TaxiEvent::ALL`], so Redis enforces exactly these
//! rules without a second copy of them in Lua.

use crate::audit::AuditKind;

/// Where a taxi is in its shift, as dispatch sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaxiState {
    /// Signed off: not matchable, positions refused.
    OffDuty,
    /// Cruising and available: the only state in the free geo index.
    Free,
    /// Holding an unanswered offer.
    Offered,
    /// Driving to, or waiting at, a dispatched pickup.
    Assigned,
    /// Carrying a passenger.
    Occupied,
}

impl TaxiState {
    /// Every state, for exhaustive tests and parsing.
    pub const ALL: [TaxiState; 5] = [
        TaxiState::OffDuty,
        TaxiState::Free,
        TaxiState::Offered,
        TaxiState::Assigned,
        TaxiState::Occupied,
    ];

    /// The short code stored in Redis.
    pub fn code(self) -> &'static str {
        match self {
            TaxiState::OffDuty => "off",
            TaxiState::Free => "free",
            TaxiState::Offered => "offered",
            TaxiState::Assigned => "assigned",
            TaxiState::Occupied => "occupied",
        }
    }

    /// Parses a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Whether the taxi is on shift (positions are accepted).
    pub fn on_duty(self) -> bool {
        self != TaxiState::OffDuty
    }
}

/// Something that happens to a taxi.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaxiEvent {
    /// The driver starts a shift.
    SignOn,
    /// The driver ends a shift (or dispatch ends it after missed offers).
    SignOff,
    /// A passenger hails the taxi in the street.
    StartStreetHail,
    /// The street-hail trip ends.
    EndStreetHail,
    /// Dispatch offers it an order.
    Offer,
    /// The driver accepts the offer.
    Accept,
    /// The driver declines the offer.
    Decline,
    /// The offer was not answered in time.
    MissOffer,
    /// The order it held went elsewhere: taken by another taxi, assigned by an operator,
    /// or cancelled.
    Release,
    /// An operator assigns the taxi by hand.
    ManualAssign,
    /// The taxi reaches the pickup.
    Arrive,
    /// The dispatched passenger boards.
    StartTrip,
    /// The dispatched trip ends.
    CompleteTrip,
    /// An operator took back the order of a driver who never reached the pickup: the
    /// taxi is signed off until its driver signs on again (`watchdog::taxi_on_redispatch`).
    Dismiss,
}

impl TaxiEvent {
    /// Every event.
    pub const ALL: [TaxiEvent; 14] = [
        TaxiEvent::SignOn,
        TaxiEvent::SignOff,
        TaxiEvent::StartStreetHail,
        TaxiEvent::EndStreetHail,
        TaxiEvent::Offer,
        TaxiEvent::Accept,
        TaxiEvent::Decline,
        TaxiEvent::MissOffer,
        TaxiEvent::Release,
        TaxiEvent::ManualAssign,
        TaxiEvent::Arrive,
        TaxiEvent::StartTrip,
        TaxiEvent::CompleteTrip,
        TaxiEvent::Dismiss,
    ];

    /// The event's name in the scripts' prelude (`TAXI.<code>`).
    pub fn code(self) -> &'static str {
        match self {
            TaxiEvent::SignOn => "sign_on",
            TaxiEvent::SignOff => "sign_off",
            TaxiEvent::StartStreetHail => "start_street_hail",
            TaxiEvent::EndStreetHail => "end_street_hail",
            TaxiEvent::Offer => "offer",
            TaxiEvent::Accept => "accept",
            TaxiEvent::Decline => "decline",
            TaxiEvent::MissOffer => "miss_offer",
            TaxiEvent::Release => "release",
            TaxiEvent::ManualAssign => "manual_assign",
            TaxiEvent::Arrive => "arrive",
            TaxiEvent::StartTrip => "start_trip",
            TaxiEvent::CompleteTrip => "complete_trip",
            TaxiEvent::Dismiss => "dismiss",
        }
    }

    /// The name of the audit record this event writes.
    pub fn audit(self) -> AuditKind {
        match self {
            TaxiEvent::SignOn => AuditKind::TaxiSignedOn,
            TaxiEvent::SignOff => AuditKind::TaxiSignedOff,
            TaxiEvent::StartStreetHail => AuditKind::StreetHailStarted,
            TaxiEvent::EndStreetHail => AuditKind::StreetHailEnded,
            TaxiEvent::Offer => AuditKind::OfferMade,
            TaxiEvent::Accept => AuditKind::OfferAccepted,
            TaxiEvent::Decline => AuditKind::OfferDeclined,
            TaxiEvent::MissOffer => AuditKind::OfferExpired,
            TaxiEvent::Release => AuditKind::TaxiReleased,
            TaxiEvent::ManualAssign => AuditKind::OrderAssigned,
            TaxiEvent::Arrive => AuditKind::TaxiArrived,
            TaxiEvent::StartTrip => AuditKind::TripStarted,
            TaxiEvent::CompleteTrip => AuditKind::TripCompleted,
            TaxiEvent::Dismiss => AuditKind::TaxiSignedOff,
        }
    }

    /// The states this event may start from.
    pub fn allowed_from(self) -> &'static [TaxiState] {
        use TaxiState::*;
        match self {
            TaxiEvent::SignOn => &[OffDuty, Free],
            TaxiEvent::SignOff => &[OffDuty, Free],
            TaxiEvent::StartStreetHail => &[Free],
            TaxiEvent::EndStreetHail => &[Occupied],
            TaxiEvent::Offer => &[Free],
            TaxiEvent::Accept => &[Offered],
            TaxiEvent::Decline => &[Offered],
            TaxiEvent::MissOffer => &[Offered],
            TaxiEvent::Release => &[Offered, Assigned],
            TaxiEvent::ManualAssign => &[Free],
            TaxiEvent::Arrive => &[Assigned],
            TaxiEvent::StartTrip => &[Assigned],
            TaxiEvent::CompleteTrip => &[Occupied],
            TaxiEvent::Dismiss => &[Assigned],
        }
    }

    /// The state the event leads to.
    pub fn target(self) -> TaxiState {
        use TaxiState::*;
        match self {
            TaxiEvent::SignOn => Free,
            TaxiEvent::SignOff => OffDuty,
            TaxiEvent::StartStreetHail => Occupied,
            TaxiEvent::EndStreetHail => Free,
            TaxiEvent::Offer => Offered,
            TaxiEvent::Accept => Assigned,
            TaxiEvent::Decline => Free,
            TaxiEvent::MissOffer => Free,
            TaxiEvent::Release => Free,
            TaxiEvent::ManualAssign => Assigned,
            TaxiEvent::Arrive => Assigned,
            TaxiEvent::StartTrip => Occupied,
            TaxiEvent::CompleteTrip => Free,
            TaxiEvent::Dismiss => OffDuty,
        }
    }

    /// Applies the event to `state`, or says why it cannot be.
    pub fn apply(self, state: TaxiState) -> Result<TaxiState, String> {
        if self.allowed_from().contains(&state) {
            Ok(self.target())
        } else {
            Err(refusal(self, state))
        }
    }
}

/// The plain-words reason an event is refused in a state, for FAILED_PRECONDITION replies.
pub fn refusal(event: TaxiEvent, state: TaxiState) -> String {
    let what = match state {
        TaxiState::OffDuty => "is off duty (sign on first)",
        TaxiState::Free => "is free",
        TaxiState::Offered => "holds an unanswered offer (accept or decline it first)",
        TaxiState::Assigned => "is assigned to an order",
        TaxiState::Occupied => "is carrying a passenger",
    };
    format!("taxi {what}; cannot {event:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENTS: [TaxiEvent; 14] = TaxiEvent::ALL;

    #[test]
    fn codes_round_trip() {
        for s in TaxiState::ALL {
            assert_eq!(TaxiState::from_code(s.code()), Some(s));
        }
        assert_eq!(TaxiState::from_code("nope"), None);
        let codes: std::collections::HashSet<_> = EVENTS.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), EVENTS.len());
    }

    /// The whole table, event by state: what is allowed and where it leads.
    #[test]
    fn transition_table() {
        use TaxiState::*;
        let expected: &[(TaxiEvent, TaxiState, Option<TaxiState>)] = &[
            (TaxiEvent::SignOn, OffDuty, Some(Free)),
            (TaxiEvent::SignOn, Free, Some(Free)),
            (TaxiEvent::SignOff, Free, Some(OffDuty)),
            (TaxiEvent::SignOff, OffDuty, Some(OffDuty)),
            (TaxiEvent::StartStreetHail, Free, Some(Occupied)),
            (TaxiEvent::EndStreetHail, Occupied, Some(Free)),
            (TaxiEvent::Offer, Free, Some(Offered)),
            (TaxiEvent::Accept, Offered, Some(Assigned)),
            (TaxiEvent::Decline, Offered, Some(Free)),
            (TaxiEvent::MissOffer, Offered, Some(Free)),
            (TaxiEvent::Release, Offered, Some(Free)),
            (TaxiEvent::Release, Assigned, Some(Free)),
            (TaxiEvent::ManualAssign, Free, Some(Assigned)),
            (TaxiEvent::Arrive, Assigned, Some(Assigned)),
            (TaxiEvent::StartTrip, Assigned, Some(Occupied)),
            (TaxiEvent::CompleteTrip, Occupied, Some(Free)),
            (TaxiEvent::Dismiss, Assigned, Some(OffDuty)),
        ];
        for event in EVENTS {
            for state in TaxiState::ALL {
                let want = expected
                    .iter()
                    .find(|(e, s, _)| *e == event && *s == state)
                    .and_then(|(_, _, t)| *t);
                assert_eq!(event.apply(state).ok(), want, "{event:?} from {state:?}");
            }
        }
    }

    #[test]
    fn busy_taxis_cannot_sign_off_or_be_hailed() {
        for busy in [TaxiState::Offered, TaxiState::Assigned, TaxiState::Occupied] {
            assert!(TaxiEvent::SignOff.apply(busy).is_err());
            assert!(TaxiEvent::StartStreetHail.apply(busy).is_err());
        }
        assert!(
            TaxiEvent::StartStreetHail
                .apply(TaxiState::OffDuty)
                .unwrap_err()
                .contains("off duty")
        );
    }
}
