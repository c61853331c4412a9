//! The fleet: registry, states, positions and the free geo index.

use crate::{Store, StoreError, now_ms};
use redis::Value;
use taxi_domain::Coordinates;
use taxi_domain::taxi::{TaxiEvent, TaxiState, refusal};

/// The fleet tag that marks the caring fleet (爱心车队).
pub const CARING_TAG: &str = "caring";

/// A taxi to register.
#[derive(Debug, Clone)]
pub struct NewTaxi {
    /// Checked and normalised plate.
    pub plate: String,
    /// The driver's full name.
    pub driver_name: String,
    /// Vehicle colour in words.
    pub color: String,
    /// Wheelchair-accessible vehicle.
    pub wheelchair: bool,
    /// Checked fleet tags.
    pub tags: Vec<String>,
}

/// A taxi as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TaxiRecord {
    /// Its id, `T<n>`.
    pub id: String,
    /// Licence plate.
    pub plate: String,
    /// Driver's name.
    pub driver_name: String,
    /// Vehicle colour.
    pub color: String,
    /// Wheelchair-accessible.
    pub wheelchair: bool,
    /// Fleet tags.
    pub tags: Vec<String>,
    /// Current state.
    pub state: TaxiState,
    /// Last position and the time of its fix (ms), if it ever reported one.
    pub position: Option<(Coordinates, i64)>,
    /// The order it holds, if any.
    pub order_id: Option<String>,
    /// When it was registered (ms).
    pub registered_ms: i64,
}

/// One position fix to store.
#[derive(Debug, Clone)]
pub struct Fix {
    /// The reporting taxi.
    pub taxi_id: String,
    /// Where, WGS-84.
    pub at: Coordinates,
    /// When the fix was taken (ms).
    pub fix_ms: i64,
}

/// What became of one fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixOutcome {
    /// Stored (and indexed if the taxi is free).
    Stored,
    /// No such taxi.
    UnknownTaxi,
    /// The taxi is off duty: positions are refused.
    OffDuty,
    /// A newer fix of this taxi is already stored: ignored.
    Superseded,
}

/// A free taxi found near a point.
#[derive(Debug, Clone, PartialEq)]
pub struct NearbyTaxi {
    /// Its id.
    pub id: String,
    /// Its plate.
    pub plate: String,
    /// Where it is, WGS-84.
    pub at: Coordinates,
    /// Distance from the search centre, metres.
    pub distance_m: f64,
    /// When its fix was taken (ms).
    pub fix_ms: i64,
    /// Wheelchair-accessible.
    pub wheelchair: bool,
    /// Fleet tags.
    pub tags: Vec<String>,
}

/// A nearby search.
#[derive(Debug, Clone, Copy)]
pub struct NearbyQuery {
    /// Centre, WGS-84.
    pub center: Coordinates,
    /// Radius in metres.
    pub radius_m: u32,
    /// At most this many.
    pub limit: u32,
    /// Fixes older than this many milliseconds are never returned.
    pub fresh_ms: i64,
    /// Only wheelchair-accessible taxis.
    pub wheelchair_only: bool,
}

/// The replies of `get_taxi`'s pipeline: info hash, state, order, position (in `taxis:pos`
/// or in the free index), fix time.
type TaxiRows = (
    std::collections::HashMap<String, String>,
    Option<String>,
    Option<String>,
    Vec<Option<(f64, f64)>>,
    Vec<Option<(f64, f64)>>,
    Option<f64>,
);

/// The most fixes one script call stores; bigger batches are split into several calls.
/// Small calls keep Redis' single thread free for other clients: a call of 100 fixes holds
/// it for about half a millisecond.
pub const FIXES_PER_SCRIPT: usize = 100;

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Double(d) => d.to_string(),
        _ => String::new(),
    }
}

fn split_tags(csv: &str) -> Vec<String> {
    csv.split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

impl Store {
    /// Registers a taxi; its plate must be new in the city. It starts OFF_DUTY.
    pub async fn register_taxi(&self, taxi: &NewTaxi) -> Result<TaxiRecord, StoreError> {
        let mut conn = self.conn.clone();
        let n: i64 = redis::cmd("INCR")
            .arg(self.keys.seq("taxi"))
            .query_async(&mut conn)
            .await?;
        let id = format!("T{n}");
        let k = &self.keys;
        let reply: Vec<String> = self
            .scripts
            .register_taxi
            .key(&k.plates)
            .key(k.taxi(&id))
            .key(&k.taxi_states)
            .key(&k.wheelchair)
            .key(&k.caring)
            .key(&k.events)
            .arg(&id)
            .arg(&taxi.plate)
            .arg(&taxi.driver_name)
            .arg(&taxi.color)
            .arg(if taxi.wheelchair { "1" } else { "0" })
            .arg(taxi.tags.join(","))
            .arg(now_ms())
            .arg(if taxi.tags.iter().any(|t| t == CARING_TAG) {
                "1"
            } else {
                "0"
            })
            .invoke_async(&mut conn)
            .await?;
        match reply.first().map(String::as_str) {
            Some("ok") => self.get_taxi(&id).await,
            Some("exists") => Err(StoreError::AlreadyExists(format!(
                "plate: {} is already registered as taxi {}",
                taxi.plate,
                reply.get(1).map(String::as_str).unwrap_or("?")
            ))),
            _ => Err(StoreError::Internal(format!(
                "register_taxi replied {reply:?}"
            ))),
        }
    }

    /// One taxi with its state, order and last position, in one round trip.
    pub async fn get_taxi(&self, id: &str) -> Result<TaxiRecord, StoreError> {
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let (info, state, order, pos, free_pos, fix): TaxiRows = redis::pipe()
            .hgetall(k.taxi(id))
            .hget(&k.taxi_states, id)
            .hget(&k.taxi_orders, id)
            .cmd("GEOPOS")
            .arg(&k.positions)
            .arg(id)
            .cmd("GEOPOS")
            .arg(&k.free)
            .arg(id)
            .zscore(&k.fixes, id)
            .query_async(&mut conn)
            .await?;
        if info.is_empty() {
            return Err(StoreError::NotFound {
                what: "taxi",
                id: id.to_string(),
            });
        }
        let get = |f: &str| info.get(f).cloned().unwrap_or_default();
        let state = state
            .as_deref()
            .and_then(TaxiState::from_code)
            .unwrap_or(TaxiState::OffDuty);
        let at = pos
            .first()
            .copied()
            .flatten()
            .or(free_pos.first().copied().flatten());
        let position = match (at, fix) {
            (Some((lon, lat)), Some(fix)) => {
                Coordinates::new(lat, lon).ok().map(|c| (c, fix as i64))
            }
            _ => None,
        };
        Ok(TaxiRecord {
            id: id.to_string(),
            plate: get("plate"),
            driver_name: get("driver"),
            color: get("color"),
            wheelchair: get("wc") == "1",
            tags: split_tags(&get("tags")),
            state,
            position,
            order_id: order,
            registered_ms: get("reg").parse().unwrap_or(0),
        })
    }

    /// Applies a state change to a taxi that holds no order (sign on/off, street hail),
    /// atomically with the free index.
    pub async fn transition_taxi(
        &self,
        id: &str,
        event: TaxiEvent,
        event_type: &str,
    ) -> Result<TaxiRecord, StoreError> {
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .scripts
            .taxi_transition
            .key(k.taxi(id))
            .key(&k.taxi_states)
            .key(&k.free)
            .key(&k.positions)
            .key(&k.taxi_orders)
            .key(&k.events)
            .arg(id)
            .arg(event.allowed_codes())
            .arg(event.target().code())
            .arg(now_ms())
            .arg(event_type)
            .invoke_async(&mut conn)
            .await?;
        let state = |i: usize| {
            reply
                .get(i)
                .and_then(|s| TaxiState::from_code(s))
                .unwrap_or(TaxiState::OffDuty)
        };
        match reply.first().map(String::as_str) {
            Some("ok") => self.get_taxi(id).await,
            Some("missing") => Err(StoreError::NotFound {
                what: "taxi",
                id: id.to_string(),
            }),
            Some("refused") => Err(StoreError::FailedPrecondition(refusal(event, state(1)))),
            Some("busy") => Err(StoreError::FailedPrecondition(format!(
                "taxi holds order {}; finish or release it first",
                reply.get(2).map(String::as_str).unwrap_or("?")
            ))),
            _ => Err(StoreError::Internal(format!(
                "taxi_transition replied {reply:?}"
            ))),
        }
    }

    /// Stores position fixes, four Redis commands per script call of up to
    /// [`FIXES_PER_SCRIPT`], on a connection of their own; returns one outcome per fix, in
    /// order. `fresh_ms` is the freshness bound (a free taxi whose
    /// last fix was staler had been moved out of the free index).
    pub async fn report_positions(
        &self,
        fixes: &[Fix],
        fresh_ms: i64,
    ) -> Result<Vec<FixOutcome>, StoreError> {
        let k = &self.keys;
        let mut out = Vec::with_capacity(fixes.len());
        let mut invocations = Vec::new();
        for chunk in fixes.chunks(FIXES_PER_SCRIPT) {
            let mut inv = self.scripts.report_positions.prepare_invoke();
            inv.key(&k.taxi_states)
                .key(&k.free)
                .key(&k.positions)
                .key(&k.fixes)
                .arg(chunk.len())
                .arg(now_ms() - fresh_ms);
            for f in chunk {
                inv.arg(&f.taxi_id)
                    .arg(f.at.lon())
                    .arg(f.at.lat())
                    .arg(f.fix_ms);
            }
            invocations.push(inv);
        }
        // One call at a time on the bulk connection: Redis serves other clients between
        // calls (a pipeline of them would hold its single thread for the whole message).
        let mut conn = self.bulk.clone();
        for inv in &invocations {
            let codes: Vec<i64> = inv.invoke_async(&mut conn).await?;
            out.extend(codes.into_iter().map(|c| match c {
                0 => FixOutcome::Stored,
                1 => FixOutcome::UnknownTaxi,
                2 => FixOutcome::OffDuty,
                _ => FixOutcome::Superseded,
            }));
        }
        Ok(out)
    }

    /// Free taxis with a fresh fix within the radius, nearest first.
    pub async fn nearby_free(&self, q: &NearbyQuery) -> Result<Vec<NearbyTaxi>, StoreError> {
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let flat: Vec<Value> = self
            .scripts
            .nearby_free
            .key(&k.free)
            .key(&k.fixes)
            .key(&k.wheelchair)
            .arg(q.center.lon())
            .arg(q.center.lat())
            .arg(q.radius_m)
            .arg(q.limit)
            .arg(now_ms() - q.fresh_ms)
            .arg(if q.wheelchair_only { "1" } else { "0" })
            .arg(&k.taxi_prefix)
            .invoke_async(&mut conn)
            .await?;
        let mut out = Vec::with_capacity(flat.len() / 8);
        for g in flat.chunks_exact(8) {
            let num = |v: &Value| text(v).parse::<f64>().unwrap_or(f64::NAN);
            let Ok(at) = Coordinates::new(num(&g[3]), num(&g[2])) else {
                continue;
            };
            out.push(NearbyTaxi {
                id: text(&g[0]),
                distance_m: num(&g[1]),
                at,
                fix_ms: num(&g[4]) as i64,
                plate: text(&g[5]),
                wheelchair: text(&g[6]) == "1",
                tags: split_tags(&text(&g[7])),
            });
        }
        Ok(out)
    }

    /// Removes taxis with stale fixes from the free index; returns how many.
    pub async fn sweep_stale(&self, fresh_ms: i64) -> Result<u64, StoreError> {
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let n: u64 = self
            .scripts
            .sweep_stale
            .key(&k.fixes)
            .key(&k.free)
            .key(&k.positions)
            .arg(now_ms() - fresh_ms)
            .arg(5000)
            .invoke_async(&mut conn)
            .await?;
        Ok(n)
    }

    /// Counts of taxis per state (for KPIs and the demo's progress line).
    pub async fn taxi_state_counts(&self) -> Result<Vec<(TaxiState, u64)>, StoreError> {
        let mut conn = self.conn.clone();
        let all: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
            .arg(&self.keys.taxi_states)
            .query_async(&mut conn)
            .await?;
        let mut counts: Vec<(TaxiState, u64)> = TaxiState::ALL.iter().map(|s| (*s, 0)).collect();
        for code in all.values() {
            if let Some(s) = TaxiState::from_code(code)
                && let Some(c) = counts.iter_mut().find(|(st, _)| *st == s)
            {
                c.1 += 1;
            }
        }
        Ok(counts)
    }
}
