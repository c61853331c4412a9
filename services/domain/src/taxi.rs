//! The taxi state machine.
//!
//! The rules live here and only here. The store's atomic scripts receive the allowed
//! source states from [`TaxiEvent::allowed_from`] as arguments, so Redis enforces exactly
//! these rules without a second copy of them in Lua.

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
    /// The driver ends a shift.
    SignOff,
    /// A passenger hails the taxi in the street.
    StartStreetHail,
    /// The street-hail trip ends.
    EndStreetHail,
    /// Dispatch offers it an order.
    Offer,
    /// The driver accepts the offer.
    Accept,
    /// The offer is declined, expires or is withdrawn.
    Release,
    /// An operator assigns the taxi by hand.
    ManualAssign,
    /// The dispatched passenger boards.
    StartTrip,
    /// The dispatched trip ends.
    CompleteTrip,
    /// The dispatched order is cancelled before the trip starts.
    OrderCancelled,
}

impl TaxiEvent {
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
            TaxiEvent::Release => &[Offered],
            TaxiEvent::ManualAssign => &[Free],
            TaxiEvent::StartTrip => &[Assigned],
            TaxiEvent::CompleteTrip => &[Occupied],
            TaxiEvent::OrderCancelled => &[Offered, Assigned],
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
            TaxiEvent::Release => Free,
            TaxiEvent::ManualAssign => Assigned,
            TaxiEvent::StartTrip => Occupied,
            TaxiEvent::CompleteTrip => Free,
            TaxiEvent::OrderCancelled => Free,
        }
    }

    /// The allowed source states as stored codes joined by commas, for scripts.
    pub fn allowed_codes(self) -> String {
        self.allowed_from()
            .iter()
            .map(|s| s.code())
            .collect::<Vec<_>>()
            .join(",")
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

    const EVENTS: [TaxiEvent; 11] = [
        TaxiEvent::SignOn,
        TaxiEvent::SignOff,
        TaxiEvent::StartStreetHail,
        TaxiEvent::EndStreetHail,
        TaxiEvent::Offer,
        TaxiEvent::Accept,
        TaxiEvent::Release,
        TaxiEvent::ManualAssign,
        TaxiEvent::StartTrip,
        TaxiEvent::CompleteTrip,
        TaxiEvent::OrderCancelled,
    ];

    #[test]
    fn codes_round_trip() {
        for s in TaxiState::ALL {
            assert_eq!(TaxiState::from_code(s.code()), Some(s));
        }
        assert_eq!(TaxiState::from_code("nope"), None);
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
            (TaxiEvent::Release, Offered, Some(Free)),
            (TaxiEvent::ManualAssign, Free, Some(Assigned)),
            (TaxiEvent::StartTrip, Assigned, Some(Occupied)),
            (TaxiEvent::CompleteTrip, Occupied, Some(Free)),
            (TaxiEvent::OrderCancelled, Offered, Some(Free)),
            (TaxiEvent::OrderCancelled, Assigned, Some(Free)),
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

    #[test]
    fn allowed_codes_for_scripts() {
        assert_eq!(TaxiEvent::SignOn.allowed_codes(), "off,free");
        assert_eq!(
            TaxiEvent::OrderCancelled.allowed_codes(),
            "offered,assigned"
        );
    }
}
