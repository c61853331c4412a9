//! The hub: routes dispatch notifications to the driver streams connected to this process.
//!
//! Scripts publish `taxi|kind|order|reason` on the city's channel in the same atomic step
//! as the transition. Pub/sub delivers at most once, so it is only the fast path: the
//! truth stays in Redis, a (re)connecting stream is sent the offer its taxi holds, and
//! after the subscription itself reconnects every connected stream is resynchronised.
//!
//! Concurrency: a `std::sync::Mutex` guards the map of streams; it is never held across an
//! `.await` (senders are cloned out first).

use futures::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use taxi_domain::geo::eta_seconds;
use taxi_domain::order::OrderStatus;
use taxi_domain::settings::{OfferMode, Settings};
use taxi_domain::validate::mask_phone;
use taxi_edge::convert;
use taxi_proto::v1 as pb;
use taxi_proto::v1::stream_dispatches_response::Event;
use taxi_store::dispatch::Notification;
use taxi_store::orders::OrderRecord;
use taxi_store::{Store, StoreError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::Status;

/// The offer as the dispatch script publishes it (`offer_order.lua`).
#[derive(Debug, serde::Deserialize)]
struct OfferPayload {
    p_lat: String,
    p_lon: String,
    p_addr: String,
    d_lat: String,
    d_lon: String,
    d_addr: String,
    needs: String,
    notes: String,
    pay: String,
    phone: String,
    pax: String,
    elderly: String,
    dist: String,
    deadline: i64,
}

/// What a stream receives.
pub type Item = Result<pb::StreamDispatchesResponse, Status>;

/// The notification kind that asks a stream to resend what its taxi holds.
pub const RESYNC: &str = "resync";

/// The inboxes of one taxi's open streams (a driver may briefly have two while reconnecting).
type Inboxes = Vec<(u64, mpsc::Sender<Notification>)>;

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
pub struct Registration {
    hub: Hub,
    taxi: String,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut streams = self.hub.inner.streams.lock().expect("hub lock");
        if let Some(list) = streams.get_mut(&self.taxi) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                streams.remove(&self.taxi);
            }
        }
        tracing::debug!(taxi_id = %self.taxi, "driver stream closed");
    }
}

fn resync(taxi: &str) -> Notification {
    Notification {
        taxi: taxi.to_string(),
        kind: RESYNC.to_string(),
        order: String::new(),
        reason: String::new(),
    }
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
    /// on the returned receiver, starting with what the taxi holds now. The task ends when
    /// the driver goes away or `shutdown` fires, which ends the stream.
    pub fn open(&self, taxi: &str, shutdown: CancellationToken) -> mpsc::Receiver<Item> {
        let (inbox_tx, mut inbox) = mpsc::channel::<Notification>(64);
        let (out, rx) = mpsc::channel::<Item>(16);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let _ = inbox_tx.try_send(resync(taxi));
        self.inner
            .streams
            .lock()
            .expect("hub lock")
            .entry(taxi.to_string())
            .or_default()
            .push((id, inbox_tx));
        let registration = Registration {
            hub: self.clone(),
            taxi: taxi.to_string(),
            id,
        };
        let hub = self.clone();
        tokio::spawn(async move {
            let _registration = registration;
            loop {
                let n = tokio::select! {
                    n = inbox.recv() => n,
                    () = out.closed() => break,
                    () = shutdown.cancelled() => break,
                };
                let Some(n) = n else { break };
                match hub.event_for(&n).await {
                    Ok(Some(event)) => {
                        let item = Ok(pb::StreamDispatchesResponse { event: Some(event) });
                        if out.send(item).await.is_err() {
                            break;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(taxi_id = %n.taxi, error = %e, "could not build a dispatch event")
                    }
                }
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

    fn forward(&self, n: &Notification) {
        let inboxes: Vec<mpsc::Sender<Notification>> = self
            .inner
            .streams
            .lock()
            .expect("hub lock")
            .get(&n.taxi)
            .map(|l| l.iter().map(|(_, tx)| tx.clone()).collect())
            .unwrap_or_default();
        for tx in inboxes {
            if tx.try_send(n.clone()).is_err() {
                // A stream that cannot keep up gets a resync instead once it drains.
                tracing::warn!(taxi_id = %n.taxi, "driver stream is full; dropping a notification");
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

    /// Subscribes and delivers until `shutdown`; resubscribes after Redis comes back.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut first = true;
        loop {
            let sub = tokio::select! {
                s = self.store.subscribe_notifications() => s,
                () = shutdown.cancelled() => return,
            };
            let mut pubsub = match sub {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "dispatch notifications: cannot subscribe; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(500)) => continue,
                        () = shutdown.cancelled() => return,
                    }
                }
            };
            if !first {
                // Messages may have been lost while we were away: resend what is open.
                for taxi in self.taxis() {
                    self.forward(&resync(&taxi));
                }
            }
            first = false;
            let mut messages = pubsub.on_message();
            loop {
                let msg = tokio::select! {
                    m = messages.next() => m,
                    () = shutdown.cancelled() => return,
                };
                let Some(msg) = msg else { break };
                let Ok(payload) = msg.get_payload::<String>() else {
                    continue;
                };
                if let Some(n) = Notification::parse(&payload) {
                    self.forward(&n);
                }
            }
            tracing::warn!("dispatch notifications: subscription lost; resubscribing");
        }
    }

    /// The event a notification becomes, if it still applies.
    async fn event_for(&self, n: &Notification) -> Result<Option<Event>, StoreError> {
        Ok(match n.kind.as_str() {
            "offer" => match serde_json::from_str::<OfferPayload>(&n.reason) {
                // The fast path: the offer came with the notification; no Redis read.
                Ok(p) => Some(Event::Offer(self.offer_from(&n.order, &p))),
                Err(_) => self.offer_event(&n.taxi, &n.order, false).await?,
            },
            "assigned" => self.offer_event(&n.taxi, &n.order, true).await?,
            RESYNC => self.current(&n.taxi).await?,
            "withdrawn" => Some(Event::OfferWithdrawn(pb::OfferWithdrawn {
                order_id: n.order.clone(),
                reason: n.reason.clone(),
            })),
            "cancelled" => {
                let by = match self.store.get_order(&n.order).await {
                    Ok(o) => o
                        .cancelled_by
                        .map(convert::cancelled_by)
                        .unwrap_or(pb::CancelledBy::Unspecified),
                    Err(_) => pb::CancelledBy::Unspecified,
                };
                Some(Event::OrderCancelled(pb::OrderCancelled {
                    order_id: n.order.clone(),
                    cancelled_by: by as i32,
                    reason: n.reason.clone(),
                }))
            }
            "signed_off" => Some(Event::SignedOff(pb::SignedOff {
                reason: n.reason.clone(),
            })),
            _ => None,
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

    /// What a (re)connected taxi holds: its open offer, or the order assigned to it.
    async fn current(&self, taxi: &str) -> Result<Option<Event>, StoreError> {
        if let Some((order, _)) = self.store.open_offer(taxi).await? {
            return self.offer_event(taxi, &order, false).await;
        }
        if let Some(order) = self.store.held_order(taxi).await? {
            return self.offer_event(taxi, &order, true).await;
        }
        Ok(None)
    }

    /// Builds an offer from the payload the dispatch script published.
    fn offer_from(&self, order: &str, p: &OfferPayload) -> pb::Offer {
        let place = |lat: &str, lon: &str, addr: &str| {
            let (lat, lon) = (lat.parse::<f64>().ok()?, lon.parse::<f64>().ok()?);
            Some(pb::Place {
                location: Some(pb::LatLng {
                    latitude: lat,
                    longitude: lon,
                    datum: pb::Datum::Wgs84 as i32,
                }),
                address: addr.to_string(),
            })
        };
        let dist: f64 = p.dist.parse().unwrap_or(0.0);
        pb::Offer {
            order_id: order.to_string(),
            pickup: place(&p.p_lat, &p.p_lon, &p.p_addr),
            dropoff: place(&p.d_lat, &p.d_lon, &p.d_addr),
            distance_meters: dist.round() as u32,
            eta_seconds: eta_seconds(dist),
            elderly: !p.elderly.is_empty(),
            needs: taxi_domain::booking::parse_needs(&p.needs)
                .into_iter()
                .map(|n| convert::need(n) as i32)
                .collect(),
            notes: p.notes.clone(),
            payment: taxi_domain::booking::Payment::from_code(&p.pay)
                .map(convert::payment)
                .unwrap_or(pb::PaymentMethod::Cash) as i32,
            passenger_phone_masked: mask_phone(&p.phone),
            passenger_count: p.pax.parse().unwrap_or(1),
            expire_time: Some(convert::timestamp(p.deadline)),
            broadcast: matches!(self.settings.offer_mode, OfferMode::Broadcast(_)),
        }
    }

    /// Builds the offer a driver sees.
    pub async fn offer(
        &self,
        o: &OrderRecord,
        taxi: &str,
        deadline_ms: i64,
    ) -> Result<pb::Offer, StoreError> {
        let t = self.store.get_taxi(taxi).await?;
        let distance = t
            .position
            .map(|(at, _)| at.distance_m(&o.pickup.at))
            .unwrap_or(0.0);
        Ok(pb::Offer {
            order_id: o.id.clone(),
            pickup: Some(convert::place_to(&o.pickup)),
            dropoff: o.dropoff.as_ref().map(convert::place_to),
            distance_meters: distance.round() as u32,
            eta_seconds: eta_seconds(distance),
            elderly: o.elderly.is_some(),
            needs: o.needs.iter().map(|n| convert::need(*n) as i32).collect(),
            notes: o.notes.clone(),
            payment: convert::payment(o.payment) as i32,
            passenger_phone_masked: mask_phone(&o.phone),
            passenger_count: o.passengers,
            expire_time: (deadline_ms > 0).then(|| convert::timestamp(deadline_ms)),
            broadcast: matches!(self.settings.offer_mode, OfferMode::Broadcast(_)),
        })
    }
}
