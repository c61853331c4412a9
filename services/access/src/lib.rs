//! `taxi.v1.AuthService` and `taxi.v1.AccessService`: how every caller gets a credential,
//! and how supervisors, fleet admins, operators and older people manage them.
//!
//! - `login.rs`: Login (passwords and keys), Refresh, Logout, WhoAmI, and the sessions
//!   behind them.
//! - `accounts.rs`: people's accounts and services' keys ([`create_account`] is also what
//!   `taxi admin create-operator` calls).
//! - `taxis.rs`: taxis' enrolment codes and keys.
//! - `relatives.rs`: relatives' grants.
//!
//! Secrets are shown once and stored hashed (`taxi_auth::password`, `taxi_auth::key`).

mod accounts;
mod login;
mod relatives;
mod taxis;

pub use accounts::{NewAccount, create_account, create_service_key};
pub use taxis::issue_enrolment_code;

use std::sync::Arc;
use taxi_auth::AuthSettings;
use taxi_auth::layer::Gate;
use taxi_edge::ApiError;
use taxi_proto::v1 as pb;
use taxi_proto::v1::access_service_server::{AccessService, AccessServiceServer};
use taxi_proto::v1::auth_service_server::{AuthService, AuthServiceServer};
use taxi_store::Store;
use tonic::{Request, Response, Status};

/// Both services of one city.
#[derive(Debug, Clone)]
pub struct Access {
    store: Store,
    gate: Arc<Gate>,
    settings: AuthSettings,
}

impl Access {
    /// The services over `store`, issuing and checking with `gate`.
    pub fn new(store: Store, gate: Arc<Gate>, settings: AuthSettings) -> Self {
        Self {
            store,
            gate,
            settings,
        }
    }

    /// The tonic server of `AuthService`.
    pub fn auth_server(self) -> AuthServiceServer<Self> {
        AuthServiceServer::new(self)
    }

    /// The tonic server of `AccessService`.
    pub fn access_server(self) -> AccessServiceServer<Self> {
        AccessServiceServer::new(self)
    }
}

/// The wire role of a role.
pub fn wire_role(r: taxi_auth::Role) -> pb::Role {
    use taxi_auth::Role as R;
    match r {
        R::Operator => pb::Role::Operator,
        R::Supervisor => pb::Role::Supervisor,
        R::FleetAdmin => pb::Role::FleetAdmin,
        R::Auditor => pb::Role::Auditor,
        R::Driver => pb::Role::Driver,
        R::Device => pb::Role::Device,
        R::Relative => pb::Role::Relative,
        R::PhoneSwitch => pb::Role::PhoneSwitch,
        R::Gateway => pb::Role::Gateway,
    }
}

/// The role of a wire role; `None` for UNSPECIFIED.
pub fn domain_role(r: pb::Role) -> Option<taxi_auth::Role> {
    use taxi_auth::Role as R;
    Some(match r {
        pb::Role::Unspecified => return None,
        pb::Role::Operator => R::Operator,
        pb::Role::Supervisor => R::Supervisor,
        pb::Role::FleetAdmin => R::FleetAdmin,
        pb::Role::Auditor => R::Auditor,
        pb::Role::Driver => R::Driver,
        pb::Role::Device => R::Device,
        pb::Role::Relative => R::Relative,
        pb::Role::PhoneSwitch => R::PhoneSwitch,
        pb::Role::Gateway => R::Gateway,
    })
}

fn reply<T>(r: Result<T, ApiError>) -> Result<Response<T>, Status> {
    r.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl AuthService for Access {
    #[tracing::instrument(skip_all, fields(kind))]
    async fn login(
        &self,
        r: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let peer = r
            .extensions()
            .get::<taxi_auth::layer::Peer>()
            .and_then(|p| p.0);
        reply(self.login_with(r.into_inner(), peer).await)
    }

    #[tracing::instrument(skip_all)]
    async fn refresh(
        &self,
        r: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::RefreshResponse>, Status> {
        reply(self.refresh_with(r.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(actor))]
    async fn logout(
        &self,
        r: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        let who = taxi_auth::caller(&r)?.identity.clone();
        tracing::Span::current().record("actor", who.actor());
        reply(self.logout_of(&who).await)
    }

    #[tracing::instrument(skip_all)]
    async fn who_am_i(
        &self,
        r: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let who = &taxi_auth::caller(&r)?.identity;
        Ok(Response::new(pb::WhoAmIResponse {
            principal: Some(principal(
                who.role,
                &who.id,
                &who.city,
                who.passenger.as_deref(),
            )),
        }))
    }

    #[tracing::instrument(skip_all, fields(taxi_id))]
    async fn enrol_taxi(
        &self,
        r: Request<pb::EnrolTaxiRequest>,
    ) -> Result<Response<pb::EnrolTaxiResponse>, Status> {
        reply(self.enrol(r.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(relative_id))]
    async fn redeem_grant(
        &self,
        r: Request<pb::RedeemGrantRequest>,
    ) -> Result<Response<pb::RedeemGrantResponse>, Status> {
        reply(self.redeem(r.into_inner()).await)
    }
}

#[tonic::async_trait]
impl AccessService for Access {
    #[tracing::instrument(skip_all, fields(actor, username))]
    async fn create_account(
        &self,
        r: Request<pb::CreateAccountRequest>,
    ) -> Result<Response<pb::CreateAccountResponse>, Status> {
        let c = taxi_auth::caller(&r)?.clone();
        tracing::Span::current().record("actor", c.identity.actor());
        reply(self.create_account_by(&c, r.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(actor, username))]
    async fn disable_account(
        &self,
        r: Request<pb::DisableAccountRequest>,
    ) -> Result<Response<pb::DisableAccountResponse>, Status> {
        let c = taxi_auth::caller(&r)?.clone();
        tracing::Span::current().record("actor", c.identity.actor());
        reply(self.disable_account_by(&c, r.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(actor, name))]
    async fn create_service_key(
        &self,
        r: Request<pb::CreateServiceKeyRequest>,
    ) -> Result<Response<pb::CreateServiceKeyResponse>, Status> {
        let c = taxi_auth::caller(&r)?.clone();
        tracing::Span::current().record("actor", c.identity.actor());
        reply(self.create_service_key_by(&c, r.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(actor, taxi_id))]
    async fn issue_enrolment_code(
        &self,
        r: Request<pb::IssueEnrolmentCodeRequest>,
    ) -> Result<Response<pb::IssueEnrolmentCodeResponse>, Status> {
        let c = taxi_auth::caller(&r)?.clone();
        tracing::Span::current().record("actor", c.identity.actor());
        reply(self.issue_code_by(&c, r.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(actor, taxi_id))]
    async fn revoke_taxi(
        &self,
        r: Request<pb::RevokeTaxiRequest>,
    ) -> Result<Response<pb::RevokeTaxiResponse>, Status> {
        let c = taxi_auth::caller(&r)?.clone();
        tracing::Span::current().record("actor", c.identity.actor());
        reply(self.revoke_taxi_by(&c, r.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(actor, relative_id))]
    async fn grant_relative(
        &self,
        r: Request<pb::GrantRelativeRequest>,
    ) -> Result<Response<pb::GrantRelativeResponse>, Status> {
        let c = taxi_auth::caller(&r)?.clone();
        tracing::Span::current().record("actor", c.identity.actor());
        reply(self.grant_by(&c, r.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(actor, relative_id))]
    async fn revoke_relative(
        &self,
        r: Request<pb::RevokeRelativeRequest>,
    ) -> Result<Response<pb::RevokeRelativeResponse>, Status> {
        let c = taxi_auth::caller(&r)?.clone();
        tracing::Span::current().record("actor", c.identity.actor());
        reply(self.revoke_relative_by(&c, r.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(actor))]
    async fn list_audit_log(
        &self,
        r: Request<pb::ListAuditLogRequest>,
    ) -> Result<Response<pb::ListAuditLogResponse>, Status> {
        let c = taxi_auth::caller(&r)?;
        tracing::Span::current().record("actor", c.identity.actor());
        reply(self.audit_page(r.into_inner()).await)
    }
}

impl Access {
    async fn audit_page(
        &self,
        r: pb::ListAuditLogRequest,
    ) -> Result<pb::ListAuditLogResponse, ApiError> {
        let size = match r.page_size {
            0 => 100,
            n if n as usize > taxi_domain::oplog::MAX_PAGE => {
                return Err(ApiError::invalid("page_size", "at most 500"));
            }
            n => n as usize,
        };
        let after = (!r.page_token.is_empty()).then_some(r.page_token.as_str());
        if let Some(a) = after {
            taxi_domain::oplog::check_cursor("page_token", a)?;
        }
        let mut page = self
            .store
            .oplog_page(after, (size + 1).min(taxi_domain::oplog::MAX_PAGE))
            .await?;
        let more = page.len() > size;
        page.truncate(size);
        let next_page_token = if more {
            page.last().map(|e| e.id.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(pb::ListAuditLogResponse {
            entries: page
                .into_iter()
                .map(|e| pb::AuditEntry {
                    id: e.id,
                    actor: e.entry.actor,
                    action: e.entry.action,
                    target: e.entry.target,
                    at: Some(taxi_edge::convert::timestamp(e.entry.at_ms)),
                    from: e.entry.from,
                    detail: e.entry.detail,
                    prev_hash: e.prev,
                    hash: e.hash,
                })
                .collect(),
            next_page_token,
        })
    }
}

/// The wire principal.
pub(crate) fn principal(
    role: taxi_auth::Role,
    id: &str,
    city: &str,
    passenger: Option<&str>,
) -> pb::Principal {
    pb::Principal {
        role: wire_role(role) as i32,
        id: id.to_string(),
        city: city.to_string(),
        passenger_phone: passenger
            .map(taxi_domain::validate::mask_phone)
            .unwrap_or_default(),
    }
}
