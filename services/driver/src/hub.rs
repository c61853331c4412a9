//! The hub: routes dispatch notifications to the driver streams connected to this process.
//!
//! The store's driver feed ([`Store::on_notices`]) carries, in order and with a sequence
//! id, every notice the scripts wrote in the same atomic step as each transition. No
//! notice is dropped here: a stream whose inbox is full is marked behind, and its task
//! replays its taxi's notices from the feed after the last one it sent
//! ([`Store::notices_for`]); a driver that reconnects with `resume_after` is replayed the
//! same way. Only when the feed no longer reaches back that far is the stream sent what
//! its taxi holds now (a resync), as a fresh stream is. The task waits for a slow
//! client rather than dropping events, and every event carries its sequence id, so
//! replays and live notices that overlap are sent once. A resync reads what the taxi
//! holds together with the feed's newest id ([`Store::holding`]) and skips the notices up
//! to it, so a notice that reaches the hub after the read is not sent a second time.
//!
//! Concurrency: a `std::sync::Mutex` guards the map of streams; it is never held across an
//! `.await` (senders are cloned out first).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use taxi_domain::booking::{Need, Payment, parse_needs};
use taxi_domain::geo::eta_seconds;
use taxi_domain::order::OrderStatus;
use taxi_domain::settings::{OfferMode, Settings};
use taxi_domain::validate::mask_phone;
use taxi_edge::convert;
use taxi_proto::v1 as pb;
use taxi_proto::v1::stream_dispatches_response::Event;
use taxi_store::feed::{Notice, NoticeKind, OfferPayload, Replay, Seq};
use taxi_store::orders::{OrderRecord, PlaceRec};
use taxi_store::{Store, StoreError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::Status;

/// What a stream receives.
pub type Item = Result<pb::StreamDispatchesResponse, Status>;

/// An [`Item`] on its way: boxed, because a channel allocates room for 32 of what it
/// carries when it is made, and an `Item` is 312 bytes: unboxed, each open stream held
/// 10 KiB before its first event (the terminal gateway holds one per connected terminal).
pub type Sent = Box<Item>;

/// What a stream's task is asked to deliver.
#[derive(Debug, Clone)]
enum Inbound {
    /// A notice for its taxi.
    Notice(Seq, NoticeKind, String, String, Option<Box<OfferPayload>>),
    /// Read what the taxi holds and send it.
    Resync,
}

/// Notices a stream's inbox holds before the stream is marked behind (and catches up
/// from the feed).
const INBOX: usize = 64;

/// The most streams one taxi may hold open. A driver briefly has two while reconnecting
/// (the dead connection's stream is not yet noticed); a third opening replaces the oldest,
/// which ends with ABORTED, so one taxi id cannot pile up streams without bound.
pub const MAX_STREAMS_PER_TAXI: usize = 2;

/// One open stream's way in: its inbox, the flag that says it missed notices, and the
/// token that ends it when a newer stream replaces it.
#[derive(Debug, Clone)]
struct Inbox {
    id: u64,
    tx: mpsc::Sender<Inbound>,
    behind: Arc<AtomicBool>,
    replaced: CancellationToken,
}

/// The inboxes of one taxi's open streams, oldest first (at most [`MAX_STREAMS_PER_TAXI`]).
type Inboxes = Vec<Inbox>;

struct Inner {
    streams: Mutex<HashMap<String, Inboxes>>,
    next_id: AtomicU64,
}

/// The connected driver streams of this process.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
    store: Store,
    settings: Settings,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

/// Removes a stream from the hub when dropped (the driver went away).
#[derive(Debug)]
pub struct Registration {
    hub: Hub,
    taxi: String,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        metrics::gauge!(taxi_metrics::DRIVER_STREAMS).decrement(1.0);
        let mut streams = self.hub.inner.streams.lock().expect("hub lock");
        if let Some(list) = streams.get_mut(&self.taxi) {
            list.retain(|i| i.id != self.id);
            if list.is_empty() {
                streams.remove(&self.taxi);
            }
        }
        tracing::debug!(taxi_id = %self.taxi, "driver stream closed");
    }
}

/// The facts an offer shows a driver, from the notice or from the stored order: one
/// conversion to `pb::Offer` for both.
struct OfferFacts {
    order_id: String,
    pickup: Option<PlaceRec>,
    dropoff: Option<PlaceRec>,
    distance_m: f64,
    elderly: bool,
    needs: Vec<Need>,
    notes: String,
    payment: Payment,
    phone: String,
    passengers: u32,
    deadline_ms: i64,
    /// The trip's privacy number, if bound for this taxi.
    privacy_number: String,
}

impl Hub {
    /// A hub over `store`; call [`Hub::run`] to start delivering.
    pub fn new(store: Store, settings: Settings) -> Self {
        Self {
            inner: Arc::new(Inner {
                streams: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
            }),
            store,
            settings,
        }
    }

    /// Opens a stream for `taxi`: one task turns its notifications, in order, into events
    /// on the returned receiver, starting with what the taxi holds now, or with every
    /// notice after `resume_after` if the driver is reconnecting. The task ends when the
    /// driver goes away or `shutdown` fires, which ends the stream. A taxi keeps at most
    /// [`MAX_STREAMS_PER_TAXI`] streams: the newest replaces the oldest, which ends with
    /// ABORTED. When `revoked` resolves (the caller's session was revoked) the stream ends
    /// with UNAUTHENTICATED.
    pub fn open(
        &self,
        taxi: &str,
        resume_after: Option<Seq>,
        shutdown: CancellationToken,
        revoked: impl Future<Output = ()> + Send + 'static,
    ) -> mpsc::Receiver<Sent> {
        let (inbox_tx, mut inbox) = mpsc::channel::<Inbound>(INBOX);
        let (out, rx) = mpsc::channel::<Sent>(16);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let behind = Arc::new(AtomicBool::new(false));
        let replaced = CancellationToken::new();
        {
            let mut streams = self.inner.streams.lock().expect("hub lock");
            let list = streams.entry(taxi.to_string()).or_default();
            while list.len() >= MAX_STREAMS_PER_TAXI {
                // Cancelled before its inbox closes, so its task says why it ends.
                let oldest = list.remove(0);
                oldest.replaced.cancel();
            }
            list.push(Inbox {
                id,
                tx: inbox_tx,
                behind: behind.clone(),
                replaced: replaced.clone(),
            });
        }
        // Up here, down in `Registration::drop`: the gauge follows the streams exactly.
        metrics::gauge!(taxi_metrics::DRIVER_STREAMS).increment(1.0);
        let registration = Registration {
            hub: self.clone(),
            taxi: taxi.to_string(),
            id,
        };
        let hub = self.clone();
        let taxi = taxi.to_string();
        let abort = out.clone();
        let abort_taxi = taxi.clone();
        let work = async move {
            let _registration = registration;
            let mut stream = StreamTask {
                hub,
                taxi,
                out,
                last: resume_after,
            };
            // Registered before reading, so nothing written meanwhile is missed.
            let start = match resume_after {
                // Boxed: a replay's state is large and rare; every open stream's task would
                // otherwise carry room for it.
                Some(after) => Box::pin(stream.replay(after)).await,
                None => Box::pin(stream.resync()).await,
            };
            if start.is_err() {
                return;
            }
            loop {
                if behind.swap(false, Ordering::AcqRel) {
                    // Whatever is queued is in the feed too; read it there, in order.
                    let mut resync = false;
                    while let Ok(n) = inbox.try_recv() {
                        resync |= matches!(n, Inbound::Resync);
                    }
                    let caught_up = match stream.last {
                        Some(after) if !resync => Box::pin(stream.replay(after)).await,
                        _ => Box::pin(stream.resync()).await,
                    };
                    if caught_up.is_err() {
                        return;
                    }
                }
                let n = tokio::select! {
                    n = inbox.recv() => n,
                    () = stream.out.closed() => return,
                    () = shutdown.cancelled() => return,
                };
                let Some(n) = n else { return };
                let sent = tokio::select! {
                    // Boxed: a notice's handling (store reads) is large and brief; inline it
                    // would make every idle stream's task that large.
                    r = Box::pin(stream.handle(n)) => r,
                    () = shutdown.cancelled() => return,
                };
                if sent.is_err() {
                    return;
                }
            }
        };
        tokio::spawn(async move {
            tokio::select! {
                biased;
                () = replaced.cancelled() => {
                    tracing::info!(taxi_id = %abort_taxi, "driver stream replaced by a newer one");
                    // A reader that stopped reading gets a plain end of stream instead.
                    let _ = abort.try_send(Box::new(Err(Status::aborted(format!(
                        "replaced by a newer StreamDispatches of taxi {abort_taxi}: a taxi keeps at most {MAX_STREAMS_PER_TAXI} streams"
                    )))));
                }
                () = revoked => {
                    tracing::info!(taxi_id = %abort_taxi, "driver stream ended: credential revoked");
                    let _ = abort.try_send(Box::new(Err(Status::unauthenticated(
                        "revoked: this credential's session has ended; log in again",
                    ))));
                }
                () = work => {}
            }
        });
        rx
    }

    /// How many streams are connected.
    pub fn connected(&self) -> usize {
        self.inner
            .streams
            .lock()
            .expect("hub lock")
            .values()
            .map(Vec::len)
            .sum()
    }

    fn forward(&self, taxi: &str, n: Inbound) {
        let inboxes: Vec<Inbox> = self
            .inner
            .streams
            .lock()
            .expect("hub lock")
            .get(taxi)
            .map(|l| l.to_vec())
            .unwrap_or_default();
        for i in inboxes {
            if i.tx.try_send(n.clone()).is_err() && !i.behind.swap(true, Ordering::AcqRel) {
                tracing::debug!(taxi_id = %taxi, "driver stream fell behind; it will catch up from the feed");
            }
        }
    }

    fn taxis(&self) -> Vec<String> {
        self.inner
            .streams
            .lock()
            .expect("hub lock")
            .keys()
            .cloned()
            .collect()
    }

    /// Delivers the store's notices until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let store = self.store.clone();
        store.on_notices(shutdown, |n| self.deliver(n)).await;
    }

    fn deliver(&self, n: Notice) {
        match n {
            Notice::Taxi {
                seq,
                taxi,
                kind,
                order,
                reason,
                offer,
            } => self.forward(&taxi, Inbound::Notice(seq, kind, order, reason, offer)),
            Notice::Resync => {
                // The feed was trimmed past this process's reader: resend what is open.
                for taxi in self.taxis() {
                    self.forward(&taxi, Inbound::Resync);
                }
            }
        }
    }

    /// The event a notice becomes for `taxi`'s stream, if it still applies.
    async fn event_for(
        &self,
        taxi: &str,
        kind: NoticeKind,
        order: String,
        reason: String,
        offer: Option<Box<OfferPayload>>,
    ) -> Result<Option<Event>, StoreError> {
        Ok(match kind {
            NoticeKind::Offer => match offer {
                // The fast path: the offer came with the notice; no Redis read.
                Some(p) => Some(Event::Offer(self.offer_pb(offer_facts(&order, &p)))),
                None => self.offer_event(taxi, &order, false).await?,
            },
            NoticeKind::Assigned => self.offer_event(taxi, &order, true).await?,
            NoticeKind::Withdrawn => Some(Event::OfferWithdrawn(pb::OfferWithdrawn {
                order_id: order,
                reason,
            })),
            NoticeKind::Cancelled => {
                let by = match self.store.get_order(&order).await {
                    Ok(o) => o
                        .cancelled_by
                        .map(convert::cancelled_by)
                        .unwrap_or(pb::CancelledBy::Unspecified),
                    Err(_) => pb::CancelledBy::Unspecified,
                };
                Some(Event::OrderCancelled(pb::OrderCancelled {
                    order_id: order,
                    cancelled_by: by as i32,
                    reason,
                }))
            }
            NoticeKind::SignedOff => Some(Event::SignedOff(pb::SignedOff { reason })),
            NoticeKind::Paired => Some(Event::PairedTripChanged(pb::PairedTripChanged {
                order_id: order,
                reason,
            })),
            NoticeKind::PrivacyNumber => {
                // Read now: sent only while this taxi holds the trip and the number is
                // bound; the passenger's real number is never in it.
                let o = self.store.get_order(&order).await?;
                (o.taxi.as_deref() == Some(taxi) && !o.privacy_number.is_empty()).then_some(
                    Event::PrivacyNumber(pb::PrivacyNumber {
                        order_id: order,
                        number: o.privacy_number,
                    }),
                )
            }
        })
    }

    /// The offer of `order` to `taxi` if it is still open (or, for an assignment, still
    /// assigned to it).
    async fn offer_event(
        &self,
        taxi: &str,
        order: &str,
        assigned: bool,
    ) -> Result<Option<Event>, StoreError> {
        let o = self.store.get_order(order).await?;
        if assigned {
            if o.taxi.as_deref() != Some(taxi) || o.status != OrderStatus::Accepted {
                return Ok(None);
            }
            return Ok(Some(Event::Assigned(self.offer(&o, taxi, 0).await?)));
        }
        match self.store.open_offer(taxi).await? {
            Some((held, deadline)) if held == order => {
                Ok(Some(Event::Offer(self.offer(&o, taxi, deadline).await?)))
            }
            _ => Ok(None),
        }
    }

    /// What a (re)connected taxi holds (its open offer, or the order assigned to it), and
    /// the feed's sequence id that state reflects: notices up to it are already in it.
    async fn current(&self, taxi: &str) -> Result<(Option<Event>, Seq), StoreError> {
        let h = self.store.holding(taxi).await?;
        let event = match (h.order, h.offer_deadline) {
            (Some(order), Some(deadline)) => {
                let o = self.store.get_order(&order).await?;
                Some(Event::Offer(self.offer(&o, taxi, deadline).await?))
            }
            (Some(order), None) => self.offer_event(taxi, &order, true).await?,
            (None, _) => None,
        };
        Ok((event, h.seq))
    }

    /// The one conversion to the offer a driver sees.
    fn offer_pb(&self, f: OfferFacts) -> pb::Offer {
        pb::Offer {
            order_id: f.order_id,
            pickup: f.pickup.as_ref().map(convert::place_to),
            dropoff: f.dropoff.as_ref().map(convert::place_to),
            distance_meters: f.distance_m.round() as u32,
            eta_seconds: eta_seconds(f.distance_m),
            elderly: f.elderly,
            needs: f.needs.iter().map(|n| convert::need(*n) as i32).collect(),
            notes: f.notes,
            payment: convert::payment(f.payment) as i32,
            passenger_phone_masked: mask_phone(&f.phone),
            passenger_count: f.passengers,
            expire_time: (f.deadline_ms > 0).then(|| convert::timestamp(f.deadline_ms)),
            broadcast: matches!(self.settings.offer_mode, OfferMode::Broadcast(_)),
            privacy_number: f.privacy_number,
        }
    }

    /// Builds the offer a driver sees from the stored order.
    pub async fn offer(
        &self,
        o: &OrderRecord,
        taxi: &str,
        deadline_ms: i64,
    ) -> Result<pb::Offer, StoreError> {
        let t = self.store.get_taxi(taxi).await?;
        let distance_m = t
            .position
            .map(|(at, _)| at.distance_m(&o.pickup.at))
            .unwrap_or(0.0);
        Ok(self.offer_pb(OfferFacts {
            order_id: o.id.clone(),
            pickup: Some(o.pickup.clone()),
            dropoff: o.dropoff.clone(),
            distance_m,
            elderly: o.elderly.is_some(),
            needs: o.needs.clone(),
            notes: o.notes.clone(),
            payment: o.payment,
            phone: o.phone.clone(),
            passengers: o.passengers,
            deadline_ms,
            // Only the taxi that holds the trip is given its number.
            privacy_number: if o.taxi.as_deref() == Some(taxi) {
                o.privacy_number.clone()
            } else {
                String::new()
            },
        }))
    }
}

/// Why a stream's task stops: the driver went away.
#[derive(Debug)]
struct Gone;

/// One open stream's sending side and where it is in the feed.
struct StreamTask {
    hub: Hub,
    taxi: String,
    out: mpsc::Sender<Sent>,
    /// The sequence id of the last notice sent.
    last: Option<Seq>,
}

impl StreamTask {
    /// Sends an event, waiting for a slow client rather than dropping it.
    async fn send(&self, seq: Option<Seq>, event: Event) -> Result<(), Gone> {
        let item = Ok(pb::StreamDispatchesResponse {
            seq: seq.map(|s| s.to_string()).unwrap_or_default(),
            event: Some(event),
        });
        self.out.send(Box::new(item)).await.map_err(|_| Gone)
    }

    /// Handles one inbox item.
    async fn handle(&mut self, n: Inbound) -> Result<(), Gone> {
        match n {
            Inbound::Resync => Box::pin(self.resync()).await,
            Inbound::Notice(seq, kind, order, reason, offer) => {
                self.notice(seq, kind, order, reason, offer).await
            }
        }
    }

    /// Sends one notice unless this stream already sent it (a replay and the live feed
    /// overlap).
    async fn notice(
        &mut self,
        seq: Seq,
        kind: NoticeKind,
        order: String,
        reason: String,
        offer: Option<Box<OfferPayload>>,
    ) -> Result<(), Gone> {
        if self.last.is_some_and(|last| seq <= last) {
            return Ok(());
        }
        self.last = Some(seq);
        match self
            .hub
            .event_for(&self.taxi, kind, order, reason, offer)
            .await
        {
            Ok(Some(event)) => self.send(Some(seq), event).await,
            Ok(None) => Ok(()),
            Err(e) => {
                tracing::warn!(taxi_id = %self.taxi, error = %e, "could not build a dispatch event");
                Ok(())
            }
        }
    }

    /// Sends what the taxi holds now, and skips from then on the notices that state
    /// already reflects (one written just before the read would otherwise repeat it).
    async fn resync(&mut self) -> Result<(), Gone> {
        match self.hub.current(&self.taxi).await {
            Ok((event, seq)) => {
                self.last = self.last.max(Some(seq));
                match event {
                    Some(event) => self.send(None, event).await,
                    None => Ok(()),
                }
            }
            Err(e) => {
                tracing::warn!(taxi_id = %self.taxi, error = %e, "could not read what the taxi holds");
                Ok(())
            }
        }
    }

    /// Sends the taxi's notices after `after` from the feed, or what it holds now if the
    /// feed no longer reaches back that far.
    async fn replay(&mut self, after: Seq) -> Result<(), Gone> {
        match self.hub.store.notices_for(&self.taxi, after).await {
            Ok(Replay::Notices(list)) => {
                for n in list {
                    if let Notice::Taxi {
                        seq,
                        kind,
                        order,
                        reason,
                        offer,
                        ..
                    } = n
                    {
                        self.notice(seq, kind, order, reason, offer).await?;
                    }
                }
                Ok(())
            }
            Ok(Replay::Trimmed) => {
                tracing::info!(taxi_id = %self.taxi, %after, "driver stream resumed from a trimmed notice; sending what the taxi holds");
                self.resync().await
            }
            Err(e) => {
                tracing::warn!(taxi_id = %self.taxi, error = %e, "could not replay the driver feed; sending what the taxi holds");
                self.resync().await
            }
        }
    }
}

/// The facts of an offer as the dispatch script published them.
fn offer_facts(order: &str, p: &OfferPayload) -> OfferFacts {
    let place = |lat: &str, lon: &str, addr: &str| {
        let at = taxi_domain::Coordinates::new(lat.parse().ok()?, lon.parse().ok()?).ok()?;
        Some(PlaceRec {
            at,
            address: addr.to_string(),
        })
    };
    OfferFacts {
        order_id: order.to_string(),
        pickup: place(&p.p_lat, &p.p_lon, &p.p_addr),
        dropoff: place(&p.d_lat, &p.d_lon, &p.d_addr),
        distance_m: p.dist,
        elderly: !p.elderly.is_empty(),
        needs: parse_needs(&p.needs),
        notes: p.notes.clone(),
        payment: Payment::from_code(&p.pay).unwrap_or(Payment::Cash),
        phone: p.phone.clone(),
        passengers: p.pax.parse().unwrap_or(1),
        deadline_ms: p.deadline,
        // An offer precedes the binding.
        privacy_number: String::new(),
    }
}

#[cfg(test)]
mod tests {
    //! The hub against a real private `redis-server`, with its feed reader not running, so
    //! a test decides when a notice reaches a stream and stages the races exactly.

    use super::*;
    use std::time::Duration;
    use taxi_domain::Coordinates;
    use taxi_domain::booking::Channel;
    use taxi_domain::taxi::TaxiEvent;
    use taxi_redis_process::RedisProcess;
    use taxi_store::StoreConfig;
    use taxi_store::dispatch::{Attempt, DispatchParams};
    use taxi_store::feed::Replay;
    use taxi_store::orders::NewOrder;
    use taxi_store::taxis::{Fix, NewTaxi};

    const AT: (f64, f64) = (29.5575, 106.5770);

    fn params() -> DispatchParams {
        DispatchParams {
            fan_out: 1,
            radii_m: vec![1_000],
            elderly_extra_radius_m: 0,
            elderly_extra_after_ms: 0,
            caring_radius_m: 0,
            fresh_ms: 60_000,
            offer_timeout_ms: 60_000,
            max_offers: 10,
            max_age_ms: 600_000,
            retry_ms: 5_000,
            head_start_ms: 0,
            max_missed: 3,
        }
    }

    /// A free taxi and an order offered to it; returns (taxi, order).
    async fn offered(store: &Store) -> (String, String) {
        let taxi = store
            .register_taxi(&NewTaxi {
                plate: "渝A90001".into(),
                driver_name: "张师傅".into(),
                color: "白色".into(),
                driver_phone: String::new(),
                wheelchair: false,
                tags: vec![],
            })
            .await
            .expect("register")
            .id;
        store
            .transition_taxi(&taxi, TaxiEvent::SignOn)
            .await
            .expect("sign on");
        let at = Coordinates::new(AT.0, AT.1).expect("coordinates");
        let fix = Fix {
            taxi_id: taxi.clone(),
            at,
            fix_ms: store.now_ms(),
        };
        store.report_positions(&[fix], 60_000).await.expect("fix");
        let now = store.now_ms();
        let order = NewOrder {
            channel: Channel::Operator,
            phone: "13800138000".into(),
            name: "王阿姨".into(),
            pickup: PlaceRec {
                at,
                address: "解放碑步行街 8 号".into(),
            },
            dropoff: None,
            pickup_ms: now,
            reservation: false,
            release_ms: now,
            elderly: None,
            needs: vec![],
            passengers: 1,
            notes: String::new(),
            payment: Payment::Cash,
            operator: "op-1".into(),
            booker: String::new(),
            device: String::new(),
            priority: 0,
            queue_score: now,
            request_id: None,
            dedupe_until_ms: None,
        };
        let id = store.create_order(&order).await.expect("order").order.id;
        let (attempt, _) = store
            .dispatch_next(&params(), None)
            .await
            .expect("dispatch");
        assert!(matches!(attempt, Attempt::Offered { .. }), "{attempt:?}");
        (taxi, id)
    }

    /// The taxi's notices in the feed, from its start.
    async fn notices(store: &Store, taxi: &str) -> Vec<Notice> {
        match store.notices_for(taxi, Seq::default()).await.expect("feed") {
            Replay::Notices(list) => list,
            Replay::Trimmed => panic!("the feed was trimmed"),
        }
    }

    async fn next(rx: &mut mpsc::Receiver<super::Sent>) -> Option<pb::StreamDispatchesResponse> {
        tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .ok()
            .flatten()
            .map(|item| item.expect("an event, not an error"))
    }

    /// A stream that opens after an offer was written but before the offer's notice
    /// reached this process (the driver app connects the moment it signs on) is sent the
    /// offer once: from the state it starts with, not again when the notice arrives.
    #[tokio::test]
    async fn an_offer_written_just_before_a_stream_opens_reaches_it_once() {
        let redis = RedisProcess::start_temporary().expect("redis");
        let store = Store::connect(StoreConfig::new(redis.url(), "500100")).expect("store");
        let (taxi, order) = offered(&store).await;
        let hub = Hub::new(store.clone(), Settings::default());
        let mut rx = hub.open(
            &taxi,
            None,
            CancellationToken::new(),
            std::future::pending(),
        );
        let first = next(&mut rx).await.expect("what the taxi holds");
        match first.event {
            Some(Event::Offer(o)) => assert_eq!(o.order_id, order),
            other => panic!("expected the offer, got {other:?}"),
        }
        // The offer's notice arrives late, after the stream read the state.
        for n in notices(&store, &taxi).await {
            hub.deliver(n);
        }
        assert_eq!(next(&mut rx).await, None, "the offer was sent twice");
        // A notice written after the read still gets through: an operator cancels.
        let seen = notices(&store, &taxi).await.len();
        store
            .cancel_order(
                &order,
                taxi_domain::booking::CancelledBy::Operator,
                "caller rang back",
            )
            .await
            .expect("cancel");
        for n in notices(&store, &taxi).await.into_iter().skip(seen) {
            hub.deliver(n);
        }
        let after = next(&mut rx).await.expect("the cancellation");
        match after.event {
            Some(Event::OrderCancelled(c)) => assert_eq!(c.order_id, order),
            other => panic!("expected the cancellation, got {other:?}"),
        }
        assert!(!after.seq.is_empty(), "a live notice carries its seq");
    }
}
