//! The one policy table: for every RPC of every service, who may call it and what the
//! handler must check about the thing it touches.
//!
//! The layer enforces the roles and the rate limit of each row before a handler runs; the
//! handler applies the row's [`Scope`] (it needs the request's ids to do so) through the
//! [`Caller`](crate::Caller) it is given. Every token is bound to one city and the layer
//! refuses a token of another city, so "own city" holds for every row.
//!
//! Anything not in the table is denied: `tests` below enumerate every RPC from the
//! API's descriptors and fail if one has no row (or a row names no RPC).

use crate::limits::Limit;
use crate::role::Role;

/// What the handler checks about the resource, beyond the caller's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// No credential needed (logging in).
    Open,
    /// Any role listed, over the whole city (people and services).
    City,
    /// A driver only for its own taxi; the gateway for any taxi of the city.
    OwnTaxi,
    /// A device only for itself.
    OwnDevice,
    /// Operators for any passenger; a relative only for the older person who granted
    /// access; a device only for its owner.
    Passenger,
    /// The caller's own session.
    OwnSession,
    /// An operator only for their own seat (its id is their account); the phone switch
    /// and supervisors for any seat.
    OwnSeat,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// `/<package>.<Service>/<Method>`.
    pub path: &'static str,
    /// Who may call it (ignored for [`Scope::Open`]).
    pub roles: &'static [Role],
    /// What the handler checks.
    pub scope: Scope,
    /// The rate limit counted per identity, if any.
    pub limit: Option<Limit>,
}

use Role::*;

const OPS: &[Role] = &[Operator, Supervisor];
const OPS_READ: &[Role] = &[Operator, Supervisor, Auditor];
const FLEET: &[Role] = &[FleetAdmin, Supervisor];
const FLEET_READ: &[Role] = &[Operator, Supervisor, FleetAdmin, Auditor];
const TAXI: &[Role] = &[Driver, Gateway];
const DEVICE: &[Role] = &[Device];
const SUPERVISOR: &[Role] = &[Supervisor];
const ANYONE: &[Role] = &Role::ALL;
const NOBODY: &[Role] = &[];
const SWITCH: &[Role] = &[PhoneSwitch, Supervisor];
const SEATS: &[Role] = &[Operator, Supervisor, PhoneSwitch];
const RECURRING: &[Role] = &[Operator, Supervisor, Relative];
const PAIRING: &[Role] = &[Operator, Supervisor, FleetAdmin];
const STANDS: &[Role] = &[Operator, Supervisor, FleetAdmin];

const fn rule(path: &'static str, roles: &'static [Role], scope: Scope) -> Rule {
    Rule {
        path,
        roles,
        scope,
        limit: None,
    }
}

const fn limited(path: &'static str, roles: &'static [Role], scope: Scope, limit: Limit) -> Rule {
    Rule {
        path,
        roles,
        scope,
        limit: Some(limit),
    }
}

/// Every RPC's rule.
pub const POLICY: &[Rule] = &[
    // AuthService: logging in is open (and limited per credential in the handler).
    rule("/taxi.v1.AuthService/Login", NOBODY, Scope::Open),
    rule("/taxi.v1.AuthService/Refresh", NOBODY, Scope::Open),
    rule("/taxi.v1.AuthService/EnrolTaxi", NOBODY, Scope::Open),
    rule("/taxi.v1.AuthService/RedeemGrant", NOBODY, Scope::Open),
    rule("/taxi.v1.AuthService/Logout", ANYONE, Scope::OwnSession),
    rule("/taxi.v1.AuthService/WhoAmI", ANYONE, Scope::OwnSession),
    // AccessService.
    rule(
        "/taxi.v1.AccessService/CreateAccount",
        SUPERVISOR,
        Scope::City,
    ),
    rule(
        "/taxi.v1.AccessService/DisableAccount",
        SUPERVISOR,
        Scope::City,
    ),
    rule(
        "/taxi.v1.AccessService/CreateServiceKey",
        SUPERVISOR,
        Scope::City,
    ),
    rule(
        "/taxi.v1.AccessService/IssueEnrolmentCode",
        FLEET,
        Scope::City,
    ),
    rule("/taxi.v1.AccessService/RevokeTaxi", FLEET, Scope::City),
    rule(
        "/taxi.v1.AccessService/GrantRelative",
        &[Operator, Supervisor, Device],
        Scope::Passenger,
    ),
    rule(
        "/taxi.v1.AccessService/RevokeRelative",
        &[Operator, Supervisor, Device],
        Scope::Passenger,
    ),
    rule(
        "/taxi.v1.AccessService/ListAuditLog",
        &[Auditor, Supervisor],
        Scope::City,
    ),
    // FleetService.
    rule("/taxi.v1.FleetService/RegisterTaxi", FLEET, Scope::City),
    rule(
        "/taxi.v1.FleetService/GetTaxi",
        &[Operator, Supervisor, FleetAdmin, Auditor, Driver, Gateway],
        Scope::OwnTaxi,
    ),
    rule(
        "/taxi.v1.FleetService/ListNearbyTaxis",
        FLEET_READ,
        Scope::City,
    ),
    // DriverService: a driver for its own taxi, the gateway for any.
    rule("/taxi.v1.DriverService/SignOn", TAXI, Scope::OwnTaxi),
    rule("/taxi.v1.DriverService/SignOff", TAXI, Scope::OwnTaxi),
    rule(
        "/taxi.v1.DriverService/ReportPositions",
        TAXI,
        Scope::OwnTaxi,
    ),
    rule(
        "/taxi.v1.DriverService/StreamDispatches",
        TAXI,
        Scope::OwnTaxi,
    ),
    rule("/taxi.v1.DriverService/AcceptOffer", TAXI, Scope::OwnTaxi),
    rule("/taxi.v1.DriverService/DeclineOffer", TAXI, Scope::OwnTaxi),
    rule(
        "/taxi.v1.DriverService/ArriveAtPickup",
        TAXI,
        Scope::OwnTaxi,
    ),
    rule("/taxi.v1.DriverService/StartTrip", TAXI, Scope::OwnTaxi),
    rule("/taxi.v1.DriverService/CompleteTrip", TAXI, Scope::OwnTaxi),
    rule(
        "/taxi.v1.DriverService/StartStreetHail",
        TAXI,
        Scope::OwnTaxi,
    ),
    rule("/taxi.v1.DriverService/EndStreetHail", TAXI, Scope::OwnTaxi),
    // Paired recurring trips (issue 14): the paired driver for its own taxi.
    rule(
        "/taxi.v1.DriverService/ListPairedTrips",
        TAXI,
        Scope::OwnTaxi,
    ),
    rule(
        "/taxi.v1.DriverService/ConfirmPairedTrip",
        TAXI,
        Scope::OwnTaxi,
    ),
    rule(
        "/taxi.v1.DriverService/RefusePairedTrip",
        TAXI,
        Scope::OwnTaxi,
    ),
    // HotlineService.
    rule(
        "/taxi.v1.HotlineService/LookupCaller",
        OPS_READ,
        Scope::City,
    ),
    rule(
        "/taxi.v1.HotlineService/ClassifyCall",
        &[PhoneSwitch, Operator, Supervisor],
        Scope::City,
    ),
    limited(
        "/taxi.v1.HotlineService/UpsertCaller",
        OPS,
        Scope::City,
        Limit::CallerUpsert,
    ),
    limited(
        "/taxi.v1.HotlineService/CreateBooking",
        &[Operator, Supervisor, PhoneSwitch, Relative],
        Scope::Passenger,
        Limit::Booking,
    ),
    limited(
        "/taxi.v1.HotlineService/RepeatLastTrip",
        &[Operator, Supervisor, PhoneSwitch, Relative],
        Scope::Passenger,
        Limit::Booking,
    ),
    rule(
        "/taxi.v1.HotlineService/GetOrder",
        &[Operator, Supervisor, Auditor, Relative],
        Scope::Passenger,
    ),
    rule(
        "/taxi.v1.HotlineService/ListOrders",
        &[Operator, Supervisor, Auditor, Relative],
        Scope::Passenger,
    ),
    rule(
        "/taxi.v1.HotlineService/CancelOrder",
        &[Operator, Supervisor, PhoneSwitch],
        Scope::City,
    ),
    rule("/taxi.v1.HotlineService/ListAlerts", OPS_READ, Scope::City),
    rule("/taxi.v1.HotlineService/AcknowledgeAlert", OPS, Scope::City),
    rule("/taxi.v1.HotlineService/ResolveAlert", OPS, Scope::City),
    rule("/taxi.v1.HotlineService/GetAlert", OPS_READ, Scope::City),
    // RecurringService: operators and supervisors for any passenger, a relative for the
    // passenger who granted access (the handler checks the pattern's passenger).
    rule(
        "/taxi.v1.RecurringService/CreatePattern",
        RECURRING,
        Scope::Passenger,
    ),
    rule(
        "/taxi.v1.RecurringService/ListPatterns",
        RECURRING,
        Scope::Passenger,
    ),
    rule(
        "/taxi.v1.RecurringService/UpdatePattern",
        RECURRING,
        Scope::Passenger,
    ),
    rule(
        "/taxi.v1.RecurringService/PausePattern",
        RECURRING,
        Scope::Passenger,
    ),
    rule(
        "/taxi.v1.RecurringService/CancelOccurrence",
        RECURRING,
        Scope::Passenger,
    ),
    rule(
        "/taxi.v1.RecurringService/CancelPattern",
        RECURRING,
        Scope::Passenger,
    ),
    // Pairing a caring-fleet taxi with a pattern: the call centre or the fleet.
    rule("/taxi.v1.RecurringService/PairDriver", PAIRING, Scope::City),
    // StandService: operators, supervisors and fleet admins of the city manage the stands,
    // list their queues and record walk-up boardings (a stand attendant's account is one
    // of these roles).
    rule("/taxi.v1.StandService/CreateStand", STANDS, Scope::City),
    rule("/taxi.v1.StandService/UpdateStand", STANDS, Scope::City),
    rule("/taxi.v1.StandService/DeleteStand", STANDS, Scope::City),
    rule("/taxi.v1.StandService/ListStands", STANDS, Scope::City),
    rule("/taxi.v1.StandService/RecordBoarding", STANDS, Scope::City),
    // OneKeyService.
    rule(
        "/taxi.v1.OneKeyService/RegisterDevice",
        &[FleetAdmin, Operator, Supervisor, Device],
        Scope::OwnDevice,
    ),
    limited(
        "/taxi.v1.OneKeyService/PressButton",
        DEVICE,
        Scope::OwnDevice,
        Limit::Press,
    ),
    rule(
        "/taxi.v1.OneKeyService/GetDeviceStatus",
        DEVICE,
        Scope::OwnDevice,
    ),
    rule(
        "/taxi.v1.OneKeyService/CancelDeviceOrder",
        DEVICE,
        Scope::OwnDevice,
    ),
    // DispatchService.
    rule(
        "/taxi.v1.DispatchService/ListPendingOrders",
        OPS_READ,
        Scope::City,
    ),
    rule(
        "/taxi.v1.DispatchService/ListCallbacks",
        OPS_READ,
        Scope::City,
    ),
    rule("/taxi.v1.DispatchService/ResolveCallback", OPS, Scope::City),
    rule("/taxi.v1.DispatchService/AssignOrder", OPS, Scope::City),
    rule(
        "/taxi.v1.DispatchService/GetDispatchStats",
        OPS_READ,
        Scope::City,
    ),
    rule(
        "/taxi.v1.DispatchService/ListStuckOrders",
        OPS_READ,
        Scope::City,
    ),
    rule("/taxi.v1.DispatchService/RedispatchOrder", OPS, Scope::City),
    // CallCentreService: the switch reports calls; seats are their operators' own.
    rule(
        "/taxi.v1.CallCentreService/CallArrived",
        SWITCH,
        Scope::City,
    ),
    rule(
        "/taxi.v1.CallCentreService/CallAnswered",
        SWITCH,
        Scope::City,
    ),
    rule(
        "/taxi.v1.CallCentreService/CallAbandoned",
        SWITCH,
        Scope::City,
    ),
    rule(
        "/taxi.v1.CallCentreService/CallTransferred",
        SWITCH,
        Scope::City,
    ),
    rule("/taxi.v1.CallCentreService/CallEnded", SWITCH, Scope::City),
    rule(
        "/taxi.v1.CallCentreService/SetSeatState",
        SEATS,
        Scope::OwnSeat,
    ),
    rule("/taxi.v1.CallCentreService/GetSeat", SEATS, Scope::OwnSeat),
    rule(
        "/taxi.v1.CallCentreService/GetCall",
        &[Operator, Supervisor, PhoneSwitch],
        Scope::City,
    ),
    rule(
        "/taxi.v1.CallCentreService/ListAssignments",
        SWITCH,
        Scope::City,
    ),
    rule(
        "/taxi.v1.CallCentreService/GetCallCentreStats",
        OPS_READ,
        Scope::City,
    ),
    // NotificationService: operators and supervisors see and replay dead letters;
    // auditors may look.
    rule(
        "/taxi.v1.NotificationService/ListDeadLetters",
        OPS_READ,
        Scope::City,
    ),
    rule(
        "/taxi.v1.NotificationService/ReplayDeadLetter",
        OPS,
        Scope::City,
    ),
];

/// Services every caller may use without a credential: health checks and reflection
/// (reflection is switched off in production with `--reflection false`).
pub const OPEN_SERVICES: &[&str] = &[
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// The rule for a request path; `None` means deny.
pub fn rule_for(path: &str) -> Option<&'static Rule> {
    POLICY.iter().find(|r| r.path == path)
}

/// The operators' console's paths (the page, its JSON API and its event stream). They are
/// not RPCs: the layer lets them through and the console maps each of its endpoints to the
/// RPC it stands for and admits it through this same table (`taxi-console`).
pub fn is_console_path(path: &str) -> bool {
    path == "/" || path == "/console" || path.starts_with("/console/")
}

/// Whether a path belongs to an open service.
pub fn is_open_service(path: &str) -> bool {
    OPEN_SERVICES.iter().any(|p| path.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use std::collections::BTreeSet;

    fn every_rpc() -> BTreeSet<String> {
        let set = prost_types::FileDescriptorSet::decode(taxi_proto::FILE_DESCRIPTOR_SET)
            .expect("descriptor set");
        let mut out = BTreeSet::new();
        for file in set.file {
            let package = file.package().to_string();
            for service in &file.service {
                for method in &service.method {
                    out.insert(format!("/{package}.{}/{}", service.name(), method.name()));
                }
            }
        }
        out
    }

    #[test]
    fn every_rpc_has_exactly_one_rule_and_every_rule_an_rpc() {
        let rpcs = every_rpc();
        assert!(rpcs.len() > 40, "descriptor set looks empty: {rpcs:?}");
        for rpc in &rpcs {
            let n = POLICY.iter().filter(|r| r.path == rpc.as_str()).count();
            assert_eq!(n, 1, "{rpc} has {n} rules in the policy table");
        }
        for rule in POLICY {
            assert!(rpcs.contains(rule.path), "{} is not an RPC", rule.path);
        }
    }

    #[test]
    fn only_logging_in_is_open_and_every_closed_rule_names_roles() {
        for rule in POLICY {
            match rule.scope {
                Scope::Open => assert!(
                    rule.path.starts_with("/taxi.v1.AuthService/"),
                    "{} is open",
                    rule.path
                ),
                _ => assert!(!rule.roles.is_empty(), "{} has no roles", rule.path),
            }
        }
    }

    #[test]
    fn bound_roles_reach_only_scoped_rules() {
        for rule in POLICY {
            if rule.roles.contains(&Driver) {
                assert!(
                    matches!(rule.scope, Scope::OwnTaxi | Scope::OwnSession),
                    "{}",
                    rule.path
                );
            }
            if rule.roles.contains(&Device) {
                assert!(
                    matches!(
                        rule.scope,
                        Scope::OwnDevice | Scope::Passenger | Scope::OwnSession
                    ),
                    "{}",
                    rule.path
                );
            }
            if rule.roles.contains(&Relative) {
                assert!(
                    matches!(rule.scope, Scope::Passenger | Scope::OwnSession),
                    "{}",
                    rule.path
                );
            }
        }
    }

    #[test]
    fn auditors_never_write() {
        for rule in POLICY {
            let method = rule.path.rsplit('/').next().unwrap();
            let reads = ["Get", "List", "Lookup", "WhoAmI", "Logout"]
                .iter()
                .any(|p| method.starts_with(p));
            if rule.roles.contains(&Auditor) && rule.roles.len() < Role::ALL.len() {
                assert!(reads, "auditors may call {}", rule.path);
            }
        }
    }

    #[test]
    fn unknown_paths_are_denied() {
        assert!(rule_for("/taxi.v1.HotlineService/DropDatabase").is_none());
        assert!(is_open_service("/grpc.health.v1.Health/Check"));
        assert!(!is_open_service("/taxi.v1.HotlineService/GetOrder"));
    }
}
