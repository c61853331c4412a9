//! `taxi.v1.StandService`: taxi stands (候客点, issue 14), served with the fleet.
//!
//! The rules (a stand's checks with field-naming errors, fences, opening hours, the queue
//! rule, which stand a pickup belongs to) are `taxi_domain::stands`; the records and queues
//! are `taxi_store::stands`. This module converts the wire messages, checks a stand against
//! the city's service area before anything is written, and shows each stand with its queue.
//!
//! Decisions:
//! - Fence points may come in any datum; they are kept as WGS-84.
//! - `RecordBoarding` with no taxi boards the head of the queue; a named taxi must wait in
//!   that stand's queue. Either way the taxi starts a street-hail trip (OCCUPIED).
//! - Creating a stand whose id is taken is INVALID_ARGUMENT naming `stand.stand_id`.

use taxi_auth::Caller;
use taxi_domain::settings::Settings;
use taxi_domain::stands::{FenceSpec, LatLon, Stand, StandSpec, summarise};
use taxi_domain::{Datum, FieldError, validate};
use taxi_edge::{ApiResult, actor, convert};
use taxi_proto::v1 as pb;
use taxi_proto::v1::stand_service_server::{StandService, StandServiceServer};
use taxi_store::stands::StandQueue;
use taxi_store::{Entity, Store, StoreError};
use tonic::{Request, Response, Status};

/// The stand service of one city.
#[derive(Debug, Clone)]
pub struct Stands {
    store: Store,
    settings: Settings,
}

/// A wire point as a checked WGS-84 point, errors naming `field`.
fn point(field: &str, p: Option<&pb::LatLng>) -> Result<LatLon, FieldError> {
    let c = convert::coordinates(field, p)?;
    Ok(LatLon {
        lat: c.lat(),
        lon: c.lon(),
    })
}

/// The domain's spec of a wire stand; the domain names the fields (`stand.fence.…`).
fn spec(s: Option<&pb::Stand>) -> Result<StandSpec, FieldError> {
    let s = s.ok_or_else(|| FieldError::new("stand", "is required"))?;
    let fence = match &s.fence {
        Some(pb::stand::Fence::Circle(c)) => FenceSpec::Circle {
            centre: point("stand.fence.centre", c.centre.as_ref())?,
            radius_m: c.radius_meters,
        },
        Some(pb::stand::Fence::Polygon(p)) => FenceSpec::Polygon {
            vertices: p
                .vertices
                .iter()
                .enumerate()
                .map(|(i, v)| point(&format!("stand.fence.polygon[{i}]"), Some(v)))
                .collect::<Result<_, _>>()?,
        },
        None => {
            return Err(FieldError::new(
                "stand.fence",
                "is required: a circle or a polygon",
            ));
        }
    };
    Ok(StandSpec {
        id: s.stand_id.clone(),
        name: s.name.clone(),
        fence,
        datum: Datum::Wgs84,
        capacity: s.capacity,
        hours: s.hours.clone(),
    })
}

/// The wire form of a checked stand.
fn wire(stand: &Stand) -> pb::Stand {
    let fence = stand.fence();
    let fence = match (fence.radius_m(), fence.vertices()) {
        (Some(radius_meters), _) => pb::stand::Fence::Circle(pb::StandCircle {
            centre: Some(convert::lat_lng(&fence.centre())),
            radius_meters,
        }),
        (None, vertices) => pb::stand::Fence::Polygon(pb::StandPolygon {
            vertices: vertices
                .unwrap_or_default()
                .iter()
                .map(convert::lat_lng)
                .collect(),
        }),
    };
    pb::Stand {
        stand_id: stand.id().to_string(),
        name: stand.name().to_string(),
        fence: Some(fence),
        capacity: stand.capacity(),
        hours: stand
            .hours()
            .ranges()
            .iter()
            .map(ToString::to_string)
            .collect(),
    }
}

fn duration(ms: i64) -> taxi_proto::Duration {
    taxi_proto::Duration {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

impl Stands {
    /// The service over `store`.
    pub fn new(store: Store, settings: Settings) -> Self {
        Self { store, settings }
    }

    /// The tonic server.
    pub fn into_server(self) -> StandServiceServer<Self> {
        StandServiceServer::new(self)
    }

    fn check(&self, s: Option<&pb::Stand>) -> ApiResult<Stand> {
        let spec = spec(s)?;
        Ok(Stand::check(&spec, &self.settings.city.service_area)?)
    }

    /// A stand with its queue as `ListStands` shows it.
    fn status(&self, stand: &Stand, queue: Option<&StandQueue>) -> pb::StandStatus {
        let now = self.store.now_ms();
        let entries = queue.map(|q| q.entries.as_slice()).unwrap_or_default();
        let sum = summarise(entries, now);
        pb::StandStatus {
            stand: Some(wire(stand)),
            open_now: stand.is_open(now),
            queue_length: sum.len,
            oldest_wait: Some(duration(sum.oldest_wait_ms)),
            queue_taxi_ids: entries.iter().map(|e| e.taxi_id.clone()).collect(),
            head_since_time: entries.first().map(|e| convert::timestamp(e.since_ms)),
        }
    }

    async fn status_of(&self, id: &str) -> ApiResult<pb::StandStatus> {
        let stand = self.store.get_stand(id).await?.ok_or_else(|| missing(id))?;
        let queues = self.store.stand_queues().await?;
        Ok(self.status(&stand, queues.get(id)))
    }

    async fn create(&self, by: &Caller, r: pb::CreateStandRequest) -> ApiResult<pb::StandStatus> {
        let stand = self.check(r.stand.as_ref())?;
        self.store.create_stand(&stand).await?;
        tracing::Span::current().record("stand_id", stand.id());
        tracing::info!(stand_id = %stand.id(), "stand created");
        actor::record(&self.store, by, "CreateStand", stand.id(), stand.name()).await;
        self.status_of(stand.id()).await
    }

    async fn update(&self, by: &Caller, r: pb::UpdateStandRequest) -> ApiResult<pb::StandStatus> {
        let stand = self.check(r.stand.as_ref())?;
        self.store.update_stand(&stand).await?;
        tracing::info!(stand_id = %stand.id(), "stand updated");
        actor::record(&self.store, by, "UpdateStand", stand.id(), stand.name()).await;
        self.status_of(stand.id()).await
    }

    async fn delete(&self, by: &Caller, r: pb::DeleteStandRequest) -> ApiResult<()> {
        let id = validate::id("stand_id", &r.stand_id)?;
        self.store.delete_stand(&id).await?;
        tracing::info!(stand_id = %id, "stand deleted");
        actor::record(&self.store, by, "DeleteStand", &id, "").await;
        Ok(())
    }

    async fn list(&self) -> ApiResult<pb::ListStandsResponse> {
        let stands = self.store.stands().await?;
        let queues = self.store.stand_queues().await?;
        Ok(pb::ListStandsResponse {
            stands: stands
                .iter()
                .map(|s| self.status(s, queues.get(s.id())))
                .collect(),
        })
    }

    async fn board(
        &self,
        by: &Caller,
        r: pb::RecordBoardingRequest,
    ) -> ApiResult<pb::RecordBoardingResponse> {
        let stand = validate::id("stand_id", &r.stand_id)?;
        let taxi = if r.taxi_id.is_empty() {
            None
        } else {
            Some(validate::id("taxi_id", &r.taxi_id)?)
        };
        if self.store.get_stand(&stand).await?.is_none() {
            return Err(missing(&stand).into());
        }
        let done = self.store.board_at_stand(&stand, taxi.as_deref()).await?;
        tracing::info!(stand_id = %stand, taxi_id = %done.taxi_id, waited_ms = done.waited_ms,
            "walk-up boarding");
        actor::record(&self.store, by, "RecordBoarding", &stand, &done.taxi_id).await;
        Ok(pb::RecordBoardingResponse {
            taxi_id: done.taxi_id,
            waited: Some(duration(done.waited_ms)),
            stand: Some(self.status_of(&stand).await?),
        })
    }
}

fn missing(id: &str) -> StoreError {
    StoreError::NotFound {
        what: Entity::Stand,
        id: id.to_string(),
    }
}

fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    Ok(taxi_auth::caller(request)?.clone())
}

#[tonic::async_trait]
impl StandService for Stands {
    #[tracing::instrument(name = "CreateStand", skip_all, fields(stand_id))]
    async fn create_stand(
        &self,
        request: Request<pb::CreateStandRequest>,
    ) -> Result<Response<pb::CreateStandResponse>, Status> {
        let by = caller(&request)?;
        let stand = self.create(&by, request.into_inner()).await?;
        Ok(Response::new(pb::CreateStandResponse {
            stand: Some(stand),
        }))
    }

    #[tracing::instrument(name = "UpdateStand", skip_all,
        fields(stand_id = %request.get_ref().stand.as_ref().map(|s| s.stand_id.as_str()).unwrap_or("")))]
    async fn update_stand(
        &self,
        request: Request<pb::UpdateStandRequest>,
    ) -> Result<Response<pb::UpdateStandResponse>, Status> {
        let by = caller(&request)?;
        let stand = self.update(&by, request.into_inner()).await?;
        Ok(Response::new(pb::UpdateStandResponse {
            stand: Some(stand),
        }))
    }

    #[tracing::instrument(name = "DeleteStand", skip_all, fields(stand_id = %request.get_ref().stand_id))]
    async fn delete_stand(
        &self,
        request: Request<pb::DeleteStandRequest>,
    ) -> Result<Response<pb::DeleteStandResponse>, Status> {
        let by = caller(&request)?;
        self.delete(&by, request.into_inner()).await?;
        Ok(Response::new(pb::DeleteStandResponse {}))
    }

    #[tracing::instrument(name = "ListStands", skip_all)]
    async fn list_stands(
        &self,
        _request: Request<pb::ListStandsRequest>,
    ) -> Result<Response<pb::ListStandsResponse>, Status> {
        Ok(Response::new(self.list().await?))
    }

    #[tracing::instrument(name = "RecordBoarding", skip_all,
        fields(stand_id = %request.get_ref().stand_id, taxi_id = %request.get_ref().taxi_id))]
    async fn record_boarding(
        &self,
        request: Request<pb::RecordBoardingRequest>,
    ) -> Result<Response<pb::RecordBoardingResponse>, Status> {
        let by = caller(&request)?;
        Ok(Response::new(self.board(&by, request.into_inner()).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_fence_or_stand_names_the_field() {
        assert_eq!(spec(None).unwrap_err().field, "stand");
        let s = pb::Stand {
            stand_id: "S1".into(),
            name: "东门".into(),
            ..Default::default()
        };
        assert_eq!(spec(Some(&s)).unwrap_err().field, "stand.fence");
    }
}
