//! Login, Refresh and Logout, and the sessions behind them.
//!
//! A session is created at login and holds the hash of its current refresh token
//! (`<sid>.<secret>`); each refresh replaces the secret. Wrong names and wrong secrets
//! answer alike and take as long (a dummy verification runs for unknown names).

use crate::{Access, principal};
use std::net::SocketAddr;
use taxi_auth::limits::Limit;
use taxi_auth::{Role, key, password};
use taxi_edge::ApiError;
use taxi_edge::convert::timestamp;
use taxi_proto::v1 as pb;
use taxi_store::access::SessionRecord;

const WRONG_PASSWORD: &str = "wrong username or password";
const WRONG_KEY: &str = "wrong id or secret";

/// A verified login, before its session exists.
struct Verified {
    role: Role,
    id: String,
    passenger: Option<String>,
}

impl Access {
    fn limited(&self, key: &str) -> Result<(), ApiError> {
        self.gate
            .limiters()
            .check(Limit::Login, false, key)
            .map_err(ApiError::ResourceExhausted)
    }

    pub(crate) async fn login_with(
        &self,
        r: pb::LoginRequest,
        peer: Option<SocketAddr>,
    ) -> Result<pb::LoginResponse, ApiError> {
        let verified = match r.credential {
            Some(pb::login_request::Credential::Password(p)) => {
                // Password guessing costs an argon2 hash each: also bounded per address.
                if let Some(ip) = peer.map(|p| p.ip()) {
                    self.limited(&format!("peer:{ip}"))?;
                }
                self.check_password(p).await?
            }
            Some(pb::login_request::Credential::Key(k)) => self.check_key(k).await?,
            None => return Err(ApiError::invalid("credential", "is required")),
        };
        tracing::info!(role = %verified.role, id = %verified.id, ?peer, "logged in");
        self.open_session(verified).await
    }

    async fn check_password(&self, p: pb::PasswordCredential) -> Result<Verified, ApiError> {
        let username = username("password.username", &p.username)?;
        if p.password.is_empty() || p.password.len() > password::MAX_LEN * 4 {
            return Err(ApiError::invalid(
                "password.password",
                "is required (at most 128 characters)",
            ));
        }
        self.limited(&format!("account:{username}"))?;
        let Some(account) = self.store.account(&username).await? else {
            let typed = p.password.clone();
            let _ = tokio::task::spawn_blocking(move || password::verify_nothing(&typed)).await;
            return Err(ApiError::Unauthenticated(WRONG_PASSWORD.into()));
        };
        let now = self.store.now_ms();
        if account.locked_until_ms > now {
            let minutes = (account.locked_until_ms - now + 59_999) / 60_000;
            return Err(ApiError::Unauthenticated(format!(
                "too many failed logins: the account is locked for {minutes} more minute(s)"
            )));
        }
        // Argon2 takes tens of milliseconds: off the async threads.
        let (phc, typed) = (account.phc.clone(), p.password.clone());
        let ok = tokio::task::spawn_blocking(move || password::verify(&phc, &typed))
            .await
            .unwrap_or(false);
        if !ok {
            let s = &self.settings;
            self.store
                .record_login_failure(&username, s.max_failures, s.lockout.as_millis() as i64)
                .await?;
            return Err(ApiError::Unauthenticated(WRONG_PASSWORD.into()));
        }
        let role = Role::from_code(&account.role).filter(|r| r.is_person());
        let (false, Some(role)) = (account.disabled, role) else {
            return Err(ApiError::Unauthenticated(WRONG_PASSWORD.into()));
        };
        self.store.clear_login_failures(&username).await?;
        Ok(Verified {
            role,
            id: username,
            passenger: None,
        })
    }

    async fn check_key(&self, k: pb::KeyCredential) -> Result<Verified, ApiError> {
        let id = taxi_domain::validate::id("key.id", &k.id)?;
        if k.secret.is_empty() || k.secret.len() > key::MAX_LEN {
            return Err(ApiError::invalid(
                "key.secret",
                "is required (at most 128 characters)",
            ));
        }
        let kind = pb::KeyKind::try_from(k.kind).unwrap_or(pb::KeyKind::Unspecified);
        let (kind_code, default_role) = match kind {
            pb::KeyKind::Taxi => ("taxi", Role::Driver),
            pb::KeyKind::Device => ("device", Role::Device),
            pb::KeyKind::Relative => ("relative", Role::Relative),
            pb::KeyKind::Service => ("service", Role::PhoneSwitch),
            pb::KeyKind::Unspecified => {
                return Err(ApiError::invalid("key.kind", "is required"));
            }
        };
        self.limited(&format!("key:{kind_code}:{id}"))?;
        let wrong = || ApiError::Unauthenticated(WRONG_KEY.into());
        if kind == pb::KeyKind::Device {
            let Some(device) = self.store.get_device(&id).await? else {
                key::verify_nothing(&k.secret);
                return Err(wrong());
            };
            if !key::verify(&device.salt, &device.secret_hash, &k.secret) {
                return Err(wrong());
            }
            return Ok(Verified {
                role: Role::Device,
                id,
                passenger: None,
            });
        }
        let Some(cred) = self.store.credential(kind_code, &id).await? else {
            key::verify_nothing(&k.secret);
            return Err(wrong());
        };
        if !key::verify(&cred.salt, &cred.hash, &k.secret) {
            return Err(wrong());
        }
        let role = match kind {
            pb::KeyKind::Service => Role::from_code(&cred.role)
                .filter(|r| r.is_service())
                .ok_or_else(wrong)?,
            _ => default_role,
        };
        if role == Role::Relative && cred.passenger.is_none() {
            return Err(wrong());
        }
        Ok(Verified {
            role,
            id,
            passenger: cred.passenger,
        })
    }

    async fn open_session(&self, v: Verified) -> Result<pb::LoginResponse, ApiError> {
        let sid = key::new_id("S");
        let secret = key::new_secret();
        let now = self.store.now_ms();
        let lifetime = if v.role.is_person() {
            self.settings.person_session
        } else {
            self.settings.key_session
        };
        let expires_ms = now + lifetime.as_millis() as i64;
        self.store
            .put_session(&SessionRecord {
                sid: sid.clone(),
                role: v.role.code().to_string(),
                id: v.id.clone(),
                passenger: v.passenger.clone(),
                refresh_hash: key::hash(&sid, &secret),
                expires_ms,
            })
            .await?;
        let tokens = self.tokens(
            v.role,
            &v.id,
            &sid,
            v.passenger.as_deref(),
            &secret,
            expires_ms,
        );
        Ok(pb::LoginResponse {
            tokens: Some(tokens),
            principal: Some(principal(
                v.role,
                &v.id,
                self.store.city(),
                v.passenger.as_deref(),
            )),
        })
    }

    fn tokens(
        &self,
        role: Role,
        id: &str,
        sid: &str,
        passenger: Option<&str>,
        secret: &str,
        refresh_expires_ms: i64,
    ) -> pb::Tokens {
        let now = self.store.now_ms();
        let (access, access_exp) = self.gate.tokens().issue(role, id, sid, passenger, now);
        pb::Tokens {
            access_token: access,
            access_expires_at: Some(timestamp(access_exp)),
            refresh_token: format!("{sid}.{secret}"),
            refresh_expires_at: Some(timestamp(refresh_expires_ms)),
        }
    }

    pub(crate) async fn refresh_with(
        &self,
        r: pb::RefreshRequest,
    ) -> Result<pb::RefreshResponse, ApiError> {
        let bad =
            || ApiError::Unauthenticated("the refresh token is not valid; log in again".into());
        let (sid, secret) = r.refresh_token.split_once('.').ok_or_else(bad)?;
        if sid.is_empty() || sid.len() > 64 || secret.len() > 128 {
            return Err(bad());
        }
        self.limited(&format!("session:{sid}"))?;
        let Some(session) = self.store.session(sid).await? else {
            key::verify_nothing(secret);
            return Err(bad());
        };
        let now = self.store.now_ms();
        if !key::verify(sid, &session.refresh_hash, secret) || session.expires_ms <= now {
            return Err(bad());
        }
        let role = Role::from_code(&session.role).ok_or_else(bad)?;
        // The credential behind the session must still stand.
        let stands = match role {
            r if r.is_person() => self
                .store
                .account(&session.id)
                .await?
                .is_some_and(|a| !a.disabled),
            Role::Device => self.store.get_device(&session.id).await?.is_some(),
            Role::Driver => self.store.credential("taxi", &session.id).await?.is_some(),
            Role::Relative => self
                .store
                .credential("relative", &session.id)
                .await?
                .is_some(),
            _ => self
                .store
                .credential("service", &session.id)
                .await?
                .is_some(),
        };
        if !stands {
            return Err(bad());
        }
        let fresh = key::new_secret();
        let expires_ms = if role.is_person() {
            session.expires_ms
        } else {
            now + self.settings.key_session.as_millis() as i64
        };
        self.store
            .put_session(&SessionRecord {
                refresh_hash: key::hash(sid, &fresh),
                expires_ms,
                ..session.clone()
            })
            .await?;
        Ok(pb::RefreshResponse {
            tokens: Some(self.tokens(
                role,
                &session.id,
                sid,
                session.passenger.as_deref(),
                &fresh,
                expires_ms,
            )),
        })
    }

    pub(crate) async fn logout_of(
        &self,
        who: &taxi_auth::Identity,
    ) -> Result<pb::LogoutResponse, ApiError> {
        let now = self.store.now_ms();
        self.store
            .end_session(who.role.code(), &who.id, &who.session, now)
            .await?;
        self.gate
            .revocations()
            .add(taxi_auth::revoked::session_member(&who.session), now);
        Ok(pb::LogoutResponse {})
    }

    /// Ends every session of a subject, here at once and everywhere within a poll.
    pub(crate) async fn end_sessions_of(&self, role: Role, id: &str) -> Result<(), ApiError> {
        let now = self.store.now_ms();
        for sid in self.store.end_sessions_of(role.code(), id, now).await? {
            self.gate
                .revocations()
                .add(taxi_auth::revoked::session_member(&sid), now);
        }
        Ok(())
    }
}

/// Checks a login name: 3 to 32 of `a-z 0-9 . - _`.
pub(crate) fn username(field: &str, name: &str) -> Result<String, ApiError> {
    let ok = (3..=32).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
        });
    if ok {
        Ok(name.to_string())
    } else {
        Err(ApiError::invalid(
            field,
            "must be 3 to 32 characters: lower-case letters, digits, '.', '-', '_'",
        ))
    }
}
