//! Notifications: the outbox's sender workers, the senders, and
//! `taxi.v1.NotificationService` (dead letters for operators).
//!
//! # Layout
//! - [`worker`]: takes messages from the outbox (`taxi_store::outbox`) and delivers them at
//!   least once: retries with back-off, claiming of a dead worker's messages, dead letters.
//! - [`sender`]: the log sender and the payload the webhook sender posts.
//! - [`webhook`]: the Standard Webhooks signature and the HTTP client (reqwest, rustls).
//! - this module: [`NotifySettings`] and the dead-letter service.
//!
//! The messages themselves are written by the transition scripts in the store (the
//! transactional outbox); their texts, channels, idempotency keys and back-off are
//! `taxi_domain::notify`.

pub mod sender;
pub mod webhook;
pub mod worker;

pub use sender::Sender;
pub use worker::Worker;

use std::time::Duration;
use taxi_auth::Caller;
use taxi_domain::FieldError;
use taxi_domain::notify::{Backoff, Channel, Message, MessageKind, check_webhook_url};
use taxi_edge::{ApiError, ApiResult, actor, convert};
use taxi_proto::v1 as pb;
use taxi_proto::v1::notification_service_server::{NotificationService, NotificationServiceServer};
use taxi_store::Store;
use tonic::{Request, Response, Status};

/// Which sender delivers messages. (Its `Debug` never shows the secret.)
#[derive(Clone, Default, PartialEq, Eq)]
pub enum SenderChoice {
    /// The log (the default: development and the demo).
    #[default]
    Log,
    /// The gateway's webhook.
    Webhook {
        /// `https://...` (or `http://` to a loopback host).
        url: String,
        /// `whsec_<base64>`.
        secret: String,
    },
}

impl std::fmt::Debug for SenderChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SenderChoice::Log => f.write_str("Log"),
            SenderChoice::Webhook { url, .. } => f
                .debug_struct("Webhook")
                .field("url", url)
                .field("secret", &"..")
                .finish(),
        }
    }
}

/// How messages are sent.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// Which sender.
    pub sender: SenderChoice,
    /// Sender workers in this process (0: none; the dead-letter service is still served).
    pub workers: usize,
    /// Messages a worker takes at once.
    pub batch: usize,
    /// Deliveries of one worker in flight at once.
    pub concurrency: usize,
    /// A pending message idle this long is claimed by another worker (its reader died).
    /// Longer than a delivery can take (`timeout`), or live deliveries are doubled.
    pub claim_idle: Duration,
    /// How long a worker waits for new messages before it looks at retries again.
    pub poll: Duration,
    /// One webhook post's bound.
    pub timeout: Duration,
    /// Retries and dead letters.
    pub backoff: Backoff,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            sender: SenderChoice::Log,
            workers: 1,
            batch: 32,
            concurrency: 8,
            claim_idle: Duration::from_secs(60),
            poll: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            backoff: Backoff::default(),
        }
    }
}

impl NotifySettings {
    /// Checks the settings and builds the sender; errors name the environment variable.
    pub fn sender(&self) -> Result<Sender, FieldError> {
        self.backoff.check("TAXI_NOTIFY")?;
        if self.batch == 0 || self.batch > 1000 {
            return Err(FieldError::new(
                "TAXI_NOTIFY_BATCH",
                "must be between 1 and 1000",
            ));
        }
        if self.claim_idle <= self.timeout {
            return Err(FieldError::new(
                "TAXI_NOTIFY_CLAIM_IDLE_MS",
                "must be longer than TAXI_NOTIFY_TIMEOUT_MS (a live delivery would be claimed)",
            ));
        }
        match &self.sender {
            SenderChoice::Log => Ok(Sender::Log),
            SenderChoice::Webhook { url, secret } => {
                let url = check_webhook_url("TAXI_NOTIFY_WEBHOOK_URL", url)?;
                let secret = webhook::Secret::parse("TAXI_NOTIFY_WEBHOOK_SECRET", secret)?;
                let w = webhook::WebhookSender::new(url, secret, self.timeout)
                    .map_err(|e| FieldError::new("TAXI_NOTIFY_WEBHOOK_URL", e))?;
                Ok(Sender::Webhook(w))
            }
        }
    }

    /// Starts the configured workers; returns their tasks.
    pub fn spawn_workers(
        &self,
        store: &Store,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> Result<Vec<tokio::task::JoinHandle<()>>, FieldError> {
        let sender = self.sender()?;
        Ok((0..self.workers)
            .map(|n| {
                let w = Worker::new(
                    store.clone(),
                    sender.clone(),
                    self.clone(),
                    &Worker::unique_name(n),
                );
                tokio::spawn(w.run(shutdown.clone()))
            })
            .collect())
    }
}

/// A message on the wire.
pub fn notification(m: &Message) -> pb::Notification {
    pb::Notification {
        kind: match m.kind {
            MessageKind::Assigned => pb::MessageKind::Assigned,
            MessageKind::Arrived => pb::MessageKind::Arrived,
            MessageKind::Completed => pb::MessageKind::Completed,
            MessageKind::Unfulfilled => pb::MessageKind::Unfulfilled,
            MessageKind::Emergency => pb::MessageKind::Emergency,
            MessageKind::Booked => pb::MessageKind::Booked,
            MessageKind::Late => pb::MessageKind::Late,
        } as i32,
        to: m.to.clone(),
        channel: match m.channel {
            Channel::Sms => pb::NotifyChannel::Sms,
            Channel::Voice => pb::NotifyChannel::Voice,
        } as i32,
        text: m.text(),
        idempotency_key: m.idempotency_key(),
        order_id: m.order.clone(),
        alert_id: m.alert.clone(),
    }
}

/// The dead-letter service of one city.
#[derive(Debug, Clone)]
pub struct Notifications {
    store: Store,
}

impl Notifications {
    /// The service over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> NotificationServiceServer<Self> {
        NotificationServiceServer::new(self)
    }

    async fn list(&self, r: pb::ListDeadLettersRequest) -> ApiResult<pb::ListDeadLettersResponse> {
        let size = match r.page_size {
            0 => 50,
            n if n > 100 => return Err(ApiError::invalid("page_size", "at most 100")),
            n => n as usize,
        };
        let (dead, total) = self.store.dead_letters(r.offset as usize, size).await?;
        Ok(pb::ListDeadLettersResponse {
            dead_letters: dead
                .iter()
                .map(|d| pb::DeadLetter {
                    id: d.id.clone(),
                    // An entry that was never a message is shown without one.
                    notification: Message::from_fields(&d.fields)
                        .ok()
                        .as_ref()
                        .map(notification),
                    attempts: d.attempts,
                    error: d.error.clone(),
                    died_time: Some(convert::timestamp(d.died_ms)),
                })
                .collect(),
            total: total as u32,
        })
    }

    async fn replay(
        &self,
        by: &Caller,
        r: pb::ReplayDeadLetterRequest,
    ) -> ApiResult<pb::ReplayDeadLetterResponse> {
        let id = dead_letter_id(&r.dead_letter_id)?;
        let outbox_id = self.store.replay_dead_letter(&id).await?;
        actor::record(&self.store, by, "replay_dead_letter", &id, &outbox_id).await;
        Ok(pb::ReplayDeadLetterResponse { outbox_id })
    }
}

/// A dead letter's id is an outbox stream id, `<ms>-<seq>`.
fn dead_letter_id(text: &str) -> Result<String, FieldError> {
    let t = text.trim();
    let ok = t.split_once('-').is_some_and(|(ms, seq)| {
        !ms.is_empty()
            && !seq.is_empty()
            && ms.len() <= 20
            && seq.len() <= 20
            && ms.bytes().all(|b| b.is_ascii_digit())
            && seq.bytes().all(|b| b.is_ascii_digit())
    });
    if ok {
        Ok(t.to_string())
    } else if t.is_empty() {
        Err(FieldError::new("dead_letter_id", "is required"))
    } else {
        Err(FieldError::new(
            "dead_letter_id",
            "must be an outbox id such as 1733500000000-0",
        ))
    }
}

#[tonic::async_trait]
impl NotificationService for Notifications {
    #[tracing::instrument(name = "ListDeadLetters", skip_all, fields(offset = request.get_ref().offset))]
    async fn list_dead_letters(
        &self,
        request: Request<pb::ListDeadLettersRequest>,
    ) -> Result<Response<pb::ListDeadLettersResponse>, Status> {
        Ok(Response::new(self.list(request.into_inner()).await?))
    }

    #[tracing::instrument(name = "ReplayDeadLetter", skip_all, fields(dead_letter_id = %request.get_ref().dead_letter_id))]
    async fn replay_dead_letter(
        &self,
        request: Request<pb::ReplayDeadLetterRequest>,
    ) -> Result<Response<pb::ReplayDeadLetterResponse>, Status> {
        let by = taxi_auth::caller(&request)?.clone();
        Ok(Response::new(self.replay(&by, request.into_inner()).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_never_shown() {
        let s = SenderChoice::Webhook {
            url: "https://sms.example.cn/hook".into(),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        };
        let shown = format!(
            "{:?}",
            NotifySettings {
                sender: s,
                ..NotifySettings::default()
            }
        );
        assert!(
            shown.contains("sms.example.cn") && !shown.contains("MfKQ9r8"),
            "{shown}"
        );
    }

    #[test]
    fn dead_letter_ids_are_stream_ids() {
        assert_eq!(
            dead_letter_id(" 1733500000000-0 ").unwrap(),
            "1733500000000-0"
        );
        for bad in ["", "x", "1-", "-1", "1-2-3", "a-1", "1733500000000"] {
            assert_eq!(
                dead_letter_id(bad).unwrap_err().field,
                "dead_letter_id",
                "{bad}"
            );
        }
    }

    #[test]
    fn settings_name_the_variable_at_fault() {
        let webhook = |url: &str| NotifySettings {
            sender: SenderChoice::Webhook {
                url: url.into(),
                secret: webhook::Secret::generate(),
            },
            ..NotifySettings::default()
        };
        assert!(NotifySettings::default().sender().is_ok());
        assert!(webhook("https://sms.example.cn/hook").sender().is_ok());
        assert!(webhook("http://127.0.0.1:9/hook").sender().is_ok());
        assert_eq!(
            webhook("http://sms.example.cn/hook")
                .sender()
                .unwrap_err()
                .field,
            "TAXI_NOTIFY_WEBHOOK_URL"
        );
        let mut s = webhook("https://sms.example.cn/hook");
        s.sender = SenderChoice::Webhook {
            url: "https://sms.example.cn/hook".into(),
            secret: "nope!".into(),
        };
        assert_eq!(s.sender().unwrap_err().field, "TAXI_NOTIFY_WEBHOOK_SECRET");
        let s = NotifySettings {
            claim_idle: Duration::from_secs(1),
            ..NotifySettings::default()
        };
        assert_eq!(s.sender().unwrap_err().field, "TAXI_NOTIFY_CLAIM_IDLE_MS");
        let s = NotifySettings {
            batch: 0,
            ..NotifySettings::default()
        };
        assert_eq!(s.sender().unwrap_err().field, "TAXI_NOTIFY_BATCH");
    }
}
