//! The operators' console's reads: the audit trail as a live feed (with a "trimmed"
//! answer when the reader fell behind retention), taxis' positions in a box, and the
//! orders taxis hold, and the calls the phone switch classified (a capped stream, so a
//! console served by any process of the city pops a call whichever process took it).
//! Bounded reads only: a console must never stall Redis for a city.

use crate::audit::AuditRecord;
use crate::{Store, StoreError};
use std::collections::HashMap;

/// What the events stream holds after an id.
#[derive(Debug, Clone, PartialEq)]
pub enum EventsPage {
    /// The records after the id (at most the count asked for; empty when none is newer).
    Records(Vec<AuditRecord>),
    /// Records after the id were trimmed (retention): the reader must reload a snapshot
    /// and go on from `newest` (the stream's last id, '' for an empty stream).
    Trimmed {
        /// The stream's last id.
        newest: String,
    },
}

/// A taxi on the map.
#[derive(Debug, Clone, PartialEq)]
pub struct MapTaxi {
    /// The taxi id.
    pub id: String,
    /// WGS-84 latitude.
    pub lat: f64,
    /// WGS-84 longitude.
    pub lon: f64,
    /// In the free index (else: offered, assigned, occupied, or free with a stale fix).
    pub free: bool,
}

/// The ends of a stream, as `XINFO STREAM` tells them.
#[derive(Debug, Default)]
struct StreamBounds {
    length: u64,
    max_deleted: String,
    first: String,
    newest: String,
}

fn text(v: redis::Value) -> String {
    redis::from_redis_value::<String>(v).unwrap_or_default()
}

/// The centre of the cell a Redis geo score (a 52-bit interleaved geohash) stands for, as
/// (lat, lon): what `GEOPOS` answers, without asking Redis to compute it.
pub fn geohash_centre(score: u64) -> (f64, f64) {
    const LAT: (f64, f64) = (-85.051_128_78, 85.051_128_78);
    const LON: (f64, f64) = (-180.0, 180.0);
    // Latitude bits sit at the even positions, longitude bits at the odd ones.
    let squash = |mut x: u64| {
        x &= 0x5555_5555_5555_5555;
        x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
        x = (x | (x >> 2)) & 0x0f0f_0f0f_0f0f_0f0f;
        x = (x | (x >> 4)) & 0x00ff_00ff_00ff_00ff;
        x = (x | (x >> 8)) & 0x0000_ffff_0000_ffff;
        x = (x | (x >> 16)) & 0x0000_0000_ffff_ffff;
        x as f64
    };
    let cells = (1u64 << 26) as f64;
    let lat = LAT.0 + (squash(score) + 0.5) * (LAT.1 - LAT.0) / cells;
    let lon = LON.0 + (squash(score >> 1) + 0.5) * (LON.1 - LON.0) / cells;
    (lat, lon)
}

/// How many members one read of the whole city's positions takes: each read holds Redis'
/// single thread for about 2 ms (5,000 took about 6 ms here), and other clients are
/// served between reads.
pub const CITY_READ_PAGE: usize = 2_000;

/// A stream id as (ms, seq), for comparisons ('' and malformed ids are (0, 0)).
pub fn stream_id_order(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

impl Store {
    /// The events after `after` ('' for the start), at most `count`;
    /// [`EventsPage::Trimmed`] when records after `after` may have been deleted: an `XDEL`
    /// after it (`max-deleted-entry-id`), or retention's `XTRIM` having removed the records
    /// up to the stream's first one (`recorded-first-entry-id` newer than `after`, or an
    /// empty stream whose last id is newer). Conservative: a reader whose very next record
    /// happened to be the first one kept is also told to reload.
    pub async fn events_after(&self, after: &str, count: usize) -> Result<EventsPage, StoreError> {
        if !after.is_empty() && after != "0" && after != "0-0" {
            let b = self.events_bounds().await?;
            let at = stream_id_order(after);
            let newer = |id: &str| !id.is_empty() && stream_id_order(id) > at;
            let trimmed = newer(&b.max_deleted)
                || (b.length > 0 && newer(&b.first))
                || (b.length == 0 && newer(&b.newest));
            if trimmed {
                return Ok(EventsPage::Trimmed { newest: b.newest });
            }
        }
        Ok(EventsPage::Records(self.audit_trail(after, count).await?))
    }

    /// The events stream's newest id ('' when empty).
    pub async fn events_newest(&self) -> Result<String, StoreError> {
        Ok(self.events_bounds().await?.newest)
    }

    /// What `XINFO STREAM` says of the events stream's ends.
    async fn events_bounds(&self) -> Result<StreamBounds, StoreError> {
        let mut conn = self.conn.clone();
        let info: redis::Value = match redis::cmd("XINFO")
            .arg("STREAM")
            .arg(&self.keys.events)
            .query_async(&mut conn)
            .await
        {
            Ok(v) => v,
            // No stream yet: nothing was ever written, nothing deleted.
            Err(e) if e.to_string().contains("no such key") => {
                return Ok(StreamBounds::default());
            }
            Err(e) => return Err(e.into()),
        };
        let pairs: Vec<(String, redis::Value)> = match info {
            redis::Value::Map(m) => m
                .into_iter()
                .filter_map(|(k, v)| Some((redis::from_redis_value::<String>(k).ok()?, v)))
                .collect(),
            redis::Value::Array(items) => items
                .chunks(2)
                .filter_map(|kv| match kv {
                    [k, v] => Some((redis::from_redis_value_ref::<String>(k).ok()?, v.clone())),
                    _ => None,
                })
                .collect(),
            _ => vec![],
        };
        let mut b = StreamBounds::default();
        for (k, v) in pairs {
            match k.as_str() {
                "length" => b.length = redis::from_redis_value::<u64>(v).unwrap_or(0),
                "max-deleted-entry-id" => b.max_deleted = text(v),
                "recorded-first-entry-id" => b.first = text(v),
                "last-generated-id" => b.newest = text(v),
                _ => {}
            }
        }
        if b.newest == "0-0" {
            b.newest.clear();
        }
        Ok(b)
    }

    /// Taxis whose last position lies in the box (south-west to north-east corners,
    /// WGS-84), at most `limit` of them: the free index and the others' positions.
    pub async fn taxis_in_box(
        &self,
        (south, west): (f64, f64),
        (north, east): (f64, f64),
        limit: usize,
    ) -> Result<Vec<MapTaxi>, StoreError> {
        let center_lat = (south + north) / 2.0;
        let center_lon = (west + east) / 2.0;
        // GEOSEARCH BYBOX takes the box's size in metres at its centre.
        let height_m = (north - south).abs() * 111_320.0;
        let width_m = (east - west).abs() * 111_320.0 * center_lat.to_radians().cos().abs();
        let search = |key: &str| {
            let mut c = redis::cmd("GEOSEARCH");
            c.arg(key)
                .arg("FROMLONLAT")
                .arg(center_lon)
                .arg(center_lat)
                .arg("BYBOX")
                .arg(width_m.max(1.0))
                .arg(height_m.max(1.0))
                .arg("m")
                .arg("COUNT")
                .arg(limit.max(1))
                .arg("WITHCOORD");
            c
        };
        let mut pipe = redis::pipe();
        pipe.add_command(search(&self.keys.free))
            .add_command(search(&self.keys.positions));
        let mut conn = self.conn.clone();
        type Hits = Vec<(String, (f64, f64))>;
        let (free, others): (Hits, Hits) = pipe.query_async(&mut conn).await?;
        let mut out = Vec::with_capacity(free.len() + others.len());
        for (list, is_free) in [(free, true), (others, false)] {
            for (id, (lon, lat)) in list {
                if out.len() >= limit {
                    break;
                }
                out.push(MapTaxi {
                    id,
                    lat,
                    lon,
                    free: is_free,
                });
            }
        }
        Ok(out)
    }

    /// Every taxi's last position in the city (the free index and the others'), at most
    /// `limit`, for the map's grid: read in pages of [`CITY_READ_PAGE`] by rank (`ZRANGE
    /// ... WITHSCORES`, the geohash decoded here) rather than one `GEOSEARCH` over the whole
    /// city, which held Redis for about 25 ms per 12,000 taxis.
    pub async fn city_taxis(&self, limit: usize) -> Result<Vec<MapTaxi>, StoreError> {
        let mut out = Vec::new();
        for (key, free) in [(&self.keys.free, true), (&self.keys.positions, false)] {
            let mut start = 0usize;
            while out.len() < limit {
                let page = CITY_READ_PAGE.min(limit - out.len());
                let mut conn = self.conn.clone();
                let rows: Vec<(String, f64)> = redis::cmd("ZRANGE")
                    .arg(key)
                    .arg(start)
                    .arg(start + page - 1)
                    .arg("WITHSCORES")
                    .query_async(&mut conn)
                    .await?;
                let n = rows.len();
                out.extend(rows.into_iter().map(|(id, score)| {
                    let (lat, lon) = geohash_centre(score as u64);
                    MapTaxi { id, lat, lon, free }
                }));
                if n < page {
                    break;
                }
                start += page;
            }
        }
        Ok(out)
    }

    /// Orders held by taxis (offered, assigned, on trip) with the taxi holding each, at
    /// most `limit`, newest first.
    pub async fn orders_in_progress(
        &self,
        limit: usize,
    ) -> Result<Vec<(String, crate::orders::OrderRecord)>, StoreError> {
        let held = self.held_orders().await?;
        let mut pairs: Vec<(String, String)> = held.into_iter().map(|(t, o)| (o, t)).collect();
        pairs.sort();
        pairs.dedup_by(|a, b| a.0 == b.0);
        // Bounded before reading: a city's peak holds thousands.
        pairs.truncate(limit);
        let ids: Vec<String> = pairs.iter().map(|(o, _)| o.clone()).collect();
        let taxi_of: HashMap<String, String> = pairs.into_iter().collect();
        let mut orders: Vec<(String, crate::orders::OrderRecord)> = self
            .get_orders(&ids)
            .await?
            .into_iter()
            .map(|o| (taxi_of.get(&o.id).cloned().unwrap_or_default(), o))
            .collect();
        orders.sort_by_key(|(_, o)| std::cmp::Reverse(o.created_ms));
        Ok(orders)
    }
}

/// About this many classified calls are kept for the consoles (`XADD MAXLEN ~`): a
/// console reads them within a second, so a thousand covers any reconnect worth
/// replaying.
pub const CONSOLE_CALLS_KEPT: usize = 1_000;

/// A call the phone switch classified, as the consoles' feed carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnouncedCall {
    /// Its stream id (the feed's cursor).
    pub id: String,
    /// The calling number, canonical.
    pub phone: String,
    /// The caller is registered.
    pub known: bool,
    /// The caller is an older person.
    pub elderly: bool,
    /// When the switch asked (ms, the store's clock).
    pub at_ms: i64,
}

/// The newest ids of the streams a console follows besides the audit trail ("0-0" for
/// an empty stream: everything written later is after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleTails {
    /// `{c}:console:calls`.
    pub calls: String,
    /// `{c}:cc:assignments`.
    pub assignments: String,
}

impl Store {
    /// Announces a classified call to every console of the city; answers its stream id.
    pub async fn announce_call(
        &self,
        phone: &str,
        known: bool,
        elderly: bool,
    ) -> Result<String, StoreError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("XADD")
            .arg(&self.keys.console_calls)
            .arg("MAXLEN")
            .arg("~")
            .arg(CONSOLE_CALLS_KEPT)
            .arg("*")
            .arg("ph")
            .arg(phone)
            .arg("known")
            .arg(u8::from(known))
            .arg("e")
            .arg(u8::from(elderly))
            .arg("ts")
            .arg(self.now_ms())
            .query_async(&mut conn)
            .await?)
    }

    /// The classified calls after stream id `after` ("" or "0-0" from the oldest kept),
    /// at most `count`, oldest first. Calls trimmed meanwhile are simply gone.
    pub async fn calls_after(
        &self,
        after: &str,
        count: usize,
    ) -> Result<Vec<AnnouncedCall>, StoreError> {
        let rows = self
            .entries_after(&self.keys.console_calls, after, count)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, f)| AnnouncedCall {
                id,
                phone: f.get("ph").cloned().unwrap_or_default(),
                known: f.get("known").is_some_and(|v| v == "1"),
                elderly: f.get("e").is_some_and(|v| v == "1"),
                at_ms: f.get("ts").and_then(|v| v.parse().ok()).unwrap_or(0),
            })
            .collect())
    }

    /// Where a console starts following the classified calls and the seat assignments.
    pub async fn console_tails(&self) -> Result<ConsoleTails, StoreError> {
        let mut conn = self.conn.clone();
        type Last = Vec<(String, HashMap<String, String>)>;
        let (calls, assignments): (Last, Last) = redis::pipe()
            .cmd("XREVRANGE")
            .arg(&self.keys.console_calls)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .cmd("XREVRANGE")
            .arg(&self.keys.cc_assignments)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await?;
        let id = |l: Last| {
            l.into_iter()
                .next()
                .map(|(id, _)| id)
                .unwrap_or_else(|| "0-0".into())
        };
        Ok(ConsoleTails {
            calls: id(calls),
            assignments: id(assignments),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::stream_id_order;

    #[test]
    fn geo_scores_decode_to_what_geopos_answers() {
        // (score, GEOPOS lon, lat) as Redis 7.0 answered them.
        for (score, lon, lat) in [
            (
                4_026_047_971_824_727u64,
                106.551_598_012_447,
                29.562_999_113_780,
            ),
            (
                4_069_885_365_519_545,
                116.397_477_686_405,
                39.908_691_650_526,
            ),
            (
                2_163_557_707_061_224,
                -0.119_999_349_117,
                51.499_999_394_116,
            ),
        ] {
            let (la, lo) = super::geohash_centre(score);
            assert!(
                (la - lat).abs() < 1e-9 && (lo - lon).abs() < 1e-9,
                "{score}: {la} {lo}"
            );
        }
    }

    #[test]
    fn stream_ids_compare_by_time_then_sequence() {
        assert!(stream_id_order("1700000000000-1") > stream_id_order("1700000000000-0"));
        assert!(stream_id_order("1700000000001-0") > stream_id_order("1700000000000-9"));
        assert!(stream_id_order("999-0") < stream_id_order("1000-0"));
        assert_eq!(stream_id_order(""), (0, 0));
    }
}
