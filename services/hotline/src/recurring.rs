//! `taxi.v1.RecurringService`: recurring rides (issue 14). Operators and supervisors set
//! up patterns for any passenger of the city, a relative for the person who granted
//! access; the store keeps the pattern and makes its reservations (`taxi_store::recurring`),
//! and the dispatch role's materialiser keeps them made a horizon ahead.
//!
//! Decisions:
//! - `UpdatePattern` replaces the rules whole (the passenger cannot change); every future
//!   reservation not yet dispatched that no longer matches is cancelled and made anew,
//!   past and dispatched ones stand.
//! - `PausePattern` pauses from today (or the start date, if later) on; resuming clears it.
//! - `CancelOccurrence` adds the date to the skipped dates (it does not consume a count).
//! - A relative asking about another passenger's pattern is answered NOT_FOUND, exactly as
//!   for an unknown id.

use crate::relative::{self, Relative};
use chrono::NaiveDate;
use taxi_auth::Caller;
use taxi_domain::FieldError;
use taxi_domain::priority::{self, china_date};
use taxi_domain::settings::Settings;
use taxi_domain::validate::{self, Phone};
use taxi_edge::{ApiError, ApiResult, actor, convert};
use taxi_proto::v1 as pb;
use taxi_proto::v1::recurring_service_server::{RecurringService, RecurringServiceServer};
use taxi_store::guarantee::PairRefusal;
use taxi_store::recurring::{PatternRec, PlaceJson, new_pattern_id};
use taxi_store::{Entity, Store, StoreError};
use tonic::{Request, Response, Status};

/// Longest passenger name.
const MAX_NAME: usize = 50;

/// The recurring-rides service of one city.
#[derive(Debug, Clone)]
pub struct Recurring {
    store: Store,
    settings: Settings,
}

/// The domain names a pattern's fields `pattern.*` (and the schedule's at its root); the
/// API has them under `rules` and `rules.schedule`.
fn api_field(mut e: FieldError) -> ApiError {
    if let Some(rest) = e.field.strip_prefix("pattern.") {
        let top = rest.split(['.', '[']).next().unwrap_or(rest);
        let schedule = [
            "weekdays",
            "pickup_time",
            "return_time",
            "pickup",
            "dropoff",
            "needs",
        ];
        e.field = if schedule.contains(&top) {
            format!("rules.schedule.{rest}")
        } else {
            format!("rules.{rest}")
        };
    }
    ApiError::Invalid(e)
}

impl Recurring {
    /// The service over `store`.
    pub fn new(store: Store, settings: Settings) -> Self {
        Self { store, settings }
    }

    /// The tonic server.
    pub fn into_server(self) -> RecurringServiceServer<Self> {
        RecurringServiceServer::new(self)
    }

    fn horizon_ms(&self) -> i64 {
        self.settings.recurring_horizon.as_millis() as i64
    }

    async fn relative_of<T>(&self, request: &Request<T>) -> ApiResult<Option<Relative>> {
        let who = &taxi_auth::caller(request)
            .map_err(|s| ApiError::Unauthenticated(s.message().to_string()))?
            .identity;
        relative::of(&self.store, who).await
    }

    /// Checks `rules` into a record (`base` supplies the id and what rules do not say);
    /// nothing is written.
    async fn check(
        &self,
        by: &Caller,
        rel: Option<&Relative>,
        rules: Option<&pb::PatternRules>,
        base: Option<&PatternRec>,
    ) -> ApiResult<PatternRec> {
        let r = rules.ok_or_else(|| ApiError::invalid("rules", "is required"))?;
        let phone = match (base, r.passenger_phone.is_empty()) {
            (Some(b), true) => Phone::parse("rules.passenger_phone", &b.phone)?,
            _ => Phone::parse("rules.passenger_phone", &r.passenger_phone)?,
        };
        if let Some(b) = base
            && b.phone != phone.as_str()
        {
            return Err(ApiError::invalid(
                "rules.passenger_phone",
                "a pattern's passenger cannot change",
            ));
        }
        if let Some(rel) = rel {
            rel.check_passenger("rules.passenger_phone", &phone)?;
        }
        let operator = actor::operator(by, "operator_id", "")?.unwrap_or_default();
        let s = r
            .schedule
            .as_ref()
            .ok_or_else(|| ApiError::invalid("rules.schedule", "is required"))?;
        let pickup = convert::place("rules.schedule.pickup", s.pickup.as_ref())?;
        crate::checks::in_service_area("rules.schedule.pickup.location", &pickup, &self.settings)?;
        let dropoff = convert::place("rules.schedule.dropoff", s.dropoff.as_ref())?;
        crate::checks::in_service_area(
            "rules.schedule.dropoff.location",
            &dropoff,
            &self.settings,
        )?;
        let needs = convert::needs_from("rules.schedule.needs", &s.needs)?;
        let caller = self.store.get_caller(phone.as_str()).await?;
        let name = match (&caller, base) {
            (Some(c), _) if !c.name.is_empty() => c.name.clone(),
            (_, Some(b)) if r.passenger_name.is_empty() => b.name.clone(),
            _ => validate::text("rules.passenger_name", &r.passenger_name, MAX_NAME)?,
        };
        let today = china_date(self.store.now_ms());
        let elderly = caller
            .as_ref()
            .and_then(|c| priority::elderly_reason(&convert::facts(c), today))
            .map(|e| e.code().to_string())
            .unwrap_or_default();
        let rec = PatternRec {
            id: base.map_or_else(new_pattern_id, |b| b.id.clone()),
            phone: phone.as_str().to_string(),
            name,
            elderly,
            start_date: r.start_date.clone(),
            end_date: r.end_date.clone(),
            count: r.count,
            weekdays: s.weekdays.clone(),
            pickup_time: s.pickup_time.clone(),
            return_time: s.return_time.clone(),
            pickup: PlaceJson::of(&pickup),
            dropoff: PlaceJson::of(&dropoff),
            needs: PatternRec::needs_csv(&needs),
            skipped_dates: r.skipped_dates.clone(),
            paused_from: base.map(|b| b.paused_from.clone()).unwrap_or_default(),
            cancelled: false,
            operator: base.map_or(operator, |b| b.operator.clone()),
            booker: base.map_or_else(
                || rel.map(|r| r.phone.clone()).unwrap_or_default(),
                |b| b.booker.clone(),
            ),
            created_ms: base.map_or_else(|| self.store.now_ms(), |b| b.created_ms),
            ver: base.map_or(0, |b| b.ver),
            paired_taxi: base.map(|b| b.paired_taxi.clone()).unwrap_or_default(),
        };
        rec.pattern()?.map_err(api_field)?;
        Ok(rec)
    }

    /// A stored pattern the caller may manage; NOT_FOUND for an unknown id or (for a
    /// relative) another passenger's.
    async fn owned(&self, rel: Option<&Relative>, id: &str) -> ApiResult<PatternRec> {
        let id = validate::id("pattern_id", id)?;
        let missing = || StoreError::NotFound {
            what: Entity::Pattern,
            id: id.clone(),
        };
        let rec = self.store.get_pattern(&id).await?.ok_or_else(missing)?;
        if rel.is_some_and(|r| r.passenger != rec.phone) {
            return Err(missing().into());
        }
        Ok(rec)
    }

    /// Stores `rec`, brings its reservations in line, makes the due ones; the reply.
    async fn apply(&self, by: &Caller, action: &str, rec: &PatternRec) -> ApiResult<pb::Pattern> {
        let mut rec = rec.clone();
        rec.ver = self.store.next_pattern_version(&rec.id).await?;
        let rec = &rec;
        self.store.save_pattern(rec).await?;
        let cancelled = self.store.resync_pattern(rec, self.horizon_ms()).await?;
        let made = self
            .store
            .materialise_pattern(rec, &self.settings, self.horizon_ms())
            .await?;
        tracing::info!(pattern_id = %rec.id, cancelled, made, "{action}");
        actor::record(
            &self.store,
            by,
            action,
            &rec.id,
            &format!("cancelled={cancelled} made={made}"),
        )
        .await;
        self.view(rec).await
    }

    async fn view(&self, rec: &PatternRec) -> ApiResult<pb::Pattern> {
        let made = self.store.pattern_made(&rec.id).await?;
        let place = |p: &PlaceJson| -> ApiResult<pb::Place> { Ok(convert::place_to(&p.place()?)) };
        Ok(pb::Pattern {
            pattern_id: rec.id.clone(),
            rules: Some(pb::PatternRules {
                passenger_phone: rec.phone.clone(),
                passenger_name: rec.name.clone(),
                start_date: rec.start_date.clone(),
                end_date: rec.end_date.clone(),
                count: rec.count,
                schedule: Some(pb::RecurringSchedule {
                    weekdays: rec.weekdays.clone(),
                    pickup_time: rec.pickup_time.clone(),
                    return_time: rec.return_time.clone(),
                    pickup: Some(place(&rec.pickup)?),
                    dropoff: Some(place(&rec.dropoff)?),
                    needs: rec
                        .need_list()
                        .into_iter()
                        .map(|n| convert::need(n) as i32)
                        .collect(),
                }),
                skipped_dates: rec.skipped_dates.clone(),
            }),
            paused_from: rec.paused_from.clone(),
            cancelled: rec.cancelled,
            reservations: made.into_iter().collect(),
            paired_taxi_id: rec.paired_taxi.clone(),
        })
    }

    async fn list(
        &self,
        rel: Option<&Relative>,
        r: pb::ListPatternsRequest,
    ) -> ApiResult<pb::ListPatternsResponse> {
        let phone = Phone::parse("passenger_phone", &r.passenger_phone)?;
        if let Some(rel) = rel {
            rel.check_passenger("passenger_phone", &phone)?;
        }
        let mut patterns = Vec::new();
        for rec in self.store.patterns_of(phone.as_str()).await? {
            patterns.push(self.view(&rec).await?);
        }
        Ok(pb::ListPatternsResponse { patterns })
    }

    async fn pause(
        &self,
        by: &Caller,
        rel: Option<&Relative>,
        r: pb::PausePatternRequest,
    ) -> ApiResult<pb::Pattern> {
        let mut rec = self.owned(rel, &r.pattern_id).await?;
        open(&rec)?;
        rec.paused_from = if r.paused {
            let start = NaiveDate::parse_from_str(&rec.start_date, "%Y-%m-%d")
                .map_err(|e| StoreError::Internal(format!("pattern {}: {e}", rec.id)))?;
            self.today().max(start).format("%Y-%m-%d").to_string()
        } else {
            String::new()
        };
        rec.pattern()?
            .map_err(|e| ApiError::FailedPrecondition(e.to_string()))?;
        let action = if r.paused {
            "PausePattern"
        } else {
            "ResumePattern"
        };
        self.apply(by, action, &rec).await
    }

    async fn skip(
        &self,
        by: &Caller,
        rel: Option<&Relative>,
        r: pb::CancelOccurrenceRequest,
    ) -> ApiResult<pb::Pattern> {
        let date = NaiveDate::parse_from_str(&r.date, "%Y-%m-%d")
            .ok()
            .filter(|_| r.date.len() == 10)
            .ok_or_else(|| ApiError::invalid("date", "must be a date as YYYY-MM-DD"))?;
        let mut rec = self.owned(rel, &r.pattern_id).await?;
        open(&rec)?;
        let text = date.format("%Y-%m-%d").to_string();
        if !rec.skipped_dates.contains(&text) {
            rec.skipped_dates.push(text);
            rec.skipped_dates.sort();
        }
        rec.pattern()?
            .map_err(|e| ApiError::invalid("date", format!("cannot be skipped: {}", e.reason)))?;
        self.apply(by, "CancelOccurrence", &rec).await
    }

    /// Pairs a caring-fleet taxi with the pattern (or unpairs it).
    async fn pair(&self, by: &Caller, r: pb::PairDriverRequest) -> ApiResult<pb::Pattern> {
        let mut rec = self.owned(None, &r.pattern_id).await?;
        open(&rec)?;
        let taxi = if r.taxi_id.is_empty() {
            String::new()
        } else {
            validate::id("taxi_id", &r.taxi_id)?
        };
        match self.store.pair_pattern(&mut rec, &taxi).await? {
            Ok(()) => {}
            Err(PairRefusal::NoTaxi) => {
                return Err(StoreError::NotFound {
                    what: Entity::Taxi,
                    id: taxi,
                }
                .into());
            }
            Err(_) => {
                return Err(ApiError::FailedPrecondition(format!(
                    "taxi_id: taxi {taxi} is not in the caring fleet"
                )));
            }
        }
        tracing::info!(pattern_id = %rec.id, taxi_id = %taxi, "driver paired");
        actor::record(
            &self.store,
            by,
            "PairDriver",
            &rec.id,
            &format!("taxi={taxi}"),
        )
        .await;
        self.view(&rec).await
    }

    fn today(&self) -> NaiveDate {
        china_date(self.store.now_ms())
    }
}

fn reply(p: pb::Pattern) -> Response<pb::PatternResponse> {
    Response::new(pb::PatternResponse { pattern: Some(p) })
}

fn open(rec: &PatternRec) -> ApiResult<()> {
    if rec.cancelled {
        return Err(ApiError::FailedPrecondition(format!(
            "pattern {} is cancelled",
            rec.id
        )));
    }
    Ok(())
}

#[tonic::async_trait]
impl RecurringService for Recurring {
    #[tracing::instrument(name = "CreatePattern", skip_all, fields(pattern_id = tracing::field::Empty))]
    async fn create_pattern(
        &self,
        request: Request<pb::CreatePatternRequest>,
    ) -> Result<Response<pb::PatternResponse>, Status> {
        let by = taxi_auth::caller(&request)?.clone();
        let rel = self.relative_of(&request).await?;
        let r = request.into_inner();
        let rec = self
            .check(&by, rel.as_ref(), r.rules.as_ref(), None)
            .await?;
        tracing::Span::current().record("pattern_id", rec.id.as_str());
        Ok(reply(self.apply(&by, "CreatePattern", &rec).await?))
    }

    #[tracing::instrument(name = "ListPatterns", skip_all)]
    async fn list_patterns(
        &self,
        request: Request<pb::ListPatternsRequest>,
    ) -> Result<Response<pb::ListPatternsResponse>, Status> {
        let rel = self.relative_of(&request).await?;
        Ok(Response::new(
            self.list(rel.as_ref(), request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(name = "UpdatePattern", skip_all, fields(pattern_id = %request.get_ref().pattern_id))]
    async fn update_pattern(
        &self,
        request: Request<pb::UpdatePatternRequest>,
    ) -> Result<Response<pb::PatternResponse>, Status> {
        let by = taxi_auth::caller(&request)?.clone();
        let rel = self.relative_of(&request).await?;
        let r = request.into_inner();
        let old = self.owned(rel.as_ref(), &r.pattern_id).await?;
        open(&old)?;
        let rec = self
            .check(&by, rel.as_ref(), r.rules.as_ref(), Some(&old))
            .await?;
        Ok(reply(self.apply(&by, "UpdatePattern", &rec).await?))
    }

    #[tracing::instrument(name = "PausePattern", skip_all, fields(pattern_id = %request.get_ref().pattern_id, paused = request.get_ref().paused))]
    async fn pause_pattern(
        &self,
        request: Request<pb::PausePatternRequest>,
    ) -> Result<Response<pb::PatternResponse>, Status> {
        let by = taxi_auth::caller(&request)?.clone();
        let rel = self.relative_of(&request).await?;
        Ok(reply(
            self.pause(&by, rel.as_ref(), request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(name = "CancelOccurrence", skip_all, fields(pattern_id = %request.get_ref().pattern_id, date = %request.get_ref().date))]
    async fn cancel_occurrence(
        &self,
        request: Request<pb::CancelOccurrenceRequest>,
    ) -> Result<Response<pb::PatternResponse>, Status> {
        let by = taxi_auth::caller(&request)?.clone();
        let rel = self.relative_of(&request).await?;
        Ok(reply(
            self.skip(&by, rel.as_ref(), request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(name = "CancelPattern", skip_all, fields(pattern_id = %request.get_ref().pattern_id))]
    async fn cancel_pattern(
        &self,
        request: Request<pb::CancelPatternRequest>,
    ) -> Result<Response<pb::PatternResponse>, Status> {
        let by = taxi_auth::caller(&request)?.clone();
        let rel = self.relative_of(&request).await?;
        let r = request.into_inner();
        let mut rec = self.owned(rel.as_ref(), &r.pattern_id).await?;
        rec.cancelled = true;
        Ok(reply(self.apply(&by, "CancelPattern", &rec).await?))
    }

    #[tracing::instrument(name = "PairDriver", skip_all, fields(pattern_id = %request.get_ref().pattern_id, taxi_id = %request.get_ref().taxi_id))]
    async fn pair_driver(
        &self,
        request: Request<pb::PairDriverRequest>,
    ) -> Result<Response<pb::PatternResponse>, Status> {
        let by = taxi_auth::caller(&request)?.clone();
        Ok(reply(self.pair(&by, request.into_inner()).await?))
    }
}
