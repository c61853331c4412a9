//! Orders: creation (idempotent, de-duplicated), reads, cancellation.

use crate::fields::{Fields, place_fields};
use crate::scripts::{CancelOrder, CancelOrderReply, CreateOrder, CreateOrderReply};
use crate::{Entity, Store, StoreError};
use std::collections::HashMap;
use taxi_domain::Coordinates;
use taxi_domain::booking::{CancelledBy, Channel, Need, Payment, join_codes, parse_needs};
use taxi_domain::followup::CallbackState;
use taxi_domain::order::{OrderEvent, OrderStatus};
use taxi_domain::priority::ElderlyReason;

/// A pickup or drop-off.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceRec {
    /// WGS-84.
    pub at: Coordinates,
    /// Address text for the driver.
    pub address: String,
}

/// How an operator closed a call-back or an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolutionRec {
    /// The operator.
    pub by: String,
    /// When (ms).
    pub at_ms: i64,
    /// What came of it.
    pub outcome: String,
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRecord {
    /// `O<n>`.
    pub id: String,
    /// Status.
    pub status: OrderStatus,
    /// Channel.
    pub channel: Channel,
    /// Passenger's canonical phone.
    pub phone: String,
    /// Passenger's name.
    pub name: String,
    /// Pickup.
    pub pickup: PlaceRec,
    /// Drop-off, if known.
    pub dropoff: Option<PlaceRec>,
    /// Wanted pickup time (ms); creation time for immediate orders.
    pub pickup_ms: i64,
    /// A reservation.
    pub reservation: bool,
    /// Why the passenger is an older person, if they are.
    pub elderly: Option<ElderlyReason>,
    /// Needs.
    pub needs: Vec<Need>,
    /// Passengers.
    pub passengers: u32,
    /// Notes for the driver.
    pub notes: String,
    /// Payment method.
    pub payment: Payment,
    /// Operator who entered it.
    pub operator: String,
    /// Operator who assigned a taxi by hand ('' when dispatch did).
    pub assigned_by: String,
    /// Proxy booker's phone.
    pub booker: String,
    /// Device that booked it.
    pub device: String,
    /// Dispatch priority.
    pub priority: i32,
    /// The taxi holding it (offered, assigned or on trip).
    pub taxi: Option<String>,
    /// Created (ms).
    pub created_ms: i64,
    /// Updated (ms).
    pub updated_ms: i64,
    /// Who cancelled.
    pub cancelled_by: Option<CancelledBy>,
    /// Why.
    pub cancel_reason: String,
    /// Fare in cents once completed.
    pub fare_cents: i64,
    /// How it was paid once completed.
    pub paid_by: Option<Payment>,
    /// Offers made so far.
    pub offers: u32,
    /// When it was accepted (ms), 0 if not yet.
    pub accepted_ms: i64,
    /// When the taxi arrived (ms), 0 if not yet.
    pub arrived_ms: i64,
    /// When the trip started (ms).
    pub started_ms: i64,
    /// When it ended (ms).
    pub ended_ms: i64,
    /// ETA to pickup in seconds when accepted.
    pub eta_s: u32,
    /// When it entered dispatch (ms): creation, or a reservation's release.
    pub release_ms: i64,
    /// Its score in the dispatch queue (lower goes first).
    pub queue_score: i64,
    /// For an unfulfilled order, how its call-back was resolved (`None` while open).
    pub callback_resolution: Option<ResolutionRec>,
    /// The trip's privacy number while one is bound ('' otherwise); written by
    /// `privacy_record.lua`, removed by `privacy_release.lua`.
    pub privacy_number: String,
    /// Why the trip has no privacy number, if binding one failed.
    pub privacy_unavailable: Option<taxi_domain::privacy::Unavailable>,
    /// The stand its pickup is at ('' for none), decided when it was made
    /// (`taxi_domain::stands::pickup_stand`): dispatch offers it to that stand's queue first.
    pub stand: String,
}

/// An order to create.
#[derive(Debug, Clone)]
pub struct NewOrder {
    /// Channel.
    pub channel: Channel,
    /// Passenger's canonical phone.
    pub phone: String,
    /// Passenger's name (also names a new caller profile).
    pub name: String,
    /// Pickup.
    pub pickup: PlaceRec,
    /// Drop-off.
    pub dropoff: Option<PlaceRec>,
    /// Wanted pickup time (ms).
    pub pickup_ms: i64,
    /// A reservation (SCHEDULED until `release_ms`).
    pub reservation: bool,
    /// When a reservation enters dispatch (ms).
    pub release_ms: i64,
    /// Why older, if older.
    pub elderly: Option<ElderlyReason>,
    /// Needs.
    pub needs: Vec<Need>,
    /// Passengers.
    pub passengers: u32,
    /// Notes.
    pub notes: String,
    /// Payment.
    pub payment: Payment,
    /// Operator id.
    pub operator: String,
    /// Proxy booker.
    pub booker: String,
    /// Device id.
    pub device: String,
    /// Priority.
    pub priority: i32,
    /// Queue score (for immediate orders).
    pub queue_score: i64,
    /// Client request id for idempotency.
    pub request_id: Option<String>,
    /// Return an active order due before this time (ms) instead of creating one.
    pub dedupe_until_ms: Option<i64>,
}

/// What creating an order did.
#[derive(Debug, Clone)]
pub struct Created {
    /// The order (new or existing).
    pub order: OrderRecord,
    /// False when an existing order was returned.
    pub created: bool,
}

/// A new order id: `O` and 128 random bits (`taxi_domain::validate::generated_id`), so
/// ids cannot be guessed or counted, and the id is known before the script that stores it
/// runs (its key must be declared).
fn new_order_id() -> String {
    taxi_domain::validate::generated_id("O", rand::random())
}

impl OrderRecord {
    pub(crate) fn from_fields(f: &Fields) -> Result<Self, StoreError> {
        let bad =
            |field: &str| StoreError::Internal(format!("order {} has a bad {field}", f.text("id")));
        Ok(Self {
            id: f.text("id"),
            status: OrderStatus::from_code(&f.text("status")).ok_or_else(|| bad("status"))?,
            channel: Channel::from_code(&f.text("channel")).ok_or_else(|| bad("channel"))?,
            phone: f.text("phone"),
            name: f.text("name"),
            pickup: f.place("p").ok_or_else(|| bad("pickup"))?,
            dropoff: f.place("d"),
            pickup_ms: f.int("pickup_ms"),
            reservation: f.flag("resv"),
            elderly: ElderlyReason::from_code(&f.text("reason")),
            needs: parse_needs(&f.text("needs")),
            passengers: f.int("pax") as u32,
            notes: f.text("notes"),
            payment: Payment::from_code(&f.text("pay")).unwrap_or(Payment::Cash),
            operator: f.text("operator"),
            assigned_by: f.text("assigned_by"),
            booker: f.text("booker"),
            device: f.text("device"),
            priority: f.int("prio") as i32,
            taxi: f.opt("taxi"),
            created_ms: f.int("created"),
            updated_ms: f.int("updated"),
            cancelled_by: CancelledBy::from_code(&f.text("c_by")),
            cancel_reason: f.text("c_reason"),
            fare_cents: f.int("fare"),
            paid_by: Payment::from_code(&f.text("paid_by")),
            offers: f.int("offers") as u32,
            accepted_ms: f.int("accepted_ms"),
            arrived_ms: f.int("arrived_ms"),
            started_ms: f.int("started_ms"),
            ended_ms: f.int("ended_ms"),
            eta_s: f.int("eta_s") as u32,
            release_ms: f.int("release_ms"),
            queue_score: f.int("qscore"),
            callback_resolution: (f.text("cb") == CallbackState::Resolved.code()).then(|| {
                ResolutionRec {
                    by: f.text("cb_by"),
                    at_ms: f.int("cb_ms"),
                    outcome: f.text("cb_outcome"),
                }
            }),
            privacy_number: f.text("px"),
            privacy_unavailable: taxi_domain::privacy::Unavailable::from_code(&f.text("px_why")),
            stand: f.text("stand"),
        })
    }
}

impl Store {
    /// Creates an order atomically: a repeated request id, or (with `dedupe_until_ms`) an
    /// active order of the same caller due in the window, returns the existing order.
    /// Immediate orders enter the pending queue, reservations the schedule.
    pub async fn create_order(&self, o: &NewOrder) -> Result<Created, StoreError> {
        self.create_order_for(o, None, Vec::new())
            .await?
            .ok_or_else(|| StoreError::Internal("an order that is no occurrence was stale".into()))
    }

    /// [`Store::create_order`], for a recurring pattern's occurrence
    /// `(pattern id, occurrence key, pattern version)` when given: the occurrence is marked
    /// made with the order in the same atomic step, one already made returns its order,
    /// and `None` says the pattern is no longer at that version (nothing was made).
    pub(crate) async fn create_order_for(
        &self,
        o: &NewOrder,
        occurrence: Option<(&str, &str, u64)>,
        extra: Vec<(String, String)>,
    ) -> Result<Option<Created>, StoreError> {
        let status = if o.reservation {
            OrderStatus::Scheduled
        } else {
            OrderStatus::Pending
        };
        let mut fields: Vec<(String, String)> = [
            ("qscore", o.queue_score.to_string()),
            ("phone", o.phone.clone()),
            ("name", o.name.clone()),
            ("pickup_ms", o.pickup_ms.to_string()),
            ("resv", if o.reservation { "1" } else { "0" }.into()),
            ("release_ms", o.release_ms.to_string()),
            ("needs", join_codes(&o.needs, Need::code)),
            ("pax", o.passengers.to_string()),
            ("notes", o.notes.clone()),
            ("pay", o.payment.code().into()),
            ("operator", o.operator.clone()),
            ("booker", o.booker.clone()),
            ("device", o.device.clone()),
            ("prio", o.priority.to_string()),
            ("req", o.request_id.clone().unwrap_or_default()),
            ("offers", "0".into()),
            ("holders", String::new()),
            (
                "stand",
                self.stand_for_pickup(&o.pickup.at, o.pickup_ms)
                    .await?
                    .unwrap_or_default(),
            ),
            // A relative's booking is told to the relative too (`create_order.lua`, and
            // every message about the order after it: `lib.lua`'s `tell`).
            (
                "n_rel",
                if o.channel == Channel::FamilyProxy {
                    o.booker.clone()
                } else {
                    String::new()
                },
            ),
        ]
        .map(|(f, v)| (f.to_string(), v))
        .into();
        fields.extend(place_fields("p", Some(&o.pickup)));
        fields.extend(place_fields("d", o.dropoff.as_ref()));
        fields.extend(extra);
        let id = new_order_id();
        let reply = self
            .call(&CreateOrder {
                id: &id,
                order: o,
                status,
                request_ttl_s: self.request_ttl_s(),
                fields,
                occurrence,
            })
            .await?;
        match reply {
            // What was stored comes back with the answer: nothing is read after it, so a
            // slow read can never turn a stored order into an error.
            CreateOrderReply::Created { fields } => {
                let map = fields
                    .chunks_exact(2)
                    .map(|kv| (kv[0].clone(), kv[1].clone()))
                    .collect();
                Ok(Some(Created {
                    order: OrderRecord::from_fields(&Fields::new(map))?,
                    created: true,
                }))
            }
            CreateOrderReply::Existing { order } => Ok(Some(Created {
                order: self.get_order(&order).await?,
                created: false,
            })),
            CreateOrderReply::Stale {} => Ok(None),
        }
    }

    /// One order.
    pub async fn get_order(&self, id: &str) -> Result<OrderRecord, StoreError> {
        let mut conn = self.conn.clone();
        let m: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys.order(id))
            .query_async(&mut conn)
            .await?;
        let f = Fields::new(m);
        if f.is_empty() {
            return Err(StoreError::not_found(Entity::Order, id));
        }
        OrderRecord::from_fields(&f)
    }

    /// Several orders in one round trip, in the order asked; unknown ids are skipped.
    pub async fn get_orders(&self, ids: &[String]) -> Result<Vec<OrderRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hgetall(self.keys.order(id));
        }
        let mut conn = self.conn.clone();
        let maps: Vec<HashMap<String, String>> = pipe.query_async(&mut conn).await?;
        maps.into_iter()
            .map(Fields::new)
            .filter(|f| !f.is_empty())
            .map(|f| OrderRecord::from_fields(&f))
            .collect()
    }

    /// Cancels an order before its trip starts, freeing any taxi holding it in the same
    /// atomic step. Returns the order and the taxis that were released.
    pub async fn cancel_order(
        &self,
        id: &str,
        by: CancelledBy,
        reason: &str,
    ) -> Result<(OrderRecord, Vec<String>), StoreError> {
        // The caller's keys must be declared: read whose order it is first (it never changes).
        let phone = self.order_phone(id).await?;
        let reply = self
            .call(&CancelOrder {
                order: id,
                phone: &phone,
                by,
                reason,
            })
            .await?;
        match reply {
            CancelOrderReply::Done { released } => Ok((self.get_order(id).await?, released)),
            CancelOrderReply::Missing => Err(StoreError::not_found(Entity::Order, id)),
            CancelOrderReply::Refused { status } => Err(StoreError::OrderRefused {
                event: OrderEvent::Cancel,
                status,
            }),
        }
    }

    /// The phone of the caller whose order `id` is.
    pub(crate) async fn order_phone(&self, id: &str) -> Result<String, StoreError> {
        let mut conn = self.conn.clone();
        let phone: Option<String> = redis::cmd("HGET")
            .arg(self.keys.order(id))
            .arg("phone")
            .query_async(&mut conn)
            .await?;
        phone.ok_or_else(|| StoreError::not_found(Entity::Order, id))
    }
}
