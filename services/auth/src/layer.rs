//! The tower layer in front of every gRPC service: it authenticates the call, applies the
//! policy table's roles and rate limit, and puts a [`Caller`] in the request's extensions
//! for the handler (which applies the row's scope with it).
//!
//! Answers: no or bad credential UNAUTHENTICATED; a role the row does not list, a token of
//! another city, or an RPC with no row PERMISSION_DENIED; over a limit RESOURCE_EXHAUSTED
//! with `retry-after-ms` metadata. Health and reflection pass untouched.

use crate::limits::{Limit, Limiters, Rates};
use crate::policy::{Scope, is_console_path, is_open_service, rule_for};
use crate::revoked::Revocations;
use crate::role::{Identity, Role};
use crate::token::{TokenError, Tokens};
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use taxi_domain::clock::Clock;
use tonic::Status;
use tonic::transport::server::TcpConnectInfo;

/// The metadata key of a rate limit's retry hint (milliseconds).
pub const RETRY_AFTER_MS: &str = "retry-after-ms";

/// Who is calling, as the layer established it.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The verified identity.
    pub identity: Identity,
    /// Where the call came from.
    pub peer: Option<SocketAddr>,
    revocations: Arc<Revocations>,
}

impl Caller {
    /// A caller for code that is not behind the layer (tools, tests of handlers).
    pub fn new(
        identity: Identity,
        peer: Option<SocketAddr>,
        revocations: Arc<Revocations>,
    ) -> Self {
        Self {
            identity,
            peer,
            revocations,
        }
    }

    /// The peer address as the audit log writes it.
    pub fn from(&self) -> String {
        self.peer.map(|p| p.to_string()).unwrap_or_default()
    }

    /// Returns once this caller's credential is revoked (open streams end then).
    pub async fn revoked(&self) {
        self.revocations.until_revoked(&self.identity).await
    }
}

/// The caller of an RPC behind the layer. An RPC whose row is open has none.
pub fn caller<T>(request: &tonic::Request<T>) -> Result<&Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .ok_or_else(|| Status::unauthenticated("this call needs a credential"))
}

/// The peer of an open call (logins), for per-address limits.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<SocketAddr>);

/// Reads something from a connection's extensions (the server knows whether it is TLS).
pub type ExtensionReader<T> = fn(&http::Extensions) -> Option<T>;

/// Everything the layer decides with.
pub struct Gate {
    tokens: Tokens,
    revocations: Arc<Revocations>,
    limiters: Limiters,
    clock: Arc<dyn Clock>,
    peer_of: ExtensionReader<SocketAddr>,
    cert_of: Option<ExtensionReader<String>>,
    off: bool,
}

/// With authentication off, a call acts as the first of these its row allows: the
/// services first (what the benchmark drives: the gateway's positions and offers, the
/// voice menu's bookings), then a supervisor.
const OFF_PREFERENCE: [Role; 6] = [
    Role::Gateway,
    Role::PhoneSwitch,
    Role::Supervisor,
    Role::FleetAdmin,
    Role::Operator,
    Role::Auditor,
];

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

fn tcp_peer(ext: &http::Extensions) -> Option<SocketAddr> {
    ext.get::<TcpConnectInfo>().and_then(|i| i.remote_addr())
}

impl Gate {
    /// A gate that checks `tokens`, `revocations` and `rates` against `clock`.
    pub fn new(
        tokens: Tokens,
        revocations: Arc<Revocations>,
        rates: &Rates,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            tokens,
            revocations,
            limiters: Limiters::new(rates),
            clock,
            peer_of: tcp_peer,
            cert_of: None,
            off: false,
        }
    }

    /// Checks no credential: every call acts as the first role of `OFF_PREFERENCE` its row allows
    /// (rows only bound roles may call, a device's, stay closed). For the benchmark's
    /// comparison and loopback experiments only.
    pub fn without_authentication(mut self) -> Self {
        self.off = true;
        self
    }

    /// How to find the peer address (TLS connections keep it elsewhere).
    pub fn with_peer_reader(mut self, peer_of: ExtensionReader<SocketAddr>) -> Self {
        self.peer_of = peer_of;
        self
    }

    /// How to find a verified client certificate's common name, `<role>` or
    /// `<role>:<name>` of a service (mTLS): such a caller needs no token.
    pub fn with_client_certs(mut self, cert_of: ExtensionReader<String>) -> Self {
        self.cert_of = Some(cert_of);
        self
    }

    /// The limiters (handlers count logins per name with them).
    pub fn limiters(&self) -> &Limiters {
        &self.limiters
    }

    /// The revocations list.
    pub fn revocations(&self) -> &Arc<Revocations> {
        &self.revocations
    }

    /// The token issuer.
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    fn identity(
        &self,
        ext: &http::Extensions,
        headers: &http::HeaderMap,
    ) -> Result<Identity, Status> {
        let now = self.clock.now_ms();
        if let Some(value) = headers.get(http::header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    Status::unauthenticated("authorization must be `Bearer <access token>`")
                })?;
            return self.tokens.verify(token.trim(), now).map_err(|e| match e {
                TokenError::OtherCity(_) => Status::permission_denied(e.to_string()),
                TokenError::Invalid | TokenError::Expired => Status::unauthenticated(e.to_string()),
            });
        }
        if let Some(cn) = self.cert_of.and_then(|read| read(ext)) {
            // `<service role>` or `<service role>:<name>`.
            let (role, name) = cn.split_once(':').unwrap_or((cn.as_str(), cn.as_str()));
            if let Some(role) = Role::from_code(role).filter(|r| r.is_service())
                && !name.is_empty()
            {
                return Ok(Identity {
                    role,
                    id: name.to_string(),
                    city: self.tokens.city().to_string(),
                    session: format!("cert:{name}"),
                    passenger: None,
                    issued_ms: now,
                    expires_ms: now + self.tokens.ttl().as_millis() as i64,
                });
            }
            return Err(Status::permission_denied(format!(
                "client certificate `{cn}` names no service role"
            )));
        }
        Err(Status::unauthenticated(
            "missing credential: send `authorization: Bearer <access token>` from AuthService.Login",
        ))
    }

    /// Admits the call (and marks it with its [`Caller`]) or answers it.
    pub fn admit<B>(&self, req: &mut http::Request<B>) -> Result<(), Status> {
        let path = req.uri().path();
        if is_open_service(path) || is_console_path(path) {
            return Ok(());
        }
        let Some(rule) = rule_for(path) else {
            return Err(Status::permission_denied(format!("{path} is not allowed")));
        };
        let peer = (self.peer_of)(req.extensions());
        if rule.scope == Scope::Open {
            // Logging in is limited in the handler, by what is presented (a password per
            // account and per address; a key per id): a gateway logs many keys in from one
            // address.
            req.extensions_mut().insert(Peer(peer));
            return Ok(());
        }
        let identity = if self.off {
            let role = OFF_PREFERENCE
                .into_iter()
                .find(|r| rule.roles.contains(r))
                .ok_or_else(|| {
                    Status::permission_denied("authentication is off: bound roles cannot be acted")
                })?;
            let now = self.clock.now_ms();
            Identity {
                role,
                id: "unauthenticated".into(),
                city: self.tokens.city().to_string(),
                session: "off".into(),
                passenger: None,
                issued_ms: now,
                expires_ms: i64::MAX,
            }
        } else {
            self.identity(req.extensions(), req.headers())?
        };
        if self.revocations.is_revoked(&identity) {
            return Err(Status::unauthenticated("the credential has been revoked"));
        }
        if !rule.roles.contains(&identity.role) {
            let method = path.rsplit('/').next().unwrap_or(path);
            return Err(Status::permission_denied(format!(
                "a {} may not call {method}",
                identity.role
            )));
        }
        // With authentication off every call is one made-up identity: a per-identity
        // limit would throttle the whole server as if it were one operator.
        if let Some(limit) = rule.limit.filter(|_| !self.off) {
            self.limit(limit, identity.role.is_service(), &identity.actor())?;
        }
        req.extensions_mut().insert(Caller {
            identity,
            peer,
            revocations: self.revocations.clone(),
        });
        Ok(())
    }

    /// Counts one call of `key` against `limit`; RESOURCE_EXHAUSTED with a retry hint.
    pub fn limit(&self, limit: Limit, service: bool, key: &str) -> Result<(), Status> {
        self.limiters.check(limit, service, key).map_err(exhausted)
    }
}

/// RESOURCE_EXHAUSTED with the wait in the message and in `retry-after-ms`.
pub fn exhausted(wait: Duration) -> Status {
    let ms = wait.as_millis().max(1);
    let mut status = Status::resource_exhausted(format!(
        "too many requests; try again in {:.1} s",
        ms as f64 / 1000.0
    ));
    if let Ok(v) = ms.to_string().parse() {
        status.metadata_mut().insert(RETRY_AFTER_MS, v);
    }
    status
}

/// The layer: wraps every service of the server.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    gate: Arc<Gate>,
}

impl AuthLayer {
    /// A layer deciding with `gate`.
    pub fn new(gate: Arc<Gate>) -> Self {
        Self { gate }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            gate: self.gate.clone(),
        }
    }
}

/// The layer's service.
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    gate: Arc<Gate>,
}

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future =
        futures::future::Either<S::Future, std::future::Ready<Result<Self::Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        match self.gate.admit(&mut req) {
            Ok(()) => futures::future::Either::Left(self.inner.call(req)),
            Err(status) => {
                tracing::debug!(path = req.uri().path(), code = ?status.code(), "refused");
                futures::future::Either::Right(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}
