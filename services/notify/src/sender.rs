//! Senders: how a message leaves the system. The webhook sender posts to the city's
//! SMS/voice gateway; the log sender writes a line (the demo, development). Which one runs
//! is configuration ([`crate::SenderChoice`]).

use crate::webhook::{WebhookError, WebhookSender};
use serde::Serialize;
use taxi_domain::notify::Message;
use taxi_domain::validate::mask_phone;

/// What the gateway receives: the Standard Webhooks payload shape (`type`, `timestamp`,
/// `data`).
#[derive(Debug, Serialize)]
pub struct Payload<'a> {
    /// `notification.<kind>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it was sent (RFC 3339).
    pub timestamp: String,
    /// The message.
    pub data: PayloadData<'a>,
}

/// The message in a payload.
#[derive(Debug, Serialize)]
pub struct PayloadData<'a> {
    /// `<subject>:<kind>:<recipient>`, the same on every delivery (also `webhook-id`).
    pub idempotency_key: String,
    /// The message kind's code.
    pub kind: &'a str,
    /// The recipient's phone.
    pub to: &'a str,
    /// `sms` or `voice`.
    pub channel: &'a str,
    /// The SMS, or the text to speak.
    pub text: String,
    /// The order ('' for an alert).
    pub order_id: &'a str,
    /// The alert ('' for an order).
    pub alert_id: &'a str,
}

impl<'a> Payload<'a> {
    /// The payload of `m`, sent at `now_ms`.
    pub fn of(m: &'a Message, now_ms: i64) -> Self {
        let timestamp = chrono::DateTime::from_timestamp_millis(now_ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        Self {
            kind: format!("notification.{}", m.kind.code()),
            timestamp,
            data: PayloadData {
                idempotency_key: m.idempotency_key(),
                kind: m.kind.code(),
                to: &m.to,
                channel: m.channel.code(),
                text: m.text(),
                order_id: &m.order,
                alert_id: &m.alert,
            },
        }
    }
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The webhook failed.
    #[error(transparent)]
    Webhook(#[from] WebhookError),
}

/// A configured sender.
#[derive(Debug, Clone)]
pub enum Sender {
    /// Writes each message to the log (tracing, phone masked).
    Log,
    /// Posts each message to the gateway, signed.
    Webhook(WebhookSender),
}

impl Sender {
    /// Delivers `m` at `now_ms` (the store's clock).
    pub async fn send(&self, m: &Message, now_ms: i64) -> Result<(), SendError> {
        match self {
            Sender::Log => {
                tracing::info!(
                    kind = m.kind.code(),
                    to = %mask_phone(&m.to),
                    channel = m.channel.code(),
                    key = %m.idempotency_key(),
                    text = %m.text(),
                    "notification"
                );
                Ok(())
            }
            Sender::Webhook(w) => {
                let payload = Payload::of(m, now_ms);
                let body = serde_json::to_vec(&payload).expect("a payload is plain JSON");
                w.post(&payload.data.idempotency_key, now_ms.div_euclid(1000), body)
                    .await?;
                Ok(())
            }
        }
    }
}
