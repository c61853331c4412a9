//! `taxi.v1.OneKeyService`: the one-button devices given to older people.
//!
//! A short press books a taxi from the device's fresh position (else its home point); a
//! press while the owner has an active order returns that order, atomically in Redis, so
//! twenty presses at once still make one order. A long press raises an emergency alert
//! for the operators and the care contacts, and books nothing. Every reply carries a short
//! sentence for the device to speak. Every call proves itself with the device secret.
//!
//! Decision: an unknown device id and a wrong secret both answer UNAUTHENTICATED with the
//! same message, so the API does not tell a stranger which device ids exist.

pub mod secret;

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

    async fn register(
        &self,
        r: pb::RegisterDeviceRequest,
    ) -> ApiResult<pb::RegisterDeviceResponse> {
        let id = validate::id("device_id", &r.device_id)?;
        secret::check("device_secret", &r.device_secret)?;
        let owner = Phone::parse("owner_phone", &r.owner_phone)?;
        let owner_name = validate::text("owner_name", &r.owner_name, 32)?;
        let home = convert::place("home", r.home.as_ref())?;
        if !self.settings.city.service_area.contains(&home.at) {
            return Err(ApiError::invalid(
                "home.location",
                format!("is outside the service area of {}", self.settings.city.name),
            ));
        }
        let salt = secret::new_salt();
        let d = self
            .store
            .register_device(&NewDevice {
                id: id.clone(),
                owner: owner.as_str().to_string(),
                owner_name,
                secret_hash: secret::hash(&salt, &r.device_secret),
                salt,
                home,
            })
            .await?;
        tracing::info!(device_id = %id, owner = %owner, "device registered");
        Ok(pb::RegisterDeviceResponse {
            device: Some(pb::Device {
                device_id: d.id,
                owner_phone: mask_phone(&d.owner),
                home: Some(convert::place_to(&d.home)),
            }),
        })
    }

    /// The device, if it proves itself; UNAUTHENTICATED otherwise (unknown or wrong secret).
    async fn authenticate(&self, device_id: &str, device_secret: &str) -> ApiResult<DeviceRecord> {
        let refused = || {
            ApiError::Unauthenticated(
                "device_id/device_secret: the device is not recognised".into(),
            )
        };
        let id = validate::id("device_id", device_id).map_err(|_| refused())?;
        let d = self.store.get_device(&id).await?.ok_or_else(refused)?;
        if !secret::verify(&d.salt, &d.secret_hash, device_secret) {
            tracing::warn!(device_id = %id, "device secret did not match");
            return Err(refused());
        }
        Ok(d)
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

    async fn press(&self, r: pb::PressButtonRequest) -> ApiResult<pb::PressButtonResponse> {
        let d = self.authenticate(&r.device_id, &r.device_secret).await?;
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
        r: pb::GetDeviceStatusRequest,
    ) -> ApiResult<pb::GetDeviceStatusResponse> {
        let d = self.authenticate(&r.device_id, &r.device_secret).await?;
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
        r: pb::CancelDeviceOrderRequest,
    ) -> ApiResult<pb::CancelDeviceOrderResponse> {
        let d = self.authenticate(&r.device_id, &r.device_secret).await?;
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
    #[tracing::instrument(name = "RegisterDevice", skip_all, fields(device_id = %request.get_ref().device_id))]
    async fn register_device(
        &self,
        request: Request<pb::RegisterDeviceRequest>,
    ) -> Result<Response<pb::RegisterDeviceResponse>, Status> {
        Ok(Response::new(self.register(request.into_inner()).await?))
    }

    #[tracing::instrument(name = "PressButton", skip_all, fields(device_id = %request.get_ref().device_id, press = request.get_ref().press))]
    async fn press_button(
        &self,
        request: Request<pb::PressButtonRequest>,
    ) -> Result<Response<pb::PressButtonResponse>, Status> {
        Ok(Response::new(self.press(request.into_inner()).await?))
    }

    #[tracing::instrument(name = "GetDeviceStatus", skip_all, fields(device_id = %request.get_ref().device_id))]
    async fn get_device_status(
        &self,
        request: Request<pb::GetDeviceStatusRequest>,
    ) -> Result<Response<pb::GetDeviceStatusResponse>, Status> {
        Ok(Response::new(self.status(request.into_inner()).await?))
    }

    #[tracing::instrument(name = "CancelDeviceOrder", skip_all, fields(device_id = %request.get_ref().device_id))]
    async fn cancel_device_order(
        &self,
        request: Request<pb::CancelDeviceOrderRequest>,
    ) -> Result<Response<pb::CancelDeviceOrderResponse>, Status> {
        Ok(Response::new(self.cancel(request.into_inner()).await?))
    }
}
