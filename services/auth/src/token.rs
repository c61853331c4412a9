//! Short-lived access tokens: JWTs signed with HS256 (`jsonwebtoken`), carrying the role,
//! the bound id, the city and the session. Expiry is checked against the injected clock,
//! not the machine's, so tests step time instead of sleeping.
//!
//! A client sends the same token with every call until it refreshes it, so a token whose
//! signature and claims were checked once is remembered (bounded, by its whole text):
//! checking the signature and parsing the claims on every call was a measurable share of
//! a booking's server time (`taxi bench --scenario burst`). Expiry is still checked
//! against the clock on every call, and revocation by the layer after it; a token that
//! failed is never remembered, and any change to a token's text is a different key.

use crate::role::{Identity, Role};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use std::sync::Arc;
use std::time::Duration;

/// How many verified tokens are remembered: one or two per client that calls often (a
/// driver's app, a device, an operator's seat, a service), for a large city's fleet. At
/// about 0.5 KB an entry this bounds the memory to some tens of MB; beyond it the least
/// used are forgotten and verified again when they come back.
pub const VERIFIED_CAPACITY: usize = 50_000;

/// Shortest signing key accepted (bytes).
pub const MIN_KEY_BYTES: usize = 32;

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Claims {
    /// The bound id (account, taxi, device, relative, service).
    pub sub: String,
    /// The role's code.
    pub role: String,
    /// The city code.
    pub city: String,
    /// The session id.
    pub sid: String,
    /// For a relative: the passenger's canonical phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psg: Option<String>,
    /// Issued (ms).
    pub iat_ms: i64,
    /// Expires (ms).
    pub exp_ms: i64,
    /// Expires (s), the registered claim, for other tools.
    pub exp: i64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token we signed (or damaged).
    #[error("the access token is not valid")]
    Invalid,
    /// Past its expiry.
    #[error("the access token has expired; refresh it")]
    Expired,
    /// Signed for another city.
    #[error("the credential belongs to city {0}")]
    OtherCity(String),
}

/// Issues and checks the access tokens of one city.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    city: String,
    ttl: Duration,
    /// Tokens whose signature, role and city were checked, with whom they name.
    verified: Arc<quick_cache::sync::Cache<String, Identity>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("city", &self.city)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// A signing key that is too short.
#[derive(Debug, thiserror::Error)]
#[error("the token signing key must be at least {MIN_KEY_BYTES} bytes")]
pub struct ShortKey;

impl Tokens {
    /// Tokens of `city` signed with `key`, valid for `ttl`.
    pub fn new(key: &[u8], city: &str, ttl: Duration) -> Result<Self, ShortKey> {
        if key.len() < MIN_KEY_BYTES {
            return Err(ShortKey);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is ours to check, against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims.clear();
        Ok(Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            city: city.to_string(),
            ttl,
            verified: Arc::new(quick_cache::sync::Cache::new(VERIFIED_CAPACITY)),
        })
    }

    /// How long an access token lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The city these tokens are for.
    pub fn city(&self) -> &str {
        &self.city
    }

    /// A token for `role`/`id` in `session`, issued at `now_ms`; with its expiry (ms).
    pub fn issue(
        &self,
        role: Role,
        id: &str,
        session: &str,
        passenger: Option<&str>,
        now_ms: i64,
    ) -> (String, i64) {
        let exp_ms = now_ms + self.ttl.as_millis() as i64;
        let claims = Claims {
            sub: id.to_string(),
            role: role.code().to_string(),
            city: self.city.clone(),
            sid: session.to_string(),
            psg: passenger.map(str::to_string),
            iat_ms: now_ms,
            exp_ms,
            exp: exp_ms.div_euclid(1000),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing does not fail");
        (token, exp_ms)
    }

    /// The identity `token` speaks for, if it is ours, current and of this city.
    pub fn verify(&self, token: &str, now_ms: i64) -> Result<Identity, TokenError> {
        let identity = match self.verified.get(token) {
            Some(identity) => identity,
            None => {
                let identity = self.check(token)?;
                self.verified.insert(token.to_string(), identity.clone());
                identity
            }
        };
        if now_ms >= identity.expires_ms {
            return Err(TokenError::Expired);
        }
        Ok(identity)
    }

    /// Checks `token`'s signature, role and city (not its expiry).
    fn check(&self, token: &str) -> Result<Identity, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        let c = data.claims;
        let role = Role::from_code(&c.role).ok_or(TokenError::Invalid)?;
        if c.city != self.city {
            return Err(TokenError::OtherCity(c.city));
        }
        Ok(Identity {
            role,
            id: c.sub,
            city: c.city,
            session: c.sid,
            passenger: c.psg,
            issued_ms: c.iat_ms,
            expires_ms: c.exp_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let t = Tokens::new(KEY, "500100", Duration::from_secs(900)).unwrap();
        let (tok, exp) = t.issue(Role::Relative, "R1", "s1", Some("13800000000"), 1_000);
        assert_eq!(exp, 901_000);
        let who = t.verify(&tok, 2_000).unwrap();
        assert_eq!(who.role, Role::Relative);
        assert_eq!(who.id, "R1");
        assert_eq!(who.session, "s1");
        assert_eq!(who.passenger.as_deref(), Some("13800000000"));
        assert_eq!(who.issued_ms, 1_000);
        assert_eq!(t.verify(&tok, 901_000), Err(TokenError::Expired));
    }

    #[test]
    fn other_keys_cities_and_edits_are_refused() {
        let t = Tokens::new(KEY, "500100", Duration::from_secs(900)).unwrap();
        let (tok, _) = t.issue(Role::Operator, "li", "s", None, 0);
        let other_key = Tokens::new(&[7u8; 32], "500100", Duration::from_secs(900)).unwrap();
        assert_eq!(other_key.verify(&tok, 1), Err(TokenError::Invalid));
        let other_city = Tokens::new(KEY, "110100", Duration::from_secs(900)).unwrap();
        assert_eq!(
            other_city.verify(&tok, 1),
            Err(TokenError::OtherCity("500100".into()))
        );
        // Flip one character of the payload.
        let mut parts: Vec<String> = tok.split('.').map(str::to_string).collect();
        let mut p = parts[1].clone().into_bytes();
        p[5] = if p[5] == b'A' { b'B' } else { b'A' };
        parts[1] = String::from_utf8(p).unwrap();
        assert_eq!(t.verify(&parts.join("."), 1), Err(TokenError::Invalid));
        assert_eq!(t.verify("not a token", 1), Err(TokenError::Invalid));
        // "alg": "none" is never accepted.
        let none = format!("eyJhbGciOiJub25lIn0.{}.", tok.split('.').nth(1).unwrap());
        assert_eq!(t.verify(&none, 1), Err(TokenError::Invalid));
    }

    #[test]
    fn a_remembered_token_still_expires_and_its_edits_are_still_refused() {
        let t = Tokens::new(KEY, "500100", Duration::from_secs(900)).unwrap();
        let (tok, exp) = t.issue(Role::Driver, "T1", "s", None, 0);
        // The first call checks and remembers it, the second finds it remembered.
        assert_eq!(t.verify(&tok, 1).unwrap().id, "T1");
        assert_eq!(t.verify(&tok, 2).unwrap().id, "T1");
        assert_eq!(t.verified.len(), 1);
        assert_eq!(t.verify(&tok, exp), Err(TokenError::Expired));
        // Every edit of a remembered token is another key, checked in full.
        let mut edited = tok.clone().into_bytes();
        for i in [0, tok.len() / 2, tok.len() - 1] {
            let keep = edited[i];
            edited[i] = if keep == b'A' { b'B' } else { b'A' };
            let text = String::from_utf8(edited.clone()).unwrap();
            assert_eq!(t.verify(&text, 3), Err(TokenError::Invalid), "edit at {i}");
            edited[i] = keep;
        }
        // A token that failed is never remembered; a clone shares what was checked.
        assert_eq!(t.verified.len(), 1);
        assert_eq!(t.clone().verify(&tok, 4).unwrap().id, "T1");
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(Tokens::new(b"short", "500100", Duration::from_secs(1)).is_err());
    }
}
