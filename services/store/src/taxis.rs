//! The fleet: registry, states, positions, the free geo index and the indexes that
//! mirror it (free taxis per capability, free taxis by fix time).

use crate::fields::Fields;
use crate::scripts::{
    NearbyFree, RegisterTaxi, RegisterTaxiReply, ReportPositions, SweepStale, TaxiTransition,
    TaxiTransitionReply,
};
use crate::{Entity, Store, StoreError};
use std::collections::HashMap;
use taxi_domain::Coordinates;
use taxi_domain::taxi::{TaxiEvent, TaxiState};

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
    /// The driver's checked phone number ('' if not given): the B side of the trip's
    /// privacy number; never shown to passengers.
    pub driver_phone: String,
    /// Wheelchair-accessible vehicle.
    pub wheelchair: bool,
    /// Checked fleet tags.
    pub tags: Vec<String>,
}

/// A taxi as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TaxiRecord {
    /// Its id, `T` and 26 random base-32 characters ([`new_taxi_id`]).
    pub id: String,
    /// Licence plate.
    pub plate: String,
    /// Driver's name.
    pub driver_name: String,
    /// Vehicle colour.
    pub color: String,
    /// The driver's phone ('' if not on file).
    pub driver_phone: String,
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

/// The most candidates one nearby search looks at (`nearby_free.lua`): it starts with a
/// page of 2 × limit + 16 nearest taxis and looks at a larger page only while stale fixes
/// crowd out fresh ones. The bound keeps one call's Redis time small whatever the size of
/// the city; a search whose nearest candidates are all stale returns fewer taxis rather
/// than scanning on (the janitor takes stale taxis out of the free index every second).
pub const NEARBY_MAX_SCAN: u32 = 2_000;

/// The most free taxis one janitor script call looks at; [`Store::sweep_stale`] calls
/// again until a call looks at fewer, so every stale free taxi goes, a bounded step at a
/// time.
pub const SWEEP_BATCH: usize = 1_000;

/// The members of the free index and of the indexes that mirror it, for tests and tools
/// ([`Store::free_indexes`]); each list sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FreeIndexes {
    /// `taxis:free`: the free taxis matching searches.
    pub free: Vec<String>,
    /// `taxis:free:wc`: the wheelchair-accessible ones among them.
    pub wheelchair: Vec<String>,
    /// `taxis:free:caring`: the caring-fleet ones among them.
    pub caring: Vec<String>,
    /// `taxis:free:fix`: the janitor's view of them (by a fix time never later than
    /// their last).
    pub fixes: Vec<String>,
}

/// A new taxi id: `T` and 128 random bits (`taxi_domain::validate::generated_id`), so taxi ids
/// can be neither counted nor guessed (a driver's credential names its taxi, and a taxi
/// id is no secret, but a registry that can be enumerated tells a stranger the fleet).
/// Nothing sorts or parses taxi ids as numbers.
pub fn new_taxi_id() -> String {
    taxi_domain::validate::generated_id("T", rand::random())
}

/// Each taxi's newest fix of `fixes`: the indexes of the fixes kept (a taxi's newest, the
/// later of equal times; in the order of the taxis' first fixes), and for every fix the
/// position in that list of the fix kept for its taxi.
fn newest_per_taxi(fixes: &[Fix]) -> (Vec<usize>, Vec<usize>) {
    let mut slot: HashMap<&str, usize> = HashMap::with_capacity(fixes.len());
    let mut newest: Vec<usize> = Vec::with_capacity(fixes.len());
    let mut kept_at = Vec::with_capacity(fixes.len());
    for (i, f) in fixes.iter().enumerate() {
        let k = *slot.entry(f.taxi_id.as_str()).or_insert_with(|| {
            newest.push(i);
            newest.len() - 1
        });
        if fixes[newest[k]].fix_ms <= f.fix_ms {
            newest[k] = i;
        }
        kept_at.push(k);
    }
    (newest, kept_at)
}

impl Store {
    /// Registers a taxi under a new random id; its plate must be new in the city. It
    /// starts OFF_DUTY.
    pub async fn register_taxi(&self, taxi: &NewTaxi) -> Result<TaxiRecord, StoreError> {
        let id = new_taxi_id();
        let reply = self
            .call(&RegisterTaxi {
                id: &id,
                plate: &taxi.plate,
                driver: &taxi.driver_name,
                color: &taxi.color,
                phone: &taxi.driver_phone,
                wheelchair: taxi.wheelchair,
                tags: &taxi.tags,
                caring: taxi.tags.iter().any(|t| t == CARING_TAG),
            })
            .await?;
        match reply {
            RegisterTaxiReply::Registered => self.get_taxi(&id).await,
            RegisterTaxiReply::PlateTaken { taxi: holder } => Err(StoreError::PlateTaken {
                plate: taxi.plate.clone(),
                taxi: holder,
            }),
        }
    }

    /// The plates of `ids`, in one round trip (a taxi without a record: an empty plate).
    pub async fn plates_of(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hget(self.keys.taxi(id), "plate");
        }
        let mut conn = self.conn.clone();
        let plates: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
        Ok(plates.into_iter().map(Option::unwrap_or_default).collect())
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
            .hget(&k.fixes, id)
            .query_async(&mut conn)
            .await?;
        let info = Fields::new(info);
        if info.is_empty() {
            return Err(StoreError::not_found(Entity::Taxi, id));
        }
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
            plate: info.text("plate"),
            driver_name: info.text("driver"),
            color: info.text("color"),
            driver_phone: info.text("phone"),
            wheelchair: info.flag("wc"),
            tags: info.csv("tags"),
            state,
            position,
            order_id: order,
            registered_ms: info.int("reg"),
        })
    }

    /// Applies an event to a taxi that holds no order (sign on/off, street hail),
    /// atomically with the free index; the event names its audit record.
    pub async fn transition_taxi(
        &self,
        id: &str,
        event: TaxiEvent,
    ) -> Result<TaxiRecord, StoreError> {
        match self.call(&TaxiTransition { id, event }).await? {
            TaxiTransitionReply::Done => self.get_taxi(id).await,
            TaxiTransitionReply::Missing => Err(StoreError::not_found(Entity::Taxi, id)),
            TaxiTransitionReply::Refused { state } => Err(StoreError::TaxiRefused { event, state }),
            TaxiTransitionReply::HoldsOrder { order } => Err(StoreError::TaxiHoldsOrder { order }),
        }
    }

    /// Stores position fixes, a fixed number of Redis commands per script call of up to
    /// [`FIXES_PER_SCRIPT`], on a connection of their own; returns one outcome per fix, in
    /// order. `fresh_ms` is the freshness bound (a free taxi whose last fix was staler
    /// had been moved out of the free index).
    pub async fn report_positions(
        &self,
        fixes: &[Fix],
        fresh_ms: i64,
    ) -> Result<Vec<FixOutcome>, StoreError> {
        let mut out = Vec::with_capacity(fixes.len());
        // One call at a time on the bulk connection: Redis serves other clients between
        // calls (a pipeline of them would hold its single thread for the whole message).
        let mut conn = self.bulk.clone();
        // The stands the fixes are in, from this process's copy of them (no Redis read).
        let stands = self.stands().await?;
        // Each taxi once: its newest fix of the batch (the script checks a fix only
        // against the stored one; a taxi twice in a batch would cost it a table lookup per fix).
        let (newest, kept_at) = newest_per_taxi(fixes);
        let owned: Vec<Fix>;
        let fixes: &[Fix] = if newest.len() == fixes.len() {
            fixes
        } else {
            owned = newest.iter().map(|&i| fixes[i].clone()).collect();
            &owned
        };
        for chunk in fixes.chunks(FIXES_PER_SCRIPT) {
            let in_fence = crate::stands::fixes_in_fences(chunk, &stands);
            let call = ReportPositions {
                fixes: chunk,
                in_fence: &in_fence,
                oldest_fresh_ms: self.now_ms() - fresh_ms,
            };
            let codes = match self.call_on(&mut conn, &call).await {
                // The first command after Redis comes back finds the old connection dead;
                // storing fixes is idempotent (an older fix never overwrites a newer one),
                // so it is tried once more on the connection that replaces it.
                Err(StoreError::Unavailable(_)) => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    self.call_on(&mut conn, &call).await?
                }
                other => other?,
            };
            out.extend(codes);
        }
        if newest.len() == kept_at.len() {
            return Ok(out);
        }
        // A fix dropped for a newer one of the batch: superseded by it, or refused with it.
        Ok(kept_at
            .iter()
            .enumerate()
            .map(|(i, &k)| match out[k] {
                FixOutcome::Stored if newest[k] != i => FixOutcome::Superseded,
                o => o,
            })
            .collect())
    }

    /// Free taxis with a fresh fix within the radius, nearest first.
    pub async fn nearby_free(&self, q: &NearbyQuery) -> Result<Vec<NearbyTaxi>, StoreError> {
        let hits = self
            .call(&NearbyFree {
                query: q,
                oldest_fresh_ms: self.now_ms() - q.fresh_ms,
            })
            .await?;
        if hits.is_empty() {
            return Ok(vec![]);
        }
        // The taxis' details: one pipelined read of the hashes the search found.
        let mut pipe = redis::pipe();
        for h in &hits {
            pipe.cmd("HMGET")
                .arg(self.keys.taxi(&h.id))
                .arg("plate")
                .arg("wc")
                .arg("tags");
        }
        let mut conn = self.conn.clone();
        let details: Vec<(Option<String>, Option<String>, Option<String>)> =
            pipe.query_async(&mut conn).await?;
        Ok(hits
            .into_iter()
            .zip(details)
            .filter_map(|(h, (plate, wc, tags))| {
                Some(NearbyTaxi {
                    at: Coordinates::new(h.lat, h.lon).ok()?,
                    id: h.id,
                    distance_m: h.dist,
                    fix_ms: h.fix as i64,
                    plate: plate.unwrap_or_default(),
                    wheelchair: wc.as_deref() == Some("1"),
                    tags: crate::fields::split_csv(tags.as_deref().unwrap_or("")),
                })
            })
            .collect())
    }

    /// Which geo sets hold the taxi's last position: (the free index, the positions
    /// index). The invariant is at most one; tests and tools check it here.
    pub async fn position_index(&self, id: &str) -> Result<(bool, bool), StoreError> {
        let mut conn = self.conn.clone();
        let (free, pos): (Option<f64>, Option<f64>) = redis::pipe()
            .zscore(&self.keys.free, id)
            .zscore(&self.keys.positions, id)
            .query_async(&mut conn)
            .await?;
        Ok((free.is_some(), pos.is_some()))
    }

    /// How many taxis' latest fix is at or after `since_ms` (ingest rates in the bench).
    /// Reads every taxi's fix time (the times are a hash: a fix costs one field write), so
    /// it is for tools, not for the hot path.
    pub async fn fixes_since(&self, since_ms: i64) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        let times: Vec<f64> = redis::cmd("HVALS")
            .arg(&self.keys.fixes)
            .query_async(&mut conn)
            .await?;
        Ok(times.iter().filter(|&&t| t >= since_ms as f64).count() as u64)
    }

    /// Removes every free taxi whose fix is stale from the free index (and the indexes
    /// that mirror it); returns how many. Script calls of at most [`SWEEP_BATCH`] taxis,
    /// each reading only free taxis that may be stale (see `sweep_stale.lua`), until one
    /// looks at fewer.
    pub async fn sweep_stale(&self, fresh_ms: i64) -> Result<u64, StoreError> {
        let mut total = 0;
        let oldest_fresh_ms = self.now_ms() - fresh_ms;
        loop {
            let swept = self
                .call(&SweepStale {
                    oldest_fresh_ms,
                    most: SWEEP_BATCH,
                })
                .await?;
            total += swept.moved;
            if swept.looked_at < SWEEP_BATCH as u64 {
                return Ok(total);
            }
        }
    }

    /// The members of the free index and of the indexes that mirror it (inspection: reads
    /// whole sets; never on a request path).
    pub async fn free_indexes(&self) -> Result<FreeIndexes, StoreError> {
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let (mut free, mut wheelchair, mut caring, mut fixes): (
            Vec<String>,
            Vec<String>,
            Vec<String>,
            Vec<String>,
        ) = redis::pipe()
            .zrange(&k.free, 0, -1)
            .zrange(&k.free_wheelchair, 0, -1)
            .zrange(&k.free_caring, 0, -1)
            .zrange(&k.free_fixes, 0, -1)
            .query_async(&mut conn)
            .await?;
        for list in [&mut free, &mut wheelchair, &mut caring, &mut fixes] {
            list.sort();
        }
        Ok(FreeIndexes {
            free,
            wheelchair,
            caring,
            fixes,
        })
    }

    /// Counts of taxis per state (for KPIs and the demo's progress line): a hash of five
    /// counters kept with every state change, so the read is the same at 100 taxis or
    /// 100,000.
    pub async fn taxi_state_counts(&self) -> Result<Vec<(TaxiState, u64)>, StoreError> {
        let mut conn = self.conn.clone();
        let all: std::collections::HashMap<String, i64> = redis::cmd("HGETALL")
            .arg(&self.keys.state_counts)
            .query_async(&mut conn)
            .await?;
        Ok(TaxiState::ALL
            .iter()
            .map(|s| (*s, all.get(s.code()).copied().unwrap_or(0).max(0) as u64))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: &str, ms: i64) -> Fix {
        Fix {
            taxi_id: id.into(),
            at: Coordinates::new(29.5, 106.5).unwrap(),
            fix_ms: ms,
        }
    }

    #[test]
    fn a_batch_keeps_each_taxis_newest_fix() {
        // No repeats: everything kept, in order.
        let (newest, at) = newest_per_taxi(&[f("a", 1), f("b", 1)]);
        assert_eq!((newest, at), (vec![0, 1], vec![0, 1]));
        // Repeats: the newest (the later of equal times), in the order of first sight.
        let batch = [
            f("a", 5),
            f("b", 1),
            f("a", 9),
            f("a", 7),
            f("b", 1),
            f("c", 3),
        ];
        let (newest, at) = newest_per_taxi(&batch);
        assert_eq!(newest, vec![2, 4, 5]);
        assert_eq!(at, vec![0, 1, 0, 0, 1, 2]);
        assert!(newest_per_taxi(&[]).0.is_empty());
    }

    #[test]
    fn taxi_ids_are_random_and_well_formed() {
        let a = new_taxi_id();
        assert_eq!(a.len(), 27);
        assert!(a.starts_with('T'));
        assert!(taxi_domain::validate::id("taxi_id", &a).is_ok());
        let many: std::collections::HashSet<_> = (0..1000).map(|_| new_taxi_id()).collect();
        assert_eq!(many.len(), 1000);
    }
}
