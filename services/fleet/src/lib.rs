//! `taxi.v1.FleetService`: registers taxis, shows one, and lists free taxis near a point.
//!
//! Registering a taxi gives the fleet admin the driver app's one-time enrolment code
//! (`taxi_access::issue_enrolment_code`); a driver reads only its own taxi.
//!
//! `ListNearbyTaxis` reads the same free geo index dispatch matches from, with the same
//! freshness rule: a taxi whose last fix is older than the bound is never listed.
//!
//! [`stands`]: `taxi.v1.StandService`, taxi stands (候客点), served with the fleet.

pub mod stands;

use taxi_auth::{AuthSettings, Caller, Role};
use taxi_domain::settings::Settings;
use taxi_domain::validate;
use taxi_edge::convert;
use taxi_edge::{ApiError, ApiResult};
use taxi_proto::v1 as pb;
use taxi_proto::v1::fleet_service_server::{FleetService, FleetServiceServer};
use taxi_store::Store;
use taxi_store::taxis::{NearbyQuery, NewTaxi};
use tonic::{Request, Response, Status};

/// Default search radius when the request says zero.
pub const DEFAULT_RADIUS_M: u32 = 3_000;
/// Largest search radius.
pub const MAX_RADIUS_M: u32 = 50_000;
/// Default number of taxis listed.
pub const DEFAULT_LIMIT: u32 = 20;
/// Most taxis listed.
pub const MAX_LIMIT: u32 = 200;
/// Most fleet tags per taxi.
pub const MAX_TAGS: usize = 8;

/// The fleet service of one city.
#[derive(Debug, Clone)]
pub struct Fleet {
    store: Store,
    settings: Settings,
    auth: AuthSettings,
}

impl Fleet {
    /// A fleet service over `store`.
    pub fn new(store: Store, settings: Settings) -> Self {
        Self {
            store,
            settings,
            auth: AuthSettings::default(),
        }
    }

    /// With the city's identity settings (how long an enrolment code lives).
    pub fn with_auth(mut self, auth: AuthSettings) -> Self {
        self.auth = auth;
        self
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> FleetServiceServer<Self> {
        FleetServiceServer::new(self)
    }

    async fn register(
        &self,
        by: &Caller,
        r: pb::RegisterTaxiRequest,
    ) -> ApiResult<pb::RegisterTaxiResponse> {
        if r.fleet_tags.len() > MAX_TAGS {
            return Err(ApiError::invalid(
                "fleet_tags",
                format!("at most {MAX_TAGS} tags"),
            ));
        }
        let tags = r
            .fleet_tags
            .iter()
            .enumerate()
            .map(|(i, t)| validate::tag(&format!("fleet_tags[{i}]"), t))
            .collect::<Result<Vec<_>, _>>()?;
        let new = NewTaxi {
            plate: validate::plate("plate", &r.plate)?,
            driver_name: validate::required_text("driver_name", &r.driver_name, 32)?,
            color: validate::text("vehicle_color", &r.vehicle_color, 16)?,
            // Optional: without it the driver's trips get no privacy number.
            driver_phone: if r.driver_phone.trim().is_empty() {
                String::new()
            } else {
                validate::Phone::parse("driver_phone", &r.driver_phone)?
                    .as_str()
                    .to_string()
            },
            wheelchair: r.wheelchair_accessible,
            tags,
        };
        let taxi = self.store.register_taxi(&new).await?;
        tracing::Span::current().record("taxi_id", taxi.id.as_str());
        tracing::info!(taxi_id = %taxi.id, plate = %taxi.plate, "taxi registered");
        taxi_edge::actor::record(&self.store, by, "RegisterTaxi", &taxi.id, &taxi.plate).await;
        let (code, expires_ms) =
            taxi_access::issue_enrolment_code(&self.store, &self.auth, &taxi.id).await?;
        Ok(pb::RegisterTaxiResponse {
            taxi: Some(convert::taxi(&taxi)),
            enrolment_code: code,
            enrolment_code_expire_time: Some(convert::timestamp(expires_ms)),
        })
    }

    async fn get(&self, c: &Caller, r: pb::GetTaxiRequest) -> ApiResult<pb::GetTaxiResponse> {
        // A driver reads only its own taxi; people and the gateway read any of the city.
        let id = if c.identity.role == Role::Driver {
            c.identity
                .acting_taxi(&r.taxi_id)
                .map_err(|why| ApiError::denied("taxi_id", why.unwrap_or_default()))?
        } else {
            validate::id("taxi_id", &r.taxi_id)?
        };
        let taxi = self.store.get_taxi(&id).await?;
        Ok(pb::GetTaxiResponse {
            taxi: Some(convert::taxi(&taxi)),
        })
    }

    async fn nearby(
        &self,
        r: pb::ListNearbyTaxisRequest,
    ) -> ApiResult<pb::ListNearbyTaxisResponse> {
        let center = convert::coordinates("center", r.center.as_ref())?;
        let radius_m = match r.radius_meters {
            0 => DEFAULT_RADIUS_M,
            n if n > MAX_RADIUS_M => {
                return Err(ApiError::invalid(
                    "radius_meters",
                    format!("{n} is more than {MAX_RADIUS_M}"),
                ));
            }
            n => n,
        };
        let limit = match r.limit {
            0 => DEFAULT_LIMIT,
            n if n > MAX_LIMIT => {
                return Err(ApiError::invalid(
                    "limit",
                    format!("{n} is more than {MAX_LIMIT}"),
                ));
            }
            n => n,
        };
        let found = self
            .store
            .nearby_free(&NearbyQuery {
                center,
                radius_m,
                limit,
                fresh_ms: self.settings.position_fresh.as_millis() as i64,
                wheelchair_only: r.wheelchair_accessible_only,
            })
            .await?;
        Ok(pb::ListNearbyTaxisResponse {
            taxis: found.iter().map(convert::nearby_taxi).collect(),
        })
    }
}

#[tonic::async_trait]
impl FleetService for Fleet {
    #[tracing::instrument(name = "RegisterTaxi", skip_all, fields(taxi_id))]
    async fn register_taxi(
        &self,
        request: Request<pb::RegisterTaxiRequest>,
    ) -> Result<Response<pb::RegisterTaxiResponse>, Status> {
        let by = taxi_auth::caller(&request)?.clone();
        Ok(Response::new(
            self.register(&by, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(name = "GetTaxi", skip_all, fields(taxi_id = %request.get_ref().taxi_id))]
    async fn get_taxi(
        &self,
        request: Request<pb::GetTaxiRequest>,
    ) -> Result<Response<pb::GetTaxiResponse>, Status> {
        let c = taxi_auth::caller(&request)?.clone();
        Ok(Response::new(self.get(&c, request.into_inner()).await?))
    }

    #[tracing::instrument(name = "ListNearbyTaxis", skip_all)]
    async fn list_nearby_taxis(
        &self,
        request: Request<pb::ListNearbyTaxisRequest>,
    ) -> Result<Response<pb::ListNearbyTaxisResponse>, Status> {
        Ok(Response::new(self.nearby(request.into_inner()).await?))
    }
}
