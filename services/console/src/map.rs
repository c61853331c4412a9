//! Taxis and waiting orders for the live map.
//!
//! Positions are stored in WGS-84. The map's base layer is the project's own shapes
//! (the service area) over a plain background unless a base map is configured: a tile
//! URL template, or a PMTiles archive this server serves itself ([`base_pmtiles`], HTTP
//! range requests on the same port). Only for a base map drawn in GCJ-02 does the server
//! convert, here and nowhere else: everything it sends for the map ([`for_map`]: taxis,
//! cells, waiting orders, the service area, the centre), and a point clicked on the map
//! back to WGS-84 ([`place`]), so the page never converts anything.
//!
//! At city zoom (below [`DETAIL_ZOOM`]) taxis are aggregated server-side into grid cells
//! (counts of free and busy taxis per cell); individual taxis are sent only for the
//! viewport and only up to [`MAX_TAXIS`] (a larger answer falls back to cells). The city's
//! positions are read at most once per [`GRID_TTL`] per process, however many consoles
//! watch, in pages of 2,000 (`Store::city_taxis`): a 20,000-taxi city costs ten short
//! reads a second.

use crate::Shared;
use crate::error::ApiError;
use crate::session;
use axum::Json;
use axum::extract::{Query, State};
use http::{Extensions, HeaderMap};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use taxi_proto::v1 as pb;
use taxi_store::console::MapTaxi;

/// From this zoom up, single taxis are sent.
pub const DETAIL_ZOOM: u8 = 14;
/// At most this many single taxis per answer.
pub const MAX_TAXIS: usize = 2_000;
/// At most this many taxis are read for the city-wide grid.
pub const MAX_CITY_TAXIS: usize = 200_000;
/// How long the city-wide read is reused.
pub const GRID_TTL: Duration = Duration::from_secs(1);
/// What the map stands for in the policy table.
pub const MAP_RPC: &str = "/taxi.v1.FleetService/ListNearbyTaxis";

/// A position as the map draws it: converted to GCJ-02 only for a GCJ-02 base map.
pub fn for_map(settings: &crate::ConsoleSettings, lat: f64, lon: f64) -> (f64, f64) {
    if settings.tiles_gcj02 {
        taxi_domain::geo::wgs84_to_gcj02(lat, lon)
    } else {
        (lat, lon)
    }
}

/// A point of the map (its datum) as stored: WGS-84. The inverse of [`for_map`].
pub fn from_map(settings: &crate::ConsoleSettings, lat: f64, lon: f64) -> (f64, f64) {
    if settings.tiles_gcj02 {
        taxi_domain::geo::gcj02_to_wgs84(lat, lon)
    } else {
        (lat, lon)
    }
}

/// The city's last read of taxis, shared by every console of the process.
#[derive(Debug, Default)]
pub struct GridCache {
    inner: tokio::sync::Mutex<Option<(Instant, Arc<Vec<MapTaxi>>)>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Viewport {
    south: f64,
    west: f64,
    north: f64,
    east: f64,
    zoom: u8,
}

/// One grid cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// The cell's centre (map datum).
    pub lat: f64,
    /// The cell's centre (map datum).
    pub lon: f64,
    /// Free taxis in it.
    pub free: u32,
    /// Other taxis in it (offered, assigned, occupied).
    pub busy: u32,
}

/// One taxi (map datum).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dot {
    /// The taxi.
    pub id: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Free (else busy).
    pub free: bool,
}

/// The answer: cells or taxis.
#[derive(Debug, Serialize)]
pub(crate) struct MapAnswer {
    mode: &'static str,
    cells: Vec<Cell>,
    taxis: Vec<Dot>,
    total: usize,
}

/// The cell size in degrees for a zoom level (about 40 px on screen).
pub fn cell_degrees(zoom: u8) -> f64 {
    let z = i32::from(zoom.clamp(3, 18));
    (360.0 / 256.0 * 40.0) / f64::from(1u32 << z)
}

/// Aggregates taxis into cells of `size` degrees, keeping those whose centre lies in the box.
pub fn aggregate(taxis: &[MapTaxi], size: f64, bbox: (f64, f64, f64, f64)) -> Vec<Cell> {
    let (south, west, north, east) = bbox;
    let mut cells: HashMap<(i64, i64), (u32, u32, f64, f64)> = HashMap::new();
    for t in taxis {
        if t.lat < south || t.lat > north || t.lon < west || t.lon > east {
            continue;
        }
        let key = ((t.lat / size).floor() as i64, (t.lon / size).floor() as i64);
        let c = cells.entry(key).or_insert((0, 0, 0.0, 0.0));
        if t.free {
            c.0 += 1;
        } else {
            c.1 += 1;
        }
        c.2 += t.lat;
        c.3 += t.lon;
    }
    let mut out: Vec<Cell> = cells
        .into_values()
        .map(|(free, busy, lat, lon)| {
            let n = f64::from(free + busy);
            Cell {
                lat: lat / n,
                lon: lon / n,
                free,
                busy,
            }
        })
        .collect();
    out.sort_by_key(|c| std::cmp::Reverse(c.free + c.busy));
    out
}

async fn city_taxis(shared: &Shared) -> Result<Arc<Vec<MapTaxi>>, ApiError> {
    let mut cache = shared.grid.inner.lock().await;
    if let Some((at, list)) = cache.as_ref()
        && at.elapsed() < GRID_TTL
    {
        return Ok(list.clone());
    }
    let list = Arc::new(
        shared
            .store
            .city_taxis(MAX_CITY_TAXIS)
            .await
            .map_err(|e| ApiError::new(tonic::Code::Unavailable, e.to_string()))?,
    );
    *cache = Some((Instant::now(), list.clone()));
    Ok(list)
}

/// `GET /console/api/map/taxis?south=&west=&north=&east=&zoom=` (map datum in and out).
pub(crate) async fn taxis(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    extensions: Extensions,
    Query(v): Query<Viewport>,
) -> Result<Json<MapAnswer>, ApiError> {
    session::admit_as(&shared, MAP_RPC, &headers, &extensions)?;
    let ok = |x: f64, r: f64| x.is_finite() && x.abs() <= r;
    if !(ok(v.south, 90.0) && ok(v.north, 90.0) && ok(v.west, 180.0) && ok(v.east, 180.0))
        || v.south > v.north
        || v.west > v.east
    {
        return Err(ApiError::field(
            tonic::Code::InvalidArgument,
            "south",
            "the viewport must be south <= north and west <= east, in range",
        ));
    }
    let s = &shared.settings;
    // The box arrives in the map's datum; near enough for choosing what to send.
    let bbox = (v.south, v.west, v.north, v.east);
    let convert = |t: &MapTaxi| {
        let (lat, lon) = for_map(s, t.lat, t.lon);
        MapTaxi {
            lat,
            lon,
            ..t.clone()
        }
    };
    if v.zoom >= DETAIL_ZOOM {
        let list = shared
            .store
            .taxis_in_box((v.south, v.west), (v.north, v.east), MAX_TAXIS + 1)
            .await
            .map_err(|e| ApiError::new(tonic::Code::Unavailable, e.to_string()))?;
        if list.len() <= MAX_TAXIS {
            let taxis: Vec<Dot> = list
                .iter()
                .map(convert)
                .map(|t| Dot {
                    id: t.id,
                    lat: t.lat,
                    lon: t.lon,
                    free: t.free,
                })
                .collect();
            return Ok(Json(MapAnswer {
                mode: "taxis",
                total: taxis.len(),
                cells: vec![],
                taxis,
            }));
        }
    }
    let all = city_taxis(&shared).await?;
    let converted: Vec<MapTaxi> = if s.tiles_gcj02 {
        all.iter().map(convert).collect()
    } else {
        all.to_vec()
    };
    let cells = aggregate(&converted, cell_degrees(v.zoom), bbox);
    Ok(Json(MapAnswer {
        mode: "cells",
        total: cells.iter().map(|c| (c.free + c.busy) as usize).sum(),
        cells,
        taxis: vec![],
    }))
}

/// `GET /console/api/map/area`: the service area's outline and the city's centre (map
/// datum), as GeoJSON.
pub(crate) async fn area(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    extensions: Extensions,
) -> Result<Json<serde_json::Value>, ApiError> {
    session::admit_as(&shared, MAP_RPC, &headers, &extensions)?;
    let ring: Vec<[f64; 2]> = shared
        .city
        .service_area
        .vertices()
        .into_iter()
        .map(|(lat, lon)| {
            let (lat, lon) = for_map(&shared.settings, lat, lon);
            [lon, lat]
        })
        .collect();
    Ok(Json(serde_json::json!({
        "type": "FeatureCollection",
        "features": [{
            "type": "Feature",
            "properties": { "kind": "service_area", "name": shared.city.name },
            "geometry": { "type": "Polygon", "coordinates": [ring] },
        }],
    })))
}

/// A waiting order on the map (map datum).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapOrder {
    /// The order.
    pub order_id: String,
    /// The passenger's name.
    pub name: String,
    /// An older passenger.
    pub elderly: bool,
    /// The pickup's latitude.
    pub lat: f64,
    /// The pickup's longitude.
    pub lon: f64,
}

/// How many waiting orders the map shows.
pub const MAX_MAP_ORDERS: u32 = 200;

/// `GET /console/api/map/orders`: the waiting orders' pickups (map datum). Calls
/// `ListPendingOrders` in-process with the operator's token (its policy row decides).
pub(crate) async fn orders(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    extensions: Extensions,
) -> Result<Json<Vec<MapOrder>>, ApiError> {
    let token = session::access_token(&headers)?;
    let reply: pb::ListPendingOrdersResponse = shared
        .bridge
        .call(
            "/taxi.v1.DispatchService/ListPendingOrders",
            &pb::ListPendingOrdersRequest {
                page_size: MAX_MAP_ORDERS,
                ..Default::default()
            },
            Some(&token),
            (shared.peer_of)(&extensions),
        )
        .await?;
    Ok(Json(
        reply
            .orders
            .into_iter()
            .filter_map(|p| p.order)
            .filter_map(|o| {
                let at = o.pickup.as_ref()?.location.as_ref()?;
                let (lat, lon) = for_map(&shared.settings, at.latitude, at.longitude);
                Some(MapOrder {
                    order_id: o.order_id,
                    name: o.passenger_name,
                    elderly: o.elderly,
                    lat,
                    lon,
                })
            })
            .collect(),
    ))
}

/// `GET /console/api/map/stands`: the taxi stands (候客点) as GeoJSON (map datum): a
/// circle is a point with `radius_m`, a polygon its ring; each with its name, whether it
/// is open, its queue's length and the head's wait in seconds. Calls
/// `StandService.ListStands` in-process with the operator's token (its policy row decides).
pub(crate) async fn stands(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    extensions: Extensions,
) -> Result<Json<serde_json::Value>, ApiError> {
    let token = session::access_token(&headers)?;
    let reply: pb::ListStandsResponse = shared
        .bridge
        .call(
            "/taxi.v1.StandService/ListStands",
            &pb::ListStandsRequest {},
            Some(&token),
            (shared.peer_of)(&extensions),
        )
        .await?;
    let point = |p: &pb::LatLng| {
        let (lat, lon) = for_map(&shared.settings, p.latitude, p.longitude);
        [lon, lat]
    };
    let features: Vec<serde_json::Value> = reply
        .stands
        .iter()
        .filter_map(|s| {
            let stand = s.stand.as_ref()?;
            let (geometry, radius_m) = match stand.fence.as_ref()? {
                pb::stand::Fence::Circle(c) => (
                    serde_json::json!({ "type": "Point", "coordinates": point(c.centre.as_ref()?) }),
                    Some(c.radius_meters),
                ),
                pb::stand::Fence::Polygon(p) => {
                    let mut ring: Vec<[f64; 2]> = p.vertices.iter().map(point).collect();
                    ring.push(*ring.first()?);
                    (
                        serde_json::json!({ "type": "Polygon", "coordinates": [ring] }),
                        None,
                    )
                }
            };
            Some(serde_json::json!({
                "type": "Feature",
                "properties": {
                    "kind": "stand",
                    "stand_id": stand.stand_id,
                    "name": stand.name,
                    "radius_m": radius_m,
                    "open": s.open_now,
                    "queue": s.queue_length,
                    "oldest_wait_s": s.oldest_wait.as_ref().map_or(0, |d| d.seconds),
                },
                "geometry": geometry,
            }))
        })
        .collect();
    Ok(Json(serde_json::json!({
        "type": "FeatureCollection",
        "features": features,
    })))
}

#[derive(Debug, Deserialize)]
pub(crate) struct MapPoint {
    lat: f64,
    lon: f64,
}

/// `GET /console/api/map/place?lat=&lon=`: a point clicked on the map (map datum) as
/// stored, WGS-84, for a booking's pickup.
pub(crate) async fn place(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    extensions: Extensions,
    Query(p): Query<MapPoint>,
) -> Result<Json<serde_json::Value>, ApiError> {
    session::admit_as(&shared, MAP_RPC, &headers, &extensions)?;
    // The same checks as any position the API takes, naming the field.
    let (lat, lon) = from_map(&shared.settings, p.lat, p.lon);
    let at = taxi_domain::geo::Coordinates::new(lat, lon).map_err(|e| {
        ApiError::field(
            tonic::Code::InvalidArgument,
            if e.field == "longitude" { "lon" } else { "lat" },
            e.reason,
        )
    })?;
    Ok(Json(serde_json::json!({
        "latitude": at.lat(),
        "longitude": at.lon(),
        "datum": "DATUM_WGS84",
    })))
}

/// `GET /console/api/map/base.pmtiles`: the configured PMTiles archive, with HTTP range
/// requests (what the page's PMTiles reader asks for: the header, directories, tiles).
/// For logged-in readers of the map only; 404 when no archive is configured.
pub(crate) async fn base_pmtiles(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    extensions: Extensions,
    request: axum::extract::Request,
) -> Result<axum::response::Response, ApiError> {
    session::admit_as(&shared, MAP_RPC, &headers, &extensions)?;
    let Some(path) = shared.settings.pmtiles.as_ref() else {
        return Err(ApiError::new(
            tonic::Code::NotFound,
            "no PMTiles base map is configured (TAXI_CONSOLE_TILES)",
        ));
    };
    use axum::response::IntoResponse;
    use tower::ServiceExt;
    let served = tower_http::services::ServeFile::new(path)
        .oneshot(request)
        .await
        .map_err(|e| ApiError::new(tonic::Code::Unavailable, format!("base map: {e}")))?;
    let mut resp = served.into_response();
    if resp.status().is_success() {
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/vnd.pmtiles"),
        );
    }
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcj02_only_for_a_gcj02_base_map() {
        let plain = crate::ConsoleSettings::default();
        assert_eq!(
            for_map(&plain, 39.908_692, 116.397_477),
            (39.908_692, 116.397_477)
        );
        let gcj = crate::ConsoleSettings {
            tiles_gcj02: true,
            ..Default::default()
        };
        // Tiananmen: WGS-84 (39.908692, 116.397477) is drawn at GCJ-02 (39.910093,
        // 116.403719) on Chinese maps (a known pair, within a metre).
        let (lat, lon) = for_map(&gcj, 39.908_692, 116.397_477);
        assert!((lat - 39.910_093).abs() < 1e-5, "{lat}");
        assert!((lon - 116.403_719).abs() < 1e-5, "{lon}");
        // Outside China nothing moves.
        assert_eq!(for_map(&gcj, 51.5, -0.12), (51.5, -0.12));
        // A click on the GCJ-02 map comes back where it was stored, within a centimetre.
        let (wlat, wlon) = from_map(&gcj, lat, lon);
        assert!((wlat - 39.908_692).abs() < 1e-7 && (wlon - 116.397_477).abs() < 1e-7);
        assert_eq!(from_map(&plain, lat, lon), (lat, lon));
    }

    #[test]
    fn taxis_are_counted_into_cells_of_the_viewport() {
        let t = |id: &str, lat, lon, free| MapTaxi {
            id: id.into(),
            lat,
            lon,
            free,
        };
        let taxis = vec![
            t("a", 29.5601, 106.5501, true),
            t("b", 29.5602, 106.5502, false),
            t("c", 29.7, 106.7, true),
            t("d", 10.0, 10.0, true),
        ];
        let cells = aggregate(&taxis, 0.01, (29.0, 106.0, 30.0, 107.0));
        assert_eq!(cells.len(), 2);
        assert_eq!((cells[0].free, cells[0].busy), (1, 1));
        assert_eq!(cells.iter().map(|c| c.free + c.busy).sum::<u32>(), 3);
        assert!(cell_degrees(10) > cell_degrees(14));
    }
}
