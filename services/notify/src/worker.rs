//! The sender worker: takes messages from the outbox and delivers them, at least once.
//!
//! Each round: first what is due again (failed messages whose back-off passed, and
//! messages a dead worker left pending longer than the claim bound, `XAUTOCLAIM`), else
//! new messages (a blocking read on a connection of its own, up to `poll`). A batch is
//! delivered concurrently; a message is acknowledged only after its sender succeeded, so a
//! worker that dies at any point leaves its messages pending for another to claim. A
//! failure waits for the back-off (`taxi_domain::notify::Backoff`, on the store's clock);
//! the last allowed failure makes it a dead letter. A message may thus be delivered more
//! than once (a worker dying between the gateway's answer and the acknowledgement): its
//! idempotency key lets the gateway recognise the repeat.

use crate::NotifySettings;
use crate::sender::Sender;
use futures::StreamExt;
use taxi_domain::notify::{AfterFailure, Message};
use taxi_store::Store;
use taxi_store::outbox::{OutboxEntry, OutboxFailReply};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// One sender worker (one consumer of the group).
#[derive(Debug, Clone)]
pub struct Worker {
    store: Store,
    sender: Sender,
    settings: NotifySettings,
    consumer: String,
}

impl Worker {
    /// A worker named `consumer` (unique among live workers: two workers with one name
    /// would share pending messages).
    pub fn new(store: Store, sender: Sender, settings: NotifySettings, consumer: &str) -> Self {
        Self {
            store,
            sender,
            settings,
            consumer: consumer.to_string(),
        }
    }

    /// A consumer name unique to this process and worker.
    pub fn unique_name(n: usize) -> String {
        let tag: u32 = rand::random();
        format!("{}-{n}-{tag:08x}", std::process::id())
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let retry = std::time::Duration::from_millis(500);
        while let Err(e) = self.store.outbox_ensure_group().await {
            tracing::warn!(error = %e, "notify: cannot create the sender group; retrying");
            tokio::select! {
                () = tokio::time::sleep(retry) => {}
                () = shutdown.cancelled() => return,
            }
        }
        tracing::info!(consumer = %self.consumer, "notify: sender worker started");
        let mut reader = self.store.outbox_reader(&self.consumer);
        let s = &self.settings;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let due = self
                .store
                .outbox_take(&self.consumer, s.batch, s.claim_idle)
                .await;
            let batch = match due {
                Ok(b) if !b.is_empty() => Ok(b),
                Ok(_) => tokio::select! {
                    r = reader.next(s.batch, s.poll) => r,
                    () = shutdown.cancelled() => return,
                },
                Err(e) => Err(e),
            };
            match batch {
                Ok(batch) => {
                    futures::stream::iter(batch)
                        .for_each_concurrent(s.concurrency, |e| {
                            let span = tracing::info_span!("notify", id = %e.id);
                            self.deliver(e).instrument(span)
                        })
                        .await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "notify: outbox unreadable; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(retry) => {}
                        () = shutdown.cancelled() => return,
                    }
                }
            }
        }
    }

    /// Delivers one message and records the outcome.
    async fn deliver(&self, e: OutboxEntry) {
        let failures = e.failures + 1;
        let (error, after) = match Message::from_fields(&e.fields) {
            Ok(m) => {
                match self.sender.send(&m, self.store.now_ms()).await {
                    Ok(()) => {
                        metrics::counter!(taxi_metrics::NOTIFY_SENT, "kind" => m.kind.code(), "channel" => m.channel.code())
                            .increment(1);
                        if let Err(err) = self.store.outbox_ack(&e.id).await {
                            // Delivered but not acknowledged: it will be delivered again
                            // (the key makes the repeat recognisable).
                            tracing::warn!(error = %err, id = %e.id, "notify: delivered, acknowledgement failed");
                        }
                        return;
                    }
                    Err(err) => (err.to_string(), self.settings.backoff.after(failures)),
                }
            }
            // An entry that is not a message never will be: a dead letter at once.
            Err(bad) => (bad.to_string(), AfterFailure::Dead),
        };
        metrics::counter!(taxi_metrics::NOTIFY_FAILURES).increment(1);
        let next_ms = match after {
            AfterFailure::Retry(wait) => Some(self.store.now_ms() + wait.as_millis() as i64),
            AfterFailure::Dead => None,
        };
        match self
            .store
            .outbox_fail(&self.consumer, &e.id, failures, next_ms, &error)
            .await
        {
            Ok(OutboxFailReply::Dead) => {
                metrics::counter!(taxi_metrics::NOTIFY_DEAD).increment(1);
                tracing::error!(id = %e.id, failures, %error, "notify: message is a dead letter");
            }
            Ok(OutboxFailReply::Retry) => {
                tracing::debug!(id = %e.id, failures, %error, "notify: delivery failed; will retry");
            }
            Ok(OutboxFailReply::Gone) => {}
            Err(err) => {
                // Still pending: claimed again once idle past the claim bound.
                tracing::warn!(error = %err, id = %e.id, "notify: cannot record a failure");
            }
        }
    }
}
