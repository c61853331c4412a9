//! The order state machine.
//!
//! As for taxis, the rules live here and only here. The store generates the Lua prelude
//! of its scripts from [`OrderStatus::ALL`] and [`OrderEvent::ALL`] (codes, sources,
//! targets, audit names), so Redis enforces exactly these rules, atomically.

use crate::audit::AuditKind;

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// A reservation waiting for its time to enter dispatch.
    Scheduled,
    /// In the dispatch queue.
    Pending,
    /// Offered to a taxi that has not answered.
    Offered,
    /// A taxi accepted and is coming.
    Accepted,
    /// The taxi is at the pickup.
    Arrived,
    /// The passenger is on board.
    OnTrip,
    /// Done and paid.
    Completed,
    /// Cancelled before the trip started.
    Cancelled,
    /// No taxi was found in time.
    Unfulfilled,
}

impl OrderStatus {
    /// Every status.
    pub const ALL: [OrderStatus; 9] = [
        OrderStatus::Scheduled,
        OrderStatus::Pending,
        OrderStatus::Offered,
        OrderStatus::Accepted,
        OrderStatus::Arrived,
        OrderStatus::OnTrip,
        OrderStatus::Completed,
        OrderStatus::Cancelled,
        OrderStatus::Unfulfilled,
    ];

    /// The code stored in Redis.
    pub fn code(self) -> &'static str {
        match self {
            OrderStatus::Scheduled => "scheduled",
            OrderStatus::Pending => "pending",
            OrderStatus::Offered => "offered",
            OrderStatus::Accepted => "accepted",
            OrderStatus::Arrived => "arrived",
            OrderStatus::OnTrip => "on_trip",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Unfulfilled => "unfulfilled",
        }
    }

    /// Parses a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// How far a dispatched trip has got (accepted 1, arrived 2, on trip 3, completed 4),
    /// for orders on that path.
    pub fn trip_progress(self) -> Option<u8> {
        match self {
            OrderStatus::Accepted => Some(1),
            OrderStatus::Arrived => Some(2),
            OrderStatus::OnTrip => Some(3),
            OrderStatus::Completed => Some(4),
            _ => None,
        }
    }

    /// Whether the order has ended for good.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OrderStatus::Completed | OrderStatus::Cancelled | OrderStatus::Unfulfilled
        )
    }

    /// Whether the order is still in progress (the passenger's "active order").
    pub fn is_active(self) -> bool {
        !self.is_final()
    }
}

/// Something that happens to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvent {
    /// A reservation's time to enter dispatch has come.
    Release,
    /// Dispatch offers it to a taxi.
    Offer,
    /// A taxi accepts.
    Accept,
    /// The offer is declined, expires or its taxi goes away: back to the queue.
    Requeue,
    /// An operator assigns a taxi by hand.
    ManualAssign,
    /// The taxi reaches the pickup.
    Arrive,
    /// The passenger boards.
    StartTrip,
    /// The trip ends and is paid.
    Complete,
    /// Someone cancels.
    Cancel,
    /// Dispatch gives up.
    GiveUp,
    /// An operator takes a stuck trip (the taxi never arrived, or the trip never started)
    /// back from its taxi: back to the queue at its own priority.
    Redispatch,
}

impl OrderEvent {
    /// Every event.
    pub const ALL: [OrderEvent; 11] = [
        OrderEvent::Release,
        OrderEvent::Offer,
        OrderEvent::Accept,
        OrderEvent::Requeue,
        OrderEvent::ManualAssign,
        OrderEvent::Arrive,
        OrderEvent::StartTrip,
        OrderEvent::Complete,
        OrderEvent::Cancel,
        OrderEvent::GiveUp,
        OrderEvent::Redispatch,
    ];

    /// The event's name in the scripts' prelude (`ORDER.<code>`).
    pub fn code(self) -> &'static str {
        match self {
            OrderEvent::Release => "release",
            OrderEvent::Offer => "offer",
            OrderEvent::Accept => "accept",
            OrderEvent::Requeue => "requeue",
            OrderEvent::ManualAssign => "manual_assign",
            OrderEvent::Arrive => "arrive",
            OrderEvent::StartTrip => "start_trip",
            OrderEvent::Complete => "complete",
            OrderEvent::Cancel => "cancel",
            OrderEvent::GiveUp => "give_up",
            OrderEvent::Redispatch => "redispatch",
        }
    }

    /// The name of the audit record this event writes.
    pub fn audit(self) -> AuditKind {
        match self {
            OrderEvent::Release => AuditKind::OrderReleased,
            OrderEvent::Offer => AuditKind::OfferMade,
            OrderEvent::Accept => AuditKind::OfferAccepted,
            OrderEvent::Requeue => AuditKind::OrderRequeued,
            OrderEvent::ManualAssign => AuditKind::OrderAssigned,
            OrderEvent::Arrive => AuditKind::TaxiArrived,
            OrderEvent::StartTrip => AuditKind::TripStarted,
            OrderEvent::Complete => AuditKind::TripCompleted,
            OrderEvent::Cancel => AuditKind::OrderCancelled,
            OrderEvent::GiveUp => AuditKind::OrderUnfulfilled,
            OrderEvent::Redispatch => AuditKind::OrderRedispatched,
        }
    }

    /// The statuses this event may start from.
    pub fn allowed_from(self) -> &'static [OrderStatus] {
        use OrderStatus::*;
        match self {
            OrderEvent::Release => &[Scheduled],
            OrderEvent::Offer => &[Pending],
            OrderEvent::Accept => &[Offered],
            OrderEvent::Requeue => &[Offered],
            // An operator may take an order from a driver who has not answered yet: the
            // open offers are withdrawn in the same step (settled here, once).
            OrderEvent::ManualAssign => &[Scheduled, Pending, Offered],
            OrderEvent::Arrive => &[Accepted],
            OrderEvent::StartTrip => &[Accepted, Arrived],
            OrderEvent::Complete => &[OnTrip],
            OrderEvent::Cancel => &[Scheduled, Pending, Offered, Accepted, Arrived],
            // Dispatch gives up on an order at the head of its queue; an offered order
            // first comes back (declined or expired) and is given up from there.
            OrderEvent::GiveUp => &[Pending],
            // Only a trip that has a taxi and has not started can be stuck.
            OrderEvent::Redispatch => &[Accepted, Arrived],
        }
    }

    /// The status the event leads to.
    pub fn target(self) -> OrderStatus {
        use OrderStatus::*;
        match self {
            OrderEvent::Release => Pending,
            OrderEvent::Offer => Offered,
            OrderEvent::Accept => Accepted,
            OrderEvent::Requeue => Pending,
            OrderEvent::ManualAssign => Accepted,
            OrderEvent::Arrive => Arrived,
            OrderEvent::StartTrip => OnTrip,
            OrderEvent::Complete => Completed,
            OrderEvent::Cancel => Cancelled,
            OrderEvent::GiveUp => Unfulfilled,
            OrderEvent::Redispatch => Pending,
        }
    }

    /// Whether `status` shows this driver's step already happened. A step retried by the
    /// taxi that holds the order (its reply was lost) is answered as done and changes
    /// nothing; only the driver's steps are retried this way.
    pub fn already_done(self, status: OrderStatus) -> bool {
        let step = matches!(
            self,
            OrderEvent::Accept | OrderEvent::Arrive | OrderEvent::StartTrip | OrderEvent::Complete
        );
        match (status.trip_progress(), self.target().trip_progress()) {
            (Some(now), Some(target)) => step && now >= target,
            _ => false,
        }
    }

    /// Applies the event, or says why it cannot be.
    pub fn apply(self, status: OrderStatus) -> Result<OrderStatus, String> {
        if self.allowed_from().contains(&status) {
            Ok(self.target())
        } else {
            Err(refusal(self, status))
        }
    }
}

/// The plain-words reason an event is refused, for FAILED_PRECONDITION replies.
pub fn refusal(event: OrderEvent, status: OrderStatus) -> String {
    match (event, status) {
        (OrderEvent::Cancel, OrderStatus::OnTrip) => {
            "the trip has already started; it cannot be cancelled".to_string()
        }
        (_, s) if s.is_final() => format!("the order is already {}", s.code()),
        (e, s) => format!("the order is {}; cannot {e:?}", s.code()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    const EVENTS: [OrderEvent; 11] = OrderEvent::ALL;

    #[test]
    fn codes_round_trip() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::from_code(s.code()), Some(s));
        }
    }

    #[test]
    fn final_statuses_accept_nothing() {
        for s in [Completed, Cancelled, Unfulfilled] {
            assert!(s.is_final());
            for e in EVENTS {
                assert!(e.apply(s).unwrap_err().contains("already"), "{e:?} {s:?}");
            }
        }
    }

    #[test]
    fn the_happy_path() {
        let mut s = Pending;
        for e in [
            OrderEvent::Offer,
            OrderEvent::Accept,
            OrderEvent::Arrive,
            OrderEvent::StartTrip,
            OrderEvent::Complete,
        ] {
            s = e.apply(s).unwrap();
        }
        assert_eq!(s, Completed);
    }

    #[test]
    fn cancellation_only_before_the_trip() {
        for s in OrderStatus::ALL {
            let ok = OrderEvent::Cancel.apply(s).is_ok();
            assert_eq!(
                ok,
                matches!(s, Scheduled | Pending | Offered | Accepted | Arrived),
                "{s:?}"
            );
        }
        assert!(
            OrderEvent::Cancel
                .apply(OnTrip)
                .unwrap_err()
                .contains("started")
        );
    }

    #[test]
    fn every_event_has_exactly_its_sources() {
        let mut allowed = 0;
        for e in EVENTS {
            for s in OrderStatus::ALL {
                if e.apply(s).is_ok() {
                    allowed += 1;
                    assert_eq!(e.apply(s).unwrap(), e.target());
                }
            }
        }
        // Release 1, Offer 1, Accept 1, Requeue 1, ManualAssign 3, Arrive 1, StartTrip 2,
        // Complete 1, Cancel 5, GiveUp 1, Redispatch 2.
        assert_eq!(allowed, 19);
    }

    #[test]
    fn manual_assignment_takes_a_waiting_or_unanswered_order() {
        for s in OrderStatus::ALL {
            assert_eq!(
                OrderEvent::ManualAssign.apply(s).is_ok(),
                matches!(s, Scheduled | Pending | Offered),
                "{s:?}"
            );
        }
    }

    #[test]
    fn a_driver_step_retried_after_it_happened_is_done() {
        assert!(OrderEvent::Accept.already_done(Accepted));
        assert!(OrderEvent::Accept.already_done(Completed));
        assert!(OrderEvent::Arrive.already_done(OnTrip));
        assert!(!OrderEvent::Arrive.already_done(Accepted));
        assert!(OrderEvent::Complete.already_done(Completed));
        assert!(
            !OrderEvent::Cancel.already_done(Cancelled),
            "not a driver's step"
        );
        for s in OrderStatus::ALL {
            for e in EVENTS {
                assert!(
                    !(e.already_done(s) && e.apply(s).is_ok()),
                    "{e:?} in {s:?} is both to do and done"
                );
            }
        }
    }

    #[test]
    fn only_a_trip_with_a_taxi_not_yet_started_can_be_redispatched() {
        for s in OrderStatus::ALL {
            assert_eq!(
                OrderEvent::Redispatch.apply(s).ok(),
                matches!(s, Accepted | Arrived).then_some(Pending),
                "{s:?}"
            );
            assert!(!OrderEvent::Redispatch.already_done(s));
        }
    }

    #[test]
    fn event_codes_are_unique() {
        let codes: std::collections::HashSet<_> = EVENTS.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), EVENTS.len());
    }
}
