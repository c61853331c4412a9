//! Who is acting comes from the credential, never from the request: the checks every
//! handler shares for request fields that claim an identity, and the operators' audit log
//! entry of every write by a person.

use crate::ApiError;
use taxi_auth::{Caller, Role};
use taxi_domain::booking::CancelledBy;
use taxi_domain::oplog::OplogEntry;
use taxi_proto::v1 as pb;
use taxi_store::Store;

/// The operator acting: the credential's account. A request's `field` may repeat it (or
/// be empty) but never name someone else. `None` when the caller is not an operator.
pub fn operator(caller: &Caller, field: &str, claimed: &str) -> Result<Option<String>, ApiError> {
    let who = &caller.identity;
    if who.role.is_operator() {
        if !claimed.is_empty() && claimed != who.id {
            return Err(ApiError::denied(
                field,
                format!("you are logged in as {}; leave it empty", who.id),
            ));
        }
        return Ok(Some(who.id.clone()));
    }
    if !claimed.is_empty() {
        return Err(ApiError::denied(
            field,
            format!(
                "a {} acts under its own credential; leave it empty",
                who.role
            ),
        ));
    }
    Ok(None)
}

/// The operator acting, where only an operator may act.
pub fn required_operator(caller: &Caller, field: &str, claimed: &str) -> Result<String, ApiError> {
    operator(caller, field, claimed)?.ok_or_else(|| {
        ApiError::denied(field, format!("a {} may not do this", caller.identity.role))
    })
}

/// Who cancels, as the credential allows: an operator cancels as the operator, or as the
/// passenger who asked on the phone; the phone switch's voice menu as the passenger. A
/// request claiming anyone else (a driver, a device, the system) is refused.
pub fn cancelled_by(caller: &Caller, claimed: i32) -> Result<CancelledBy, ApiError> {
    let claimed = crate::convert::known_enum::<pb::CancelledBy>("cancelled_by", claimed, true)?;
    let role = caller.identity.role;
    let allowed: &[(pb::CancelledBy, CancelledBy)] = match role {
        Role::Operator | Role::Supervisor => &[
            (pb::CancelledBy::Unspecified, CancelledBy::Operator),
            (pb::CancelledBy::Operator, CancelledBy::Operator),
            (pb::CancelledBy::Passenger, CancelledBy::Passenger),
        ],
        Role::PhoneSwitch => &[
            (pb::CancelledBy::Unspecified, CancelledBy::Passenger),
            (pb::CancelledBy::Passenger, CancelledBy::Passenger),
        ],
        _ => &[],
    };
    allowed
        .iter()
        .find(|(wire, _)| *wire == claimed)
        .map(|(_, by)| *by)
        .ok_or_else(|| {
            ApiError::denied(
                "cancelled_by",
                format!("a {role} may not cancel as {}", claimed.as_str_name()),
            )
        })
}

/// Whether a role's writes are a person's (the audit log records them).
pub fn is_person(role: Role) -> bool {
    role.is_person() || role == Role::Relative
}

/// Appends a person's write to the operators' audit log, after the write succeeded. A
/// failed append is logged as an error (the write itself stands: it was acknowledged).
pub async fn record(store: &Store, caller: &Caller, action: &str, target: &str, detail: &str) {
    let who = &caller.identity;
    if !is_person(who.role) {
        return;
    }
    let entry = OplogEntry {
        actor: who.actor(),
        role: who.role.code().to_string(),
        action: action.to_string(),
        target: target.chars().take(128).collect(),
        at_ms: 0,
        from: caller.from(),
        detail: detail.chars().take(512).collect(),
    };
    if let Err(e) = store.oplog_append(&entry).await {
        tracing::error!(error = %e, actor = %entry.actor, action, target, "audit log append failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use taxi_auth::{Identity, Revocations};

    fn caller(role: Role, id: &str) -> Caller {
        Caller::new(
            Identity {
                role,
                id: id.into(),
                city: "500100".into(),
                session: "s".into(),
                passenger: None,
                issued_ms: 0,
                expires_ms: 1,
            },
            None,
            Arc::new(Revocations::default()),
        )
    }

    #[test]
    fn an_operator_is_who_the_credential_says() {
        let li = caller(Role::Operator, "li");
        assert_eq!(
            operator(&li, "operator_id", "").unwrap().as_deref(),
            Some("li")
        );
        assert_eq!(
            operator(&li, "operator_id", "li").unwrap().as_deref(),
            Some("li")
        );
        let e = operator(&li, "operator_id", "wang").unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        assert!(e.to_string().starts_with("operator_id:"), "{e}");
        let switch = caller(Role::PhoneSwitch, "ivr");
        assert_eq!(operator(&switch, "operator_id", "").unwrap(), None);
        assert!(operator(&switch, "operator_id", "li").is_err());
        assert!(required_operator(&switch, "operator_id", "").is_err());
    }

    #[test]
    fn nobody_cancels_as_a_driver_device_or_the_system() {
        let li = caller(Role::Operator, "li");
        let switch = caller(Role::PhoneSwitch, "ivr");
        assert_eq!(cancelled_by(&li, 0).unwrap(), CancelledBy::Operator);
        assert_eq!(
            cancelled_by(&li, pb::CancelledBy::Passenger as i32).unwrap(),
            CancelledBy::Passenger
        );
        assert_eq!(cancelled_by(&switch, 0).unwrap(), CancelledBy::Passenger);
        for who in [&li, &switch] {
            for forged in [
                pb::CancelledBy::Driver,
                pb::CancelledBy::Device,
                pb::CancelledBy::System,
            ] {
                let e = cancelled_by(who, forged as i32).unwrap_err();
                assert_eq!(e.code(), tonic::Code::PermissionDenied);
            }
        }
        assert!(cancelled_by(&switch, pb::CancelledBy::Operator as i32).is_err());
        assert!(cancelled_by(&caller(Role::Relative, "R1"), 0).is_err());
    }
}
