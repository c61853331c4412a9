//! The console's reads of the store: the live feed by stream id (and its "trimmed"
//! answer once retention took records after the id), taxis in a box, orders in progress
//! with their taxi, and the calls every process of the city announces. Its HTTP API
//! where the page cannot tell right from wrong: every position converted for a GCJ-02
//! base map (and a click converted back), the PMTiles base map served with range
//! requests. (The page itself is tested in a browser: `tests/browser/`.)

use std::time::Duration;
use taxi_domain::geo::{gcj02_to_wgs84, wgs84_to_gcj02};
use taxi_proto::v1 as pb;
use taxi_proto::v1::hotline_service_client::HotlineServiceClient;
use taxi_server::ServerConfig;
use taxi_store::console::EventsPage;
use taxi_store::retention::Retention;
use taxi_tests::*;

#[tokio::test]
async fn the_feed_resumes_after_an_id_and_says_when_records_after_it_were_trimmed() {
    let city = TestCity::start().await;
    // 250 records (a stream node holds 100: trimming removes whole nodes).
    let mut fleet = city.fleet();
    for i in 0..250 {
        register_taxi(&mut fleet, &format!("渝A{}", 50_000 + i)).await;
    }
    let all = city.store.audit_trail_all().await.unwrap();
    assert!(all.len() >= 250, "{}", all.len());
    let newest = city.store.events_newest().await.unwrap();
    assert_eq!(newest, all.last().unwrap().id);

    // Resuming after a record answers exactly the records after it, in order.
    let mid = &all[120].id;
    let EventsPage::Records(page) = city.store.events_after(mid, 1_000).await.unwrap() else {
        panic!("nothing was trimmed yet");
    };
    let ids: Vec<&str> = page.iter().map(|r| r.id.as_str()).collect();
    let want: Vec<&str> = all[121..].iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, want);
    // Bounded: at most the count asked for.
    let EventsPage::Records(page) = city.store.events_after(mid, 10).await.unwrap() else {
        panic!("nothing was trimmed yet");
    };
    assert_eq!(page.len(), 10);

    // Retention trims the old records: an id before them answers Trimmed with the newest
    // id, from which the reader goes on; the newest id itself is still fine.
    city.advance(Duration::from_secs(40 * 86_400));
    let r = Retention {
        finished: Duration::from_secs(30 * 86_400),
        events: Duration::from_secs(30 * 86_400),
    };
    let trimmed = city.store.trim_retained(&r, 1_000).await.unwrap();
    assert!(trimmed.events > 0, "{trimmed:?}");
    assert_eq!(
        city.store.events_after(&all[0].id, 100).await.unwrap(),
        EventsPage::Trimmed {
            newest: newest.clone()
        }
    );
    assert_eq!(
        city.store.events_after(&newest, 100).await.unwrap(),
        EventsPage::Records(vec![])
    );
}

#[tokio::test]
async fn taxis_in_a_box_are_the_free_and_the_busy_inside_it_only() {
    let city = TestCity::start().await;
    let inside = taxi_at(&city, "渝A60001", north_of_centre(200.0)).await;
    let busy = taxi_at(&city, "渝A60002", north_of_centre(400.0)).await;
    let outside = taxi_at(&city, "渝A60003", north_of_centre(9_000.0)).await;
    city.driver()
        .start_street_hail(taxi_proto::v1::StartStreetHailRequest {
            taxi_id: busy.taxi_id.clone(),
        })
        .await
        .unwrap();
    let c = north_of_centre(0.0);
    let (lat, lon) = (c.latitude, c.longitude);
    let found = city
        .store
        .taxis_in_box((lat - 0.02, lon - 0.02), (lat + 0.02, lon + 0.02), 100)
        .await
        .unwrap();
    let mut got: Vec<(String, bool)> = found.iter().map(|t| (t.id.clone(), t.free)).collect();
    got.sort();
    let mut want = vec![
        (inside.taxi_id.clone(), true),
        (busy.taxi_id.clone(), false),
    ];
    want.sort();
    assert_eq!(got, want, "{outside:?} lies outside");
    // The whole city, read by rank for the map's grid: all three, where they were put.
    let mut all = city.store.city_taxis(100).await.unwrap();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(all.len(), 3);
    let far = all.iter().find(|t| t.id == outside.taxi_id).unwrap();
    let at = north_of_centre(9_000.0);
    assert!((far.lat - at.latitude).abs() < 1e-5 && (far.lon - at.longitude).abs() < 1e-5);
    assert!(!all.iter().find(|t| t.id == busy.taxi_id).unwrap().free);
    assert_eq!(city.store.city_taxis(2).await.unwrap().len(), 2);
    // Bounded by the limit.
    let one = city
        .store
        .taxis_in_box((lat - 0.02, lon - 0.02), (lat + 0.02, lon + 0.02), 1)
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
}

#[tokio::test]
async fn calls_classified_by_any_process_of_the_city_reach_one_stream_in_order() {
    let city = TestCity::start().await;
    let tails = city.store.console_tails().await.unwrap();
    // A second `taxi` process of the same city, on the same Redis.
    let other = TestServer::start(
        &city.redis.url(),
        ServerConfig {
            auth: harness_auth(),
            ..ServerConfig::default()
        },
        city.clock.clone(),
    )
    .await;
    let mut here = HotlineServiceClient::new(city.as_phone_switch());
    let mut there = HotlineServiceClient::new(bearer(
        connect(other.addr).await,
        &city.principals.phone_switch,
    ));
    caller_with_home(&city, "13800000071", Some("19450101")).await;
    for (client, phone) in [(&mut here, "13800000071"), (&mut there, "13800000072")] {
        client
            .classify_call(pb::ClassifyCallRequest {
                calling_number: phone.into(),
            })
            .await
            .unwrap();
    }
    let calls = city.store.calls_after(&tails.calls, 10).await.unwrap();
    let got: Vec<(&str, bool, bool)> = calls
        .iter()
        .map(|c| (c.phone.as_str(), c.known, c.elderly))
        .collect();
    assert_eq!(
        got,
        vec![("13800000071", true, true), ("13800000072", false, false)]
    );
    assert!(
        calls
            .iter()
            .all(|c| (c.at_ms - city.now_ms()).abs() < 5_000)
    );
    // Resuming after the last one: nothing more; the ids are the console's cursor.
    let last = calls.last().unwrap().id.clone();
    assert_eq!(city.store.console_tails().await.unwrap().calls, last);
    assert!(city.store.calls_after(&last, 10).await.unwrap().is_empty());
    // The call queue classifies with the same code but does not announce: its calls
    // reach a seat by routing.
    city.callcentre()
        .call_arrived(pb::CallArrivedRequest {
            call_id: "cc-71".into(),
            calling_number: "13800000073".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(city.store.calls_after(&last, 10).await.unwrap().is_empty());
    other.stop().await;
}

/// A PMTiles archive for the range test: a version 3 header and some bytes after it
/// (the server serves the file; the page's reader parses it).
fn pmtiles_file(dir: &std::path::Path) -> (std::path::PathBuf, Vec<u8>) {
    let mut bytes = b"PMTiles\x03".to_vec();
    bytes.resize(127, 0);
    bytes.extend((0..1000u32).map(|i| (i % 251) as u8));
    let path = dir.join("city.pmtiles");
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes)
}

#[tokio::test]
async fn a_gcj02_base_map_gets_every_position_converted_and_a_click_back() {
    let dir = std::env::temp_dir().join(format!("taxi-console-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (pmtiles, bytes) = pmtiles_file(&dir);
    let mut config = ServerConfig::default();
    config.console.tiles_gcj02 = true;
    config.console.pmtiles = Some(pmtiles);
    let city = TestCity::start_with(config).await;
    // The same city served by a process with the default base map (none, WGS-84).
    let plain = TestServer::start(
        &city.redis.url(),
        ServerConfig {
            auth: harness_auth(),
            ..ServerConfig::default()
        },
        city.clock.clone(),
    )
    .await;
    let gcj = city.server.addr;
    let cookie = format!(
        "{}={}",
        taxi_console::session::ACCESS_COOKIE,
        city.principals.supervisor
    );
    let get = |addr, path: String| {
        let cookie = cookie.clone();
        async move { http1::get(addr, &path, &[("Cookie", &cookie)]).await }
    };
    let near = |a: f64, b: f64| (a - b).abs() < 1e-9;

    // A waiting order at the centre and a taxi 9 km north (too far to be offered it).
    let pickup = north_of_centre(0.0);
    let order = city
        .hotline()
        .create_booking(pb::CreateBookingRequest {
            caller_phone: "13800000081".into(),
            passenger_name: "乘客".into(),
            pickup: Some(place(pickup, "解放碑")),
            channel: pb::Channel::Operator as i32,
            operator_id: SUPERVISOR.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let at = north_of_centre(9_000.0);
    taxi_at(&city, "渝A70001", at).await;

    // Waiting orders: converted on the GCJ-02 map, as stored on the plain one.
    for (addr, convert) in [(gcj, true), (plain.addr, false)] {
        let orders = get(addr, "/console/api/map/orders".into()).await;
        assert_eq!(
            orders.status,
            200,
            "{}",
            String::from_utf8_lossy(&orders.body)
        );
        let orders = orders.json();
        let o = orders
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["order_id"] == order.order_id.as_str())
            .expect("the waiting order is on the map");
        let (lat, lon) = if convert {
            wgs84_to_gcj02(pickup.latitude, pickup.longitude)
        } else {
            (pickup.latitude, pickup.longitude)
        };
        assert!(
            near(o["lat"].as_f64().unwrap(), lat) && near(o["lon"].as_f64().unwrap(), lon),
            "{o} (gcj02 {convert})"
        );
    }
    // The conversion moves Chongqing by hundreds of metres: a test that could not fail
    // would not see it.
    let (glat, glon) = wgs84_to_gcj02(at.latitude, at.longitude);
    assert!((glat - at.latitude).abs() + (glon - at.longitude).abs() > 1e-3);

    // Single taxis at street zoom, cells at city zoom, the service area, the centre.
    let bbox = |z: u8| {
        format!(
            "/console/api/map/taxis?south={}&west={}&north={}&east={}&zoom={z}",
            glat - 0.01,
            glon - 0.01,
            glat + 0.01,
            glon + 0.01
        )
    };
    let taxis = get(gcj, bbox(16)).await.json();
    assert_eq!(taxis["mode"], "taxis", "{taxis}");
    let t = &taxis["taxis"][0];
    assert!((t["lat"].as_f64().unwrap() - glat).abs() < 1e-5, "{t}");
    assert!((t["lon"].as_f64().unwrap() - glon).abs() < 1e-5, "{t}");
    let cells = get(gcj, bbox(9)).await.json();
    assert_eq!(cells["mode"], "cells", "{cells}");
    let c = &cells["cells"][0];
    assert!((c["lat"].as_f64().unwrap() - glat).abs() < 1e-5, "{c}");
    let area = get(gcj, "/console/api/map/area".into()).await.json();
    let first = &area["features"][0]["geometry"]["coordinates"][0][0];
    let v = ServerConfig::default()
        .settings
        .city
        .service_area
        .vertices()[0];
    let (alat, alon) = wgs84_to_gcj02(v.0, v.1);
    assert!(
        near(first[0].as_f64().unwrap(), alon) && near(first[1].as_f64().unwrap(), alat),
        "{first}"
    );

    // A click on the GCJ-02 map becomes a WGS-84 place; a bad one names its field.
    let (clat, clon) = wgs84_to_gcj02(pickup.latitude, pickup.longitude);
    let p = get(gcj, format!("/console/api/map/place?lat={clat}&lon={clon}"))
        .await
        .json();
    let (wlat, wlon) = gcj02_to_wgs84(clat, clon);
    assert!(
        near(p["latitude"].as_f64().unwrap(), wlat) && near(p["longitude"].as_f64().unwrap(), wlon),
        "{p}"
    );
    assert!((p["latitude"].as_f64().unwrap() - pickup.latitude).abs() < 1e-7);
    assert!((p["longitude"].as_f64().unwrap() - pickup.longitude).abs() < 1e-7);
    let p = get(
        plain.addr,
        format!("/console/api/map/place?lat={clat}&lon={clon}"),
    )
    .await
    .json();
    assert!(near(p["latitude"].as_f64().unwrap(), clat), "{p}");
    let bad = get(gcj, "/console/api/map/place?lat=95&lon=106".into()).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["field"], "lat");

    // The page learns the base map and a centre in its datum.
    let me = get(gcj, "/console/api/me".into()).await.json();
    assert_eq!(me["pmtiles"], "/console/api/map/base.pmtiles");
    assert_eq!(me["tiles_gcj02"], true);
    let me_plain = get(plain.addr, "/console/api/me".into()).await.json();
    assert!(me_plain["pmtiles"].is_null());

    // The archive, by range requests, to logged-in readers only.
    let head = http1::get(
        gcj,
        "/console/api/map/base.pmtiles",
        &[("Cookie", &cookie), ("Range", "bytes=0-126")],
    )
    .await;
    assert_eq!(head.status, 206);
    assert_eq!(
        head.header("content-range"),
        Some(format!("bytes 0-126/{}", bytes.len()).as_str())
    );
    assert_eq!(head.body, bytes[..127]);
    let tail = http1::get(
        gcj,
        "/console/api/map/base.pmtiles",
        &[("Cookie", &cookie), ("Range", "bytes=500-599")],
    )
    .await;
    assert_eq!((tail.status, &tail.body[..]), (206, &bytes[500..600]));
    let anonymous = http1::get(
        gcj,
        "/console/api/map/base.pmtiles",
        &[("Range", "bytes=0-9")],
    )
    .await;
    assert_eq!(anonymous.status, 401);
    let none = get(plain.addr, "/console/api/map/base.pmtiles".into()).await;
    assert_eq!(none.status, 404);
    plain.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_feed_resumes_calls_by_last_event_id_and_pops_calls_routed_to_the_seat() {
    let city = TestCity::start().await;
    let addr = city.server.addr;
    // The harness's supervisor is a person with a seat (its id is the account name).
    let cookie = format!(
        "{}={}",
        taxi_console::session::ACCESS_COOKIE,
        city.principals.supervisor
    );
    let switch = HotlineServiceClient::new(city.as_phone_switch());
    let classify = |phone: &'static str| {
        let mut switch = switch.clone();
        async move {
            switch
                .classify_call(pb::ClassifyCallRequest {
                    calling_number: phone.into(),
                })
                .await
                .unwrap();
        }
    };
    let second = std::time::Duration::from_secs(3);

    // A fresh feed: `hello` with the cursor over the three streams.
    let mut feed = http1::events(addr, "/console/api/events", &[("Cookie", &cookie)]).await;
    let hello = feed.next_named("hello", second).await.expect("hello");
    let at = taxi_console::live::Cursor::parse(&hello.id).expect("a cursor");
    assert!(at.calls.is_some() && at.assignments.is_some(), "{hello:?}");
    classify("13800000091").await;
    let call = feed.next_named("call", second).await.expect("the call");
    assert!(call.data.contains("13800000091"), "{call:?}");
    let after_first = call.id.clone();
    drop(feed);

    // Away: one call now, and one that will be over a minute old when the page is back.
    classify("13800000092").await;
    let mut back = http1::events(
        addr,
        "/console/api/events",
        &[("Cookie", &cookie), ("Last-Event-ID", &after_first)],
    )
    .await;
    let missed = back
        .next_named("call", second)
        .await
        .expect("the missed call");
    assert!(missed.data.contains("13800000092"), "{missed:?}");
    let resumed_at = missed.id.clone();
    drop(back);
    classify("13800000093").await;
    city.advance(taxi_console::live::CALL_FRESH + Duration::from_secs(1));
    let mut late = http1::events(
        addr,
        "/console/api/events",
        &[("Cookie", &cookie), ("Last-Event-ID", &resumed_at)],
    )
    .await;
    classify("13800000094").await;
    let next = late.next_named("call", second).await.expect("a fresh call");
    assert!(
        next.data.contains("13800000094"),
        "a call older than CALL_FRESH is not replayed: {next:?}"
    );

    // The queue routes a call to this seat: the feed pops it, marked routed.
    let mut cc = city.callcentre();
    for state in [pb::SeatState::LoggedIn, pb::SeatState::Ready] {
        cc.set_seat_state(pb::SetSeatStateRequest {
            seat_id: SUPERVISOR.into(),
            state: state as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let arrived = cc
        .call_arrived(pb::CallArrivedRequest {
            call_id: "routed-1".into(),
            calling_number: "13800000095".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(arrived.assignments[0].seat_id, SUPERVISOR);
    let routed = late
        .next_named("call", second)
        .await
        .expect("the routed call");
    let data: serde_json::Value = serde_json::from_str(&routed.data).unwrap();
    assert_eq!(data["phone"], "13800000095");
    assert_eq!(data["routed"], true);
    assert_eq!(data["call_id"], "routed-1");
    let at = taxi_console::live::Cursor::parse(&routed.id).unwrap();
    assert_eq!(
        at.assignments.as_deref(),
        Some(arrived.assignments[0].seq.as_str())
    );
}

/// A page coming back after the records after its last id were trimmed: over HTTP, as
/// the browser sees it, the feed answers `reload` (the page fetches a snapshot) with the
/// newest id, and goes on from there; before the trim the same id resumes with records.
#[tokio::test]
async fn a_page_resuming_from_a_trimmed_id_is_told_to_reload_and_goes_on_from_the_newest() {
    let city = TestCity::start().await;
    let addr = city.server.addr;
    let cookie = format!(
        "{}={}",
        taxi_console::session::ACCESS_COOKIE,
        city.principals.supervisor
    );
    let mut fleet = city.fleet();
    for i in 0..250 {
        register_taxi(&mut fleet, &format!("渝A{}", 51_000 + i)).await;
    }
    let all = city.store.audit_trail_all().await.unwrap();
    let old = taxi_console::live::Cursor {
        events: all[0].id.clone(),
        calls: None,
        assignments: None,
    }
    .id();
    let wait = Duration::from_secs(3);
    let headers = [("Cookie", cookie.as_str()), ("Last-Event-ID", old.as_str())];

    // Not trimmed yet: the missed records, from the one after the id.
    let mut feed = http1::events(addr, "/console/api/events", &headers).await;
    let first = feed
        .next_named("change", wait)
        .await
        .expect("a missed change");
    assert!(
        first.data.contains(&format!("\"id\":\"{}\"", all[1].id)),
        "{first:?}"
    );
    drop(feed);

    city.advance(Duration::from_secs(40 * 86_400));
    let r = Retention {
        finished: Duration::from_secs(30 * 86_400),
        events: Duration::from_secs(30 * 86_400),
    };
    assert!(city.store.trim_retained(&r, 1_000).await.unwrap().events > 0);
    let newest = city.store.events_newest().await.unwrap();

    let mut feed = http1::events(addr, "/console/api/events", &headers).await;
    let reload = feed.next(wait).await.expect("an answer");
    assert_eq!(reload.event, "reload", "the first answer: {reload:?}");
    let at = taxi_console::live::Cursor::parse(&reload.id).expect("a cursor");
    assert_eq!(at.events, newest, "it goes on from the newest record");
    // And what happens next arrives as usual.
    let taxi = register_taxi(&mut fleet, "渝A52000").await;
    let change = feed.next_named("change", wait).await.expect("a new change");
    assert!(change.data.contains(&taxi.taxi_id), "{change:?}");
}

/// The in-progress list over HTTP: an order a taxi accepted, with the taxi's id and plate
/// (what an operator reads out); an order nobody holds is not in it.
#[tokio::test]
async fn orders_in_progress_carry_their_taxi_and_its_plate() {
    let city = TestCity::start_with(fast_config()).await;
    let cookie = format!(
        "{}={}",
        taxi_console::session::ACCESS_COOKIE,
        city.principals.supervisor
    );
    let mut taxi = driver_at(&city, "渝A61001", north_of_centre(200.0)).await;
    let order = book_at(&city, "13800000095", north_of_centre(0.0)).await;
    let offer = taxi.offer(Duration::from_secs(3)).await;
    assert_eq!(offer.order_id, order.order_id);
    let list = |city: &TestCity| {
        let (addr, cookie) = (city.server.addr, cookie.clone());
        async move {
            let got = http1::get(addr, "/console/api/in-progress", &[("Cookie", &cookie)]).await;
            assert_eq!(got.status, 200);
            got.json()
        }
    };
    city.driver()
        .accept_offer(pb::AcceptOfferRequest {
            taxi_id: taxi.taxi_id.clone(),
            order_id: order.order_id.clone(),
        })
        .await
        .unwrap();
    let rows = list(&city).await;
    let rows = rows.as_array().expect("a list");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["order_id"], order.order_id.as_str());
    assert_eq!(rows[0]["status"], "accepted");
    assert_eq!(rows[0]["taxi_id"], taxi.taxi_id.as_str());
    assert_eq!(rows[0]["plate"], "渝A61001");
    // (drive_trip accepts again: a retried accept is answered as done.)
    drive_trip(&city, &taxi.taxi_id, &order.order_id).await;
    assert_eq!(
        list(&city).await.as_array().unwrap().len(),
        0,
        "a finished trip leaves it"
    );
}
