//! Logging in to the console, and who a console request is.
//!
//! `POST /console/api/login` calls `AuthService.Login` in-process (the same accounts,
//! password check, lockout and tokens as a gRPC client gets) and keeps the access token
//! and the refresh token in two cookies: `HttpOnly` (no script reads them),
//! `SameSite=Strict` (no other site's page sends them), `Secure` when served over TLS,
//! `Path=/console/api`. `refresh` rotates both through `AuthService.Refresh`; `logout`
//! ends the session (`AuthService.Logout`) and clears them.
//!
//! Cross-site request forgery: besides `SameSite=Strict`, every state-changing request
//! must carry the header `X-Console: 1`, which a cross-site form cannot set and a
//! cross-site script may not send without a CORS preflight the server never grants.

use crate::Shared;
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{Extensions, HeaderMap, HeaderValue, header};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use taxi_auth::Caller;
use taxi_proto::v1 as pb;
use tonic::Code;
use tonic::transport::server::TcpConnectInfo;

/// The access token's cookie.
pub const ACCESS_COOKIE: &str = "taxi_console_at";
/// The refresh token's cookie.
pub const REFRESH_COOKIE: &str = "taxi_console_rt";
/// The header every state-changing request must carry (value `1`).
pub const CSRF_HEADER: &str = "x-console";

/// `POST /console/api/login` body.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginBody {
    username: String,
    password: String,
}

/// Who is logged in (login, refresh and `me` answer this).
#[derive(Debug, Serialize)]
pub(crate) struct Me {
    role: String,
    id: String,
    city: String,
    /// Access token expiry, ms since the epoch (the page refreshes before it).
    access_expires_ms: i64,
}

/// Refuses a state-changing request without the console's header.
pub(crate) fn csrf(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        Some("1") => Ok(()),
        _ => Err(ApiError::new(
            Code::PermissionDenied,
            "state-changing requests need the header `X-Console: 1`",
        )),
    }
}

/// A cookie's value.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// The request's access token, from its cookie.
pub(crate) fn access_token(headers: &HeaderMap) -> Result<String, ApiError> {
    cookie(headers, ACCESS_COOKIE)
        .ok_or_else(|| ApiError::new(Code::Unauthenticated, "not logged in"))
}

/// Admits a console endpoint that is not itself an RPC as the RPC it stands for
/// (`/taxi.v1.<Service>/<Method>`): the same gate, table row, roles, city and limit.
pub(crate) fn admit_as(
    shared: &Shared,
    rpc: &str,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> Result<Caller, ApiError> {
    let token = access_token(headers)?;
    let mut req = http::Request::builder()
        .uri(rpc)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(())
        .map_err(|_| ApiError::new(Code::Unauthenticated, "the session cookie is malformed"))?;
    if let Some(peer) = (shared.peer_of)(extensions) {
        req.extensions_mut().insert(TcpConnectInfo {
            local_addr: None,
            remote_addr: Some(peer),
        });
    }
    shared.gate.admit(&mut req).map_err(ApiError::from)?;
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| ApiError::new(Code::Unauthenticated, "not logged in"))
}

fn set_cookie(name: &str, value: &str, secure: bool) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/console/api; HttpOnly; SameSite=Strict");
    if value.is_empty() {
        c.push_str("; Max-Age=0");
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn peer(shared: &Shared, extensions: &Extensions) -> Option<SocketAddr> {
    (shared.peer_of)(extensions)
}

fn role_name(code: i32) -> String {
    pb::Role::try_from(code)
        .map(|r| {
            r.as_str_name()
                .trim_start_matches("ROLE_")
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

fn with_tokens(shared: &Shared, me: Me, tokens: &pb::Tokens) -> Response {
    let mut resp = Json(me).into_response();
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(ACCESS_COOKIE, &tokens.access_token, shared.secure),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(REFRESH_COOKIE, &tokens.refresh_token, shared.secure),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn expires_ms(t: &pb::Tokens) -> i64 {
    t.access_expires_at
        .as_ref()
        .map(|ts| ts.seconds * 1000 + i64::from(ts.nanos) / 1_000_000)
        .unwrap_or_default()
}

/// `POST /console/api/login`.
pub(crate) async fn login(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    extensions: Extensions,
    Json(body): Json<LoginBody>,
) -> Result<Response, ApiError> {
    csrf(&headers)?;
    let req = pb::LoginRequest {
        credential: Some(pb::login_request::Credential::Password(
            pb::PasswordCredential {
                username: body.username,
                password: body.password,
            },
        )),
    };
    let r: pb::LoginResponse = shared
        .bridge
        .call(
            "/taxi.v1.AuthService/Login",
            &req,
            None,
            peer(&shared, &extensions),
        )
        .await?;
    let principal = r.principal.unwrap_or_default();
    let role = role_name(principal.role);
    // The console is the operators' tool: other people (a fleet admin, an auditor) may
    // use it within what the table lets them read; services and devices may not.
    if !matches!(
        role.as_str(),
        "operator" | "supervisor" | "auditor" | "fleet_admin"
    ) {
        return Err(ApiError::new(
            Code::PermissionDenied,
            format!("a {role} does not use the operators' console"),
        ));
    }
    let tokens = r.tokens.unwrap_or_default();
    let me = Me {
        role,
        id: principal.id,
        city: principal.city,
        access_expires_ms: expires_ms(&tokens),
    };
    Ok(with_tokens(&shared, me, &tokens))
}

/// `POST /console/api/refresh`: new tokens for the session.
pub(crate) async fn refresh(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    extensions: Extensions,
) -> Result<Response, ApiError> {
    csrf(&headers)?;
    let refresh_token = cookie(&headers, REFRESH_COOKIE)
        .ok_or_else(|| ApiError::new(Code::Unauthenticated, "not logged in"))?;
    let r: pb::RefreshResponse = shared
        .bridge
        .call(
            "/taxi.v1.AuthService/Refresh",
            &pb::RefreshRequest { refresh_token },
            None,
            peer(&shared, &extensions),
        )
        .await?;
    let tokens = r.tokens.unwrap_or_default();
    let who: pb::WhoAmIResponse = shared
        .bridge
        .call(
            "/taxi.v1.AuthService/WhoAmI",
            &pb::WhoAmIRequest {},
            Some(&tokens.access_token),
            peer(&shared, &extensions),
        )
        .await?;
    let principal = who.principal.unwrap_or_default();
    let me = Me {
        role: role_name(principal.role),
        id: principal.id,
        city: principal.city,
        access_expires_ms: expires_ms(&tokens),
    };
    Ok(with_tokens(&shared, me, &tokens))
}

/// `POST /console/api/logout`.
pub(crate) async fn logout(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    extensions: Extensions,
) -> Result<Response, ApiError> {
    csrf(&headers)?;
    if let Ok(token) = access_token(&headers) {
        // An expired token cannot log out; its session ends with its refresh token.
        let _: Result<pb::LogoutResponse, _> = shared
            .bridge
            .call(
                "/taxi.v1.AuthService/Logout",
                &pb::LogoutRequest {},
                Some(&token),
                peer(&shared, &extensions),
            )
            .await;
    }
    let mut resp = Json(serde_json::json!({})).into_response();
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(ACCESS_COOKIE, "", shared.secure),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(REFRESH_COOKIE, "", shared.secure),
    );
    Ok(resp)
}

/// `GET /console/api/me`: who is logged in, and the console's configuration.
pub(crate) async fn me(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    extensions: Extensions,
) -> Result<Json<serde_json::Value>, ApiError> {
    let token = access_token(&headers)?;
    let who: pb::WhoAmIResponse = shared
        .bridge
        .call(
            "/taxi.v1.AuthService/WhoAmI",
            &pb::WhoAmIRequest {},
            Some(&token),
            peer(&shared, &extensions),
        )
        .await?;
    let p = who.principal.unwrap_or_default();
    let s = &shared.settings;
    let centre = shared.city.centre;
    let (lat, lon) = crate::map::for_map(&shared.settings, centre.lat(), centre.lon());
    Ok(Json(serde_json::json!({
        "role": role_name(p.role),
        "id": p.id,
        "city": p.city,
        "city_name": shared.city.name,
        "centre": { "lat": lat, "lon": lon },
        "tiles": s.tiles,
        "pmtiles": s.pmtiles.as_ref().map(|_| "/console/api/map/base.pmtiles"),
        "tiles_gcj02": s.tiles_gcj02,
        "escalate_after_s": s.escalate_after.as_secs(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_by_name_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; taxi_console_at=tok.en; b=2"),
        );
        assert_eq!(cookie(&h, ACCESS_COOKIE).as_deref(), Some("tok.en"));
        assert_eq!(cookie(&h, REFRESH_COOKIE), None);
    }

    #[test]
    fn session_cookies_are_http_only_strict_and_secure_over_tls() {
        let c = set_cookie(ACCESS_COOKIE, "x", true);
        let c = c.to_str().unwrap();
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(
            !set_cookie(ACCESS_COOKIE, "x", false)
                .to_str()
                .unwrap()
                .contains("Secure")
        );
    }

    #[test]
    fn state_changes_need_the_console_header() {
        let mut h = HeaderMap::new();
        assert!(csrf(&h).is_err());
        h.insert(CSRF_HEADER, HeaderValue::from_static("1"));
        assert!(csrf(&h).is_ok());
    }
}
