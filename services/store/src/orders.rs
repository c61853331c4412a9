//! Orders: creation (idempotent, de-duplicated), reads, cancellation.

use crate::{Store, StoreError, now_ms};
use std::collections::HashMap;
use taxi_domain::Coordinates;
use taxi_domain::booking::{CancelledBy, Channel, Need, Payment, join_codes, parse_needs};
use taxi_domain::order::{OrderEvent, OrderStatus, refusal};
use taxi_domain::priority::ElderlyReason;

/// A pickup or drop-off.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceRec {
    /// WGS-84.
    pub at: Coordinates,
    /// Address text for the driver.
    pub address: String,
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

fn place_fields(prefix: &str, p: &Option<PlaceRec>, out: &mut Vec<String>) {
    let (lat, lon, addr) = match p {
        Some(p) => (
            p.at.lat().to_string(),
            p.at.lon().to_string(),
            p.address.clone(),
        ),
        None => (String::new(), String::new(), String::new()),
    };
    out.extend([
        format!("{prefix}_lat"),
        lat,
        format!("{prefix}_lon"),
        lon,
        format!("{prefix}_addr"),
        addr,
    ]);
}

impl OrderRecord {
    pub(crate) fn from_map(m: &HashMap<String, String>) -> Result<Self, StoreError> {
        let get = |f: &str| m.get(f).cloned().unwrap_or_default();
        let num = |f: &str| get(f).parse::<i64>().unwrap_or(0);
        let place = |p: &str| -> Option<PlaceRec> {
            let lat = get(&format!("{p}_lat")).parse::<f64>().ok()?;
            let lon = get(&format!("{p}_lon")).parse::<f64>().ok()?;
            Some(PlaceRec {
                at: Coordinates::new(lat, lon).ok()?,
                address: get(&format!("{p}_addr")),
            })
        };
        let bad = |f: &str| StoreError::Internal(format!("order {} has a bad {f}", get("id")));
        let taxi = get("taxi");
        Ok(Self {
            id: get("id"),
            status: OrderStatus::from_code(&get("status")).ok_or_else(|| bad("status"))?,
            channel: Channel::from_code(&get("channel")).ok_or_else(|| bad("channel"))?,
            phone: get("phone"),
            name: get("name"),
            pickup: place("p").ok_or_else(|| bad("pickup"))?,
            dropoff: place("d"),
            pickup_ms: num("pickup_ms"),
            reservation: get("resv") == "1",
            elderly: ElderlyReason::from_code(&get("reason")),
            needs: parse_needs(&get("needs")),
            passengers: num("pax") as u32,
            notes: get("notes"),
            payment: Payment::from_code(&get("pay")).unwrap_or(Payment::Cash),
            operator: get("operator"),
            booker: get("booker"),
            device: get("device"),
            priority: num("prio") as i32,
            taxi: (!taxi.is_empty()).then_some(taxi),
            created_ms: num("created"),
            updated_ms: num("updated"),
            cancelled_by: CancelledBy::from_code(&get("c_by")),
            cancel_reason: get("c_reason"),
            fare_cents: num("fare"),
            paid_by: Payment::from_code(&get("paid_by")),
            offers: num("offers") as u32,
            accepted_ms: num("accepted_ms"),
            arrived_ms: num("arrived_ms"),
            started_ms: num("started_ms"),
            ended_ms: num("ended_ms"),
            eta_s: num("eta_s") as u32,
            release_ms: num("release_ms"),
            queue_score: num("qscore"),
        })
    }
}

impl Store {
    /// Creates an order atomically: a repeated request id, or (with `dedupe_until_ms`) an
    /// active order of the same caller due in the window, returns the existing order.
    /// Immediate orders enter the pending queue, reservations the schedule.
    pub async fn create_order(&self, o: &NewOrder) -> Result<Created, StoreError> {
        let k = &self.keys;
        let now = now_ms();
        let status = if o.reservation {
            OrderStatus::Scheduled
        } else {
            OrderStatus::Pending
        };
        // The script reads the channel and the reason at fixed places: keep them first.
        let mut fields: Vec<String> = vec![
            "channel".into(),
            o.channel.code().into(),
            "reason".into(),
            o.elderly.map(|r| r.code()).unwrap_or("").into(),
            "qscore".into(),
            o.queue_score.to_string(),
            "phone".into(),
            o.phone.clone(),
            "name".into(),
            o.name.clone(),
            "pickup_ms".into(),
            o.pickup_ms.to_string(),
            "resv".into(),
            if o.reservation { "1" } else { "0" }.into(),
            "release_ms".into(),
            o.release_ms.to_string(),
            "needs".into(),
            join_codes(&o.needs, Need::code),
            "pax".into(),
            o.passengers.to_string(),
            "notes".into(),
            o.notes.clone(),
            "pay".into(),
            o.payment.code().into(),
            "operator".into(),
            o.operator.clone(),
            "booker".into(),
            o.booker.clone(),
            "device".into(),
            o.device.clone(),
            "prio".into(),
            o.priority.to_string(),
            "req".into(),
            o.request_id.clone().unwrap_or_default(),
            "offers".into(),
            "0".into(),
            "holders".into(),
            String::new(),
        ];
        place_fields("p", &Some(o.pickup.clone()), &mut fields);
        place_fields("d", &o.dropoff, &mut fields);
        let request_key = match &o.request_id {
            Some(r) => k.request(r),
            None => k.request("-"),
        };
        let score = if o.reservation {
            o.release_ms
        } else {
            o.queue_score
        };
        let mut conn = self.conn.clone();
        let mut inv = self.scripts.create_order.prepare_invoke();
        inv.key(k.seq("order"))
            .key(k.caller_orders(&o.phone))
            .key(k.caller_active(&o.phone))
            .key(&k.pending)
            .key(&k.scheduled)
            .key(&k.events)
            .key(&request_key)
            .key(k.caller(&o.phone))
            .arg(&k.entity_prefix)
            .arg(if o.request_id.is_some() { "1" } else { "0" })
            .arg(self.request_ttl_s())
            .arg(if o.dedupe_until_ms.is_some() {
                "1"
            } else {
                "0"
            })
            .arg(o.dedupe_until_ms.unwrap_or(0))
            .arg(now)
            .arg(status.code())
            .arg(score)
            .arg(o.pickup_ms)
            .arg(&o.name);
        for f in &fields {
            inv.arg(f);
        }
        let reply: Vec<String> = inv.invoke_async(&mut conn).await?;
        let (Some(kind), Some(id)) = (reply.first(), reply.get(1)) else {
            return Err(StoreError::Internal(format!(
                "create_order replied {reply:?}"
            )));
        };
        let order = self.get_order(id).await?;
        Ok(Created {
            order,
            created: kind == "created",
        })
    }

    /// One order.
    pub async fn get_order(&self, id: &str) -> Result<OrderRecord, StoreError> {
        let mut conn = self.conn.clone();
        let m: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys.order(id))
            .query_async(&mut conn)
            .await?;
        if m.is_empty() {
            return Err(StoreError::NotFound {
                what: "order",
                id: id.to_string(),
            });
        }
        OrderRecord::from_map(&m)
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
        maps.iter()
            .filter(|m| !m.is_empty())
            .map(OrderRecord::from_map)
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
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .scripts
            .cancel_order
            .key(k.order(id))
            .arg(&k.entity_prefix)
            .arg(now_ms())
            .arg(id)
            .arg(OrderEvent::Cancel.allowed_codes())
            .arg(by.code())
            .arg(reason)
            .invoke_async(&mut conn)
            .await?;
        match reply.first().map(String::as_str) {
            Some("ok") => {
                let released = reply
                    .get(2)
                    .map(|s| {
                        s.split(',')
                            .filter(|t| !t.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                Ok((self.get_order(id).await?, released))
            }
            Some("missing") => Err(StoreError::NotFound {
                what: "order",
                id: id.to_string(),
            }),
            Some("refused") => {
                let st = reply
                    .get(1)
                    .and_then(|s| OrderStatus::from_code(s))
                    .unwrap_or(OrderStatus::Completed);
                Err(StoreError::FailedPrecondition(refusal(
                    OrderEvent::Cancel,
                    st,
                )))
            }
            _ => Err(StoreError::Internal(format!(
                "cancel_order replied {reply:?}"
            ))),
        }
    }
}
