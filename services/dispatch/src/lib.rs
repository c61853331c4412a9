//! The matching engine and `taxi.v1.DispatchService`, the operators' view of it.
//!
//! # Layout
//! - [`engine`]: the workers, which take the best queued order and attempt it in one
//!   atomic script, and the sweeper (due reservations, due retries, expired offers, the
//!   trip watchdog), which also records Redis outages so they do not count against orders.
//! - this module: `ListPendingOrders`, `ListCallbacks`, `ResolveCallback`, `AssignOrder`, `GetDispatchStats`,
//!   `ListStuckOrders`, `RedispatchOrder`.

pub mod engine;

use taxi_auth::Caller;
use taxi_domain::priority::quantile;
use taxi_domain::settings::Settings;
use taxi_domain::taxi::TaxiState;
use taxi_domain::validate;
use taxi_domain::watchdog::Stage;
use taxi_edge::{ApiError, ApiResult, actor, convert, view};
use taxi_proto::v1 as pb;
use taxi_proto::v1::dispatch_service_server::{DispatchService, DispatchServiceServer};
use taxi_store::Store;
use taxi_store::dispatch::QueueCursor;
use tonic::{Request, Response, Status};

/// The operators' dispatch service of one city.
#[derive(Debug, Clone)]
pub struct Dispatch {
    store: Store,
    settings: Settings,
}

/// A stuck trip's stage on the wire.
fn stuck_stage(stage: Option<Stage>) -> pb::StuckStage {
    match stage {
        Some(Stage::NotArrived) => pb::StuckStage::NotArrived,
        Some(Stage::NotStarted) => pb::StuckStage::NotStarted,
        None => pb::StuckStage::Unspecified,
    }
}

fn limit(field: &str, value: u32, default: usize, max: usize) -> ApiResult<usize> {
    match value as usize {
        0 => Ok(default),
        n if n > max => Err(ApiError::invalid(field, format!("at most {max}"))),
        n => Ok(n),
    }
}

fn duration(ms: i64) -> taxi_proto::Duration {
    let ms = ms.max(0);
    taxi_proto::Duration {
        seconds: ms / 1000,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
}

fn summary(samples: &mut [i64]) -> pb::LatencySummary {
    pb::LatencySummary {
        count: samples.len() as u64,
        median: quantile(samples, 0.5).map(duration),
        p90: quantile(samples, 0.9).map(duration),
    }
}

impl Dispatch {
    /// The service over `store`.
    pub fn new(store: Store, settings: Settings) -> Self {
        Self { store, settings }
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> DispatchServiceServer<Self> {
        DispatchServiceServer::new(self)
    }

    async fn pending(
        &self,
        r: pb::ListPendingOrdersRequest,
    ) -> ApiResult<pb::ListPendingOrdersResponse> {
        let size = limit("page_size", r.page_size, 100, 500)?;
        let after = if r.page_token.is_empty() {
            None
        } else {
            let bad = || ApiError::invalid("page_token", "is not a token this service gave out");
            let c = QueueCursor::parse(&r.page_token).ok_or_else(bad)?;
            validate::id("page_token", &c.id).map_err(|_| bad())?;
            Some(c)
        };
        let page = self.store.pending_page(after.as_ref(), size).await?;
        let total = self.store.waiting_count().await?;
        let mut orders = self.store.get_orders(&page.ids).await?;
        // An order that left the queue between the two reads is not shown as waiting.
        orders.retain(|o| o.status == taxi_domain::order::OrderStatus::Pending);
        let now = self.store.now_ms();
        let mut out = Vec::with_capacity(orders.len());
        for o in &orders {
            out.push(pb::PendingOrder {
                order: Some(view::order(&self.store, o, false).await?),
                waiting: Some(duration(now - o.release_ms)),
            });
        }
        Ok(pb::ListPendingOrdersResponse {
            orders: out,
            total,
            next_page_token: page.next.map(|c| c.to_string()).unwrap_or_default(),
        })
    }

    async fn callbacks(&self, r: pb::ListCallbacksRequest) -> ApiResult<pb::ListCallbacksResponse> {
        let limit = limit("limit", r.limit, 100, 500)?;
        let ids = self.store.callback_ids(limit).await?;
        // The list holds unfulfilled orders and abandoned calls (`call:<id>`).
        let (calls, orders): (Vec<String>, Vec<String>) = ids
            .into_iter()
            .partition(|id| id.starts_with(taxi_domain::callcentre::CALLBACK_PREFIX));
        let calls: Vec<String> = calls
            .iter()
            .map(|c| c[taxi_domain::callcentre::CALLBACK_PREFIX.len()..].to_string())
            .collect();
        let orders = self.store.get_orders(&orders).await?;
        let calls = self.store.call_records(&calls).await?;
        Ok(pb::ListCallbacksResponse {
            orders: view::orders(&self.store, &orders, false).await?,
            calls: calls
                .iter()
                .flatten()
                .map(taxi_edge::convert::call_callback)
                .collect(),
        })
    }

    async fn resolve_callback(
        &self,
        by: &Caller,
        r: pb::ResolveCallbackRequest,
    ) -> ApiResult<pb::ResolveCallbackResponse> {
        if r.order_id.is_empty() && !r.call_id.is_empty() {
            return self.resolve_call_callback(by, r).await;
        }
        if !r.call_id.is_empty() {
            return Err(ApiError::invalid(
                "call_id",
                "give order_id or call_id, not both",
            ));
        }
        let order = validate::id("order_id", &r.order_id)?;
        let operator = actor::required_operator(by, "operator_id", &r.operator_id)?;
        let outcome = taxi_domain::followup::outcome("outcome", &r.outcome)?;
        self.store
            .resolve_callback(&order, &operator, &outcome)
            .await?;
        tracing::info!(order_id = %order, %operator, "call-back resolved");
        actor::record(&self.store, by, "ResolveCallback", &order, &outcome).await;
        let o = self.store.get_order(&order).await?;
        Ok(pb::ResolveCallbackResponse {
            order: Some(view::order(&self.store, &o, false).await?),
            call: None,
        })
    }

    /// Closes the call-back of an abandoned call.
    async fn resolve_call_callback(
        &self,
        by: &Caller,
        r: pb::ResolveCallbackRequest,
    ) -> ApiResult<pb::ResolveCallbackResponse> {
        let call = validate::id("call_id", &r.call_id)?;
        let operator = actor::required_operator(by, "operator_id", &r.operator_id)?;
        let outcome = taxi_domain::followup::outcome("outcome", &r.outcome)?;
        let out = self
            .store
            .resolve_call_callback(&call, &operator, &outcome)
            .await?
            .map_err(|e| match e {
                taxi_store::callcentre::Refusal::NoCall => {
                    ApiError::NotFound(format!("call_id: no call {call}"))
                }
                _ => ApiError::FailedPrecondition(format!("call_id: call {call} has no call-back")),
            })?;
        if !out.repeated {
            tracing::info!(call_id = %call, %operator, "call-back of an abandoned call resolved");
            actor::record(&self.store, by, "ResolveCallback", &call, &outcome).await;
            metrics::counter!(taxi_metrics::CALLCENTRE_CALLBACKS_DONE).increment(1);
        }
        Ok(pb::ResolveCallbackResponse {
            order: None,
            call: out.call.as_ref().map(taxi_edge::convert::call_callback),
        })
    }

    async fn assign(
        &self,
        by: &Caller,
        r: pb::AssignOrderRequest,
    ) -> ApiResult<pb::AssignOrderResponse> {
        let order = validate::id("order_id", &r.order_id)?;
        let taxi = validate::id("taxi_id", &r.taxi_id)?;
        let operator = actor::required_operator(by, "operator_id", &r.operator_id)?;
        let eta = view::eta_to_pickup(&self.store, &order, &taxi).await?;
        self.store
            .assign_order(&order, &taxi, eta, &operator, &self.settings.trip_watch)
            .await?;
        tracing::info!(order_id = %order, taxi_id = %taxi, %operator, "assigned by hand");
        actor::record(
            &self.store,
            by,
            "AssignOrder",
            &order,
            &format!("taxi={taxi}"),
        )
        .await;
        let o = self.store.get_order(&order).await?;
        Ok(pb::AssignOrderResponse {
            order: Some(view::order(&self.store, &o, false).await?),
        })
    }

    async fn stuck(&self, r: pb::ListStuckOrdersRequest) -> ApiResult<pb::ListStuckOrdersResponse> {
        let limit = limit("limit", r.limit, 100, 500)?;
        let (trips, total) = self.store.stuck_trips(limit).await?;
        let ids: Vec<String> = trips.iter().map(|t| t.order.clone()).collect();
        let orders = self.store.get_orders(&ids).await?;
        let now = self.store.now_ms();
        // An order that is gone (archived) is left out rather than misreported.
        let flagged: std::collections::HashMap<&str, i64> = trips
            .iter()
            .map(|t| (t.order.as_str(), t.flagged_ms))
            .collect();
        let mut out = Vec::with_capacity(orders.len());
        for o in &orders {
            let at = flagged.get(o.id.as_str()).copied().unwrap_or(now);
            out.push(pb::StuckOrder {
                order: Some(view::order(&self.store, o, false).await?),
                stage: stuck_stage(Stage::of(o.status)) as i32,
                flagged_time: Some(convert::timestamp(at)),
                flagged_for: Some(duration(now - at)),
            });
        }
        Ok(pb::ListStuckOrdersResponse { orders: out, total })
    }

    async fn redispatch(
        &self,
        by: &Caller,
        r: pb::RedispatchOrderRequest,
    ) -> ApiResult<pb::RedispatchOrderResponse> {
        let order = validate::id("order_id", &r.order_id)?;
        let operator = actor::required_operator(by, "operator_id", &r.operator_id)?;
        let reason = validate::text("reason", &r.reason, 200)?;
        if reason.is_empty() {
            return Err(ApiError::invalid("reason", "required: say why"));
        }
        let done = self
            .store
            .redispatch_order(&order, &operator, &reason)
            .await?;
        tracing::info!(order_id = %order, %operator, taxi_id = ?done.taxi, from = ?done.from,
            taxi_state = ?done.taxi_state, "redispatched by an operator");
        actor::record(&self.store, by, "RedispatchOrder", &order, &reason).await;
        let o = self.store.get_order(&order).await?;
        Ok(pb::RedispatchOrderResponse {
            order: Some(view::order(&self.store, &o, false).await?),
            released_taxi_id: done.taxi.unwrap_or_default(),
            released_taxi_state: done
                .taxi_state
                .map(convert::taxi_state)
                .unwrap_or(pb::TaxiState::Unspecified) as i32,
        })
    }

    async fn stats(&self) -> ApiResult<pb::GetDispatchStatsResponse> {
        let mut raw = self.store.raw_stats().await?;
        let c = raw.counters.clone();
        let (total, elderly, assigned, unfulfilled) =
            (c.total, c.elderly, c.assigned, c.unfulfilled);
        let dispatched = assigned + unfulfilled;
        let rate = |assigned: u64, unfulfilled: u64| match assigned + unfulfilled {
            0 => 0.0,
            n => assigned as f64 / n as f64,
        };
        let (e_assigned, e_unfulfilled) = (
            c.elderly_assigned.min(assigned),
            c.elderly_unfulfilled.min(unfulfilled),
        );
        let waiting = self.store.waiting_count().await?;
        let taxis = self.store.taxi_state_counts().await?;
        let privacy = self.store.privacy_stats().await?;
        let count = |s: TaxiState| {
            taxis
                .iter()
                .find(|(st, _)| *st == s)
                .map(|(_, n)| *n)
                .unwrap_or(0)
        };
        Ok(pb::GetDispatchStatsResponse {
            orders_total: total,
            orders_by_channel: c
                .by_channel
                .iter()
                .map(|(ch, n)| pb::ChannelCount {
                    channel: convert::channel(*ch) as i32,
                    orders: *n,
                })
                .collect(),
            elderly_orders: elderly,
            elderly_share: if total == 0 {
                0.0
            } else {
                elderly as f64 / total as f64
            },
            time_to_assign_elderly: Some(summary(&mut raw.assign_elderly)),
            time_to_assign_others: Some(summary(&mut raw.assign_others)),
            time_to_pickup_elderly: Some(summary(&mut raw.pickup_elderly)),
            time_to_pickup_others: Some(summary(&mut raw.pickup_others)),
            completed: c.completed,
            cancelled: c.cancelled,
            unfulfilled,
            fulfilment_rate: rate(assigned, unfulfilled),
            fulfilment_rate_elderly: rate(e_assigned, e_unfulfilled),
            fulfilment_rate_others: rate(assigned - e_assigned, unfulfilled - e_unfulfilled),
            unfulfilled_elderly: e_unfulfilled,
            unfulfilled_others: unfulfilled - e_unfulfilled,
            offers_per_order: if dispatched == 0 {
                0.0
            } else {
                c.offers as f64 / dispatched as f64
            },
            pending: waiting,
            taxis_free: count(TaxiState::Free),
            taxis_busy: count(TaxiState::Offered)
                + count(TaxiState::Assigned)
                + count(TaxiState::Occupied),
            privacy_numbers_bound: privacy.bound,
            privacy_numbers_unavailable: privacy.unavailable,
            privacy_numbers_live: privacy.live,
            stand_rides: c.stand_rides,
            stand_offers: c.stand_offers,
        })
    }
}

#[tonic::async_trait]
impl DispatchService for Dispatch {
    #[tracing::instrument(name = "ListPendingOrders", skip_all)]
    async fn list_pending_orders(
        &self,
        request: Request<pb::ListPendingOrdersRequest>,
    ) -> Result<Response<pb::ListPendingOrdersResponse>, Status> {
        Ok(Response::new(self.pending(request.into_inner()).await?))
    }

    #[tracing::instrument(name = "ListCallbacks", skip_all)]
    async fn list_callbacks(
        &self,
        request: Request<pb::ListCallbacksRequest>,
    ) -> Result<Response<pb::ListCallbacksResponse>, Status> {
        Ok(Response::new(self.callbacks(request.into_inner()).await?))
    }

    #[tracing::instrument(name = "ResolveCallback", skip_all, fields(order_id = %request.get_ref().order_id, call_id = %request.get_ref().call_id))]
    async fn resolve_callback(
        &self,
        request: Request<pb::ResolveCallbackRequest>,
    ) -> Result<Response<pb::ResolveCallbackResponse>, Status> {
        let by = taxi_auth::caller(&request)?.clone();
        Ok(Response::new(
            Dispatch::resolve_callback(self, &by, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(name = "AssignOrder", skip_all, fields(order_id = %request.get_ref().order_id, taxi_id = %request.get_ref().taxi_id))]
    async fn assign_order(
        &self,
        request: Request<pb::AssignOrderRequest>,
    ) -> Result<Response<pb::AssignOrderResponse>, Status> {
        let by = taxi_auth::caller(&request)?.clone();
        Ok(Response::new(self.assign(&by, request.into_inner()).await?))
    }

    #[tracing::instrument(name = "ListStuckOrders", skip_all)]
    async fn list_stuck_orders(
        &self,
        request: Request<pb::ListStuckOrdersRequest>,
    ) -> Result<Response<pb::ListStuckOrdersResponse>, Status> {
        Ok(Response::new(self.stuck(request.into_inner()).await?))
    }

    #[tracing::instrument(name = "RedispatchOrder", skip_all, fields(order_id = %request.get_ref().order_id))]
    async fn redispatch_order(
        &self,
        request: Request<pb::RedispatchOrderRequest>,
    ) -> Result<Response<pb::RedispatchOrderResponse>, Status> {
        let by = taxi_auth::caller(&request)?.clone();
        Ok(Response::new(
            self.redispatch(&by, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(name = "GetDispatchStats", skip_all)]
    async fn get_dispatch_stats(
        &self,
        _request: Request<pb::GetDispatchStatsRequest>,
    ) -> Result<Response<pb::GetDispatchStatsResponse>, Status> {
        Ok(Response::new(self.stats().await?))
    }
}
