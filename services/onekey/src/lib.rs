//! `taxi.v1.OneKeyService`: the one-button devices given to older people.
//!
//! A short press books a taxi from the device's fresh position (else its home point); a
//! press while the owner has an active order returns that order, atomically in Redis, so
//! twenty presses at once still make one order. A long press raises an emergency alert
//! for the operators and the care contacts, and books nothing. Every reply carries a short
//! sentence for the device to speak.
//!
//! Who is calling comes from the access token (the policy table lets only a DEVICE token
//! press, ask and cancel): a device acts for itself only, and a `device_id` in a request
//! that names another device is refused with PERMISSION_DENIED, whether that device exists
//! or not. Fleet admins, operators and supervisors provision devices; the server makes the
//! id (unless given) and the secret, shown once.
//!
//! Decision: a device speaks for its owner, so it sees and cancels its owner's orders
//! (the newest active one, or one that just ended), whoever booked them: a press while the
//! owner has an active order returns that order anyway. It never names an order, so it
//! cannot reach anyone else's; the replies mask phone numbers.
use taxi_auth::{Caller, Role, key};
use taxi_domain::booking::{CancelledBy, Channel, Payment};
use taxi_domain::order::OrderStatus;
use taxi_domain::priority::{self, china_date};
use taxi_domain::settings::Settings;
use taxi_domain::speech::{self, TaxiWords};
use taxi_domain::validate::{self, Phone, mask_phone};
use taxi_edge::{ApiError, ApiResult, convert, view};
use taxi_proto::v1 as pb;
use taxi_proto::v1::one_key_service_server::{OneKeyService, OneKeyServiceServer};
use taxi_store::Store;
use taxi_store::callers::CallerRecord;
use taxi_store::devices::{DeviceRecord, NewAlert, NewDevice};
use taxi_store::orders::{NewOrder, OrderRecord, PlaceRec};
use tonic::{Request, Response, Status};

/// The address text of a pickup at the device's own position (no reverse geocoding here).
pub const DEVICE_POSITION_ADDRESS: &str = "一键叫车设备所在位置";

/// The one-key service of one city.
#[derive(Debug, Clone)]
pub struct OneKey {
    store: Store,
    settings: Settings,
}

impl OneKey {
    /// The service over `store`.
    pub fn new(store: Store, settings: Settings) -> Self {
        Self { store, settings }
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> OneKeyServiceServer<Self> {
        OneKeyServiceServer::new(self)
    }

    /// The device a call acts for: the token's. A `device_id` naming another is refused
    /// (PERMISSION_DENIED, known or not); a device no longer registered is UNAUTHENTICATED.
    async fn own_device(&self, c: &Caller, claimed: &str) -> ApiResult<DeviceRecord> {
        let Some(id) = c.identity.device() else {
            return Err(ApiError::denied(
                "device_id",
                format!("a {} is not a device", c.identity.role),
            ));
        };
        if !claimed.is_empty() && claimed != id {
            return Err(ApiError::denied(
                "device_id",
                "names another device than the credential's",
            ));
        }
        tracing::Span::current().record("device_id", id);
        self.store
            .get_device(id)
            .await?
            .ok_or_else(|| ApiError::Unauthenticated("the device is no longer registered".into()))
    }

    async fn register(
        &self,
        c: &Caller,
        r: pb::RegisterDeviceRequest,
    ) -> ApiResult<pb::RegisterDeviceResponse> {
        // Who may register which id: staff any (a new one made when none is given), a
        // device itself only. Decided before anything is read, so a device learns nothing
        // of other ids.
        let (id, existing) = match c.identity.role {
            Role::Device => {
                let d = self.own_device(c, &r.device_id).await?;
                (d.id.clone(), Some(d))
            }
            Role::FleetAdmin | Role::Operator | Role::Supervisor => {
                let id = if r.device_id.is_empty() {
                    key::new_id("D")
                } else {
                    validate::id("device_id", &r.device_id)?
                };
                (id, None)
            }
            other => {
                return Err(ApiError::denied(
                    "device_id",
                    format!("a {other} may not register devices"),
                ));
            }
        };
        tracing::Span::current().record("device_id", id.as_str());
        let owner = Phone::parse("owner_phone", &r.owner_phone)?;
        let owner_name = validate::text("owner_name", &r.owner_name, 32)?;
        let home_stand = if r.home_stand_id.is_empty() {
            None
        } else {
            let id = validate::id("home_stand_id", &r.home_stand_id)?;
            Some(self.store.get_stand(&id).await?.ok_or_else(|| {
                ApiError::invalid("home_stand_id", format!("{id} is no stand of this city"))
            })?)
        };
        let home = match &home_stand {
            // A stand's pickup point: its centre, inside its fence, so the order made
            // there is the stand's (`taxi_domain::stands::pickup_stand`).
            Some(s) => PlaceRec {
                at: s.fence().centre(),
                address: s.name().to_string(),
            },
            None => convert::place("home", r.home.as_ref())?,
        };
        if !self.settings.city.service_area.contains(&home.at) {
            return Err(ApiError::invalid(
                "home.location",
                format!("is outside the service area of {}", self.settings.city.name),
            ));
        }
        let existing = match existing {
            Some(d) => Some(d),
            None => self.store.get_device(&id).await?,
        };
        // A new device always gets a secret; a registered one keeps its own unless asked.
        let secret = (existing.is_none() || r.rotate_secret).then(key::new_secret);
        let (secret_hash, salt) = match &secret {
            Some(s) => {
                let salt = key::new_salt();
                (key::hash(&salt, s), salt)
            }
            None => (String::new(), String::new()),
        };
        let d = self
            .store
            .register_device(&NewDevice {
                id: id.clone(),
                owner: owner.as_str().to_string(),
                owner_name,
                secret_hash,
                salt,
                home,
            })
            .await?;
        if existing.is_some() && secret.is_some() {
            // The old secret is gone: so are the sessions opened with it (every process
            // refuses their tokens within a revocation poll).
            self.store
                .end_sessions_of(Role::Device.code(), &id, self.store.now_ms())
                .await?;
        }
        tracing::info!(device_id = %id, owner = %owner, by = %c.identity.actor(), new = existing.is_none(), rotated = secret.is_some(), "device registered");
        taxi_edge::actor::record(
            &self.store,
            c,
            "RegisterDevice",
            &id,
            &format!("new={} rotated={}", existing.is_none(), secret.is_some()),
        )
        .await;
        Ok(pb::RegisterDeviceResponse {
            device: Some(pb::Device {
                device_id: d.id,
                owner_phone: mask_phone(&d.owner),
                home: Some(convert::place_to(&d.home)),
                home_stand_id: home_stand.map(|s| s.id().to_string()).unwrap_or_default(),
            }),
            device_secret: secret.unwrap_or_default(),
        })
    }

    /// The owner's profile (made by `RegisterDevice`, so it exists).
    async fn owner(&self, d: &DeviceRecord) -> ApiResult<CallerRecord> {
        self.store.get_caller(&d.owner).await?.ok_or_else(|| {
            ApiError::FailedPrecondition(
                "the device's owner has no profile; register the device again".into(),
            )
        })
    }

    /// The fix sent with the press, checked (a malformed one is refused): where, and when
    /// it was taken (ms).
    fn press_fix(
        &self,
        r: &pb::PressButtonRequest,
        d: &DeviceRecord,
        now: i64,
    ) -> ApiResult<Option<(PlaceRec, i64)>> {
        let Some(p) = r.position.as_ref() else {
            return Ok(None);
        };
        let at = convert::coordinates("position", Some(p))?;
        let fix_ms = match &r.position_time {
            Some(ts) => convert::millis("position_time", ts)?,
            None => now,
        };
        let place = PlaceRec {
            at,
            address: format!("{DEVICE_POSITION_ADDRESS}（家：{}）", d.home.address),
        };
        Ok(Some((place, fix_ms)))
    }

    /// Where to pick up: the device's own fix if it is fresh and inside the service area,
    /// else its home point.
    fn pickup(&self, fix: Option<&(PlaceRec, i64)>, d: &DeviceRecord, now: i64) -> PlaceRec {
        match fix {
            Some((place, fix_ms))
                if now - fix_ms <= self.settings.device_fix_max_age.as_millis() as i64
                    && *fix_ms <= now + self.settings.max_fix_ahead.as_millis() as i64
                    && self.settings.city.service_area.contains(&place.at) =>
            {
                place.clone()
            }
            _ => d.home.clone(),
        }
    }

    /// Where an emergency is: the device's own last fix however old and wherever it is
    /// (the press's, else the last one the device sent), with when it was taken; its home
    /// only when it never sent one.
    fn emergency_location(
        fix: Option<&(PlaceRec, i64)>,
        d: &DeviceRecord,
        now: i64,
    ) -> (PlaceRec, Option<i64>) {
        match fix.or(d.last_fix.as_ref()) {
            Some((place, fix_ms)) => (place.clone(), Some((*fix_ms).min(now))),
            None => (d.home.clone(), None),
        }
    }

    /// The owner's order to talk about: the newest active one (one round trip).
    async fn active_order(&self, owner: &str) -> ApiResult<Option<OrderRecord>> {
        let screen = self.store.caller_screen(owner, 0).await?;
        Ok(screen
            .orders
            .into_iter()
            .filter(|o| o.status.is_active())
            .max_by_key(|o| o.created_ms))
    }

    /// The order on the wire (phones masked) and the sentence to speak about it.
    async fn spoken(&self, o: &OrderRecord) -> ApiResult<(pb::Order, String)> {
        let order = view::order(&self.store, o, true).await?;
        let words = order.taxi.as_ref().map(|t| TaxiWords {
            plate: t.plate.clone(),
            color: t.vehicle_color.clone(),
            eta_minutes: (o.status == OrderStatus::Accepted).then(|| t.eta_seconds.div_ceil(60)),
        });
        let sentence = speech::for_status(o.status, words.as_ref());
        Ok((order, sentence))
    }

    async fn press(
        &self,
        c: &Caller,
        r: pb::PressButtonRequest,
    ) -> ApiResult<pb::PressButtonResponse> {
        let d = self.own_device(c, &r.device_id).await?;
        let press = convert::known_enum::<pb::PressType>("press", r.press, false)?;
        let now = self.store.now_ms();
        let fix = self.press_fix(&r, &d, now)?;
        let owner = self.owner(&d).await?;
        if let Some((place, fix_ms)) = &fix {
            self.store
                .remember_device_fix(&d.id, place, *fix_ms)
                .await?;
        }
        if press == pb::PressType::Long {
            let (location, location_ms) = Self::emergency_location(fix.as_ref(), &d, now);
            let (alert, created) = self
                .store
                .raise_alert(
                    &NewAlert {
                        taxi: String::new(),
                        device: d.id.clone(),
                        phone: owner.phone.clone(),
                        name: owner.name.clone(),
                        location,
                        location_ms,
                        contacts: owner.contacts.clone(),
                    },
                    self.settings.alert_repeat_window.as_millis() as i64,
                )
                .await?;
            tracing::warn!(device_id = %d.id, alert_id = %alert.id, created, "emergency alert");
            let mut a = convert::alert(&alert);
            a.caller_phone = mask_phone(&a.caller_phone);
            a.care_contacts = a.care_contacts.iter().map(|c| mask_phone(c)).collect();
            return Ok(pb::PressButtonResponse {
                alert: Some(a),
                created,
                speech: speech::EMERGENCY.to_string(),
                ..Default::default()
            });
        }
        let s = &self.settings;
        let facts = priority::PassengerFacts {
            one_key_device: true,
            ..convert::facts(&owner)
        };
        let reason = priority::elderly_reason(&facts, china_date(now));
        let placement = priority::place_order(
            now,
            now,
            reason.is_some(),
            s.elderly_head_start.as_millis() as i64,
            s.reservation_lead.as_millis() as i64,
        );
        let created = self
            .store
            .create_order(&NewOrder {
                channel: Channel::OneKey,
                phone: owner.phone.clone(),
                name: owner.name.clone(),
                pickup: self.pickup(fix.as_ref(), &d, now),
                dropoff: None,
                pickup_ms: now,
                reservation: false,
                release_ms: now,
                elderly: reason,
                needs: owner.needs.clone(),
                passengers: 1,
                notes: String::new(),
                payment: Payment::Cash,
                operator: String::new(),
                booker: String::new(),
                device: d.id.clone(),
                priority: placement.priority,
                queue_score: placement.queue_score,
                request_id: None,
                dedupe_until_ms: Some(now + s.duplicate_window.as_millis() as i64),
            })
            .await?;
        tracing::info!(device_id = %d.id, order_id = %created.order.id, created = created.created, "one-key press");
        let (order, sentence) = self.spoken(&created.order).await?;
        Ok(pb::PressButtonResponse {
            order: Some(order),
            created: created.created,
            alert: None,
            speech: sentence,
        })
    }

    async fn status(
        &self,
        c: &Caller,
        r: pb::GetDeviceStatusRequest,
    ) -> ApiResult<pb::GetDeviceStatusResponse> {
        let d = self.own_device(c, &r.device_id).await?;
        let order = match self.active_order(&d.owner).await? {
            Some(o) => Some(o),
            None => {
                // A trip that ended in the last few minutes is still worth telling about.
                let (ids, _) = self.store.caller_order_ids(&d.owner, 0, 1).await?;
                let recent = self.store.get_orders(&ids).await?;
                recent.into_iter().find(|o| {
                    self.store.now_ms() - o.updated_ms
                        <= self.settings.duplicate_window.as_millis() as i64
                })
            }
        };
        match order {
            Some(o) => {
                let (order, speech) = self.spoken(&o).await?;
                Ok(pb::GetDeviceStatusResponse {
                    order: Some(order),
                    speech,
                })
            }
            None => Ok(pb::GetDeviceStatusResponse {
                order: None,
                speech: speech::IDLE.to_string(),
            }),
        }
    }

    async fn cancel(
        &self,
        c: &Caller,
        r: pb::CancelDeviceOrderRequest,
    ) -> ApiResult<pb::CancelDeviceOrderResponse> {
        let d = self.own_device(c, &r.device_id).await?;
        let Some(o) = self.active_order(&d.owner).await? else {
            return Err(ApiError::FailedPrecondition(
                "there is no active order to cancel".into(),
            ));
        };
        let (o, released) = self
            .store
            .cancel_order(&o.id, CancelledBy::Device, "一键叫车设备取消")
            .await?;
        tracing::info!(device_id = %d.id, order_id = %o.id, ?released, "cancelled from the device");
        let (order, speech) = self.spoken(&o).await?;
        Ok(pb::CancelDeviceOrderResponse {
            order: Some(order),
            speech,
        })
    }
}

#[tonic::async_trait]
impl OneKeyService for OneKey {
    #[tracing::instrument(name = "RegisterDevice", skip_all, fields(device_id, actor))]
    async fn register_device(
        &self,
        request: Request<pb::RegisterDeviceRequest>,
    ) -> Result<Response<pb::RegisterDeviceResponse>, Status> {
        let c = taxi_auth::caller(&request)?.clone();
        tracing::Span::current().record("actor", c.identity.actor());
        Ok(Response::new(
            self.register(&c, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(name = "PressButton", skip_all, fields(device_id, press = request.get_ref().press))]
    async fn press_button(
        &self,
        request: Request<pb::PressButtonRequest>,
    ) -> Result<Response<pb::PressButtonResponse>, Status> {
        let c = taxi_auth::caller(&request)?.clone();
        Ok(Response::new(self.press(&c, request.into_inner()).await?))
    }

    #[tracing::instrument(name = "GetDeviceStatus", skip_all, fields(device_id))]
    async fn get_device_status(
        &self,
        request: Request<pb::GetDeviceStatusRequest>,
    ) -> Result<Response<pb::GetDeviceStatusResponse>, Status> {
        let c = taxi_auth::caller(&request)?.clone();
        Ok(Response::new(self.status(&c, request.into_inner()).await?))
    }

    #[tracing::instrument(name = "CancelDeviceOrder", skip_all, fields(device_id))]
    async fn cancel_device_order(
        &self,
        request: Request<pb::CancelDeviceOrderRequest>,
    ) -> Result<Response<pb::CancelDeviceOrderResponse>, Status> {
        let c = taxi_auth::caller(&request)?.clone();
        Ok(Response::new(self.cancel(&c, request.into_inner()).await?))
    }
}
