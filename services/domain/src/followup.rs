//! What operators follow up and close: emergency alerts and the call-backs of
//! unfulfilled orders. Their states and the events that move them, defined once; the
//! store's scripts get these rules in their generated prelude (`ALERT.<event>`,
//! `CALLBACK.<event>`, `ALS.<state>`).
//!
//! An alert is raised OPEN; an operator may acknowledge it (someone is on it) and
//! resolves it when it is dealt with, or resolves it at once. A call-back is OPEN while
//! its unfulfilled order waits for an operator's call and RESOLVED once the operator
//! records what came of it. Repeating a step that already happened (a retry after a lost
//! reply) changes nothing and answers as the first time; resolved items leave the open
//! lists and stay readable until the retention period ends.

use crate::audit::AuditKind;
use crate::error::FieldError;

/// The longest outcome an operator may record when resolving, in characters.
pub const MAX_OUTCOME_CHARS: usize = 500;

/// Checks a resolution's outcome: required, bounded, no control or invisible characters.
pub fn outcome(field: &str, value: &str) -> Result<String, FieldError> {
    let text = crate::validate::text(field, value, MAX_OUTCOME_CHARS)?;
    if text.is_empty() {
        return Err(FieldError::new(field, "is required: say what came of it"));
    }
    Ok(text)
}

/// Where an emergency alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertState {
    /// Raised; no operator has taken it yet.
    Open,
    /// An operator has seen it and is on it.
    Acknowledged,
    /// Dealt with: off the lists, kept for the retention period.
    Resolved,
}

impl AlertState {
    /// Every state.
    pub const ALL: [AlertState; 3] = [
        AlertState::Open,
        AlertState::Acknowledged,
        AlertState::Resolved,
    ];

    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }

    /// Parses a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// What an operator does to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertEvent {
    /// Takes it: someone is on it.
    Acknowledge,
    /// Closes it, with what was done.
    Resolve,
}

impl AlertEvent {
    /// Every event.
    pub const ALL: [AlertEvent; 2] = [AlertEvent::Acknowledge, AlertEvent::Resolve];

    /// The event's name in the prelude (`ALERT.<code>`).
    pub fn code(self) -> &'static str {
        match self {
            AlertEvent::Acknowledge => "acknowledge",
            AlertEvent::Resolve => "resolve",
        }
    }

    /// The states it may happen in.
    pub fn allowed_from(self) -> &'static [AlertState] {
        match self {
            AlertEvent::Acknowledge => &[AlertState::Open],
            AlertEvent::Resolve => &[AlertState::Open, AlertState::Acknowledged],
        }
    }

    /// The state it leads to.
    pub fn target(self) -> AlertState {
        match self {
            AlertEvent::Acknowledge => AlertState::Acknowledged,
            AlertEvent::Resolve => AlertState::Resolved,
        }
    }

    /// Its record in the audit trail.
    pub fn audit(self) -> AuditKind {
        match self {
            AlertEvent::Acknowledge => AuditKind::AlertAcknowledged,
            AlertEvent::Resolve => AuditKind::AlertResolved,
        }
    }

    /// Whether the event already happened in `state` (a retry): answered as done, and
    /// the first operator's record stands.
    pub fn already_done(self, state: AlertState) -> bool {
        match self {
            AlertEvent::Acknowledge => {
                matches!(state, AlertState::Acknowledged | AlertState::Resolved)
            }
            AlertEvent::Resolve => state == AlertState::Resolved,
        }
    }

    /// The state after the event, or why it cannot happen.
    pub fn apply(self, state: AlertState) -> Result<AlertState, String> {
        if self.allowed_from().contains(&state) {
            Ok(self.target())
        } else {
            Err(format!(
                "cannot {} an alert that is {}",
                self.code(),
                state.code()
            ))
        }
    }
}

/// Where the call-back of an unfulfilled order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallbackState {
    /// On the operators' call-back list.
    Open,
    /// Called back; what came of it is recorded.
    Resolved,
}

impl CallbackState {
    /// Every state.
    pub const ALL: [CallbackState; 2] = [CallbackState::Open, CallbackState::Resolved];

    /// The stored code (an unfulfilled order with none is open).
    pub fn code(self) -> &'static str {
        match self {
            CallbackState::Open => "open",
            CallbackState::Resolved => "resolved",
        }
    }

    /// Parses a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// What an operator does to a call-back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallbackEvent {
    /// Closes it, with the outcome of the call.
    Resolve,
}

impl CallbackEvent {
    /// Every event.
    pub const ALL: [CallbackEvent; 1] = [CallbackEvent::Resolve];

    /// The event's name in the prelude (`CALLBACK.<code>`).
    pub fn code(self) -> &'static str {
        match self {
            CallbackEvent::Resolve => "resolve",
        }
    }

    /// The states it may happen in.
    pub fn allowed_from(self) -> &'static [CallbackState] {
        match self {
            CallbackEvent::Resolve => &[CallbackState::Open],
        }
    }

    /// The state it leads to.
    pub fn target(self) -> CallbackState {
        match self {
            CallbackEvent::Resolve => CallbackState::Resolved,
        }
    }

    /// Its record in the audit trail.
    pub fn audit(self) -> AuditKind {
        match self {
            CallbackEvent::Resolve => AuditKind::CallbackResolved,
        }
    }

    /// Whether the event already happened in `state` (a retry).
    pub fn already_done(self, state: CallbackState) -> bool {
        state == self.target()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every alert event in every state: allowed, already done, or refused, never two.
    #[test]
    fn alert_transition_table() {
        use AlertEvent::*;
        use AlertState::*;
        let table = [
            (Acknowledge, Open, Ok(Acknowledged), false),
            (Acknowledge, Acknowledged, Err(()), true),
            (Acknowledge, Resolved, Err(()), true),
            (Resolve, Open, Ok(Resolved), false),
            (Resolve, Acknowledged, Ok(Resolved), false),
            (Resolve, Resolved, Err(()), true),
        ];
        assert_eq!(table.len(), AlertEvent::ALL.len() * AlertState::ALL.len());
        for (event, from, to, done) in table {
            assert_eq!(
                event.apply(from).map_err(|_| ()),
                to,
                "{event:?} in {from:?}"
            );
            assert_eq!(event.already_done(from), done, "{event:?} in {from:?}");
            assert!(!(to.is_ok() && done), "{event:?} in {from:?}");
        }
    }

    #[test]
    fn outcomes_are_required_and_bounded() {
        assert_eq!(
            outcome("outcome", " 已回电，改约明早 ").unwrap(),
            "已回电，改约明早"
        );
        assert!(
            outcome("outcome", "  ")
                .unwrap_err()
                .to_string()
                .contains("outcome")
        );
        assert!(outcome("outcome", &"字".repeat(501)).is_err());
        assert!(outcome("outcome", "ok\u{202E}").is_err());
    }

    #[test]
    fn callback_rules_and_codes() {
        assert_eq!(
            CallbackEvent::Resolve.allowed_from(),
            &[CallbackState::Open]
        );
        assert!(CallbackEvent::Resolve.already_done(CallbackState::Resolved));
        assert!(!CallbackEvent::Resolve.already_done(CallbackState::Open));
        for s in CallbackState::ALL {
            assert_eq!(CallbackState::from_code(s.code()), Some(s));
        }
        for s in AlertState::ALL {
            assert_eq!(AlertState::from_code(s.code()), Some(s));
        }
        assert_eq!(AlertEvent::Resolve.audit(), AuditKind::AlertResolved);
        assert_eq!(CallbackEvent::Resolve.audit(), AuditKind::CallbackResolved);
    }
}
