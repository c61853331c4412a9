//! The adapter for Alibaba Cloud's Phone Number Protection (号码隐私保护, product
//! `Dypls`, API version 2017-05-25): `BindAxb`, `UnbindSubscription`,
//! `QuerySubscriptionDetail`. The other Chinese clouds' AXB APIs have the same shape
//! (bind A and B on a pool, get X and a subscription id; unbind by both).
//!
//! Requests are RPC style: the action's parameters in the query string, signed with the
//! V3 scheme (`ACS3-HMAC-SHA256`: a canonical request hashed with SHA-256, signed with
//! HMAC-SHA256 under the AccessKey secret, from RustCrypto's `hmac` and `sha2`), sent
//! over HTTPS (rustls) with a timeout. Answers are JSON with `Code` = `OK` or an error
//! code, which [`ProviderError`] keeps.

use crate::provider::{BindRequest, Bound, Detail, Provider, ProviderError};
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use taxi_domain::clock::Clock;
use taxi_domain::privacy::ProviderKind;

/// The API version every request names.
pub const API_VERSION: &str = "2017-05-25";
/// The signature algorithm's name.
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";
/// The default endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://dyplsapi.aliyuncs.com";
/// The default time one call may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The product type `QuerySubscriptionDetail` names for AXB bindings.
pub const PRODUCT_AXB: &str = "AXB_170";
/// The code `BindAxb` answers when no number of the pool is free for the parties.
pub const NO_NUMBER_CODE: &str = "isv.NO_AVAILABLE_NUMBER";

/// How to reach the API.
#[derive(Clone, PartialEq, Eq)]
pub struct AliyunSettings {
    /// `https://dyplsapi.aliyuncs.com`, or `http://` to a loopback address (tests).
    pub endpoint: String,
    /// The AccessKey id.
    pub access_key_id: String,
    /// The AccessKey secret (never logged).
    pub access_key_secret: String,
    /// The number pool's key in the console (`PoolKey`).
    pub pool_key: String,
    /// How long one call may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for AliyunSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AliyunSettings")
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field("pool_key", &self.pool_key)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why an endpoint is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadEndpoint(pub String);

/// Checks an endpoint: `https://host[:port]`, or `http://` only to a loopback address
/// (a test server); no path, query or credentials.
pub fn check_endpoint(text: &str) -> Result<reqwest::Url, BadEndpoint> {
    let url = reqwest::Url::parse(text).map_err(|e| BadEndpoint(format!("is not a URL: {e}")))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(BadEndpoint("has no host".into())),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err(BadEndpoint("must be https outside loopback".into())),
        other => return Err(BadEndpoint(format!("has scheme {other}; use https"))),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(BadEndpoint("must not carry credentials".into()));
    }
    if url.path() != "/" || url.query().is_some() {
        return Err(BadEndpoint("must have no path or query".into()));
    }
    Ok(url)
}

/// RFC 3986 encoding as the signature wants it: everything but `A-Z a-z 0-9 - _ . ~`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes one query name or value.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

/// The canonical query string: names and values encoded, sorted by name, joined by `&`.
pub fn canonical_query(params: &[(&str, String)]) -> String {
    let mut pairs: Vec<(String, String)> =
        params.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Lower-case hex SHA-256.
fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A signed request's headers, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// Every header to send (lower-case names), `authorization` included.
    pub headers: BTreeMap<String, String>,
    /// The canonical request that was signed (for logs of a refused signature).
    pub canonical_request: String,
}

/// What a request signs: `method` on `/` of `host` with the canonical `query`, an empty
/// body, and the `x-acs-*` headers of `action` at `date` (`2024-01-02T03:04:05Z`) with
/// `nonce`.
#[derive(Debug, Clone, Copy)]
pub struct ToSign<'a> {
    /// `POST`.
    pub method: &'a str,
    /// The endpoint's host (and port, if not the scheme's).
    pub host: &'a str,
    /// The canonical query string ([`canonical_query`]).
    pub query: &'a str,
    /// The API action.
    pub action: &'a str,
    /// UTC, ISO 8601 to the second.
    pub date: &'a str,
    /// A random value never used twice.
    pub nonce: &'a str,
}

/// Signs a request with the AccessKey `key_id` and its `secret`.
pub fn sign(key_id: &str, secret: &str, r: ToSign<'_>) -> Signed {
    let ToSign {
        method,
        host,
        query,
        action,
        date,
        nonce,
    } = r;
    let body_hash = sha256_hex(b"");
    let mut headers = BTreeMap::new();
    headers.insert("host".to_string(), host.to_string());
    headers.insert("x-acs-action".to_string(), action.to_string());
    headers.insert("x-acs-content-sha256".to_string(), body_hash.clone());
    headers.insert("x-acs-date".to_string(), date.to_string());
    headers.insert("x-acs-signature-nonce".to_string(), nonce.to_string());
    headers.insert("x-acs-version".to_string(), API_VERSION.to_string());
    // Sorted by name (a BTreeMap), each `name:value\n`.
    let canonical_headers: String = headers
        .iter()
        .map(|(k, v)| format!("{k}:{}\n", v.trim()))
        .collect();
    let signed_headers = headers.keys().cloned().collect::<Vec<_>>().join(";");
    let canonical_request =
        format!("{method}\n/\n{query}\n{canonical_headers}\n{signed_headers}\n{body_hash}");
    let string_to_sign = format!("{ALGORITHM}\n{}", sha256_hex(canonical_request.as_bytes()));
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(string_to_sign.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    headers.insert(
        "authorization".to_string(),
        format!(
            "{ALGORITHM} Credential={key_id},SignedHeaders={signed_headers},Signature={signature}"
        ),
    );
    Signed {
        headers,
        canonical_request,
    }
}

/// The Alibaba Cloud provider.
#[derive(Debug, Clone)]
pub struct Aliyun {
    http: reqwest::Client,
    url: reqwest::Url,
    settings: AliyunSettings,
    clock: Arc<dyn Clock>,
}

impl Aliyun {
    /// A client for `settings`, stamping requests by `clock`.
    pub fn new(settings: AliyunSettings, clock: Arc<dyn Clock>) -> Result<Self, BadEndpoint> {
        let url = check_endpoint(&settings.endpoint)?;
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .https_only(url.scheme() == "https")
            .build()
            .map_err(|e| BadEndpoint(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            url,
            settings,
            clock,
        })
    }

    /// Calls `action` with `params` (the pool key is added); the JSON answer when its
    /// `Code` is `OK`.
    pub async fn call(
        &self,
        action: &str,
        params: &[(&str, String)],
    ) -> Result<serde_json::Value, ProviderError> {
        let mut all: Vec<(&str, String)> = vec![("PoolKey", self.settings.pool_key.clone())];
        all.extend(params.iter().cloned());
        let query = canonical_query(&all);
        let now = chrono::DateTime::from_timestamp_millis(self.clock.now_ms())
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let host = match self.url.port() {
            Some(p) => format!("{}:{p}", self.url.host_str().unwrap_or_default()),
            None => self.url.host_str().unwrap_or_default().to_string(),
        };
        let signed = sign(
            &self.settings.access_key_id,
            &self.settings.access_key_secret,
            ToSign {
                method: "POST",
                host: &host,
                query: &query,
                action,
                date: &now,
                nonce: &nonce,
            },
        );
        let mut url = self.url.clone();
        url.set_query(Some(&query));
        let mut req = self.http.post(url);
        for (k, v) in &signed.headers {
            if k != "host" {
                req = req.header(k, v);
            }
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(format!("{action}: {e}")))?;
        let status = resp.status();
        let body = resp
            .text()
            .await
            .map_err(|e| ProviderError::Unavailable(format!("{action}: {e}")))?;
        let json: serde_json::Value = match serde_json::from_str(&body) {
            Ok(v) => v,
            Err(_) if status.is_server_error() => {
                return Err(ProviderError::Unavailable(format!(
                    "{action}: HTTP {status}"
                )));
            }
            Err(e) => {
                return Err(ProviderError::Refused {
                    code: format!("HTTP {}", status.as_u16()),
                    message: format!("{action}: not JSON: {e}"),
                });
            }
        };
        let code = json["Code"].as_str().unwrap_or_default().to_string();
        if code == "OK" {
            return Ok(json);
        }
        let message = json["Message"].as_str().unwrap_or_default().to_string();
        Err(match code.as_str() {
            NO_NUMBER_CODE => ProviderError::Exhausted,
            c if status.is_server_error()
                || c.starts_with("Throttling")
                || c.starts_with("ServiceUnavailable")
                || c == "InternalError" =>
            {
                ProviderError::Unavailable(format!("{action}: {c}: {message}"))
            }
            _ => {
                tracing::warn!(action, code = %code, %message, "privacy provider refused a call");
                ProviderError::Refused { code, message }
            }
        })
    }

    /// Beijing time, as the API's `Expiration` wants it.
    fn expiration(ms: i64) -> String {
        let beijing = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8");
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .with_timezone(&beijing)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    }
}

/// The API wants plain digits: landlines lose their dash.
fn digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

#[async_trait::async_trait]
impl Provider for Aliyun {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Aliyun
    }

    async fn bind(&self, r: &BindRequest) -> Result<Bound, ProviderError> {
        let json = self
            .call(
                "BindAxb",
                &[
                    ("PhoneNoA", digits(&r.a)),
                    ("PhoneNoB", digits(&r.b)),
                    ("Expiration", Self::expiration(r.expires_ms)),
                    ("OutId", r.key.clone()),
                ],
            )
            .await?;
        let dto = &json["SecretBindDTO"];
        match (dto["SecretNo"].as_str(), dto["SubsId"].as_str()) {
            (Some(x), Some(sub)) if !x.is_empty() && !sub.is_empty() => Ok(Bound {
                x: x.to_string(),
                sub: sub.to_string(),
            }),
            _ => Err(ProviderError::Refused {
                code: "BadAnswer".into(),
                message: "BindAxb answered OK without SecretNo and SubsId".into(),
            }),
        }
    }

    async fn unbind(&self, x: &str, sub: &str) -> Result<(), ProviderError> {
        let r = self
            .call(
                "UnbindSubscription",
                &[("SecretNo", x.to_string()), ("SubsId", sub.to_string())],
            )
            .await;
        match r {
            Ok(_) => Ok(()),
            // Released before (by us, or by its expiration): done.
            Err(ProviderError::Refused { code, .. }) if code.contains("NOT_EXIST") => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn query(&self, x: &str, sub: &str) -> Result<Option<Detail>, ProviderError> {
        let r = self
            .call(
                "QuerySubscriptionDetail",
                &[
                    ("PhoneNoX", x.to_string()),
                    ("SubsId", sub.to_string()),
                    ("ProductType", PRODUCT_AXB.to_string()),
                ],
            )
            .await;
        let json = match r {
            Ok(j) => j,
            Err(ProviderError::Refused { code, .. }) if code.contains("NOT_EXIST") => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let d = &json["SecretBindDetailDTO"];
        // Status 1 is a live binding; 0 is released.
        if d["Status"].as_i64() != Some(1) {
            return Ok(None);
        }
        let text = |k: &str| d[k].as_str().unwrap_or_default().to_string();
        Ok(Some(Detail {
            x: text("PhoneNoX"),
            a: text("PhoneNoA"),
            b: text("PhoneNoB"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_rfc3986() {
        assert_eq!(
            encode("a b*c~d-e_f.g/h+i=j&k"),
            "a%20b%2Ac~d-e_f.g%2Fh%2Bi%3Dj%26k"
        );
        assert_eq!(encode("渝"), "%E6%B8%9D");
        assert_eq!(encode("2024-01-02 03:04:05"), "2024-01-02%2003%3A04%3A05");
    }

    #[test]
    fn the_query_is_sorted_by_name() {
        let q = canonical_query(&[
            ("PhoneNoB", "13900000002".into()),
            ("PhoneNoA", "13900000001".into()),
            ("Expiration", "2024-01-02 03:04:05".into()),
        ]);
        assert_eq!(
            q,
            "Expiration=2024-01-02%2003%3A04%3A05&PhoneNoA=13900000001&PhoneNoB=13900000002"
        );
    }

    fn t<'a>(query: &'a str, nonce: &'a str) -> ToSign<'a> {
        ToSign {
            method: "POST",
            host: "h",
            query,
            action: "BindAxb",
            date: "2024-01-02T03:04:05Z",
            nonce,
        }
    }

    #[test]
    fn signing_names_every_header_and_is_deterministic() {
        let a = sign("id", "secret", t("A=1", "n1"));
        let b = sign("id", "secret", t("A=1", "n1"));
        assert_eq!(a, b);
        let auth = &a.headers["authorization"];
        assert!(auth.starts_with(
            "ACS3-HMAC-SHA256 Credential=id,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature="
        ));
        assert_eq!(
            a.canonical_request,
            "POST\n/\nA=1\nhost:h\nx-acs-action:BindAxb\nx-acs-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-acs-date:2024-01-02T03:04:05Z\nx-acs-signature-nonce:n1\nx-acs-version:2017-05-25\n\nhost;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // Anything signed changes the signature: another secret, nonce or parameter.
        for other in [
            sign("id", "secret2", t("A=1", "n1")),
            sign("id", "secret", t("A=1", "n2")),
            sign("id", "secret", t("A=2", "n1")),
        ] {
            assert_ne!(other.headers["authorization"], *auth);
        }
    }

    #[test]
    fn endpoints_are_https_except_on_loopback() {
        assert!(check_endpoint("https://dyplsapi.aliyuncs.com").is_ok());
        assert!(check_endpoint("http://127.0.0.1:8080").is_ok());
        assert!(check_endpoint("http://localhost:8080/").is_ok());
        assert!(check_endpoint("http://[::1]:8080").is_ok());
        for (bad, why) in [
            ("http://dyplsapi.aliyuncs.com", "https outside loopback"),
            ("ftp://127.0.0.1", "scheme"),
            ("https://u:p@example.com", "credentials"),
            ("https://example.com/x", "path"),
            ("not a url", "not a URL"),
        ] {
            let e = check_endpoint(bad).unwrap_err();
            assert!(e.0.contains(why), "{bad}: {}", e.0);
        }
    }

    #[test]
    fn expirations_are_beijing_time_and_numbers_plain_digits() {
        // 2024-01-01T16:00:00Z is midnight in Beijing.
        assert_eq!(Aliyun::expiration(1_704_124_800_000), "2024-01-02 00:00:00");
        assert_eq!(digits("023-61234567"), "02361234567");
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let s = AliyunSettings {
            endpoint: DEFAULT_ENDPOINT.into(),
            access_key_id: "id".into(),
            access_key_secret: "very-secret".into(),
            pool_key: "FC1".into(),
            timeout: DEFAULT_TIMEOUT,
        };
        assert!(!format!("{s:?}").contains("very-secret"));
    }
}
