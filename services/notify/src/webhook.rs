//! The signed webhook sender: posts each message as JSON to the city's SMS/voice gateway,
//! signed by the Standard Webhooks scheme (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, secret
//! `whsec_<base64>`), so any Standard Webhooks library verifies it.
//!
//! `webhook-id` is the message's idempotency key: the same on every delivery of one
//! message (a retry, a redelivery after a worker died, a replayed dead letter), as the
//! scheme asks, so the gateway recognises a repeat.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;
use taxi_domain::FieldError;

/// A webhook signing secret (`whsec_` + base64 of the key bytes).
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// Parses `whsec_<base64>` (the prefix may be left off, as Standard Webhooks
    /// libraries allow); `field` names the setting in the error. The key must be 24 to
    /// 64 bytes (the scheme's range).
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldError> {
        let b64 = text.trim().strip_prefix("whsec_").unwrap_or(text.trim());
        let key = B64
            .decode(b64)
            .map_err(|_| FieldError::new(field, "must be whsec_ followed by base64"))?;
        if !(24..=64).contains(&key.len()) {
            return Err(FieldError::new(
                field,
                format!("the key must be 24 to 64 bytes, not {}", key.len()),
            ));
        }
        Ok(Self(key))
    }

    /// A new random secret, as `whsec_<base64>` (the demo's).
    pub fn generate() -> String {
        let key: [u8; 32] = rand::random();
        format!("whsec_{}", B64.encode(key))
    }

    /// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
    pub fn sign(&self, id: &str, timestamp_s: i64, body: &[u8]) -> String {
        // HMAC accepts a key of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp_s.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
    }

    /// Whether `header` (space-separated `v1,<sig>` entries) holds a valid signature of
    /// the message: what a receiver checks (the tests' receiver uses it). Constant time.
    pub fn verify(&self, id: &str, timestamp_s: i64, body: &[u8], header: &str) -> bool {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp_s.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        header
            .split(' ')
            .filter_map(|s| s.strip_prefix("v1,"))
            .filter_map(|s| B64.decode(s).ok())
            .any(|sig| mac.clone().verify_slice(&sig).is_ok())
    }
}

/// Why a post failed (the message is then retried).
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No answer: refused, reset, timed out.
    #[error("gateway unreachable: {0}")]
    Unreachable(String),
    /// The gateway answered with an error status.
    #[error("gateway answered {0}")]
    Status(u16),
}

/// Posts signed messages to one URL.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    url: reqwest::Url,
    secret: Secret,
    client: reqwest::Client,
}

impl WebhookSender {
    /// A sender to `url` (already checked by `taxi_domain::notify::check_webhook_url`)
    /// with `timeout` per post.
    pub fn new(url: reqwest::Url, secret: Secret, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("taxi-notify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            url,
            secret,
            client,
        })
    }

    /// Posts `body` as message `id`, signed at `timestamp_s`. Any 2xx is delivered.
    pub async fn post(
        &self,
        id: &str,
        timestamp_s: i64,
        body: Vec<u8>,
    ) -> Result<(), WebhookError> {
        let signature = self.secret.sign(id, timestamp_s, &body);
        let r = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp_s.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| WebhookError::Unreachable(e.without_url().to_string()))?;
        if r.status().is_success() {
            Ok(())
        } else {
            Err(WebhookError::Status(r.status().as_u16()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector published with the Standard Webhooks specification.
    #[test]
    fn signs_the_specifications_example_exactly() {
        let secret = Secret::parse("s", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let header = format!("v1,bm9wZQ== {sig}");
        assert!(secret.verify(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
            &header
        ));
        assert!(!secret.verify(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_331,
            br#"{"test": 2432232314}"#,
            &header
        ));
        assert!(!secret.verify("msg_other", 1_614_265_330, br#"{"test": 2432232314}"#, &sig));
    }

    #[test]
    fn secrets_are_checked_and_generated_ones_parse() {
        assert!(Secret::parse("s", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        assert_eq!(
            Secret::parse("TAXI_NOTIFY_WEBHOOK_SECRET", "whsec_!!")
                .unwrap_err()
                .field,
            "TAXI_NOTIFY_WEBHOOK_SECRET"
        );
        assert!(
            Secret::parse("s", "whsec_c2hvcnQ=")
                .unwrap_err()
                .reason
                .contains("24 to 64")
        );
        let g = Secret::generate();
        assert!(g.starts_with("whsec_"));
        assert!(Secret::parse("s", &g).is_ok());
        assert_eq!(
            format!("{:?}", Secret::parse("s", &g).unwrap()),
            "Secret(..)"
        );
    }
}
