//! The privacy worker: binds a trip's number when a taxi takes the trip, schedules its
//! release when the trip ends, and releases what is due.
//!
//! It follows the audit trail through the consumer group [`GROUP`], so each transition
//! reaches one worker of the city (however many processes run one) at least once: a
//! worker that dies before acknowledging leaves its records pending, and another claims
//! them after [`CLAIM_IDLE`]. Every step is idempotent (the pool binds per
//! `<order>:<taxi>` key, the record refuses a second binding, releases forget only the
//! binding they released), so a record handled twice changes nothing.
//!
//! | trail record | what the worker does |
//! |---|---|
//! | offer accepted, order assigned | bind a number for the order's passenger (A) and the taxi's driver (B); record it on the order and tell the driver's stream; or record why there is none |
//! | trip completed, order cancelled | schedule the release `release_delay` after now (the store's clock) |
//! | order redispatched | release now (the next taxi gets a number of its own) |
//!
//! Releases are a sorted set by the store's clock, swept every [`TICK`]: tests step the
//! clock instead of sleeping.

use crate::provider::{BindRequest, Provider, ProviderError};
use std::sync::Arc;
use std::time::Duration;
use taxi_domain::audit::AuditKind;
use taxi_domain::order::OrderStatus;
use taxi_domain::privacy::{PROVIDER_ATTEMPTS, Unavailable, backoff, release_at};
use taxi_store::audit::Delivered;
use taxi_store::privacy::{Binding, Recorded};
use taxi_store::{Store, StoreError};
use tokio_util::sync::CancellationToken;

/// The worker's consumer group on the audit trail.
pub const GROUP: &str = "privacy";
/// How often the worker reads the trail and sweeps due releases.
pub const TICK: Duration = Duration::from_millis(100);
/// How long a record may stay unacknowledged before another worker claims it.
pub const CLAIM_IDLE: Duration = Duration::from_secs(60);
/// How often pending records of dead workers are looked for.
const CLAIM_EVERY: Duration = Duration::from_secs(10);
/// Records read per tick.
const BATCH: usize = 100;
/// Releases swept per tick.
const SWEEP: usize = 100;
/// How long the provider may keep a binding we never released (its own safety net).
const PROVIDER_EXPIRY: Duration = Duration::from_secs(24 * 3600);

/// A failure the worker logs and retries.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Redis.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The provider.
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

/// The privacy worker of one process.
#[derive(Debug, Clone)]
pub struct Worker {
    store: Store,
    provider: Arc<dyn Provider>,
    release_delay: Duration,
    consumer: String,
}

impl Worker {
    /// A worker binding numbers from `provider`, released `release_delay` after trips.
    pub fn new(store: Store, provider: Arc<dyn Provider>, release_delay: Duration) -> Self {
        let consumer = format!(
            "{}-{}",
            std::process::id(),
            hex::encode(rand::random::<[u8; 4]>())
        );
        Self {
            store,
            provider,
            release_delay,
            consumer,
        }
    }

    /// Makes the consumer group (a new group starts at the trail's end). Call before
    /// serving, so no assignment slips past it.
    pub async fn prepare(&self) -> Result<(), StoreError> {
        self.store.trail_group(GROUP).await
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut prepared = false;
        let mut last_claim = tokio::time::Instant::now();
        loop {
            if !prepared {
                match self.prepare().await {
                    Ok(()) => prepared = true,
                    Err(e) => tracing::warn!(error = %e, "privacy worker: consumer group"),
                }
            }
            if prepared {
                let claim = last_claim.elapsed() >= CLAIM_EVERY;
                if claim {
                    last_claim = tokio::time::Instant::now();
                }
                if let Err(e) = self.tick(claim).await {
                    tracing::warn!(error = %e, "privacy worker");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(TICK) => {}
            }
        }
    }

    /// One round: handle new trail records (and, with `claim`, those a dead worker left),
    /// then release what is due. Public for tests that drive the worker by hand.
    pub async fn tick(&self, claim: bool) -> Result<(), WorkerError> {
        let mut records = Vec::new();
        if claim {
            records.extend(
                self.store
                    .trail_group_claim(GROUP, &self.consumer, CLAIM_IDLE, BATCH)
                    .await?,
            );
        }
        records.extend(
            self.store
                .trail_group_read(GROUP, &self.consumer, BATCH)
                .await?,
        );
        for d in &records {
            if let Delivered::Record(r) = d {
                let order = r.field("order");
                let outcome = match r.kind {
                    AuditKind::OfferAccepted | AuditKind::OrderAssigned => self.bind(order).await,
                    AuditKind::TripCompleted | AuditKind::OrderCancelled => {
                        let at = release_at(self.store.now_ms(), self.release_delay);
                        self.store
                            .privacy_schedule_release(order, at)
                            .await
                            .map(|_| ())
                            .map_err(WorkerError::from)
                    }
                    AuditKind::OrderRedispatched => self
                        .store
                        .privacy_schedule_release(order, self.store.now_ms())
                        .await
                        .map(|_| ())
                        .map_err(WorkerError::from),
                    _ => Ok(()),
                };
                if let Err(e) = outcome {
                    // Left pending: claimed again after CLAIM_IDLE.
                    tracing::warn!(order_id = order, error = %e, "privacy: record left for a retry");
                    continue;
                }
            }
            self.store.trail_group_ack(GROUP, &[d.id()]).await?;
        }
        self.sweep().await
    }

    /// Releases every binding due by now.
    pub async fn sweep(&self) -> Result<(), WorkerError> {
        for order in self.store.privacy_due(SWEEP).await? {
            self.release(&order).await?;
        }
        Ok(())
    }

    /// Binds a number to `order`'s trip if it is live and has none with its taxi.
    #[tracing::instrument(name = "privacy.bind", skip(self), fields(taxi_id))]
    async fn bind(&self, order: &str) -> Result<(), WorkerError> {
        let o = match self.store.get_order(order).await {
            Ok(o) => o,
            Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let live = matches!(
            o.status,
            OrderStatus::Accepted | OrderStatus::Arrived | OrderStatus::OnTrip
        );
        let Some(taxi) = o.taxi.clone().filter(|_| live) else {
            return Ok(());
        };
        tracing::Span::current().record("taxi_id", taxi.as_str());
        if let Some(b) = self.store.privacy_binding(order).await? {
            if b.taxi == taxi {
                return Ok(());
            }
            // The trip moved to another taxi: its old number goes first.
            self.release_binding(order, &b).await?;
        }
        let t = self.store.get_taxi(&taxi).await?;
        if t.driver_phone.is_empty() {
            return self.unavailable(order, Unavailable::NoDriverPhone).await;
        }
        let request = BindRequest {
            key: format!("{order}:{taxi}"),
            a: o.phone.clone(),
            b: t.driver_phone.clone(),
            expires_ms: self.store.now_ms() + PROVIDER_EXPIRY.as_millis() as i64,
        };
        let bound = match self.with_retries(|| self.provider.bind(&request)).await {
            Ok(b) => b,
            Err(ProviderError::Exhausted) => {
                return self.unavailable(order, Unavailable::PoolExhausted).await;
            }
            Err(e) => {
                tracing::error!(order_id = order, error = %e, "privacy: the provider could not bind a number");
                return self.unavailable(order, Unavailable::ProviderFailed).await;
            }
        };
        let provider = self.provider.kind().code();
        match self
            .store
            .privacy_record(order, &taxi, &bound.x, &bound.sub, provider)
            .await?
        {
            Recorded::Recorded => {
                metrics::counter!(taxi_metrics::PRIVACY_BOUND, "provider" => provider).increment(1);
                tracing::info!(order_id = order, %taxi, "privacy number bound");
            }
            Recorded::Already { sub, .. } if sub == bound.sub => {}
            Recorded::Already { .. } | Recorded::Moved => {
                // Another binding won, or the trip ended meanwhile: ours goes back.
                self.with_retries(|| self.provider.unbind(&bound.x, &bound.sub))
                    .await?;
            }
        }
        Ok(())
    }

    async fn unavailable(&self, order: &str, why: Unavailable) -> Result<(), WorkerError> {
        if self.store.privacy_unavailable(order, why).await? {
            metrics::counter!(taxi_metrics::PRIVACY_UNAVAILABLE, "reason" => why.code())
                .increment(1);
            tracing::warn!(order_id = order, reason = why.code(), "{}", why.explain());
        }
        Ok(())
    }

    /// Releases `order`'s number now (a due release).
    async fn release(&self, order: &str) -> Result<(), WorkerError> {
        match self.store.privacy_binding(order).await? {
            // Nothing bound: the schedule entry goes.
            None => {
                self.store.privacy_forget(order, "").await?;
                Ok(())
            }
            Some(b) => match self.release_binding(order, &b).await {
                Ok(()) => Ok(()),
                Err(e) => {
                    // Tried again later; the provider's own expiry is the last resort.
                    let later = self.store.now_ms() + backoff(PROVIDER_ATTEMPTS).as_millis() as i64;
                    tracing::warn!(order_id = order, error = %e, "privacy: release failed; retrying later");
                    self.store.privacy_schedule_release(order, later).await?;
                    Ok(())
                }
            },
        }
    }

    async fn release_binding(&self, order: &str, b: &Binding) -> Result<(), WorkerError> {
        self.with_retries(|| self.provider.unbind(&b.x, &b.sub))
            .await?;
        if self.store.privacy_forget(order, &b.sub).await? {
            metrics::counter!(taxi_metrics::PRIVACY_RELEASED).increment(1);
            tracing::info!(order_id = order, "privacy number released");
        }
        Ok(())
    }

    /// Calls the provider, trying a transient failure again a few times with back-off
    /// (1 s, 2 s: a worker must not stall long on one trip).
    async fn with_retries<T, F, Fut>(&self, call: F) -> Result<T, ProviderError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let mut attempt = 1;
        loop {
            match call().await {
                Err(e) if e.is_transient() && attempt < 3 => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}
