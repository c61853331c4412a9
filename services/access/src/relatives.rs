//! Relatives' grants: an older person (from their one-key device) or an operator on their
//! behalf lets a relative book for them and follow those trips, nothing else.

use crate::Access;
use taxi_auth::{Caller, Role, key};
use taxi_domain::validate::Phone;
use taxi_edge::ApiError;
use taxi_edge::convert::timestamp;
use taxi_proto::v1 as pb;
use taxi_store::access::{CredentialRecord, RelativeRecord};

const GRANT: &str = "grant";

impl Access {
    /// The older person `by` may grant for: a device's owner; anyone an operator names.
    async fn passenger_of(&self, by: &Caller, named: &str) -> Result<String, ApiError> {
        match by.identity.role {
            Role::Device => {
                let device = self
                    .store
                    .get_device(&by.identity.id)
                    .await?
                    .ok_or_else(|| ApiError::Unauthenticated("the device is gone".into()))?;
                if !named.is_empty()
                    && Phone::parse("passenger_phone", named)?.as_str() != device.owner
                {
                    return Err(ApiError::denied(
                        "passenger_phone",
                        "a device grants access to its owner only",
                    ));
                }
                Ok(device.owner)
            }
            r if r.is_operator() => {
                Ok(Phone::parse("passenger_phone", named)?.as_str().to_string())
            }
            r => Err(ApiError::denied(
                "passenger_phone",
                format!("a {r} may not grant access"),
            )),
        }
    }

    pub(crate) async fn grant_by(
        &self,
        by: &Caller,
        r: pb::GrantRelativeRequest,
    ) -> Result<pb::GrantRelativeResponse, ApiError> {
        let passenger = self.passenger_of(by, &r.passenger_phone).await?;
        let name = taxi_domain::validate::required_text("relative_name", &r.relative_name, 32)?;
        let phone = Phone::parse("relative_phone", &r.relative_phone)?;
        let id = key::new_id("R");
        tracing::Span::current().record("relative_id", id.as_str());
        self.store
            .put_relative(&RelativeRecord {
                id: id.clone(),
                passenger,
                name,
                phone: phone.as_str().to_string(),
                granted_by: by.identity.actor(),
            })
            .await?;
        let code = key::new_code();
        let ttl = self.settings.grant_code_ttl.as_millis() as i64;
        self.store
            .put_code(GRANT, &key::code_digest(&code), &id, ttl)
            .await?;
        tracing::info!(relative_id = %id, "relative granted access");
        taxi_edge::actor::record(&self.store, by, "GrantRelative", &id, "").await;
        Ok(pb::GrantRelativeResponse {
            relative_id: id,
            grant_code: code,
            expires_at: Some(timestamp(self.store.now_ms() + ttl)),
        })
    }

    pub(crate) async fn revoke_relative_by(
        &self,
        by: &Caller,
        r: pb::RevokeRelativeRequest,
    ) -> Result<pb::RevokeRelativeResponse, ApiError> {
        let id = taxi_domain::validate::id("relative_id", &r.relative_id)?;
        tracing::Span::current().record("relative_id", id.as_str());
        let missing = || ApiError::NotFound(format!("relative_id: no relative {id}"));
        let rel = self.store.relative(&id).await?.ok_or_else(missing)?;
        if by.identity.role == Role::Device {
            // Same answer as an unknown id: a device learns nothing of others' grants.
            let owner = self.passenger_of(by, "").await?;
            if owner != rel.passenger {
                return Err(missing());
            }
        }
        self.store.delete_relative(&id).await?;
        self.store.delete_credential("relative", &id).await?;
        self.end_sessions_of(Role::Relative, &id).await?;
        tracing::info!(relative_id = %id, "relative's access revoked");
        taxi_edge::actor::record(&self.store, by, "RevokeRelative", &id, "").await;
        Ok(pb::RevokeRelativeResponse {})
    }

    pub(crate) async fn redeem(
        &self,
        r: pb::RedeemGrantRequest,
    ) -> Result<pb::RedeemGrantResponse, ApiError> {
        let bad = || ApiError::Unauthenticated("the grant code is not valid (or was used)".into());
        if r.grant_code.is_empty() || r.grant_code.len() > 64 {
            return Err(ApiError::invalid(
                "grant_code",
                "is required (at most 64 characters)",
            ));
        }
        let id = self
            .store
            .take_code(GRANT, &key::code_digest(&r.grant_code))
            .await?
            .ok_or_else(bad)?;
        tracing::Span::current().record("relative_id", id.as_str());
        let rel = self.store.relative(&id).await?.ok_or_else(bad)?;
        let secret = key::new_secret();
        let salt = key::new_salt();
        self.store
            .put_credential(
                "relative",
                &id,
                &CredentialRecord {
                    hash: key::hash(&salt, &secret),
                    salt,
                    role: Role::Relative.code().to_string(),
                    passenger: Some(rel.passenger),
                },
            )
            .await?;
        Ok(pb::RedeemGrantResponse {
            relative_id: id,
            secret,
        })
    }
}
