//! Taxis' credentials: a fleet admin gets a one-time enrolment code, the driver's app
//! trades it for the taxi's key, and a revoked taxi's sessions end (its stream closes).

use crate::Access;
use taxi_auth::{AuthSettings, Caller, Role, key};
use taxi_domain::taxi::TaxiEvent;
use taxi_edge::ApiError;
use taxi_edge::convert::timestamp;
use taxi_proto::v1 as pb;
use taxi_store::access::CredentialRecord;
use taxi_store::{Store, StoreError};

const ENROL: &str = "enrol";

/// A new one-time enrolment code for `taxi` (which must exist), with its expiry (ms).
pub async fn issue_enrolment_code(
    store: &Store,
    settings: &AuthSettings,
    taxi: &str,
) -> Result<(String, i64), ApiError> {
    store.get_taxi(taxi).await?;
    let code = key::new_code();
    let ttl = settings.enrolment_code_ttl.as_millis() as i64;
    store
        .put_sole_code(ENROL, &key::code_digest(&code), taxi, ttl)
        .await?;
    Ok((code, store.now_ms() + ttl))
}

impl Access {
    pub(crate) async fn issue_code_by(
        &self,
        by: &Caller,
        r: pb::IssueEnrolmentCodeRequest,
    ) -> Result<pb::IssueEnrolmentCodeResponse, ApiError> {
        let taxi = taxi_domain::validate::id("taxi_id", &r.taxi_id)?;
        tracing::Span::current().record("taxi_id", taxi.as_str());
        let (code, exp) = issue_enrolment_code(&self.store, &self.settings, &taxi).await?;
        tracing::info!(taxi_id = %taxi, by = %by.identity.actor(), "enrolment code issued");
        taxi_edge::actor::record(&self.store, by, "IssueEnrolmentCode", &taxi, "").await;
        Ok(pb::IssueEnrolmentCodeResponse {
            enrolment_code: code,
            expires_at: Some(timestamp(exp)),
        })
    }

    pub(crate) async fn revoke_taxi_by(
        &self,
        by: &Caller,
        r: pb::RevokeTaxiRequest,
    ) -> Result<pb::RevokeTaxiResponse, ApiError> {
        let taxi = taxi_domain::validate::id("taxi_id", &r.taxi_id)?;
        tracing::Span::current().record("taxi_id", taxi.as_str());
        self.store.get_taxi(&taxi).await?;
        self.store.delete_credential("taxi", &taxi).await?;
        // A code issued before the revocation (a lost phone's, or one read off a screen)
        // must not bring the taxi back: only a code issued after it does.
        self.store.void_codes_for(ENROL, &taxi).await?;
        self.end_sessions_of(Role::Driver, &taxi).await?;
        // A free taxi whose app can no longer answer would soak up offers until it missed
        // enough of them: it goes off duty now. A taxi on a trip keeps it (the passenger is
        // in the car); its driver finishes through the gateway or after enrolling again.
        match self.store.transition_taxi(&taxi, TaxiEvent::SignOff).await {
            Ok(_) | Err(StoreError::TaxiRefused { .. } | StoreError::TaxiHoldsOrder { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(taxi_id = %taxi, by = %by.identity.actor(), "taxi key revoked");
        taxi_edge::actor::record(&self.store, by, "RevokeTaxi", &taxi, "").await;
        Ok(pb::RevokeTaxiResponse {})
    }

    pub(crate) async fn enrol(
        &self,
        r: pb::EnrolTaxiRequest,
    ) -> Result<pb::EnrolTaxiResponse, ApiError> {
        let bad =
            || ApiError::Unauthenticated("the enrolment code is not valid (or was used)".into());
        if r.enrolment_code.is_empty() || r.enrolment_code.len() > 64 {
            return Err(ApiError::invalid(
                "enrolment_code",
                "is required (at most 64 characters)",
            ));
        }
        let digest = key::code_digest(&r.enrolment_code);
        let taxi = self
            .store
            .take_sole_code(ENROL, &digest)
            .await?
            .ok_or_else(bad)?;
        tracing::Span::current().record("taxi_id", taxi.as_str());
        let secret = key::new_secret();
        let salt = key::new_salt();
        // The new key replaces any old one: the old app's sessions end.
        self.end_sessions_of(Role::Driver, &taxi).await?;
        self.store
            .put_credential(
                "taxi",
                &taxi,
                &CredentialRecord {
                    hash: key::hash(&salt, &secret),
                    salt,
                    role: Role::Driver.code().to_string(),
                    passenger: None,
                },
            )
            .await?;
        tracing::info!(taxi_id = %taxi, "taxi enrolled");
        Ok(pb::EnrolTaxiResponse {
            taxi_id: taxi,
            secret,
        })
    }
}
