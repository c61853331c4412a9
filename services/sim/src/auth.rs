//! Logged-in client sessions: log in once (`AuthService.Login`), put the current access
//! token on every call (`authorization: Bearer …`), and refresh it in the background
//! before it ends, so a long run never meets an expired token.
//!
//! The token lives behind a `std::sync::RwLock` shared by the session's clients and its
//! refresher; the lock is held only to clone or replace the header value, never across
//! an `.await`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use taxi_proto::v1 as pb;
use taxi_proto::v1::auth_service_client::AuthServiceClient;
use tokio_util::sync::CancellationToken;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// What a session logs in with.
#[derive(Clone)]
pub enum Credential {
    /// A person's account.
    Password {
        /// The login name.
        username: String,
        /// The password.
        password: String,
    },
    /// A taxi's, device's, relative's or service's key.
    Key {
        /// Which kind of key.
        kind: pb::KeyKind,
        /// The taxi id, device id, relative id or service name.
        id: String,
        /// The secret.
        secret: String,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        match self {
            Credential::Password { username, .. } => write!(f, "Password({username})"),
            Credential::Key { kind, id, .. } => write!(f, "Key({kind:?}, {id})"),
        }
    }
}

impl Credential {
    /// The name it logs in as.
    pub fn id(&self) -> &str {
        match self {
            Credential::Password { username, .. } => username,
            Credential::Key { id, .. } => id,
        }
    }

    fn request(&self) -> pb::LoginRequest {
        use pb::login_request::Credential as C;
        pb::LoginRequest {
            credential: Some(match self {
                Credential::Password { username, password } => {
                    C::Password(pb::PasswordCredential {
                        username: username.clone(),
                        password: password.clone(),
                    })
                }
                Credential::Key { kind, id, secret } => C::Key(pb::KeyCredential {
                    kind: *kind as i32,
                    id: id.clone(),
                    secret: secret.clone(),
                }),
            }),
        }
    }
}

/// The current `authorization` value of a session (`None`: send none, for a server
/// started with `--auth off`).
#[derive(Debug, Clone, Default)]
pub struct Token(Arc<RwLock<Option<MetadataValue<Ascii>>>>);

impl Token {
    fn set(&self, access_token: &str) -> anyhow::Result<()> {
        let value: MetadataValue<Ascii> = format!("Bearer {access_token}").parse()?;
        *self.0.write().expect("token lock") = Some(value);
        Ok(())
    }
}

impl tonic::service::Interceptor for Token {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = self.0.read().expect("token lock").clone() {
            r.metadata_mut().insert("authorization", v);
        }
        Ok(r)
    }
}

/// A channel whose calls carry a session's current token.
pub type Authed = InterceptedService<Channel, Token>;

/// One logged-in principal.
#[derive(Debug, Clone)]
pub struct Session {
    channel: Channel,
    token: Token,
    id: String,
    refreshes: Arc<AtomicU64>,
}

impl Session {
    /// Logs in with `credential` at `channel` and keeps the token fresh until `stop`.
    pub async fn login(
        channel: Channel,
        credential: Credential,
        stop: CancellationToken,
    ) -> anyhow::Result<Session> {
        let mut auth = AuthServiceClient::new(channel.clone());
        let tokens = auth
            .login(credential.request())
            .await
            .map_err(|s| anyhow::anyhow!("logging in as {credential:?}: {}", s.message()))?
            .into_inner()
            .tokens
            .ok_or_else(|| anyhow::anyhow!("logging in as {credential:?}: no tokens"))?;
        let token = Token::default();
        token.set(&tokens.access_token)?;
        let session = Session {
            channel,
            token,
            id: credential.id().to_string(),
            refreshes: Arc::default(),
        };
        tokio::spawn(keep_fresh(
            auth,
            credential,
            tokens,
            session.token.clone(),
            session.refreshes.clone(),
            stop,
        ));
        Ok(session)
    }

    /// A session that sends no credential (a server with authentication off).
    pub fn anonymous(channel: Channel, id: &str) -> Session {
        Session {
            channel,
            token: Token::default(),
            id: id.to_string(),
            refreshes: Arc::default(),
        }
    }

    /// The channel for this session's clients: every call carries its current token.
    pub fn channel(&self) -> Authed {
        InterceptedService::new(self.channel.clone(), self.token.clone())
    }

    /// `channel` (another connection to the same server) carrying this session's token.
    pub fn on(&self, channel: Channel) -> Authed {
        InterceptedService::new(channel, self.token.clone())
    }

    /// The name it logged in as (an operator's id on bookings).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How many times its token was refreshed.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }
}

/// When to refresh a token that ends at `expires`, seen at `now`: at two thirds of what is
/// left (about two thirds of its lifetime, as it was just issued), at least 100 ms away.
pub fn refresh_after(expires: SystemTime, now: SystemTime) -> Duration {
    let left = expires.duration_since(now).unwrap_or_default();
    (left * 2 / 3).max(Duration::from_millis(100))
}

fn expiry(tokens: &pb::Tokens) -> SystemTime {
    let t = tokens.access_expires_at.unwrap_or_default();
    SystemTime::UNIX_EPOCH + Duration::new(t.seconds.max(0) as u64, t.nanos.max(0) as u32)
}

/// Refreshes before each token ends; if the session itself ended (a person's session
/// lasts a shift), logs in again with the credential. Failures retry every second.
async fn keep_fresh(
    mut auth: AuthServiceClient<Channel>,
    credential: Credential,
    mut tokens: pb::Tokens,
    token: Token,
    refreshes: Arc<AtomicU64>,
    stop: CancellationToken,
) {
    let mut wait = refresh_after(expiry(&tokens), SystemTime::now());
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => return,
        }
        let fresh = match auth
            .refresh(pb::RefreshRequest {
                refresh_token: tokens.refresh_token.clone(),
            })
            .await
        {
            Ok(r) => r.into_inner().tokens,
            Err(s) if s.code() == tonic::Code::Unauthenticated => {
                tracing::info!(who = ?credential, "session ended; logging in again");
                auth.login(credential.request())
                    .await
                    .ok()
                    .and_then(|r| r.into_inner().tokens)
            }
            Err(s) => {
                tracing::warn!(who = ?credential, code = ?s.code(), message = s.message(), "refresh failed; retrying");
                None
            }
        };
        match fresh {
            Some(t) if token.set(&t.access_token).is_ok() => {
                tokens = t;
                refreshes.fetch_add(1, Ordering::Relaxed);
                wait = refresh_after(expiry(&tokens), SystemTime::now());
            }
            _ => wait = Duration::from_secs(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_at_two_thirds_of_what_is_left_never_at_once() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            refresh_after(now + Duration::from_secs(900), now),
            Duration::from_secs(600)
        );
        assert_eq!(
            refresh_after(now + Duration::from_secs(3), now),
            Duration::from_secs(2)
        );
        // Already over (or a skewed clock): soon, but not in a busy loop.
        assert_eq!(
            refresh_after(now - Duration::from_secs(5), now),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn a_credential_never_shows_its_secret() {
        let c = Credential::Key {
            kind: pb::KeyKind::Service,
            id: "gateway".into(),
            secret: "s3cret-s3cret".into(),
        };
        assert!(!format!("{c:?}").contains("s3cret"));
        let p = Credential::Password {
            username: "op".into(),
            password: "hunter2hunter2".into(),
        };
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
