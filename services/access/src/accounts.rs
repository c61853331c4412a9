//! People's accounts (created by a supervisor, or by `taxi admin create-operator` for the
//! first supervisor) and services' keys.

use crate::Access;
use crate::login::username;
use taxi_auth::{Caller, Role, key, password};
use taxi_edge::ApiError;
use taxi_proto::v1 as pb;
use taxi_store::Store;
use taxi_store::access::{AccountRecord, CredentialRecord};

/// An account to create.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// The login name.
    pub username: String,
    /// The password (hashed here, never stored).
    pub password: String,
    /// A person's role.
    pub role: Role,
    /// Shown name.
    pub display_name: String,
}

/// Checks and creates an account. The one way accounts are made (the RPC and the admin
/// command both call it).
pub async fn create_account(store: &Store, a: &NewAccount) -> Result<(), ApiError> {
    let name = username("username", &a.username)?;
    password::check(&a.password).map_err(|why| ApiError::invalid("password", why))?;
    if !a.role.is_person() {
        return Err(ApiError::invalid(
            "role",
            "must be operator, supervisor, fleet admin or auditor",
        ));
    }
    let display = taxi_domain::validate::text("display_name", &a.display_name, 32)?;
    let typed = a.password.clone();
    let phc = tokio::task::spawn_blocking(move || password::hash(&typed))
        .await
        .map_err(|e| ApiError::Unavailable(format!("hashing failed: {e}")))?;
    let created = store
        .create_account(&AccountRecord {
            username: name.clone(),
            role: a.role.code().to_string(),
            phc,
            name: display,
            disabled: false,
            failures: 0,
            locked_until_ms: 0,
        })
        .await?;
    if !created {
        return Err(ApiError::AlreadyExists(format!(
            "username: {name} is taken"
        )));
    }
    Ok(())
}

fn service_name(field: &str, name: &str) -> Result<String, ApiError> {
    username(field, name)
}

impl Access {
    pub(crate) async fn create_account_by(
        &self,
        _by: &Caller,
        r: pb::CreateAccountRequest,
    ) -> Result<pb::CreateAccountResponse, ApiError> {
        tracing::Span::current().record("username", r.username.as_str());
        let role = pb::Role::try_from(r.role)
            .ok()
            .and_then(crate::domain_role)
            .ok_or_else(|| ApiError::invalid("role", "is required"))?;
        create_account(
            &self.store,
            &NewAccount {
                username: r.username.clone(),
                password: r.password,
                role,
                display_name: r.display_name,
            },
        )
        .await?;
        taxi_edge::actor::record(&self.store, _by, "CreateAccount", &r.username, role.code()).await;
        Ok(pb::CreateAccountResponse {
            principal: Some(crate::principal(role, &r.username, self.store.city(), None)),
        })
    }

    pub(crate) async fn disable_account_by(
        &self,
        by: &Caller,
        r: pb::DisableAccountRequest,
    ) -> Result<pb::DisableAccountResponse, ApiError> {
        let name = username("username", &r.username)?;
        tracing::Span::current().record("username", name.as_str());
        if by.identity.role.is_person() && by.identity.id == name {
            return Err(ApiError::invalid(
                "username",
                "you cannot disable your own account",
            ));
        }
        let Some(account) = self.store.account(&name).await? else {
            return Err(ApiError::NotFound(format!("username: no account {name}")));
        };
        self.store.disable_account(&name).await?;
        self.end_sessions_of(
            Role::from_code(&account.role).unwrap_or(Role::Operator),
            &name,
        )
        .await?;
        tracing::info!(username = %name, "account disabled");
        taxi_edge::actor::record(&self.store, by, "DisableAccount", &name, "").await;
        Ok(pb::DisableAccountResponse {})
    }

    pub(crate) async fn create_service_key_by(
        &self,
        _by: &Caller,
        r: pb::CreateServiceKeyRequest,
    ) -> Result<pb::CreateServiceKeyResponse, ApiError> {
        let name = service_name("name", &r.name)?;
        tracing::Span::current().record("name", name.as_str());
        let role = pb::Role::try_from(r.role)
            .ok()
            .and_then(crate::domain_role)
            .filter(|r| r.is_service())
            .ok_or_else(|| ApiError::invalid("role", "must be phone switch or gateway"))?;
        let secret = key::new_secret();
        let salt = key::new_salt();
        // A new key replaces the old one, whose sessions end.
        self.end_sessions_of(role, &name).await?;
        for other in Role::ALL.iter().filter(|r| r.is_service() && **r != role) {
            self.end_sessions_of(*other, &name).await?;
        }
        self.store
            .put_credential(
                "service",
                &name,
                &CredentialRecord {
                    hash: key::hash(&salt, &secret),
                    salt,
                    role: role.code().to_string(),
                    passenger: None,
                },
            )
            .await?;
        taxi_edge::actor::record(&self.store, _by, "CreateServiceKey", &name, role.code()).await;
        Ok(pb::CreateServiceKeyResponse { name, secret })
    }
}

/// Creates a service key without a caller (the admin command and tests' set-up).
pub async fn create_service_key(store: &Store, name: &str, role: Role) -> Result<String, ApiError> {
    let name = service_name("name", name)?;
    if !role.is_service() {
        return Err(ApiError::invalid("role", "must be phone switch or gateway"));
    }
    let secret = key::new_secret();
    let salt = key::new_salt();
    store
        .put_credential(
            "service",
            &name,
            &CredentialRecord {
                hash: key::hash(&salt, &secret),
                salt,
                role: role.code().to_string(),
                passenger: None,
            },
        )
        .await?;
    Ok(secret)
}
