//! The roles a credential carries, and the identity a verified token speaks for.

/// Who may do what is decided by role (the policy table) and, for the bound roles, by the
/// one thing the credential is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// A call-centre operator: takes calls, books, handles exceptions in its city.
    Operator,
    /// An operator who also manages accounts and service keys.
    Supervisor,
    /// Registers taxis, provisions devices, enrols and revokes taxis.
    FleetAdmin,
    /// Reads, never writes: the audit log, orders, figures.
    Auditor,
    /// A driver's app, bound to one taxi.
    Driver,
    /// A one-key device, bound to one device id.
    Device,
    /// A relative, bound to the older person who granted access.
    Relative,
    /// The phone switch and its voice menu (a service identity).
    PhoneSwitch,
    /// The in-car terminal gateway: acts for any taxi of its city (a service identity).
    Gateway,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 9] = [
        Role::Operator,
        Role::Supervisor,
        Role::FleetAdmin,
        Role::Auditor,
        Role::Driver,
        Role::Device,
        Role::Relative,
        Role::PhoneSwitch,
        Role::Gateway,
    ];

    /// The code stored and carried in tokens.
    pub fn code(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Supervisor => "supervisor",
            Role::FleetAdmin => "fleet-admin",
            Role::Auditor => "auditor",
            Role::Driver => "driver",
            Role::Device => "device",
            Role::Relative => "relative",
            Role::PhoneSwitch => "phone-switch",
            Role::Gateway => "gateway",
        }
    }

    /// The role of a code.
    pub fn from_code(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == code)
    }

    /// A person with an account and a password.
    pub fn is_person(self) -> bool {
        matches!(
            self,
            Role::Operator | Role::Supervisor | Role::FleetAdmin | Role::Auditor
        )
    }

    /// A service that logs in with a service key (or a client certificate).
    pub fn is_service(self) -> bool {
        matches!(self, Role::PhoneSwitch | Role::Gateway)
    }

    /// Takes calls and handles orders for any passenger of the city.
    pub fn is_operator(self) -> bool {
        matches!(self, Role::Operator | Role::Supervisor)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// What a verified access token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The role.
    pub role: Role,
    /// The account name, taxi id, device id, relative id or service name.
    pub id: String,
    /// The city code the credential belongs to.
    pub city: String,
    /// The session the token was issued in (logout and revocation end it).
    pub session: String,
    /// For a relative: the canonical phone of the older person who granted access.
    pub passenger: Option<String>,
    /// When the token was issued (ms).
    pub issued_ms: i64,
    /// When it stops being accepted (ms).
    pub expires_ms: i64,
}

impl Identity {
    /// `<role>:<id>`: how the audit trail names the actor.
    pub fn actor(&self) -> String {
        actor(self.role, &self.id)
    }

    /// The taxi a driver's credential is bound to.
    pub fn taxi(&self) -> Option<&str> {
        (self.role == Role::Driver).then_some(self.id.as_str())
    }

    /// The device a device's credential is bound to.
    pub fn device(&self) -> Option<&str> {
        (self.role == Role::Device).then_some(self.id.as_str())
    }

    /// Whether this identity may act for `taxi`: its own taxi, or any taxi for the gateway.
    pub fn may_act_for_taxi(&self, taxi: &str) -> bool {
        match self.role {
            Role::Driver => self.id == taxi,
            Role::Gateway => true,
            _ => false,
        }
    }

    /// The taxi a call of this identity acts for, given the request's `taxi_id`: a
    /// driver's own taxi when the field is empty or names it; for the gateway, the taxi
    /// named. The error says why not (for a PERMISSION_DENIED naming the field), or `None`
    /// when the field is required and empty (INVALID_ARGUMENT).
    pub fn acting_taxi(&self, requested: &str) -> Result<String, Option<String>> {
        match (self.role, requested) {
            (Role::Driver, "") => Ok(self.id.clone()),
            (_, "") => Err(None),
            (_, t) if self.may_act_for_taxi(t) => Ok(t.to_string()),
            (Role::Driver, _) => Err(Some(format!(
                "a driver acts only for its own taxi {}",
                self.id
            ))),
            (role, _) => Err(Some(format!("a {role} does not act for taxis"))),
        }
    }
}

/// `<role>:<id>`.
pub fn actor(role: Role, id: &str) -> String {
    format!("{}:{id}", role.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for r in Role::ALL {
            assert_eq!(Role::from_code(r.code()), Some(r));
            assert!(seen.insert(r.code()));
        }
        assert_eq!(Role::from_code("root"), None);
    }

    #[test]
    fn bound_roles() {
        let mut who = Identity {
            role: Role::Driver,
            id: "T1".into(),
            city: "500100".into(),
            session: "s".into(),
            passenger: None,
            issued_ms: 0,
            expires_ms: 1,
        };
        assert_eq!(who.taxi(), Some("T1"));
        assert!(who.may_act_for_taxi("T1"));
        assert!(!who.may_act_for_taxi("T2"));
        assert_eq!(who.acting_taxi(""), Ok("T1".into()));
        assert_eq!(who.acting_taxi("T1"), Ok("T1".into()));
        assert!(matches!(who.acting_taxi("T2"), Err(Some(why)) if why.contains("T1")));
        assert_eq!(who.actor(), "driver:T1");
        who.role = Role::Gateway;
        assert!(who.may_act_for_taxi("T2"));
        assert_eq!(who.acting_taxi("T2"), Ok("T2".into()));
        assert_eq!(who.acting_taxi(""), Err(None));
        assert_eq!(who.taxi(), None);
        who.role = Role::Operator;
        assert!(!who.may_act_for_taxi("T1"));
        assert!(matches!(who.acting_taxi("T1"), Err(Some(_))));
    }
}
