//! Taxi stands (候客点): the stand records, each process's copy of them (what position
//! ingest and order creation measure against), the queues, and walk-up boardings.
//!
//! The rules are `taxi_domain::stands`; this module only stores and reads. A record is
//! checked against the city's service area before it is written (by the caller) and its
//! shape is checked again when read back ([`StandJson::stand`]).
//!
//! Each [`Store`] keeps the city's stands in memory: position ingest runs on every fix and
//! may not read them from Redis each time. The copy is reloaded when the stands' version
//! key (`{c}:stands:ver`, bumped by every write) has moved, looked at most every
//! [`STANDS_RECHECK`]; a write through this store drops its copy at once.

use crate::scripts::{StandBoard, StandBoardReply, StandOp, StandWrite, StandWriteReply};
use crate::{Entity, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use taxi_domain::geo::ServiceArea;
use taxi_domain::stands::{
    FenceSpec, LatLon, QueueEntry, Stand, StandSpec, open_stands_at, pickup_stand,
};
use taxi_domain::taxi::TaxiState;
use taxi_domain::{Coordinates, Datum, FieldError};

/// How often a process looks whether another one changed the stands (real time: a bound
/// on how stale its copy may be, not a rule of the city).
pub const STANDS_RECHECK: Duration = Duration::from_secs(2);

/// A stand as stored (JSON), WGS-84.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StandJson {
    /// The name.
    pub name: String,
    /// A circle's centre `[lat, lon]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub centre: Option<[f64; 2]>,
    /// A circle's radius, metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius_m: Option<f64>,
    /// A polygon's vertices `[lat, lon]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub polygon: Vec<[f64; 2]>,
    /// Capacity; `None` for no limit.
    #[serde(default)]
    pub capacity: Option<u32>,
    /// Opening hours, `HH:MM-HH:MM` China time.
    #[serde(default)]
    pub hours: Vec<String>,
}

/// Every point on Earth a [`Coordinates`] may hold: a stored record was checked against
/// the city's service area when it was written; read back, only its shape is checked.
fn anywhere() -> ServiceArea {
    ServiceArea::new(&[
        (-85.0, -179.9),
        (-85.0, 179.9),
        (85.0, 179.9),
        (85.0, -179.9),
    ])
    .expect("a valid area")
}

impl StandJson {
    /// The record of a checked stand.
    pub fn of(stand: &Stand) -> Self {
        let spec = stand.to_spec();
        let (centre, radius_m, polygon) = match spec.fence {
            FenceSpec::Circle { centre, radius_m } => {
                (Some([centre.lat, centre.lon]), Some(radius_m), vec![])
            }
            FenceSpec::Polygon { vertices } => (
                None,
                None,
                vertices.iter().map(|v| [v.lat, v.lon]).collect(),
            ),
        };
        Self {
            name: spec.name,
            centre,
            radius_m,
            polygon,
            capacity: spec.capacity,
            hours: spec.hours,
        }
    }

    /// The stand `id` this record holds, checked again (its shape; see [`anywhere`]).
    pub fn stand(&self, id: &str) -> Result<Stand, FieldError> {
        let ll = |p: &[f64; 2]| LatLon {
            lat: p[0],
            lon: p[1],
        };
        let fence = match (&self.centre, self.radius_m) {
            (Some(c), Some(radius_m)) => FenceSpec::Circle {
                centre: ll(c),
                radius_m,
            },
            _ => FenceSpec::Polygon {
                vertices: self.polygon.iter().map(ll).collect(),
            },
        };
        Stand::check(
            &StandSpec {
                id: id.to_string(),
                name: self.name.clone(),
                fence,
                datum: Datum::Wgs84,
                capacity: self.capacity,
                hours: self.hours.clone(),
            },
            &anywhere(),
        )
    }
}

/// A stand's queue now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StandQueue {
    /// The taxis, head first.
    pub entries: Vec<QueueEntry>,
}

/// What a walk-up boarding did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boarded {
    /// The taxi the passenger took.
    pub taxi_id: String,
    /// How long it had waited in the queue, ms.
    pub waited_ms: i64,
}

/// A process's copy of the city's stands.
#[derive(Debug, Default)]
pub(crate) struct StandCache {
    inner: Mutex<Option<Cached>>,
}

#[derive(Debug)]
struct Cached {
    version: i64,
    checked: Instant,
    stands: Arc<Vec<Stand>>,
}

impl StandCache {
    fn fresh(&self) -> Option<(i64, Arc<Vec<Stand>>)> {
        let guard = self.inner.lock().expect("stand cache");
        guard
            .as_ref()
            .filter(|c| c.checked.elapsed() < STANDS_RECHECK)
            .map(|c| (c.version, c.stands.clone()))
    }

    fn known(&self) -> Option<(i64, Arc<Vec<Stand>>)> {
        let guard = self.inner.lock().expect("stand cache");
        guard.as_ref().map(|c| (c.version, c.stands.clone()))
    }

    fn put(&self, version: i64, stands: Arc<Vec<Stand>>) {
        *self.inner.lock().expect("stand cache") = Some(Cached {
            version,
            checked: Instant::now(),
            stands,
        });
    }

    /// Drops the copy: the next read loads the stands again.
    pub(crate) fn forget(&self) {
        *self.inner.lock().expect("stand cache") = None;
    }
}

/// The member of `stands:queue` parsed: `<stand>|<joined ms>|<taxi>`.
fn parse_member(member: &str) -> Option<(&str, QueueEntry)> {
    let mut parts = member.splitn(3, '|');
    let stand = parts.next()?;
    let since_ms = parts.next()?.parse().ok()?;
    let taxi_id = parts.next()?.to_string();
    Some((stand, QueueEntry { since_ms, taxi_id }))
}

impl Store {
    /// The city's stands, from this process's copy (reloaded when another process
    /// changed them; see the module doc).
    pub async fn stands(&self) -> Result<Arc<Vec<Stand>>, StoreError> {
        if let Some((_, stands)) = self.stand_cache.fresh() {
            return Ok(stands);
        }
        let mut conn = self.conn.clone();
        let version: Option<i64> = redis::cmd("GET")
            .arg(&self.keys.stands_version)
            .query_async(&mut conn)
            .await?;
        let version = version.unwrap_or(0);
        if let Some((known, stands)) = self.stand_cache.known()
            && known == version
        {
            self.stand_cache.put(version, stands.clone());
            return Ok(stands);
        }
        let raw: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(&self.keys.stands)
            .query_async(&mut conn)
            .await?;
        let mut stands = Vec::with_capacity(raw.len());
        for (id, text) in raw {
            let rec: StandJson = serde_json::from_str(&text)
                .map_err(|e| StoreError::Internal(format!("stand {id}: {e}")))?;
            let stand = rec
                .stand(&id)
                .map_err(|e| StoreError::Internal(format!("stand {id}: {e}")))?;
            stands.push(stand);
        }
        stands.sort_by(|a, b| a.id().cmp(b.id()));
        let stands = Arc::new(stands);
        self.stand_cache.put(version, stands.clone());
        Ok(stands)
    }

    /// One stand, read from Redis.
    pub async fn get_stand(&self, id: &str) -> Result<Option<Stand>, StoreError> {
        let mut conn = self.conn.clone();
        let text: Option<String> = redis::cmd("HGET")
            .arg(&self.keys.stands)
            .arg(id)
            .query_async(&mut conn)
            .await?;
        text.map(|t| {
            serde_json::from_str::<StandJson>(&t)
                .map_err(|e| StoreError::Internal(format!("stand {id}: {e}")))?
                .stand(id)
                .map_err(|e| StoreError::Internal(format!("stand {id}: {e}")))
        })
        .transpose()
    }

    async fn write_stand(&self, op: StandOp, id: &str, record: &str) -> Result<(), StoreError> {
        let reply = self.call(&StandWrite { op, id, record }).await;
        self.stand_cache.forget();
        match reply? {
            StandWriteReply::Done => Ok(()),
            StandWriteReply::Exists => Err(StoreError::Invalid(FieldError::new(
                "stand.id",
                format!("{id} is taken by another stand"),
            ))),
            StandWriteReply::Missing => Err(StoreError::not_found(Entity::Stand, id)),
        }
    }

    /// Stores a new checked stand; its id must be new.
    pub async fn create_stand(&self, stand: &Stand) -> Result<(), StoreError> {
        let record = serde_json::to_string(&StandJson::of(stand))
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        self.write_stand(StandOp::Create, stand.id(), &record).await
    }

    /// Replaces a stand (its queue stays: the next fixes of its taxis apply the new fence).
    pub async fn update_stand(&self, stand: &Stand) -> Result<(), StoreError> {
        let record = serde_json::to_string(&StandJson::of(stand))
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        self.write_stand(StandOp::Update, stand.id(), &record).await
    }

    /// Deletes a stand and empties its queue.
    pub async fn delete_stand(&self, id: &str) -> Result<(), StoreError> {
        self.write_stand(StandOp::Delete, id, "").await
    }

    /// Every stand's queue, head first, by stand id (stands with no taxi are absent).
    /// A member its taxi no longer names (an orphan after a restart: joins are not in the
    /// AOF, see `report_positions.lua`) is not shown.
    pub async fn stand_queues(&self) -> Result<HashMap<String, StandQueue>, StoreError> {
        let mut conn = self.conn.clone();
        let (members, named): (Vec<String>, HashMap<String, String>) = redis::pipe()
            .cmd("ZRANGE")
            .arg(&self.keys.stand_queues)
            .arg(0)
            .arg(-1)
            .cmd("HGETALL")
            .arg(&self.keys.stand_of)
            .query_async(&mut conn)
            .await?;
        let mut out: HashMap<String, StandQueue> = HashMap::new();
        for m in &members {
            if let Some((stand, entry)) = parse_member(m)
                && named.get(&entry.taxi_id) == Some(m)
            {
                out.entry(stand.to_string())
                    .or_default()
                    .entries
                    .push(entry);
            }
        }
        Ok(out)
    }

    /// The stand whose queue `taxi` waits in, if any.
    pub async fn queued_at(&self, taxi: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn.clone();
        let member: Option<String> = redis::cmd("HGET")
            .arg(&self.keys.stand_of)
            .arg(taxi)
            .query_async(&mut conn)
            .await?;
        Ok(member.and_then(|m| parse_member(&m).map(|(s, _)| s.to_string())))
    }

    /// A walk-up passenger boards the head of `stand`'s queue, or `taxi` if named (it must
    /// wait there): the taxi starts a street-hail trip and the ride counts as a stand ride.
    pub async fn board_at_stand(
        &self,
        stand: &str,
        taxi: Option<&str>,
    ) -> Result<Boarded, StoreError> {
        match self.call(&StandBoard { stand, taxi }).await? {
            StandBoardReply::Boarded { taxi, waited_ms } => Ok(Boarded {
                taxi_id: taxi,
                waited_ms,
            }),
            StandBoardReply::Empty => Err(StoreError::Invalid(FieldError::new(
                "stand_id",
                format!("no taxi waits at stand {stand}"),
            ))),
            StandBoardReply::NotQueued { taxi } => Err(StoreError::Invalid(FieldError::new(
                "taxi_id",
                format!("taxi {taxi} does not wait at stand {stand}"),
            ))),
            StandBoardReply::Refused { taxi, state } => Err(StoreError::TaxiBusy {
                taxi,
                state: if state == TaxiState::Free {
                    TaxiState::Offered
                } else {
                    state
                },
            }),
        }
    }

    /// The stand an order picked up at `pickup` at `at_ms` belongs to, if any
    /// (`taxi_domain::stands::pickup_stand`).
    pub async fn stand_for_pickup(
        &self,
        pickup: &Coordinates,
        at_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        let stands = self.stands().await?;
        Ok(pickup_stand(pickup, at_ms, &stands).map(|s| s.id().to_string()))
    }
}

/// The fixes of `fixes` in a fence of `stands`, as `report_positions.lua` reads them:
/// `<1-based index>:<stand>=<capacity>,...` (the open stands holding the fix, nearest
/// first; capacity 0: no limit) joined by `;`, and empty when no fix is in a fence.
pub(crate) fn fixes_in_fences(fixes: &[crate::taxis::Fix], stands: &[Stand]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if stands.is_empty() {
        return out;
    }
    for (i, f) in fixes.iter().enumerate() {
        let held = open_stands_at(&f.at, f.fix_ms, stands);
        if held.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(';');
        }
        let _ = write!(out, "{}:", i + 1);
        for (k, s) in held.iter().enumerate() {
            let sep = if k == 0 { "" } else { "," };
            let _ = write!(out, "{sep}{}={}", s.id(), s.capacity().unwrap_or(0));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_members_parse_back() {
        let (s, e) = parse_member("S1|001765000000000|T9").unwrap();
        assert_eq!(s, "S1");
        assert_eq!(e.since_ms, 1_765_000_000_000);
        assert_eq!(e.taxi_id, "T9");
        assert!(parse_member("S1|x|T9").is_none());
    }

    #[test]
    fn only_the_fixes_in_a_fence_are_named_with_their_stands_nearest_first() {
        let area = taxi_domain::geo::City::builtin("500100")
            .unwrap()
            .service_area;
        let circle = |id: &str, lat: f64, radius_m: f64, capacity| {
            let spec = StandSpec {
                id: id.into(),
                name: id.into(),
                fence: FenceSpec::Circle {
                    centre: LatLon { lat, lon: 106.5770 },
                    radius_m,
                },
                datum: Datum::Wgs84,
                capacity,
                hours: vec![],
            };
            Stand::check(&spec, &area).unwrap()
        };
        // S2's fence holds S1's: a fix at S1's centre is in both, S1 nearer.
        let stands = vec![
            circle("S1", 29.5630, 100.0, Some(3)),
            circle("S2", 29.5635, 500.0, None),
        ];
        let fix = |lat: f64| crate::taxis::Fix {
            taxi_id: "T".into(),
            at: Coordinates::new(lat, 106.5770).unwrap(),
            fix_ms: 1_765_000_000_000,
        };
        let fixes = [fix(29.60), fix(29.5630), fix(29.5670), fix(29.61)];
        assert_eq!(fixes_in_fences(&fixes, &stands), "2:S1=3,S2=0;3:S2=0");
        assert_eq!(fixes_in_fences(&fixes[..1], &stands), "");
        assert_eq!(fixes_in_fences(&fixes, &[]), "");
    }

    #[test]
    fn a_record_round_trips_through_json() {
        let area = taxi_domain::geo::City::builtin("500100")
            .unwrap()
            .service_area;
        let spec = StandSpec {
            id: "S1".into(),
            name: "东门".into(),
            fence: FenceSpec::Polygon {
                vertices: vec![
                    LatLon {
                        lat: 29.5630,
                        lon: 106.5770,
                    },
                    LatLon {
                        lat: 29.5640,
                        lon: 106.5770,
                    },
                    LatLon {
                        lat: 29.5640,
                        lon: 106.5780,
                    },
                ],
            },
            datum: Datum::Wgs84,
            capacity: Some(3),
            hours: vec!["07:00-22:00".into()],
        };
        let stand = Stand::check(&spec, &area).unwrap();
        let json = serde_json::to_string(&StandJson::of(&stand)).unwrap();
        let back: StandJson = serde_json::from_str(&json).unwrap();
        assert_eq!(back.stand("S1").unwrap().to_spec(), stand.to_spec());
    }
}
