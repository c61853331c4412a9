//! `taxi.v1.HotlineService`: the 95128 call centre.
//!
//! # Layout
//! - [`checks`]: request checks for callers and bookings (everything is checked before
//!   anything is written).
//! - [`relative`]: what a relative may do (book for, and follow, the person who granted
//!   access); the handlers call it when the caller is a relative.
//! - [`recurring`]: `taxi.v1.RecurringService`, recurring rides (served with the hotline).
//! - this module: the handlers. `LookupCaller` and `ClassifyCall` are on the path of every
//!   incoming call: one script, one round trip to Redis (plus one per order that has a
//!   taxi to show).
//!
//! Replies of this service are for operators and show phone numbers in full; logs never do.
//! A relative's replies show the trip's status only ([`relative::status_view`]).

pub mod checks;
pub mod recurring;
pub mod relative;

use relative::Relative;
use taxi_auth::{Caller, Role};
use taxi_domain::booking::Channel;
use taxi_domain::priority::{self, china_date};
use taxi_domain::settings::Settings;
use taxi_domain::validate::{self, Phone, mask_phone};
use taxi_edge::{ApiError, ApiResult, actor, convert, view};
use taxi_proto::v1 as pb;
use taxi_proto::v1::hotline_service_server::{HotlineService, HotlineServiceServer};
use taxi_store::Store;
use taxi_store::callers::CallerRecord;
use taxi_store::orders::{NewOrder, OrderRecord, PlaceRec};
use tonic::{Request, Response, Status};

/// Orders shown on the screen pop.
pub const RECENT_ORDERS: usize = 5;

/// The call centre service of one city.
#[derive(Debug, Clone)]
pub struct Hotline {
    store: Store,
    settings: Settings,
    announce_calls: bool,
}

/// The largest offset a page token may name.
const MAX_PAGE_OFFSET: usize = 1_000_000;

/// What a booking asks for, checked, before it is placed.
#[derive(Debug)]
pub struct Booking {
    /// Channel.
    pub channel: Channel,
    /// Passenger.
    pub phone: String,
    /// Passenger's name.
    pub name: String,
    /// Pickup.
    pub pickup: PlaceRec,
    /// Drop-off.
    pub dropoff: Option<PlaceRec>,
    /// Pickup time (ms) and whether it is a reservation.
    pub when: (i64, bool),
    /// The small fields.
    pub extras: checks::Extras,
    /// Operator and proxy booker.
    pub booker: (String, String),
}

impl Hotline {
    /// The service over `store`.
    pub fn new(store: Store, settings: Settings) -> Self {
        Self {
            store,
            settings,
            announce_calls: false,
        }
    }

    /// Announces every classified call to the operators' consoles of the city, through
    /// the store (`Store::announce_call`), so that a console served by any process pops
    /// it. The switch's answer does not depend on it: a failed announcement is logged,
    /// and the call is simply not shown. (The call queue's own `Hotline` does not
    /// announce: its calls reach a seat by routing.)
    pub fn announcing_calls(mut self) -> Self {
        self.announce_calls = true;
        self
    }

    async fn announce(&self, phone: &str, known: bool, elderly: bool) {
        if !self.announce_calls {
            return;
        }
        if let Err(e) = self.store.announce_call(phone, known, elderly).await {
            tracing::warn!(error = %e, phone = %mask_phone(phone), "the call could not be announced to the consoles");
        }
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> HotlineServiceServer<Self> {
        HotlineServiceServer::new(self)
    }

    fn today(&self) -> chrono::NaiveDate {
        china_date(self.store.now_ms())
    }

    /// The most recently created order that is still in progress.
    fn active_of(orders: &[OrderRecord]) -> Option<&OrderRecord> {
        orders
            .iter()
            .filter(|o| o.status.is_active())
            .max_by_key(|o| o.created_ms)
    }

    async fn lookup(&self, r: pb::LookupCallerRequest) -> ApiResult<pb::LookupCallerResponse> {
        let phone = Phone::parse("phone", &r.phone)?;
        let screen = self
            .store
            .caller_screen(phone.as_str(), RECENT_ORDERS)
            .await?;
        let Some(caller) = screen.caller else {
            return Ok(pb::LookupCallerResponse::default());
        };
        let recent_orders: Vec<OrderRecord> = screen
            .recent
            .iter()
            .filter_map(|id| screen.orders.iter().find(|o| &o.id == id).cloned())
            .collect();
        let active_order = match Self::active_of(&screen.orders) {
            Some(o) => Some(view::order(&self.store, o, false).await?),
            None => None,
        };
        Ok(pb::LookupCallerResponse {
            known: true,
            caller: Some(convert::caller(&caller, self.today())),
            recent_orders: view::orders(&self.store, &recent_orders, false).await?,
            active_order,
        })
    }

    async fn classify(&self, r: pb::ClassifyCallRequest) -> ApiResult<pb::ClassifyCallResponse> {
        let phone = Phone::parse("calling_number", &r.calling_number)?;
        self.classify_number(&phone).await
    }

    /// What the registry says of a calling number: older caller (and why), known, an
    /// order in progress. `ClassifyCall` answers it; the call queue ranks calls by it.
    pub async fn classify_number(&self, phone: &Phone) -> ApiResult<pb::ClassifyCallResponse> {
        let screen = self.store.caller_screen(phone.as_str(), 0).await?;
        let Some(caller) = screen.caller else {
            self.announce(phone.as_str(), false, false).await;
            return Ok(pb::ClassifyCallResponse {
                priority: pb::CallPriority::Normal as i32,
                ..Default::default()
            });
        };
        let reason = priority::elderly_reason(&convert::facts(&caller), self.today());
        let active = Self::active_of(&screen.orders);
        self.announce(phone.as_str(), true, reason.is_some()).await;
        Ok(pb::ClassifyCallResponse {
            priority: if reason.is_some() {
                pb::CallPriority::Elderly
            } else {
                pb::CallPriority::Normal
            } as i32,
            known: true,
            elderly: reason.is_some(),
            elderly_reason: convert::elderly_reason(reason) as i32,
            has_active_order: active.is_some(),
            active_order_id: active.map(|o| o.id.clone()).unwrap_or_default(),
        })
    }

    async fn upsert(
        &self,
        by: &Caller,
        r: pb::UpsertCallerRequest,
    ) -> ApiResult<pb::UpsertCallerResponse> {
        let profile = checks::caller_profile(r.caller.as_ref(), self.today())?;
        let (caller, created) = self.store.upsert_caller(&profile).await?;
        tracing::info!(phone = %mask_phone(&caller.phone), created, "caller saved");
        let detail = format!(
            "created={created} elderly_flag={} contacts={}",
            profile.elderly_flag,
            profile.contacts.len()
        );
        actor::record(&self.store, by, "UpsertCaller", &caller.phone, &detail).await;
        Ok(pb::UpsertCallerResponse {
            caller: Some(convert::caller(&caller, self.today())),
            created,
        })
    }

    /// Checks a booking against the caller's profile; nothing is written.
    fn check_booking(
        &self,
        by: &Caller,
        r: &pb::CreateBookingRequest,
        caller: Option<&CallerRecord>,
        phone: &Phone,
    ) -> ApiResult<Booking> {
        let channel = checks::hotline_channel(r.channel)?;
        let operator = actor::operator(by, "operator_id", &r.operator_id)?;
        allowed_channel(by, channel)?;
        let booker = checks::booker(
            channel,
            operator.as_deref().unwrap_or_default(),
            &r.booker_phone,
        )?;
        let extras = checks::extras(r)?;
        let name = match caller {
            Some(c) if !c.name.is_empty() => c.name.clone(),
            _ => validate::text("passenger_name", &r.passenger_name, checks::MAX_NAME)?,
        };
        let when =
            checks::pickup_time(r.pickup_time.as_ref(), self.store.now_ms(), &self.settings)?;
        let pickup = checks::place_choice(
            "pickup_saved_place",
            &r.pickup_saved_place,
            "pickup",
            r.pickup.as_ref(),
            caller,
            true,
        )?
        .expect("required");
        let area_field = if r.pickup_saved_place.is_empty() {
            "pickup.location"
        } else {
            "pickup_saved_place"
        };
        checks::in_service_area(area_field, &pickup, &self.settings)?;
        let dropoff = checks::place_choice(
            "dropoff_saved_place",
            &r.dropoff_saved_place,
            "dropoff",
            r.dropoff.as_ref(),
            caller,
            false,
        )?;
        Ok(Booking {
            channel,
            phone: phone.as_str().to_string(),
            name,
            pickup,
            dropoff,
            when,
            extras,
            booker,
        })
    }

    /// Places a checked booking: priority from the caller's profile, the queue or the
    /// schedule, idempotency and (for the voice menu) de-duplication.
    async fn place(
        &self,
        b: Booking,
        caller: Option<&CallerRecord>,
    ) -> ApiResult<(pb::Order, bool)> {
        let now = self.store.now_ms();
        let s = &self.settings;
        let reason =
            caller.and_then(|c| priority::elderly_reason(&convert::facts(c), self.today()));
        let (pickup_ms, reservation) = b.when;
        let placement = priority::place_order(
            now,
            pickup_ms,
            reason.is_some(),
            s.elderly_head_start.as_millis() as i64,
            s.reservation_lead.as_millis() as i64,
        );
        // An older caller phoning the voice menu twice must not get two taxis; operators
        // and relatives see the active order on screen and may book a second on purpose.
        let dedupe = (b.channel == Channel::Ivr && !reservation)
            .then(|| now + s.duplicate_window.as_millis() as i64);
        let created = self
            .store
            .create_order(&NewOrder {
                channel: b.channel,
                phone: b.phone,
                name: b.name,
                pickup: b.pickup,
                dropoff: b.dropoff,
                pickup_ms,
                reservation,
                release_ms: placement.release_ms,
                elderly: reason,
                needs: checks::trip_needs(caller, &b.extras.needs),
                passengers: b.extras.passengers,
                notes: b.extras.notes,
                payment: b.extras.payment,
                operator: b.booker.0,
                booker: b.booker.1,
                device: String::new(),
                priority: placement.priority,
                queue_score: placement.queue_score,
                request_id: b.extras.request_id,
                dedupe_until_ms: dedupe,
            })
            .await?;
        tracing::info!(order_id = %created.order.id, created = created.created, elderly = reason.is_some(), reservation, "booking");
        Ok((
            view::order(&self.store, &created.order, false).await?,
            created.created,
        ))
    }

    async fn book(
        &self,
        by: &Caller,
        mut r: pb::CreateBookingRequest,
        rel: Option<&Relative>,
    ) -> ApiResult<pb::CreateBookingResponse> {
        if let Some(rel) = rel {
            rel.own_booking(&mut r)?;
        }
        let phone = Phone::parse("caller_phone", &r.caller_phone)?;
        let caller = self.store.get_caller(phone.as_str()).await?;
        let booking = self.check_booking(by, &r, caller.as_ref(), &phone)?;
        let (order, created) = self.place(booking, caller.as_ref()).await?;
        if created {
            actor::record(&self.store, by, "CreateBooking", &order.order_id, "").await;
        }
        Ok(pb::CreateBookingResponse {
            order: Some(seen_by(rel, order)),
            created,
        })
    }

    async fn repeat(
        &self,
        by: &Caller,
        r: pb::RepeatLastTripRequest,
        rel: Option<&Relative>,
    ) -> ApiResult<pb::RepeatLastTripResponse> {
        let phone = Phone::parse("caller_phone", &r.caller_phone)?;
        if let Some(rel) = rel {
            rel.check_passenger("caller_phone", &phone)?;
            rel.check_booker(r.channel, &r.operator_id, "")?;
        }
        let caller = self
            .store
            .get_caller(phone.as_str())
            .await?
            .ok_or_else(|| {
                ApiError::NotFound(format!("caller_phone: no caller {}", phone.masked()))
            })?;
        let (ids, _) = self.store.caller_order_ids(phone.as_str(), 0, 1).await?;
        let last = match ids.first() {
            Some(id) => self.store.get_order(id).await?,
            None => {
                return Err(ApiError::NotFound(
                    "caller_phone: the caller has no previous trip".into(),
                ));
            }
        };
        let place = |p: &PlaceRec| pb::Place {
            location: Some(convert::lat_lng(&p.at)),
            address: p.address.clone(),
        };
        let again = pb::CreateBookingRequest {
            caller_phone: r.caller_phone.clone(),
            pickup: Some(place(&last.pickup)),
            dropoff: last.dropoff.as_ref().map(place),
            pickup_time: r.pickup_time,
            channel: r.channel,
            operator_id: r.operator_id.clone(),
            passenger_count: last.passengers,
            notes: last.notes.clone(),
            payment: convert::payment(last.payment) as i32,
            request_id: r.request_id.clone(),
            needs: last
                .needs
                .iter()
                .map(|n| convert::need(*n) as i32)
                .collect(),
            booker_phone: last.booker.clone(),
            ..Default::default()
        };
        let mut again = again;
        if let Some(rel) = rel {
            // The relative books again, whoever booked last time.
            again.channel = pb::Channel::FamilyProxy as i32;
            again.booker_phone = rel.phone.clone();
        }
        let booking = self.check_booking(by, &again, Some(&caller), &phone)?;
        let (order, created) = self.place(booking, Some(&caller)).await?;
        if created {
            actor::record(&self.store, by, "RepeatLastTrip", &order.order_id, "").await;
        }
        Ok(pb::RepeatLastTripResponse {
            order: Some(seen_by(rel, order)),
            created,
        })
    }

    async fn get(
        &self,
        r: pb::GetOrderRequest,
        rel: Option<&Relative>,
    ) -> ApiResult<pb::GetOrderResponse> {
        let id = validate::id("order_id", &r.order_id)?;
        let o = self.store.get_order(&id).await?;
        if let Some(rel) = rel {
            rel.check_order(&o)?;
        }
        Ok(pb::GetOrderResponse {
            order: Some(seen_by(rel, view::order(&self.store, &o, false).await?)),
        })
    }

    async fn list(
        &self,
        r: pb::ListOrdersRequest,
        rel: Option<&Relative>,
    ) -> ApiResult<pb::ListOrdersResponse> {
        let phone = match rel {
            // A relative follows one person: the phone may be left out.
            Some(rel) if r.caller_phone.is_empty() => Phone::parse("caller_phone", &rel.passenger)?,
            _ => Phone::parse("caller_phone", &r.caller_phone)?,
        };
        if let Some(rel) = rel {
            rel.check_passenger("caller_phone", &phone)?;
        }
        let size = match r.page_size {
            0 => 20,
            n if n > 100 => return Err(ApiError::invalid("page_size", "at most 100")),
            n => n as usize,
        };
        let offset = if r.page_token.is_empty() {
            0
        } else {
            // A token is an offset this service gave out: never past what a caller can
            // have (u64::MAX once wrapped around into the first page).
            r.page_token
                .parse::<usize>()
                .ok()
                .filter(|o| *o <= MAX_PAGE_OFFSET)
                .ok_or_else(|| {
                    ApiError::invalid("page_token", "is not a token this service gave out")
                })?
        };
        let (ids, total) = self
            .store
            .caller_order_ids(phone.as_str(), offset, size)
            .await?;
        let orders = self.store.get_orders(&ids).await?;
        let next = offset + ids.len();
        Ok(pb::ListOrdersResponse {
            orders: view::orders(&self.store, &orders, false)
                .await?
                .into_iter()
                .map(|o| seen_by(rel, o))
                .collect(),
            next_page_token: if next < total {
                next.to_string()
            } else {
                String::new()
            },
        })
    }

    async fn cancel(
        &self,
        who: &Caller,
        r: pb::CancelOrderRequest,
    ) -> ApiResult<pb::CancelOrderResponse> {
        let id = validate::id("order_id", &r.order_id)?;
        let by = actor::cancelled_by(who, r.cancelled_by)?;
        let reason = validate::text("reason", &r.reason, checks::MAX_NOTES)?;
        actor::operator(who, "operator_id", &r.operator_id)?;
        let (o, released) = self.store.cancel_order(&id, by, &reason).await?;
        tracing::info!(order_id = %id, by = by.code(), actor = %who.identity.actor(), ?released, "order cancelled");
        actor::record(
            &self.store,
            who,
            "CancelOrder",
            &id,
            &format!("as={} reason={reason}", by.code()),
        )
        .await;
        Ok(pb::CancelOrderResponse {
            order: Some(view::order(&self.store, &o, false).await?),
        })
    }

    async fn alerts(&self, r: pb::ListAlertsRequest) -> ApiResult<pb::ListAlertsResponse> {
        let limit = match r.limit {
            0 => 50,
            n if n > 200 => return Err(ApiError::invalid("limit", "at most 200")),
            n => n as usize,
        };
        let alerts = self
            .store
            .list_alerts(r.include_acknowledged, limit)
            .await?;
        Ok(pb::ListAlertsResponse {
            alerts: alerts.iter().map(convert::alert).collect(),
        })
    }

    async fn acknowledge(
        &self,
        by: &Caller,
        r: pb::AcknowledgeAlertRequest,
    ) -> ApiResult<pb::AcknowledgeAlertResponse> {
        let id = validate::id("alert_id", &r.alert_id)?;
        let operator = actor::required_operator(by, "operator_id", &r.operator_id)?;
        let note = validate::text("note", &r.note, checks::MAX_NOTES)?;
        let a = self.store.acknowledge_alert(&id, &operator, &note).await?;
        actor::record(&self.store, by, "AcknowledgeAlert", &id, &note).await;
        Ok(pb::AcknowledgeAlertResponse {
            alert: Some(convert::alert(&a)),
        })
    }
}

impl Hotline {
    async fn resolve_alert(
        &self,
        by: &Caller,
        r: pb::ResolveAlertRequest,
    ) -> ApiResult<pb::ResolveAlertResponse> {
        let id = validate::id("alert_id", &r.alert_id)?;
        let operator = actor::required_operator(by, "operator_id", &r.operator_id)?;
        let outcome = taxi_domain::followup::outcome("outcome", &r.outcome)?;
        let a = self.store.resolve_alert(&id, &operator, &outcome).await?;
        actor::record(&self.store, by, "ResolveAlert", &id, &outcome).await;
        tracing::info!(alert_id = %id, %operator, "alert resolved");
        Ok(pb::ResolveAlertResponse {
            alert: Some(convert::alert(&a)),
        })
    }

    async fn get_alert_by_id(&self, r: pb::GetAlertRequest) -> ApiResult<pb::GetAlertResponse> {
        let id = validate::id("alert_id", &r.alert_id)?;
        let a = self.store.get_alert(&id).await?;
        Ok(pb::GetAlertResponse {
            alert: Some(convert::alert(&a)),
        })
    }
}

/// The channels a caller may book on: operators take calls (and relatives' calls), the
/// phone switch runs the voice menu, a relative books as a family proxy.
fn allowed_channel(by: &Caller, channel: Channel) -> ApiResult<()> {
    let role = by.identity.role;
    let ok = match role {
        Role::Operator | Role::Supervisor => {
            matches!(channel, Channel::Operator | Channel::FamilyProxy)
        }
        Role::PhoneSwitch => channel == Channel::Ivr,
        Role::Relative => channel == Channel::FamilyProxy,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::denied(
            "channel",
            format!(
                "a {role} may not book on CHANNEL_{}",
                channel.code().to_uppercase()
            ),
        ))
    }
}

fn masked(phone: &str) -> String {
    mask_phone(phone)
}

/// An order as the caller may see it: whole for staff, the trip's status for a relative.
fn seen_by(rel: Option<&Relative>, o: pb::Order) -> pb::Order {
    match rel {
        Some(_) => relative::status_view(o),
        None => o,
    }
}

impl Hotline {
    /// The relative calling, if the caller is one (see [`relative`]).
    async fn relative_of<T>(&self, request: &Request<T>) -> ApiResult<Option<Relative>> {
        let who = &taxi_auth::caller(request)
            .map_err(|s| ApiError::Unauthenticated(s.message().to_string()))?
            .identity;
        relative::of(&self.store, who).await
    }
}

#[tonic::async_trait]
impl HotlineService for Hotline {
    #[tracing::instrument(name = "LookupCaller", skip_all, fields(phone = %masked(&request.get_ref().phone)))]
    async fn lookup_caller(
        &self,
        request: Request<pb::LookupCallerRequest>,
    ) -> Result<Response<pb::LookupCallerResponse>, Status> {
        Ok(Response::new(self.lookup(request.into_inner()).await?))
    }

    #[tracing::instrument(name = "ClassifyCall", skip_all, fields(phone = %masked(&request.get_ref().calling_number)))]
    async fn classify_call(
        &self,
        request: Request<pb::ClassifyCallRequest>,
    ) -> Result<Response<pb::ClassifyCallResponse>, Status> {
        Ok(Response::new(self.classify(request.into_inner()).await?))
    }

    #[tracing::instrument(name = "UpsertCaller", skip_all)]
    async fn upsert_caller(
        &self,
        request: Request<pb::UpsertCallerRequest>,
    ) -> Result<Response<pb::UpsertCallerResponse>, Status> {
        let by = taxi_auth::caller(&request)?.clone();
        Ok(Response::new(self.upsert(&by, request.into_inner()).await?))
    }

    #[tracing::instrument(name = "CreateBooking", skip_all, fields(phone = %masked(&request.get_ref().caller_phone), request_id = %request.get_ref().request_id))]
    async fn create_booking(
        &self,
        request: Request<pb::CreateBookingRequest>,
    ) -> Result<Response<pb::CreateBookingResponse>, Status> {
        let by = taxi_auth::caller(&request)?.clone();
        let rel = self.relative_of(&request).await?;
        Ok(Response::new(
            self.book(&by, request.into_inner(), rel.as_ref()).await?,
        ))
    }

    #[tracing::instrument(name = "RepeatLastTrip", skip_all, fields(phone = %masked(&request.get_ref().caller_phone)))]
    async fn repeat_last_trip(
        &self,
        request: Request<pb::RepeatLastTripRequest>,
    ) -> Result<Response<pb::RepeatLastTripResponse>, Status> {
        let by = taxi_auth::caller(&request)?.clone();
        let rel = self.relative_of(&request).await?;
        Ok(Response::new(
            self.repeat(&by, request.into_inner(), rel.as_ref()).await?,
        ))
    }

    #[tracing::instrument(name = "GetOrder", skip_all, fields(order_id = %request.get_ref().order_id))]
    async fn get_order(
        &self,
        request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::GetOrderResponse>, Status> {
        let rel = self.relative_of(&request).await?;
        Ok(Response::new(
            self.get(request.into_inner(), rel.as_ref()).await?,
        ))
    }

    #[tracing::instrument(name = "ListOrders", skip_all, fields(phone = %masked(&request.get_ref().caller_phone)))]
    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        let rel = self.relative_of(&request).await?;
        Ok(Response::new(
            self.list(request.into_inner(), rel.as_ref()).await?,
        ))
    }

    #[tracing::instrument(name = "CancelOrder", skip_all, fields(order_id = %request.get_ref().order_id))]
    async fn cancel_order(
        &self,
        request: Request<pb::CancelOrderRequest>,
    ) -> Result<Response<pb::CancelOrderResponse>, Status> {
        let by = taxi_auth::caller(&request)?.clone();
        Ok(Response::new(self.cancel(&by, request.into_inner()).await?))
    }

    #[tracing::instrument(name = "ListAlerts", skip_all)]
    async fn list_alerts(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> Result<Response<pb::ListAlertsResponse>, Status> {
        Ok(Response::new(self.alerts(request.into_inner()).await?))
    }

    #[tracing::instrument(name = "AcknowledgeAlert", skip_all, fields(alert_id = %request.get_ref().alert_id))]
    async fn acknowledge_alert(
        &self,
        request: Request<pb::AcknowledgeAlertRequest>,
    ) -> Result<Response<pb::AcknowledgeAlertResponse>, Status> {
        let by = taxi_auth::caller(&request)?.clone();
        Ok(Response::new(
            self.acknowledge(&by, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(name = "ResolveAlert", skip_all, fields(alert_id = %request.get_ref().alert_id))]
    async fn resolve_alert(
        &self,
        request: Request<pb::ResolveAlertRequest>,
    ) -> Result<Response<pb::ResolveAlertResponse>, Status> {
        let by = taxi_auth::caller(&request)?.clone();
        Ok(Response::new(
            Hotline::resolve_alert(self, &by, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(name = "GetAlert", skip_all, fields(alert_id = %request.get_ref().alert_id))]
    async fn get_alert(
        &self,
        request: Request<pb::GetAlertRequest>,
    ) -> Result<Response<pb::GetAlertResponse>, Status> {
        Ok(Response::new(
            self.get_alert_by_id(request.into_inner()).await?,
        ))
    }
}
